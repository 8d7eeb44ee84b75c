//! The attacks: FGSM (Goodfellow et al. 2015) and PGD (Madry et al. 2018) in the L-inf and L2 norms, untargeted or
//! targeted, with random starts and restarts. They take any [`AttackModel`] with inputs in [0, 1], run it as an
//! inference copy (`valid()`: no dropout, parameters are constants), and differentiate only with respect to the input.
//! Every output lies inside the eps-ball around its image and inside [0, 1]; eps = 0 returns the input unchanged.

use burn::module::Module;
use burn::prelude::*;
use burn::tensor::activation::log_softmax;

use super::apgd::{apgd_ce, apgd_t, auto_attack};
use super::config::{AttackConfig, AttackKind, Norm};
use crate::dataset::tensor::{labels_to_tensor, tensor_values};
use crate::error::{Result, SynthError};

/// A differentiable image classifier an attack can query. Implemented by [`Classifier`]; tests implement it for a
/// linear model whose gradient can be computed by hand.
pub trait AttackModel: Module {
    /// Logits for `[batch, channels, h, w]` images in [0, 1].
    fn logits(&self, images: Tensor<4>) -> Tensor<2>;
}

/// What the attack does with each image's class.
#[derive(Clone, Copy, Debug)]
pub enum Goal<'a> {
    /// Push each image away from its true label: ascend the cross-entropy of `labels[i]`.
    Untargeted(&'a [usize]),
    /// Pull each image toward a chosen class: descend the cross-entropy of `targets[i]`.
    Targeted(&'a [usize]),
}

impl Goal<'_> {
    fn classes(&self) -> &[usize] {
        match self {
            Goal::Untargeted(c) | Goal::Targeted(c) => c,
        }
    }

    /// +1 when the loss is ascended, -1 when it is descended.
    fn direction(&self) -> f32 {
        match self {
            Goal::Untargeted(_) => 1.0,
            Goal::Targeted(_) => -1.0,
        }
    }
}

/// Smallest norm divided by, so an all-zero gradient or perturbation stays zero instead of becoming NaN.
pub(super) const TINY: f32 = 1e-12;

/// Per-image cross-entropy of `classes`, `[batch]`.
pub(super) fn cross_entropy(logits: Tensor<2>, classes: &[usize]) -> Tensor<1> {
    let device = logits.device();
    let idx = labels_to_tensor(classes, &device).unsqueeze_dim::<2>(1);
    log_softmax(logits, 1).gather(1, idx).neg().squeeze_dim::<1>(1)
}

/// Gradient of the summed cross-entropy of `classes` with respect to the images (not the parameters: `model` is an
/// inference copy, so its parameters enter the graph as constants). Summed rather than averaged, so each image's
/// gradient does not shrink with the batch size.
///
/// # Shapes
/// `[batch, c, h, w]` -> `[batch, c, h, w]`
fn input_gradient<M: AttackModel>(model: &M, images: &Tensor<4>, classes: &[usize]) -> Result<Tensor<4>> {
    // A fresh leaf on the autodiff side of the images' own device.
    let x = images.clone().detach().inner().autodiff().require_grad();
    let loss = cross_entropy(model.logits(x.clone()), classes).sum();
    let grads = loss.backward();
    x.grad(&grads)
        .ok_or_else(|| SynthError::internal("the attack found no gradient with respect to the input"))
}

/// Per-image L2 norm, shaped `[batch, 1, 1, 1]` to scale `[batch, c, h, w]` tensors.
fn l2_norms(t: Tensor<4>) -> Tensor<4> {
    let [n, ..] = t.dims();
    t.square()
        .reshape([n as i32, -1])
        .sum_dim(1)
        .sqrt()
        .reshape([n, 1, 1, 1])
}

/// Each image's gradient scaled to unit L2 length (zero stays zero).
fn l2_normalize(g: Tensor<4>) -> Tensor<4> {
    let norms = l2_norms(g.clone()).clamp_min(TINY);
    g / norms
}

