//! synth change 21: Adam's update of one f32 parameter in one pass over its
//! values, for synth's `FusedAdam` (burn-optim's Adam makes it as thirteen
//! tensor operations, each a pass over the parameter).
//!
//! Every value goes through burn-optim's operations in their order, each
//! rounded to f32 on its own (no fused multiply-add): `m = m * b1 + g * (1 -
//! b1)`, `v = v * b2 + (g * g) * (1 - b2)` (on the first step `m = g * (1 -
//! b1)`, `v = (g * g) * (1 - b2)`), `w = w - ((m * scale) / (sqrt(v) + eps)) *
//! lr`. Each is an IEEE operation, so the compiler's vector code gives the
//! scalar results bit for bit. It lives here rather than in synth because
//! synth's own code builds at opt-level 1 in its dev profile, too low for the
//! loop to be vectorized.

/// One Adam step's constants, the same for every value of a parameter.
#[derive(Clone, Copy, Debug)]
pub struct AdamStep {
    /// The first moment's decay rate.
    pub beta_1: f32,
    /// The second moment's decay rate.
    pub beta_2: f32,
    /// What scales the first moment in the update: `sqrt(1 - b2^t) / (1 - b1^t)`.
    pub moment_scale: f32,
    /// What is added to the second moment's square root: `epsilon * sqrt(1 - b2^t)`.
    pub epsilon: f32,
    /// The learning rate.
    pub lr: f32,
    /// Whether this is the parameter's first step (the moments start from it).
    pub first: bool,
}

/// Updates `weights` and the moments in place from `grad` (all the same
/// length; the moments' contents are ignored on the first step).
pub fn adam_update(
    step: &AdamStep,
    weights: &mut [f32],
    moment_1: &mut [f32],
    moment_2: &mut [f32],
    grad: &[f32],
) {
    let n = weights.len();
    assert!(
        moment_1.len() == n && moment_2.len() == n && grad.len() == n,
        "a parameter's weights, moments and gradient have the same length"
    );
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: the CPU has AVX.
        unsafe { wide::update(step, weights, moment_1, moment_2, grad) };
        return;
    }
    update(step, weights, moment_1, moment_2, grad);
}

#[inline(always)]
fn update(step: &AdamStep, w: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32]) {
    let (b1, b2) = (step.beta_1, step.beta_2);
    let (f1, f2) = (1.0 - b1, 1.0 - b2);
    let (scale, eps, lr) = (step.moment_scale, step.epsilon, step.lr);
    for (((w, m), v), &g) in w.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g) {
        let (m1, v1) = if step.first {
            (g * f1, (g * g) * f2)
        } else {
            (*m * b1 + g * f1, *v * b2 + (g * g) * f2)
        };
        *w -= ((m1 * scale) / (v1.sqrt() + eps)) * lr;
        (*m, *v) = (m1, v1);
    }
}

/// [`update`] compiled for AVX's 8-wide registers.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod wide {
    use super::AdamStep;

    #[target_feature(enable = "avx")]
    pub(super) fn update(step: &AdamStep, w: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32]) {
        super::update(step, w, m, v, g)
    }
}
