//! Auto-PGD (Croce & Hein, ICML 2020, "Reliable evaluation of adversarial robustness with an ensemble of diverse
//! parameter-free attacks"): PGD whose step size needs no tuning, the core of AutoAttack, the attack robustness
//! claims are ranked under (RobustBench). Fixed-step PGD is what earlier defences were measured with and what
//! overstated them; APGD removes the step size as a way to get a weak attack by accident.
//!
//! - [`apgd_ce`]: APGD on the cross-entropy of the true label.
//! - [`apgd_t`]: APGD on the targeted DLR loss, once per target among the most likely wrong classes.
//! - [`auto_attack`]: APGD-CE, then APGD-T on the images it left correctly classified, each image keeping its worst
//!   case: AutoAttack's "standard" sequence without FAB-T and Square (neither is implemented here).
//!
//! Each APGD run starts at the step size 2 eps, moves with momentum 0.75, keeps the point of highest loss, and at
//! the checkpoints of [`apgd_checkpoints`] halves the step size of an image (restarting it from its best point) when
//! its loss rose in at most 75% of the steps since the last checkpoint, or when neither its step size was cut nor
//! its best loss improved at the last checkpoint. As in AutoAttack, only images classified correctly are attacked,
//! and each restart or target only attacks the images no earlier run has misclassified; an image also leaves a run
//! at its first misclassified iterate, so a falling batch gets cheaper. All outputs lie inside the eps-ball and
//! [0, 1]; eps = 0 returns the input unchanged.

use burn::prelude::*;

use super::config::AttackConfig;
use super::gradient::{AttackModel, TINY, cross_entropy, project, random_start, steepest};
use crate::dataset::tensor::{labels_to_tensor, tensor_values};
use crate::error::{Result, SynthError};

/// Weight of the new gradient step in APGD's update (the paper's alpha): the next point is 0.75 of the way to the
/// projected gradient step plus 0.25 of the last move.
pub const APGD_MOMENTUM: f32 = 0.75;

/// The paper's rho: at a checkpoint, an image's step size is halved when its loss rose in at most this share of
/// the steps since the previous checkpoint (the step is oscillating rather than climbing).
pub const APGD_RHO: f32 = 0.75;

/// Target classes of APGD-T: AutoAttack's standard 9 (every wrong class of a 10-class problem), or every wrong
/// class of a model with fewer.
pub const APGD_T_TARGETS: usize = 9;

/// Classes the targeted DLR loss needs: its denominator uses the first, third and fourth largest logits.
pub const DLR_MIN_CLASSES: usize = 4;

/// The iterations (counted from 1) after which APGD checks each image's step size. The paper's checkpoints are
/// w_j = ceil(p_j N) with p_0 = 0, p_1 = 0.22 and p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06); they are kept
/// here in integers, as AutoAttack's own code does (periods of 0.22 N iterations, shrinking by 0.03 N down to
/// 0.06 N, each at least one), so rounding cannot shift one: for 100 steps, 22, 41, 57, 70, 80, 87, 93, 99.
pub fn apgd_checkpoints(steps: usize) -> Vec<usize> {
    let share = |p: f64| ((p * steps as f64) as usize).max(1);
    let (shrink, shortest) = (share(0.03), share(0.06));
    let mut period = share(0.22);
    let mut at = period;
    let mut checkpoints = Vec::new();
    while at <= steps {
        checkpoints.push(at);
        period = period.saturating_sub(shrink).max(shortest);
        at += period;
    }
    checkpoints
}

/// The loss an APGD run ascends.
#[derive(Clone, Copy, Debug)]
enum ApgdLoss<'a> {
    /// Cross-entropy of the true label (APGD-CE).
    CrossEntropy,
    /// Targeted DLR loss toward `targets[i]` (APGD-T).
    TargetedDlr(&'a [usize]),
}