/// Projects `x_adv` onto the L-inf ball of radius `eps` around `x`, then onto [0, 1].
///
/// # Shapes
/// `x_adv`, `x`: `[batch, c, h, w]` -> `[batch, c, h, w]`
pub fn project_linf(x_adv: Tensor<4>, x: &Tensor<4>, eps: f32) -> Tensor<4> {
    let delta = (x_adv - x.clone()).clamp(-eps, eps);
    (x.clone() + delta).clamp(0.0, 1.0)
}

/// Projects `x_adv` onto the L2 ball of radius `eps` around `x` (each image's perturbation is scaled down to length
/// `eps` when longer), then onto [0, 1] (clipping only shortens a perturbation, so the result stays in the ball).
///
/// # Shapes
/// `x_adv`, `x`: `[batch, c, h, w]` -> `[batch, c, h, w]`
pub fn project_l2(x_adv: Tensor<4>, x: &Tensor<4>, eps: f32) -> Tensor<4> {
    let delta = x_adv - x.clone();
    let scale = (l2_norms(delta.clone()).clamp_min(TINY).recip() * eps).clamp_max(1.0);
    (x.clone() + delta * scale).clamp(0.0, 1.0)
}

/// Projects onto the ball of `norm`.
pub fn project(x_adv: Tensor<4>, x: &Tensor<4>, eps: f32, norm: Norm) -> Tensor<4> {
    match norm {
        Norm::Linf => project_linf(x_adv, x, eps),
        Norm::L2 => project_l2(x_adv, x, eps),
    }
}

/// The step direction for a gradient: its sign (L-inf) or its L2-normalised value (L2), pointed up or down the loss.
pub(super) fn steepest(g: Tensor<4>, norm: Norm, direction: f32) -> Tensor<4> {
    match norm {
        Norm::Linf => g.sign() * direction,
        Norm::L2 => l2_normalize(g) * direction,
    }
}

/// FGSM: one step of length `eps` along the steepest-ascent direction of the loss for the norm (its sign for L-inf,
/// the L2-normalised gradient for L2), clipped to [0, 1]. Targeted goals step down the target's loss instead.
///
/// # Shapes
/// `images`: `[batch, c, h, w]` in [0, 1] -> `[batch, c, h, w]`
pub fn fgsm<M: AttackModel>(model: &M, images: &Tensor<4>, goal: Goal, eps: f32, norm: Norm) -> Result<Tensor<4>> {
    let model = model.valid();
    let g = input_gradient(&model, images, goal.classes())?;
    let x_adv = images.clone() + steepest(g, norm, goal.direction()) * eps;
    Ok(project(x_adv, images, eps, norm))
}

/// One PGD step from `x_adv`: a step of `alpha` along the steepest direction of the loss, then the projection back
/// onto the `eps`-ball around `x` and onto [0, 1]. `model` is run as an inference copy (`valid()` is idempotent, so
/// passing one already made costs nothing).
///
/// # Shapes
/// `x_adv`, `x`: `[batch, c, h, w]` -> `[batch, c, h, w]`
pub fn pgd_step<M: AttackModel>(
    model: &M,
    x_adv: Tensor<4>,
    x: &Tensor<4>,
    goal: Goal,
    alpha: f32,
    eps: f32,
    norm: Norm,
) -> Result<Tensor<4>> {
    let g = input_gradient(&model.valid(), &x_adv, goal.classes())?;
    let moved = x_adv + steepest(g, norm, goal.direction()) * alpha;
    Ok(project(moved, x, eps, norm))
}

