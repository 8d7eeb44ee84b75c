//! Adam with each parameter's update made in one pass over its values.
//!
//! burn's Adam updates a parameter with thirteen tensor operations, each a pass over all of its values; fine-tuning
//! VGG16's block 5 trains 4.7 million weights, and in a profile of eval-gain's fits (2026-12-05) those passes took
//! 5.8% of a fit's time. [`FusedAdam`] makes the same IEEE operations on each value in the same order (the vendored
//! burn-flex's `adam_update`, built at the dependencies' opt-level so that its loop is vectorized), so the weights
//! and moments it gives are bit for bit burn's (checked below); only the passes over memory go. Off the CPU backend,
//! and for any parameter that is not f32, it is burn's Adam.

use burn::optim::{Adam, AdamConfig, AdamState, AdaptiveMomentumState, LearningRate, ModuleOptimizer, Optimizer};
use burn::prelude::*;
use burn::tensor::{DType, TensorData};
use burn_flex::ops::adam::{AdamStep, adam_update};
use rayon::prelude::*;

use crate::dataset::tensor::tensor_values;
use crate::error::Result;

/// burn's default epsilon.
const EPSILON: f32 = 1e-5;

/// Values per task of the update: enough to outweigh rayon's cost per task, small enough that both cores share
/// a 2.4-million-value weight.
const CHUNK: usize = 1 << 16;

/// Adam (no weight decay, no AMSGrad), updating each f32 parameter in one pass on the CPU backend.
#[derive(Clone)]
pub struct FusedAdam {
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    /// burn's Adam with the same settings: what runs where the fused update does not apply.
    fallback: Adam,
}

impl FusedAdam {
    /// Adam with burn's defaults (betas 0.9 and 0.999, epsilon 1e-5).
    pub fn new() -> FusedAdam {
        FusedAdam::with_settings(0.9, 0.999, EPSILON)
    }

    /// Adam with the given moment decay rates and the epsilon that keeps its denominator off zero.
    pub fn with_settings(beta_1: f32, beta_2: f32, epsilon: f32) -> FusedAdam {
        let fallback = AdamConfig::new()
            .with_beta_1(beta_1)
            .with_beta_2(beta_2)
            .with_epsilon(epsilon)
            .build();
        FusedAdam {
            beta_1,
            beta_2,
            epsilon,
            fallback,
        }
    }

    /// The optimizer for a whole module, as `AdamConfig::init` gives burn's.
    pub fn init(self) -> ModuleOptimizer {
        ModuleOptimizer::from(self)
    }

    /// One fused step: the parameter's, the gradient's and the moments' values out of their tensors (without a
    /// copy where a tensor holds its buffer alone), updated in place over rayon, and back into tensors.
    fn fused_step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        momentum: Option<AdaptiveMomentumState<D>>,
    ) -> Result<(Tensor<D>, AdamState<D>)> {
        let device = tensor.device();
        let shape = tensor.shape();
        let mut weights = tensor_values(tensor)?;
        let grad = tensor_values(grad)?;
        let (time, mut moment_1, mut moment_2) = match momentum {
            // burn counts with a wrapping add (a resumed state's count is untrusted).
            Some(m) => (
                m.time.wrapping_add(1),
                tensor_values(m.moment_1)?,
                tensor_values(m.moment_2)?,
            ),
            None => (1, vec![0.0; grad.len()], vec![0.0; grad.len()]),
        };
        let step = self.step_constants(time, lr);
        weights
            .par_chunks_mut(CHUNK)
            .zip(moment_1.par_chunks_mut(CHUNK))
            .zip(moment_2.par_chunks_mut(CHUNK))
            .zip(grad.par_chunks(CHUNK))
            .for_each(|(((w, m), v), g)| adam_update(&step, w, m, v, g));
        let tensor = |values: Vec<f32>| Tensor::<D>::from_data(TensorData::new(values, shape.clone()), &device);
        let momentum = AdaptiveMomentumState::new(time, tensor(moment_1), tensor(moment_2));
        Ok((tensor(weights), AdamState::new(momentum)))
    }

    /// The constants of step `time` (1 for the first), the bias corrections computed as burn's Adam does.
    fn step_constants(&self, time: usize, lr: LearningRate) -> AdamStep {
        let (beta_1, beta_2, t) = (self.beta_1, self.beta_2, time as i32);
        let bias_correction2_sqrt = (1.0 - beta_2.powi(t)).sqrt();
        AdamStep {
            beta_1,
            beta_2,
            moment_scale: bias_correction2_sqrt / (1.0 - beta_1.powi(t)),
            epsilon: self.epsilon * bias_correction2_sqrt,
            // burn scales by the rate as an f32 (Flex's scalar operations take `scalar as f32`).
            lr: lr as f32,
            first: time == 1,
        }
    }
}