/// The targeted difference-of-logits-ratio loss (Croce & Hein 2020, eq. 7), per image:
/// -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2), with z sorted decreasingly as z_pi1 >= z_pi2 >= ... It is
/// invariant to shifting and scaling the logits, so a model with saturated softmax (where cross-entropy's gradient
/// vanishes) cannot hide behind its logit scale. The order of the logits is taken from their values (it is locally
/// constant), so the gradient is that of the gathered logits, as in the reference implementation.
///
/// # Shapes
/// `logits`: `[batch, classes]` (classes >= 4) -> `[batch]`
pub fn dlr_loss_targeted(logits: Tensor<2>, labels: &[usize], targets: &[usize]) -> Result<Tensor<1>> {
    let [n, classes] = logits.dims();
    if classes < DLR_MIN_CLASSES {
        return Err(SynthError::bad_input(format!(
            "the targeted DLR loss needs at least {DLR_MIN_CLASSES} classes, the model has {classes}"
        )));
    }
    if labels.len() != n || targets.len() != n {
        return Err(SynthError::internal(
            "dlr_loss_targeted needs one label and one target per image",
        ));
    }
    let values = tensor_values(logits.clone())?;
    let mut order = Vec::with_capacity(n * 5);
    for (i, row) in values.chunks_exact(classes).enumerate() {
        let mut ranked: Vec<usize> = (0..classes).collect();
        ranked.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
        order.extend([labels[i], targets[i], ranked[0], ranked[2], ranked[3]]);
    }
    let device = logits.device();
    let index = labels_to_tensor(&order, &device).reshape([n, 5]);
    let picked = logits.gather(1, index); // [batch, 5]: z_y, z_t, z_pi1, z_pi3, z_pi4
    let column = |k: usize| picked.clone().slice([0..n, k..k + 1]).squeeze_dim::<1>(1);
    let margin = column(0) - column(1);
    let scale = column(2) - (column(3) + column(4)) * 0.5 + TINY;
    Ok((margin / scale).neg())
}

/// What one forward and backward pass at a point tells APGD.
struct Probe {
    /// Per-image loss (to be maximised).
    loss: Vec<f32>,
    /// Per-image predicted class.
    predicted: Vec<usize>,
    /// Gradient of the summed loss with respect to the point: each image's own gradient.
    grad: Tensor<4>,
}

/// Loss, prediction and input gradient at `x` (the model is an inference copy: only the input is differentiated).
fn probe<M: AttackModel>(model: &M, x: &Tensor<4>, labels: &[usize], loss: ApgdLoss) -> Result<Probe> {
    let leaf = x.clone().detach().inner().autodiff().require_grad();
    let logits = model.logits(leaf.clone());
    let predicted = crate::dataset::tensor::argmax_rows(logits.clone())?;
    let per_image = match loss {
        ApgdLoss::CrossEntropy => cross_entropy(logits, labels),
        ApgdLoss::TargetedDlr(targets) => dlr_loss_targeted(logits, labels, targets)?,
    };
    let values = tensor_values(per_image.clone())?;
    let grads = per_image.sum().backward();
    let grad = leaf
        .grad(&grads)
        .ok_or_else(|| SynthError::internal("APGD found no gradient with respect to the input"))?;
    Ok(Probe {
        loss: values,
        predicted,
        grad,
    })
}

/// A `[batch, 1, 1, 1]` column of per-image values, to scale `[batch, c, h, w]` tensors.
fn column(values: &[f32], device: &Device) -> Tensor<4> {
    Tensor::<4>::from_data(TensorData::new(values.to_vec(), [values.len(), 1, 1, 1]), device)
}

/// Per image, `new` where `take` holds and `kept` elsewhere (an exact choice: each image is wholly one or the other).
fn choose(kept: Tensor<4>, new: Tensor<4>, take: &[bool]) -> Tensor<4> {
    if !take.iter().any(|&t| t) {
        return kept;
    }
    if take.iter().all(|&t| t) {
        return new;
    }
    let mask: Vec<f32> = take.iter().map(|&t| t as u8 as f32).collect();
    let mask = column(&mask, &kept.device());
    kept * (mask.clone().neg() + 1.0) + new * mask
}

