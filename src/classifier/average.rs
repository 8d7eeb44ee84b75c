//! Which weights a fixed-budget phase returns: the best validated snapshot, the last one, or the mean of the
//! snapshots of the phase's second half (stochastic weight averaging, Izmailov et al. 2018). Picking the best of
//! ten noisy validation points makes the returned weights depend on which point a few validation images happened
//! to favour; the last or averaged weights do not, and averaging also lands nearer the middle of the flat region
//! Adam wanders through late in a phase.

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::model::Classifier;

/// The weights a fixed-budget phase (`steps` / `finetune_steps`) returns. Epoch-based phases always restore their
/// best validated weights: early stopping is a choice by validation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum WeightChoice {
    /// The weights at the validation point with the highest validation accuracy (the initial weights when none
    /// improved on them).
    #[default]
    Best,
    /// The weights after the phase's last step.
    Last,
    /// The mean of the weights at the validation points of the phase's second half (stochastic weight averaging).
    Swa,
}

impl WeightChoice {
    /// Whether the value is the default (so a saved config and eval-gain's cache key from before it read the same).
    pub fn is_best(&self) -> bool {
        *self == WeightChoice::Best
    }

    /// The name configs and flags use.
    pub fn name(self) -> &'static str {
        match self {
            WeightChoice::Best => "best",
            WeightChoice::Last => "last",
            WeightChoice::Swa => "swa",
        }
    }
}

/// A running sum of a classifier's trainable weights over snapshots, by parameter id.
#[derive(Default)]
pub struct WeightAverage {
    sums: HashMap<ParamId, Tensor<1>>,
    count: usize,
}

impl WeightAverage {
    /// Adds the current weights of `model` (only parameters that require gradients: frozen ones never change).
    pub fn add(&mut self, model: &Classifier) {
        model.visit(&mut Accumulate(&mut self.sums));
        self.count += 1;
    }

    /// Snapshots added so far.
    pub fn count(&self) -> usize {
        self.count
    }

    /// `model` with each summed parameter replaced by its mean over the snapshots, as a fresh leaf that keeps the
    /// parameter's gradient setting (so a later phase can train it). `model` unchanged when nothing was added.
    pub fn apply(&self, model: Classifier) -> Classifier {
        if self.count == 0 {
            return model;
        }
        model.map(&mut Replace {
            sums: &self.sums,
            scale: 1.0 / self.count as f64,
        })
    }
}

struct Accumulate<'a>(&'a mut HashMap<ParamId, Tensor<1>>);

impl ModuleVisitor for Accumulate<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val();
        if !t.is_require_grad() {
            return;
        }
        let n = t.shape().num_elements();
        let flat = t.detach().reshape([n]);
        let sum = match self.0.remove(&param.id) {
            Some(s) => s + flat,
            None => flat,
        };
        self.0.insert(param.id, sum);
    }
}

struct Replace<'a> {
    sums: &'a HashMap<ParamId, Tensor<1>>,
    scale: f64,
}

impl ModuleMapper for Replace<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(sum) = self.sums.get(&param.id) else {
            return param;
        };
        let (sum, scale) = (sum.clone(), self.scale);
        param.map(|t| {
            let require_grad = t.is_require_grad();
            sum.mul_scalar(scale)
                .reshape(t.shape())
                .detach()
                .set_require_grad(require_grad)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::{BackboneKind, ClassifierConfig, build_model};

    fn weights(model: &Classifier) -> Vec<f32> {
        crate::dataset::tensor::tensor_values(model.head.output.weight.val().inner().flatten::<1>(0, 1)).unwrap()
    }

    /// The average of two snapshots is their element-wise mean, the trainable flag survives, and an empty average
    /// changes nothing.
    #[test]
    fn average_is_the_elementwise_mean_of_the_snapshots() {
        let device = crate::backend::autodiff_device();
        let config = ClassifierConfig {
            backbone: BackboneKind::Cnn,
            ..Default::default()
        };
        let a = build_model(&config, 10, (1, 28), &device).unwrap();
        let b = a.clone().map(&mut Shift(1.0));
        let mut average = WeightAverage::default();
        assert_eq!(weights(&average.apply(a.clone())), weights(&a));
        average.add(&a);
        average.add(&b);
        assert_eq!(average.count(), 2);
        let mean = average.apply(b.clone());
        for (m, x) in weights(&mean).iter().zip(weights(&a)) {
            assert!((m - (x + 0.5)).abs() < 1e-6, "{m} vs {}", x + 0.5);
        }
        assert!(mean.head.output.weight.val().is_require_grad());
    }

    /// Adds a constant to every trainable parameter.
    struct Shift(f64);

    impl ModuleMapper for Shift {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let c = self.0;
            param.map(|t| {
                let g = t.is_require_grad();
                t.add_scalar(c).detach().set_require_grad(g)
            })
        }
    }
}