/// A random point of the ball around each image, drawn from that image's seed: uniform per pixel in [-eps, eps]
/// (L-inf), or a uniformly random direction (normalised Gaussian) at a length uniform in [0, eps] (L2); then clipped
/// to [0, 1]. Drawn on the CPU from per-image ChaCha streams, so the start depends on the image's seed only, not on
/// the batch it falls in.
pub fn random_start(x: &Tensor<4>, eps: f32, norm: Norm, seeds: &[u64]) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    let per = c * h * w;
    let mut noise = Vec::with_capacity(n * per);
    for &seed in seeds.iter().take(n) {
        let mut rng = crate::seed::rng(seed);
        match norm {
            Norm::Linf => {
                noise.extend((0..per).map(|_| (2.0 * rand::RngExt::random::<f32>(&mut rng) - 1.0) * eps));
            }
            Norm::L2 => {
                let d: Vec<f32> = (0..per).map(|_| crate::seed::standard_normal(&mut rng)).collect();
                let len = d.iter().map(|v| v * v).sum::<f32>().sqrt().max(TINY);
                let radius = eps * rand::RngExt::random::<f32>(&mut rng);
                noise.extend(d.iter().map(|v| v / len * radius));
            }
        }
    }
    let noise = Tensor::<4>::from_data(TensorData::new(noise, [n, c, h, w]), &x.device());
    project(x.clone() + noise, x, eps, norm)
}

/// How strong an attack's result is on each image, for keeping the strongest of several restarts: first whether
/// it reaches the goal, then the loss it drives (the true label's cross-entropy, higher is stronger; or the
/// target's, lower is stronger).
fn strength<M: AttackModel>(model: &M, x_adv: &Tensor<4>, goal: Goal) -> Result<Vec<(bool, f32)>> {
    let logits = model.logits(x_adv.clone());
    let predicted = crate::dataset::tensor::argmax_rows(logits.clone())?;
    let losses = tensor_values(cross_entropy(logits, goal.classes()))?;
    Ok(predicted
        .iter()
        .zip(goal.classes())
        .zip(losses)
        .map(|((&p, &c), loss)| match goal {
            Goal::Untargeted(_) => (p != c, loss),
            Goal::Targeted(_) => (p == c, -loss),
        })
        .collect())
}

/// PGD: from the image (or a random point of the ball), `steps` steps of [`pgd_step`]; with restarts, each restart
/// draws a new random start (seed derived from the image's seed and the restart) and each image keeps its
/// strongest result (reaching the goal first, then the loss).
///
/// # Shapes
/// `images`: `[batch, c, h, w]` in [0, 1] -> `[batch, c, h, w]`
pub fn pgd<M: AttackModel>(
    model: &M,
    images: &Tensor<4>,
    goal: Goal,
    config: &AttackConfig,
    seeds: &[u64],
) -> Result<Tensor<4>> {
    let model = model.valid();
    let (eps, alpha) = (config.eps as f32, config.step_size() as f32);
    let restarts = config.restarts.max(1);
    let mut best: Option<(Tensor<4>, Vec<(bool, f32)>)> = None;
    for restart in 0..restarts {
        let mut x_adv = if config.random_start {
            let restart_seeds: Vec<u64> = seeds
                .iter()
                .map(|&s| crate::seed::derive(s, &[restart as u64]))
                .collect();
            random_start(images, eps, config.norm, &restart_seeds)
        } else {
            images.clone()
        };
        for _ in 0..config.steps {
            x_adv = pgd_step(&model, x_adv, images, goal, alpha, eps, config.norm)?;
        }
        if restarts == 1 {
            return Ok(x_adv);
        }
        let score = strength(&model, &x_adv, goal)?;
        best = Some(match best {
            None => (x_adv, score),
            Some((kept, kept_score)) => {
                let take: Vec<bool> = score
                    .iter()
                    .zip(&kept_score)
                    .map(|(new, old)| new.0 & !old.0 || (new.0 == old.0 && new.1 > old.1))
                    .collect();
                let n = take.len();
                let mask = Tensor::<4>::from_data(
                    TensorData::new(take.iter().map(|&t| t as u8 as f32).collect::<Vec<_>>(), [n, 1, 1, 1]),
                    &images.device(),
                );
                // An exact blend: each image is wholly the new result (mask 1) or wholly the kept one (mask 0).
                let merged = kept * (mask.clone().neg() + 1.0) + x_adv * mask;
                let merged_score = take
                    .iter()
                    .zip(score.into_iter().zip(kept_score))
                    .map(|(&t, (new, old))| if t { new } else { old })
                    .collect();
                (merged, merged_score)
            }
        });
    }
    best.map(|b| b.0)
        .ok_or_else(|| SynthError::internal("pgd ran no restart"))
}