/// The outcome of one APGD run on a batch.
struct RunResult {
    /// `[batch * per]` values, per image: its first misclassified iterate if one was found, else its point of
    /// highest loss.
    adversarial: Vec<f32>,
    /// Per image: whether some iterate was misclassified.
    fooled: Vec<bool>,
    /// Per image: the highest loss reached.
    best_loss: Vec<f32>,
}

/// The rows `keep` of a `[batch, c, h, w]` tensor.
fn rows(t: Tensor<4>, keep: &[usize]) -> Tensor<4> {
    let device = t.device();
    t.select(0, labels_to_tensor(keep, &device))
}

/// The entries `keep` of a per-image vector.
fn entries<T: Copy>(v: &[T], keep: &[usize]) -> Vec<T> {
    keep.iter().map(|&k| v[k]).collect()
}

/// One APGD run from `start` around the clean images `x`: `steps` momentum steps with per-image step sizes halved at
/// the checkpoints under the two conditions of the paper (see the module documentation). An image leaves the run
/// at its first misclassified iterate (AutoAttack's code keeps stepping it, which changes which misclassifying
/// point is kept but not whether one exists), so a batch gets cheaper as it falls.
///
/// # Shapes
/// `x`, `start`: `[batch, c, h, w]`; `labels` (and a DLR loss's targets): `batch` entries
fn apgd_run<M: AttackModel>(
    model: &M,
    x: &Tensor<4>,
    start: Tensor<4>,
    labels: &[usize],
    loss: ApgdLoss,
    config: &AttackConfig,
) -> Result<RunResult> {
    let (eps, norm, steps) = (config.eps as f32, config.norm, config.steps);
    let device = x.device();
    let [n, c, h, w] = x.dims();
    let per = c * h * w;
    let mut result = RunResult {
        adversarial: vec![0.0; n * per],
        fooled: vec![false; n],
        best_loss: vec![f32::NEG_INFINITY; n],
    };
    let mut targets: Option<Vec<usize>> = match loss {
        ApgdLoss::CrossEntropy => None,
        ApgdLoss::TargetedDlr(t) => Some(t.to_vec()),
    };
    // The images still in the run (indices into the batch) and their state, row k for image active[k].
    let mut active: Vec<usize> = (0..n).collect();
    let mut x_clean = x.clone();
    let mut labels: Vec<usize> = labels.to_vec();
    let mut x_k = start;
    let first = probe(
        model,
        &x_k,
        &labels,
        targets.as_deref().map_or(ApgdLoss::CrossEntropy, ApgdLoss::TargetedDlr),
    )?;
    let mut fooled_now: Vec<bool> = first.predicted.iter().zip(&labels).map(|(p, y)| p != y).collect();
    let mut current_loss = first.loss.clone();
    let mut best_loss = first.loss;
    let mut grad = first.grad;
    let mut grad_best = grad.clone();
    let mut x_best = x_k.clone();
    let mut x_prev = x_k.clone();
    let mut step_size = vec![2.0 * eps; n];

    let checkpoints = apgd_checkpoints(steps);
    let mut next_checkpoint = checkpoints.iter().copied().peekable();
    let mut last_checkpoint = 0usize;
    let mut increases = vec![0usize; n];
    let mut best_at_checkpoint = best_loss.clone();
    // AutoAttack counts the start as a reduction, so the second condition first applies at the second checkpoint.
    let mut reduced_at_checkpoint = vec![true; n];

    let mut step = 0;
    loop {
        // Images misclassified at the current iterate leave the run with it.
        if fooled_now.iter().any(|&f| f) {
            let values = tensor_values(x_k.clone())?;
            for (k, &i) in active.iter().enumerate() {
                if fooled_now[k] {
                    result.adversarial[i * per..(i + 1) * per].copy_from_slice(&values[k * per..(k + 1) * per]);
                    result.fooled[i] = true;
                    result.best_loss[i] = best_loss[k];
                }
            }
            let keep: Vec<usize> = (0..active.len()).filter(|&k| !fooled_now[k]).collect();
            if keep.is_empty() {
                return Ok(result);
            }
            active = entries(&active, &keep);
            labels = entries(&labels, &keep);
            targets = targets.map(|t| entries(&t, &keep));
            step_size = entries(&step_size, &keep);
            current_loss = entries(&current_loss, &keep);
            best_loss = entries(&best_loss, &keep);
            increases = entries(&increases, &keep);
            best_at_checkpoint = entries(&best_at_checkpoint, &keep);
            reduced_at_checkpoint = entries(&reduced_at_checkpoint, &keep);
            x_clean = rows(x_clean, &keep);
            x_k = rows(x_k, &keep);
            x_prev = rows(x_prev, &keep);
            x_best = rows(x_best, &keep);
            grad = rows(grad, &keep);
            grad_best = rows(grad_best, &keep);
        }
        if step == steps {
            break;
        }
        step += 1;
        let m = active.len();

        let eta = column(&step_size, &device);
        let z = project(x_k.clone() + steepest(grad, norm, 1.0) * eta, &x_clean, eps, norm);
        let a = if step == 1 { 1.0 } else { APGD_MOMENTUM };
        let moved = x_k.clone() + (z - x_k.clone()) * a + (x_k.clone() - x_prev) * (1.0 - a);
        x_prev = x_k;
        x_k = project(moved, &x_clean, eps, norm);

        let goal = targets.as_deref().map_or(ApgdLoss::CrossEntropy, ApgdLoss::TargetedDlr);
        let p = probe(model, &x_k, &labels, goal)?;
        grad = p.grad;
        fooled_now = p.predicted.iter().zip(&labels).map(|(p, y)| p != y).collect();
        let improved: Vec<bool> = p.loss.iter().zip(&best_loss).map(|(l, b)| l > b).collect();
        x_best = choose(x_best, x_k.clone(), &improved);
        grad_best = choose(grad_best, grad.clone(), &improved);
        for k in 0..m {
            if improved[k] {
                best_loss[k] = p.loss[k];
            }
            if p.loss[k] > current_loss[k] {
                increases[k] += 1;
            }
        }
        current_loss = p.loss;

        if next_checkpoint.peek() == Some(&step) {
            next_checkpoint.next();
            let period = (step - last_checkpoint) as f32;
            let halve: Vec<bool> = (0..m)
                .map(|k| {
                    let oscillating = increases[k] as f32 <= APGD_RHO * period;
                    let stalled = !reduced_at_checkpoint[k] && best_at_checkpoint[k] >= best_loss[k];
                    oscillating || stalled
                })
                .collect();
            for k in 0..m {
                if halve[k] {
                    step_size[k] /= 2.0;
                    current_loss[k] = best_loss[k];
                }
            }
            x_k = choose(x_k, x_best.clone(), &halve);
            grad = choose(grad, grad_best.clone(), &halve);
            reduced_at_checkpoint = halve;
            best_at_checkpoint = best_loss.clone();
            increases.iter_mut().for_each(|c| *c = 0);
            last_checkpoint = step;
        }
    }
    // The images never misclassified end at their point of highest loss.
    let values = tensor_values(x_best)?;
    for (k, &i) in active.iter().enumerate() {
        result.adversarial[i * per..(i + 1) * per].copy_from_slice(&values[k * per..(k + 1) * per]);
        result.best_loss[i] = best_loss[k];
    }
    Ok(result)
}

