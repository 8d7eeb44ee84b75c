//! The RL controller: a small network that maps each decision of the search space (a one-hot of its index) to
//! logits over that decision's choices, sampled as a policy and trained with REINFORCE (Williams 1992) against a
//! moving-average baseline, with an entropy bonus that keeps it exploring.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::activation::{log_softmax, softmax};
use rand::RngExt;
use serde::Serialize;

use crate::dataset::tensor::tensor_values;
use crate::error::Result;
use crate::optim::FusedAdam;

/// Logit of a choice a decision does not have.
const MASKED: f32 = -1e9;

/// The controller network: decision one-hot -> tanh hidden layer -> logits of the widest decision.
#[derive(Module, Debug)]
pub struct ControllerNet {
    hidden: Linear,
    output: Linear,
}

/// Settings of the controller.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControllerConfig {
    pub hidden: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Weight of the moving-average baseline's past: b <- decay * b + (1 - decay) * reward.
    pub baseline_decay: f64,
    /// Weight of the entropy bonus.
    pub entropy_weight: f64,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            hidden: 32,
            lr: 0.05,
            baseline_decay: 0.8,
            entropy_weight: 0.01,
        }
    }
}

/// What one update did.
#[derive(Clone, Debug, Serialize)]
pub struct Update {
    pub reward: f64,
    pub baseline: f64,
    pub advantage: f64,
    /// Mean entropy of the decisions (nats) before the update.
    pub entropy: f64,
}

/// A REINFORCE controller over a list of categorical decisions.
pub struct Controller {
    net: ControllerNet,
    optim: ModuleOptimizer,
    config: ControllerConfig,
    decisions: Vec<usize>,
    baseline: Option<f64>,
    rng: rand_chacha::ChaCha8Rng,
    device: Device,
}

impl Controller {
    /// A controller for decisions with these numbers of choices, initialised and sampling from `seed`.
    pub fn new(decisions: Vec<usize>, config: ControllerConfig, seed: u64) -> Controller {
        let device = crate::backend::autodiff_device();
        let width = decisions.iter().copied().max().unwrap_or(1);
        let net = crate::backend::seeded(&device, seed, || ControllerNet {
            hidden: LinearConfig::new(decisions.len(), config.hidden).init(&device),
            output: LinearConfig::new(config.hidden, width).init(&device),
        });
        Controller {
            net,
            optim: FusedAdam::new().init(),
            config,
            decisions,
            baseline: None,
            rng: crate::seed::rng(crate::seed::derive(seed, &[0xC0_47])),
            device,
        }
    }

    /// `[decisions, width]` logits, invalid choices masked.
    fn logits(&self) -> Tensor<2> {
        let d = self.decisions.len();
        let width = self.decisions.iter().copied().max().unwrap_or(1);
        let eye: Vec<f32> = (0..d * d).map(|i| if i / d == i % d { 1.0 } else { 0.0 }).collect();
        let x = Tensor::<2>::from_data(TensorData::new(eye, [d, d]), &self.device);
        let mask: Vec<f32> = self
            .decisions
            .iter()
            .flat_map(|&n| (0..width).map(move |k| if k < n { 0.0 } else { MASKED }))
            .collect();
        let mask = Tensor::<2>::from_data(TensorData::new(mask, [d, width]), &self.device);
        self.net.output.forward(self.net.hidden.forward(x).tanh()) + mask
    }

    /// Each decision's choice probabilities.
    pub fn probabilities(&self) -> Result<Vec<Vec<f64>>> {
        let width = self.decisions.iter().copied().max().unwrap_or(1);
        let p = tensor_values(softmax(self.logits(), 1))?;
        Ok(p.chunks_exact(width)
            .zip(&self.decisions)
            .map(|(row, &n)| row[..n].iter().map(|&v| v as f64).collect())
            .collect())
    }