/// Runs the configured attack (FGSM, PGD, or one of the APGD family, which must be untargeted) on one batch.
pub fn attack<M: AttackModel>(
    model: &M,
    images: &Tensor<4>,
    goal: Goal,
    config: &AttackConfig,
    seeds: &[u64],
) -> Result<Tensor<4>> {
    let untargeted = |labels: &'_ [usize]| -> Result<()> {
        match goal {
            Goal::Untargeted(_) if labels.len() == images.dims()[0] => Ok(()),
            Goal::Untargeted(_) => Err(SynthError::internal("an APGD attack needs one label per image")),
            Goal::Targeted(_) => Err(SynthError::bad_input(format!(
                "{} is an untargeted evaluation and picks its own targets",
                config.attack
            ))),
        }
    };
    let labels = goal.classes();
    match config.attack {
        AttackKind::Fgsm => fgsm(model, images, goal, config.eps as f32, config.norm),
        AttackKind::Pgd => pgd(model, images, goal, config, seeds),
        AttackKind::ApgdCe => untargeted(labels).and_then(|()| apgd_ce(model, images, labels, config, seeds)),
        AttackKind::ApgdT => untargeted(labels).and_then(|()| apgd_t(model, images, labels, config, seeds)),
        AttackKind::Auto => untargeted(labels).and_then(|()| auto_attack(model, images, labels, config, seeds)),
    }
}

/// Per-image L-inf and L2 length of `adversarial - clean`, for images of `per_image` values each.
pub fn perturbation_norms(adversarial: &[f32], clean: &[f32], per_image: usize) -> Vec<(f32, f32)> {
    adversarial
        .chunks_exact(per_image)
        .zip(clean.chunks_exact(per_image))
        .map(|(a, c)| {
            a.iter().zip(c).fold((0.0f32, 0.0f32), |(linf, sq), (a, c)| {
                let d = (a - c).abs();
                (linf.max(d), sq + d * d)
            })
        })
        .map(|(linf, sq)| (linf, sq.sqrt()))
        .collect()
}