/// Each image's worst case so far across runs, kept on the host so runs on subsets of the batch can be merged.
struct WorstCase {
    /// `[batch * per]` image values.
    values: Vec<f32>,
    per: usize,
    /// Misclassified (or misclassified when clean: such images are not attacked).
    fooled: Vec<bool>,
    /// The loss of the kept point, for choosing among runs that did not misclassify the image.
    loss: Vec<f32>,
}

impl WorstCase {
    /// The clean images, marked fooled where the model already misclassifies them.
    fn clean<M: AttackModel>(model: &M, images: &Tensor<4>, labels: &[usize]) -> Result<Self> {
        let [n, c, h, w] = images.dims();
        let predicted = crate::dataset::tensor::argmax_rows(model.logits(images.clone()))?;
        Ok(WorstCase {
            values: tensor_values(images.clone())?,
            per: c * h * w,
            fooled: predicted.iter().zip(labels).map(|(p, y)| p != y).collect(),
            loss: vec![f32::NEG_INFINITY; n],
        })
    }

    /// Indices of the images no run has misclassified yet.
    fn unfooled(&self) -> Vec<usize> {
        (0..self.fooled.len()).filter(|&i| !self.fooled[i]).collect()
    }

    /// Takes a run's result on the images `rows` where it misclassifies an image, or (when `by_loss`) where it
    /// reaches a higher loss than the point kept.
    fn offer(&mut self, rows: &[usize], run: RunResult, by_loss: bool) {
        let values = run.adversarial;
        for (k, &i) in rows.iter().enumerate() {
            let better = run.fooled[k] || (by_loss && run.best_loss[k] > self.loss[i]);
            if better {
                self.values[i * self.per..(i + 1) * self.per]
                    .copy_from_slice(&values[k * self.per..(k + 1) * self.per]);
                self.fooled[i] |= run.fooled[k];
                self.loss[i] = run.best_loss[k];
            }
        }
    }