impl Default for FusedAdam {
    fn default() -> Self {
        FusedAdam::new()
    }
}

impl Optimizer for FusedAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        // A resumed state whose moments do not fit the parameter (a foreign checkpoint) goes to burn's Adam, which
        // behaves with it as it always did.
        let fits = |t: &Tensor<D>| t.dtype() == DType::F32 && t.shape() == tensor.shape();
        let moments_fit = state.as_ref().is_none_or(|s| {
            s.momentum.max_moment_2.is_none() && fits(&s.momentum.moment_1) && fits(&s.momentum.moment_2)
        });
        if cfg!(feature = "cuda") || !fits(&tensor) || !fits(&grad) || !moments_fit {
            return self.fallback.step(lr, tensor, grad, state);
        }
        // Reading an f32 tensor's values cannot fail (the dtypes were checked above), and burn's `step` has no error
        // to return.
        match self.fused_step(lr, tensor, grad, state.map(|s| s.momentum)) {
            Ok((tensor, state)) => (tensor, Some(state)),
            Err(e) => panic!("Adam's step: {e}"),
        }
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        Adam::to_device(state, device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::GradientsParams;
    use burn::tensor::Distribution;

    fn bits<const D: usize>(t: Tensor<D>) -> Vec<u32> {
        tensor_values(t)
            .expect("values")
            .into_iter()
            .map(f32::to_bits)
            .collect()
    }

    /// Trains one linear layer from the same start with burn's Adam and the fused one, on the same random batches,
    /// and requires every weight to be the same bits after each of 70 steps (the bias corrections change with the
    /// step count, and fine-tuning runs 60).
    fn matches_burns_adam(beta_1: f32, beta_2: f32, epsilon: f32) {
        let device = crate::backend::autodiff_device();
        let start: Linear = LinearConfig::new(300, 70).init(&device);
        let start_bits = bits(start.weight.val().inner());
        let (mut ours, mut theirs) = (start.clone(), start);
        let mut fused = FusedAdam::with_settings(beta_1, beta_2, epsilon).init();
        let mut burns = AdamConfig::new()
            .with_beta_1(beta_1)
            .with_beta_2(beta_2)
            .with_epsilon(epsilon)
            .init();
        for step in 0..70 {
            let x = Tensor::<2>::random([16, 300], Distribution::Normal(0.0, 1.0), &device);
            let loss = |model: &Linear| model.forward(x.clone()).powi_scalar(2).mean();
            let grads = GradientsParams::from_grads(loss(&ours).backward(), &ours);
            ours = fused.step(1e-3, ours, grads);
            let grads = GradientsParams::from_grads(loss(&theirs).backward(), &theirs);
            theirs = burns.step(1e-3, theirs, grads);
            assert_eq!(
                bits(ours.weight.val().inner()),
                bits(theirs.weight.val().inner()),
                "weights at step {step}"
            );
            assert_eq!(
                bits(ours.bias.as_ref().expect("a bias").val().inner()),
                bits(theirs.bias.as_ref().expect("a bias").val().inner()),
                "biases at step {step}"
            );
        }
        let moved = bits(ours.weight.val().inner())
            .iter()
            .zip(&start_bits)
            .filter(|(a, b)| a != b)
            .count();
        assert!(moved > 300 * 70 / 2, "training moved only {moved} of the weights");
    }

    #[test]
    fn is_burns_adam_bit_for_bit() {
        matches_burns_adam(0.9, 0.999, EPSILON);
    }

    #[test]
    fn is_burns_adam_bit_for_bit_with_the_gans_betas() {
        matches_burns_adam(0.5, 0.999, crate::gan::train::ADAM_EPSILON);
    }
}