/// Rounds an adversarial image to the 8-bit grid a PNG stores while keeping it inside the ball: each value goes to
/// the nearer of the two grid points around it unless that leaves the ball, then to the one nearer the clean value
/// (for L2, every value does so once the rounded image is outside the ball). For a clean image on the 8-bit grid (every
/// PNG, IDX, CSV or CIFAR source) the result is always inside the ball; a clean value off the grid (8x8 digits,
/// resized images) may leave it by up to half a grid step, and the manifest reports the norms actually written.
pub fn quantize_within(adversarial: &[f32], clean: &[f32], eps: f32, norm: Norm) -> Vec<f32> {
    let grid = |a: f32| {
        let lo = (a * 255.0).floor().clamp(0.0, 255.0) / 255.0;
        let hi = (a * 255.0).ceil().clamp(0.0, 255.0) / 255.0;
        (lo, hi)
    };
    let nearest = |a: f32, target: f32| {
        let (lo, hi) = grid(a);
        if (lo - target).abs() <= (hi - target).abs() {
            lo
        } else {
            hi
        }
    };
    match norm {
        Norm::Linf => adversarial
            .iter()
            .zip(clean)
            .map(|(&a, &c)| {
                let q = nearest(a, a);
                if (q - c).abs() <= eps { q } else { nearest(a, c) }
            })
            .collect(),
        Norm::L2 => {
            let rounded: Vec<f32> = adversarial.iter().map(|&a| nearest(a, a)).collect();
            let sq: f32 = rounded.iter().zip(clean).map(|(q, c)| (q - c) * (q - c)).sum();
            if sq.sqrt() <= eps {
                rounded
            } else {
                adversarial.iter().zip(clean).map(|(&a, &c)| nearest(a, c)).collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};
    use burn::tensor::Distribution;

    /// Softmax regression on flattened pixels: its input gradient has a closed form.
    #[derive(Module, Debug)]
    struct LinearModel {
        linear: Linear,
    }

    impl AttackModel for LinearModel {
        fn logits(&self, images: Tensor<4>) -> Tensor<2> {
            self.linear.forward(images.flatten(1, 3))
        }
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        tensor_values(t).unwrap()
    }

    fn linear_model(features: usize, classes: usize) -> LinearModel {
        let device = crate::backend::device();
        crate::backend::seeded(&device, 3, || LinearModel {
            linear: LinearConfig::new(features, classes).init(&device),
        })
    }

    /// d/dx of -log softmax(Wx + b)_y is W^T (softmax(Wx + b) - onehot(y)), computed here in plain f64.
    fn hand_gradient(model: &LinearModel, x: &[f32], label: usize) -> Vec<f64> {
        let w = values(model.linear.weight.val()); // [features, classes], row-major
        let b = values(model.linear.bias.as_ref().unwrap().val());
        let classes = b.len();
        let z: Vec<f64> = (0..classes)
            .map(|k| {
                b[k] as f64
                    + x.iter()
                        .enumerate()
                        .map(|(i, &v)| v as f64 * w[i * classes + k] as f64)
                        .sum::<f64>()
            })
            .collect();
        let m = z.iter().cloned().fold(f64::MIN, f64::max);
        let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
        let s: f64 = e.iter().sum();
        (0..x.len())
            .map(|i| {
                (0..classes)
                    .map(|k| w[i * classes + k] as f64 * (e[k] / s - if k == label { 1.0 } else { 0.0 }))
                    .sum()
            })
            .collect()
    }

    #[test]
    fn fgsm_on_a_linear_model_steps_eps_times_the_sign_of_the_hand_computed_gradient() {
        let device = crate::backend::device();
        let (n, side, classes) = (3, 4, 5);
        let model = linear_model(side * side, classes);
        // Pixels in [0.4, 0.6] and eps 0.1: clipping to [0, 1] never bites, so the step is visible whole.
        let x = Tensor::<4>::random([n, 1, side, side], Distribution::Uniform(0.4, 0.6), &device);
        let labels = [0, 3, 4];
        let eps = 0.1;
        let adv = values(fgsm(&model, &x, Goal::Untargeted(&labels), eps, Norm::Linf).unwrap());
        let clean = values(x);
        let per = side * side;
        for (i, &label) in labels.iter().enumerate() {
            let g = hand_gradient(&model, &clean[i * per..(i + 1) * per], label);
            for (j, gj) in g.iter().enumerate() {
                assert!(
                    gj.abs() > 1e-9,
                    "a zero gradient component would make the sign test vacuous"
                );
                let step = adv[i * per + j] - clean[i * per + j];
                let expected = eps * gj.signum() as f32;
                assert!(
                    (step - expected).abs() < 1e-6,
                    "image {i} pixel {j}: step {step}, expected {expected} (gradient {gj})"
                );
            }
        }
    }

    #[test]
    fn targeted_fgsm_on_a_linear_model_steps_against_the_target_gradient() {
        let device = crate::backend::device();
        let model = linear_model(16, 4);
        let x = Tensor::<4>::random([2, 1, 4, 4], Distribution::Uniform(0.4, 0.6), &device);
        let targets = [2, 1];
        let adv = values(fgsm(&model, &x, Goal::Targeted(&targets), 0.05, Norm::Linf).unwrap());
        let clean = values(x);
        for (i, &t) in targets.iter().enumerate() {
            let g = hand_gradient(&model, &clean[i * 16..(i + 1) * 16], t);
            for (j, gj) in g.iter().enumerate() {
                let step = adv[i * 16 + j] - clean[i * 16 + j];
                assert!(
                    (step + 0.05 * gj.signum() as f32).abs() < 1e-6,
                    "{step} vs gradient {gj}"
                );
            }
        }
    }

    #[test]
    fn l2_fgsm_on_a_linear_model_steps_eps_along_the_normalised_gradient() {
        let device = crate::backend::device();
        let model = linear_model(16, 3);
        let x = Tensor::<4>::random([1, 1, 4, 4], Distribution::Uniform(0.4, 0.6), &device);
        let adv = values(fgsm(&model, &x, Goal::Untargeted(&[1]), 0.05, Norm::L2).unwrap());
        let clean = values(x);
        let g = hand_gradient(&model, &clean, 1);
        let len = g.iter().map(|v| v * v).sum::<f64>().sqrt();
        for (j, gj) in g.iter().enumerate() {
            let expected = 0.05 * (gj / len) as f32;
            assert!((adv[j] - clean[j] - expected).abs() < 1e-6);
        }
    }

    /// Given a model in training mode on the autodiff device (as adversarial training holds it), the attack still
    /// runs it as an inference copy: with dropout 0.9 active, two identical calls would disagree.
    #[test]
    fn attacks_run_a_training_model_in_inference_mode() {
        use crate::classifier::{BackboneKind, ClassifierConfig, build_model};
        let config = ClassifierConfig {
            backbone: BackboneKind::Cnn,
            dropout: 0.9,
            ..Default::default()
        };
        let model = build_model(&config, 10, (1, 8), &crate::backend::autodiff_device()).unwrap();
        let x = Tensor::<4>::random([4, 1, 8, 8], Distribution::Default, &crate::backend::device());
        let labels = [0, 1, 2, 3];
        let run = || values(fgsm(&model, &x, Goal::Untargeted(&labels), 0.5, Norm::L2).unwrap());
        let first = run();
        assert_ne!(first, values(x.clone()), "the attack moved the images");
        assert_eq!(first, run(), "no dropout: the same input gives the same gradient");
    }

    #[test]
    fn projections_land_in_the_ball_and_the_unit_box() {
        let device = crate::backend::device();
        let x = Tensor::<4>::random([4, 1, 6, 6], Distribution::Default, &device);
        let far = Tensor::<4>::random([4, 1, 6, 6], Distribution::Uniform(-2.0, 3.0), &device);
        let per = 36;
        for (norm, eps) in [(Norm::Linf, 0.1f32), (Norm::L2, 0.5)] {
            let p = values(project(far.clone(), &x, eps, norm));
            assert!(p.iter().all(|v| (0.0..=1.0).contains(v)));
            for (linf, l2) in perturbation_norms(&p, &values(x.clone()), per) {
                let size = if norm == Norm::Linf { linf } else { l2 };
                assert!(size <= eps + 1e-6, "{norm}: {size} > {eps}");
            }
        }
        // A point already inside the ball is left where it is.
        let near = project_linf(x.clone().add_scalar(0.01), &x, 0.1);
        let inside = values(x.clone().add_scalar(0.01).clamp(0.0, 1.0));
        assert_eq!(values(near), inside);
    }

    #[test]
    fn quantized_images_stay_in_the_ball_when_the_clean_image_is_on_the_grid() {
        let clean: Vec<f32> = (0..64).map(|i| ((i * 37) % 256) as f32 / 255.0).collect();
        let mut rng = crate::seed::rng(5);
        for (norm, eps) in [(Norm::Linf, 0.3f32), (Norm::Linf, 0.001), (Norm::L2, 0.7)] {
            let raw: Vec<f32> = clean
                .iter()
                .map(|c| c + (2.0 * rand::RngExt::random::<f32>(&mut rng) - 1.0) * 0.5)
                .collect();
            let dev = crate::backend::device();
            let t = |v: &[f32]| Tensor::<4>::from_data(TensorData::new(v.to_vec(), [1, 1, 8, 8]), &dev);
            let adv = values(project(t(&raw), &t(&clean), eps, norm));
            let q = quantize_within(&adv, &clean, eps, norm);
            assert!(
                q.iter().all(|v| ((v * 255.0).round() - v * 255.0).abs() < 1e-3),
                "on the 8-bit grid"
            );
            let (linf, l2) = perturbation_norms(&q, &clean, 64)[0];
            let size = if norm == Norm::Linf { linf } else { l2 };
            assert!(size <= eps + 1e-6, "{norm} eps {eps}: {size}");
        }
    }
}