    fn into_tensor(self, like: &Tensor<4>) -> Tensor<4> {
        Tensor::<4>::from_data(TensorData::new(self.values, like.dims()), &like.device())
    }
}

/// Runs APGD `config.restarts` times on the images not yet misclassified, each restart from a new start drawn from
/// the image's seed, `salt` and the restart.
#[allow(clippy::too_many_arguments)]
fn restarts<M: AttackModel>(
    model: &M,
    images: &Tensor<4>,
    labels: &[usize],
    targets: Option<&[usize]>,
    config: &AttackConfig,
    seeds: &[u64],
    salt: &[u64],
    kept: &mut WorstCase,
    by_loss: bool,
) -> Result<()> {
    let eps = config.eps as f32;
    let device = images.device();
    for restart in 0..config.restarts.max(1) {
        let rows = kept.unfooled();
        if rows.is_empty() {
            break;
        }
        let x = images.clone().select(0, labels_to_tensor(&rows, &device));
        let sub_labels: Vec<usize> = rows.iter().map(|&i| labels[i]).collect();
        let sub_targets: Option<Vec<usize>> = targets.map(|t| rows.iter().map(|&i| t[i]).collect());
        let start = if config.random_start {
            let path: Vec<u64> = salt.iter().copied().chain([restart as u64]).collect();
            let start_seeds: Vec<u64> = rows.iter().map(|&i| crate::seed::derive(seeds[i], &path)).collect();
            random_start(&x, eps, config.norm, &start_seeds)
        } else {
            x.clone()
        };
        let loss = match &sub_targets {
            None => ApgdLoss::CrossEntropy,
            Some(t) => ApgdLoss::TargetedDlr(t),
        };
        let run = apgd_run(model, &x, start, &sub_labels, loss, config)?;
        kept.offer(&rows, run, by_loss);
    }
    Ok(())
}

/// Seed path salts, so APGD-CE's and APGD-T's starts differ from each other and from PGD's.
const CE_SALT: u64 = 0xA9DC;
const T_SALT: u64 = 0xA9D7;

/// For each image, its classes other than `label` ranked by the clean logits, most likely first.
fn wrong_classes_by_logit<M: AttackModel>(model: &M, images: &Tensor<4>, labels: &[usize]) -> Result<Vec<Vec<usize>>> {
    let logits = model.logits(images.clone());
    let classes = logits.dims()[1];
    let values = tensor_values(logits)?;
    Ok(values
        .chunks_exact(classes)
        .zip(labels)
        .map(|(row, &label)| {
            let mut ranked: Vec<usize> = (0..classes).filter(|&k| k != label).collect();
            ranked.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
            ranked
        })
        .collect())
}