    /// Samples one choice per decision.
    pub fn sample(&mut self) -> Result<Vec<usize>> {
        let probs = self.probabilities()?;
        Ok(probs
            .iter()
            .map(|row| {
                let u: f64 = self.rng.random();
                let mut acc = 0.0;
                for (k, p) in row.iter().enumerate() {
                    acc += p;
                    if u < acc {
                        return k;
                    }
                }
                row.len() - 1
            })
            .collect())
    }

    /// One REINFORCE step for the sampled `choices` and their `reward`: raises their log-probability in proportion
    /// to how much the reward beats the baseline.
    pub fn update(&mut self, choices: &[usize], reward: f64) -> Result<Update> {
        let baseline = self.baseline.unwrap_or(reward);
        let advantage = reward - baseline;
        let d = self.decisions.len();
        let width = self.decisions.iter().copied().max().unwrap_or(1);
        let log_p = log_softmax(self.logits(), 1);
        let p = log_p.clone().exp();
        let chosen: Vec<f32> = choices
            .iter()
            .enumerate()
            .flat_map(|(i, &c)| (0..width).map(move |k| if k == c && i < d { 1.0 } else { 0.0 }))
            .collect();
        let chosen = Tensor::<2>::from_data(TensorData::new(chosen, [d, width]), &self.device);
        let log_prob = (log_p.clone() * chosen).sum();
        // Masked choices have p = 0 and a huge negative log p; their product is 0 but would be NaN-prone, so clamp.
        let entropy = -(p * log_p.clamp_min(-30.0)).sum() / d as f32;
        let entropy_value = tensor_values(entropy.clone())?[0] as f64;
        let loss = log_prob.mul_scalar(-advantage as f32) - entropy.mul_scalar(self.config.entropy_weight as f32);
        let grads = GradientsParams::from_grads(loss.backward(), &self.net);
        self.net = self.optim.step(self.config.lr, self.net.clone(), grads);
        let decay = self.config.baseline_decay;
        self.baseline = Some(decay * baseline + (1.0 - decay) * reward);
        Ok(Update {
            reward,
            baseline,
            advantage,
            entropy: entropy_value,
        })
    }

    /// The most probable choice of each decision.
    pub fn greedy(&self) -> Result<Vec<usize>> {
        Ok(self
            .probabilities()?
            .iter()
            .map(|row| {
                row.iter()
                    .enumerate()
                    .fold((0, -1.0), |b, (k, &p)| if p > b.1 { (k, p) } else { b })
                    .0
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy bandit with a known best arm: two decisions (5 and 3 arms), reward = the sum of the arms' noisy
    /// means, best at (3, 0). Over 12 controller seeds (each with its own reward noise) the policy gradient must put
    /// most of its probability there in 300 updates. At 0.01 it always does (32 of 32 seeds measured); at the
    /// policy search's 0.05, which must move within about 20 updates, Adam's sign-like early steps lock half the
    /// seeds onto a wrong arm (README, "Policy search"), so a test at 0.05 passed or failed with the seed.
    #[test]
    fn reinforce_finds_the_best_arm_of_a_bandit() {
        let means = [[0.1, 0.3, 0.2, 0.8, 0.4], [0.6, 0.2, 0.1, 0.0, 0.0]];
        let config = ControllerConfig {
            lr: 0.01,
            ..ControllerConfig::default()
        };
        for seed in 0..12 {
            let mut c = Controller::new(vec![5, 3], config.clone(), seed);
            let mut noise = crate::seed::rng(100 + seed);
            for _ in 0..300 {
                let choice = c.sample().unwrap();
                let reward: f64 = choice.iter().enumerate().map(|(d, &a)| means[d][a]).sum::<f64>()
                    + 0.1 * (noise.random::<f64>() - 0.5);
                c.update(&choice, reward).unwrap();
            }
            let p = c.probabilities().unwrap();
            assert_eq!(c.greedy().unwrap(), vec![3, 0], "seed {seed}: {p:?}");
            assert!(
                p[0][3] > 0.8 && p[1][0] > 0.8,
                "seed {seed}: most probability on the best arms: {p:?}"
            );
        }
    }
}