/// APGD-T's rounds: for each of the most likely wrong classes in turn (at most [`APGD_T_TARGETS`]), APGD on the
/// targeted DLR loss toward it, on the images no earlier round misclassified.
fn targeted_rounds<M: AttackModel>(
    model: &M,
    images: &Tensor<4>,
    labels: &[usize],
    config: &AttackConfig,
    seeds: &[u64],
    kept: &mut WorstCase,
    by_loss: bool,
) -> Result<()> {
    let ranked = wrong_classes_by_logit(model, images, labels)?;
    let wrong = ranked.first().map_or(0, Vec::len);
    for rank in 0..APGD_T_TARGETS.min(wrong) {
        let targets: Vec<usize> = ranked.iter().map(|r| r[rank]).collect();
        restarts(
            model,
            images,
            labels,
            Some(&targets),
            config,
            seeds,
            &[T_SALT, rank as u64],
            kept,
            by_loss,
        )?;
    }
    Ok(())
}

/// APGD-CE: APGD on the cross-entropy of the true label, with `config.restarts` restarts.
///
/// # Shapes
/// `images`: `[batch, c, h, w]` in [0, 1] -> `[batch, c, h, w]`
pub fn apgd_ce<M: AttackModel>(
    model: &M,
    images: &Tensor<4>,
    labels: &[usize],
    config: &AttackConfig,
    seeds: &[u64],
) -> Result<Tensor<4>> {
    let model = model.valid();
    let mut kept = WorstCase::clean(&model, images, labels)?;
    restarts(&model, images, labels, None, config, seeds, &[CE_SALT], &mut kept, true)?;
    Ok(kept.into_tensor(images))
}

/// APGD-T: APGD on the targeted DLR loss, toward each of the most likely wrong classes in turn (at most
/// [`APGD_T_TARGETS`]), `config.restarts` restarts each; an image stops being attacked once misclassified.
///
/// # Shapes
/// `images`: `[batch, c, h, w]` in [0, 1] -> `[batch, c, h, w]`
pub fn apgd_t<M: AttackModel>(
    model: &M,
    images: &Tensor<4>,
    labels: &[usize],
    config: &AttackConfig,
    seeds: &[u64],
) -> Result<Tensor<4>> {
    let model = model.valid();
    let mut kept = WorstCase::clean(&model, images, labels)?;
    targeted_rounds(&model, images, labels, config, seeds, &mut kept, true)?;
    Ok(kept.into_tensor(images))
}

/// AutoAttack's APGD part: APGD-CE, then APGD-T on the images it left correctly classified; each image keeps its
/// worst case (a misclassifying point from either, else APGD-CE's point of highest cross-entropy).
///
/// # Shapes
/// `images`: `[batch, c, h, w]` in [0, 1] -> `[batch, c, h, w]`
pub fn auto_attack<M: AttackModel>(
    model: &M,
    images: &Tensor<4>,
    labels: &[usize],
    config: &AttackConfig,
    seeds: &[u64],
) -> Result<Tensor<4>> {
    let model = model.valid();
    let mut kept = WorstCase::clean(&model, images, labels)?;
    restarts(&model, images, labels, None, config, seeds, &[CE_SALT], &mut kept, true)?;
    targeted_rounds(&model, images, labels, config, seeds, &mut kept, false)?;
    Ok(kept.into_tensor(images))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attack::config::{AttackKind, Norm, Target};
    use crate::attack::{Goal, attack, perturbation_norms};
    use burn::nn::{Linear, LinearConfig};
    use burn::tensor::Distribution;

    /// Softmax regression on flattened pixels: its loss and gradient are known in closed form.
    #[derive(Module, Debug)]
    struct LinearModel {
        linear: Linear,
    }

    impl AttackModel for LinearModel {
        fn logits(&self, images: Tensor<4>) -> Tensor<2> {
            self.linear.forward(images.flatten(1, 3))
        }
    }

    fn linear_model(features: usize, classes: usize, seed: u64) -> LinearModel {
        let device = crate::backend::device();
        crate::backend::seeded(&device, seed, || LinearModel {
            linear: LinearConfig::new(features, classes).init(&device),
        })
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        tensor_values(t).unwrap()
    }

    fn apgd_config(attack: AttackKind, norm: Norm, eps: f64, steps: usize) -> AttackConfig {
        AttackConfig {
            attack,
            norm,
            eps,
            steps,
            ..Default::default()
        }
    }

    #[test]
    fn checkpoints_follow_the_paper_schedule() {
        assert_eq!(apgd_checkpoints(100), [22, 41, 57, 70, 80, 87, 93, 99]);
        assert_eq!(apgd_checkpoints(1000), [220, 410, 570, 700, 800, 870, 930, 990]);
        assert_eq!(apgd_checkpoints(10), [2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(apgd_checkpoints(1), [1]);
        // The paper's own recurrence, in exact hundredths so rounding cannot move a checkpoint.
        let (mut before, mut p, mut paper) = (0i64, 22i64, vec![]);
        while p <= 100 {
            paper.push(p as usize);
            let next = p + (p - before - 3).max(6);
            (before, p) = (p, next);
        }
        assert_eq!(apgd_checkpoints(100), paper);
    }

    #[test]
    fn dlr_loss_matches_a_hand_computation_and_ignores_logit_scale() {
        let device = crate::backend::device();
        let rows = vec![4.0f32, 1.0, 3.0, 2.0, 0.0, 0.5, 2.5, -1.0, 1.5, 3.5];
        let logits = Tensor::<2>::from_data(TensorData::new(rows.clone(), [2, 5]), &device);
        // Row 0: y = 0, t = 2; sorted 4 > 3 > 2 > 1 > 0, so -(4 - 3) / (4 - (2 + 1) / 2) = -0.4.
        // Row 1: y = 4, t = 1; sorted 3.5 > 2.5 > 1.5 > 0.5 > -1, so -(3.5 - 2.5) / (3.5 - (1.5 + 0.5) / 2) = -0.4.
        let loss = values(dlr_loss_targeted(logits, &[0, 4], &[2, 1]).unwrap());
        assert!((loss[0] + 0.4).abs() < 1e-6 && (loss[1] + 0.4).abs() < 1e-6, "{loss:?}");
        let scaled: Vec<f32> = rows.iter().map(|v| 3.0 * v + 5.0).collect();
        let logits = Tensor::<2>::from_data(TensorData::new(scaled, [2, 5]), &device);
        let again = values(dlr_loss_targeted(logits, &[0, 4], &[2, 1]).unwrap());
        assert!(loss.iter().zip(&again).all(|(a, b)| (a - b).abs() < 1e-6), "{again:?}");
        let three = Tensor::<2>::zeros([1, 3], &device);
        assert!(dlr_loss_targeted(three, &[0], &[1]).unwrap_err().is_bad_input());
    }

    #[test]
    fn eps_zero_returns_the_input_unchanged() {
        let device = crate::backend::device();
        let model = linear_model(16, 5, 1);
        let x = Tensor::<4>::random([6, 1, 4, 4], Distribution::Default, &device);
        let labels = [0, 1, 2, 3, 4, 0];
        let seeds: Vec<u64> = (0..6).collect();
        for kind in [AttackKind::ApgdCe, AttackKind::ApgdT, AttackKind::Auto] {
            for norm in [Norm::Linf, Norm::L2] {
                let config = apgd_config(kind, norm, 0.0, 12);
                let adv = attack(&model, &x, Goal::Untargeted(&labels), &config, &seeds).unwrap();
                assert_eq!(values(adv), values(x.clone()), "{kind} {norm}");
            }
        }
    }

    #[test]
    fn outputs_stay_in_the_ball_and_the_unit_box() {
        let device = crate::backend::device();
        let model = linear_model(36, 6, 2);
        // Pixels over all of [0, 1], so clipping to the box bites.
        let x = Tensor::<4>::random([8, 1, 6, 6], Distribution::Default, &device);
        let labels = [0, 1, 2, 3, 4, 5, 0, 1];
        let seeds: Vec<u64> = (10..18).collect();
        let clean = values(x.clone());
        for (kind, norm, eps) in [
            (AttackKind::ApgdCe, Norm::Linf, 0.05f32),
            (AttackKind::ApgdCe, Norm::L2, 0.5),
            (AttackKind::ApgdT, Norm::Linf, 0.05),
            (AttackKind::ApgdT, Norm::L2, 0.5),
            (AttackKind::Auto, Norm::Linf, 0.3),
        ] {
            let mut config = apgd_config(kind, norm, eps as f64, 15);
            config.restarts = 2;
            let adv = values(attack(&model, &x, Goal::Untargeted(&labels), &config, &seeds).unwrap());
            assert!(
                adv.iter().all(|v| (0.0..=1.0).contains(v)),
                "{kind} {norm}: outside [0, 1]"
            );
            for (linf, l2) in perturbation_norms(&adv, &clean, 36) {
                let size = if norm == Norm::Linf { linf } else { l2 };
                assert!(size <= eps + 1e-6, "{kind} {norm}: perturbation {size} > {eps}");
            }
        }
    }

    /// With two classes, the cross-entropy of the label only depends on the margin d.x (d = w_label - w_other), so
    /// its maximum over the ball is known: x - eps sign(d) in L-inf, x - eps d / |d| in L2 (pixels in [0.4, 0.6]
    /// keep the box out of the way). APGD-CE must land there.
    #[test]
    fn apgd_ce_on_a_two_class_linear_model_reaches_the_known_optimum() {
        let device = crate::backend::device();
        let (n, per) = (4, 16);
        let model = linear_model(per, 2, 5);
        let w = values(model.linear.weight.val()); // [features, classes], row-major
        let x = Tensor::<4>::random([n, 1, 4, 4], Distribution::Uniform(0.4, 0.6), &device);
        let clean = values(x.clone());
        // The labels the model gives the clean images: APGD leaves an image it already misclassifies alone.
        let labels = crate::dataset::tensor::argmax_rows(model.logits(x.clone())).unwrap();
        let seeds: Vec<u64> = (0..n as u64).collect();
        for (norm, eps, random_start) in [
            (Norm::Linf, 0.1f32, true),
            (Norm::Linf, 0.1, false),
            (Norm::L2, 0.3, false),
        ] {
            let mut config = apgd_config(AttackKind::ApgdCe, norm, eps as f64, 20);
            config.random_start = random_start;
            let adv = values(apgd_ce(&model, &x, &labels, &config, &seeds).unwrap());
            for (i, &y) in labels.iter().enumerate() {
                let d: Vec<f32> = (0..per).map(|j| w[j * 2 + y] - w[j * 2 + 1 - y]).collect();
                let len = d.iter().map(|v| v * v).sum::<f32>().sqrt();
                for j in 0..per {
                    let expected = match norm {
                        Norm::Linf => clean[i * per + j] - eps * d[j].signum(),
                        Norm::L2 => clean[i * per + j] - eps * d[j] / len,
                    };
                    let got = adv[i * per + j];
                    assert!(
                        (got - expected).abs() < 1e-5,
                        "{norm} random start {random_start}: image {i} pixel {j}: {got} vs {expected}"
                    );
                }
            }
        }
    }

    #[test]
    fn apgd_t_targets_the_most_likely_wrong_classes_and_refuses_a_chosen_target() {
        let device = crate::backend::device();
        let model = linear_model(16, 5, 7);
        let x = Tensor::<4>::random([3, 1, 4, 4], Distribution::Default, &device);
        let labels = [0, 2, 4];
        let ranked = wrong_classes_by_logit(&model, &x, &labels).unwrap();
        let logits = values(model.logits(x.clone()));
        for (i, r) in ranked.iter().enumerate() {
            assert_eq!(r.len(), 4);
            assert!(!r.contains(&labels[i]));
            assert!(
                r.windows(2).all(|p| logits[i * 5 + p[0]] >= logits[i * 5 + p[1]]),
                "{r:?}"
            );
        }
        let config = AttackConfig {
            attack: AttackKind::ApgdT,
            target: Target::Class(1),
            ..Default::default()
        };
        assert!(config.validate().unwrap_err().is_bad_input());
        let goal = Goal::Targeted(&[1, 1, 1]);
        let plain = apgd_config(AttackKind::ApgdT, Norm::Linf, 0.1, 5);
        assert!(attack(&model, &x, goal, &plain, &[0, 1, 2]).unwrap_err().is_bad_input());
    }
}
