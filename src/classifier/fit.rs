//! Fitting the classifier: frozen-prefix features computed once and cached, then phase 1 (the head, on cached final
//! features; or the whole net for a backbone trained from scratch) and phase 2 (the top blocks at a low learning rate),
//! each with early stopping on validation accuracy that restores the best weights.

use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::prelude::*;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::average::{WeightAverage, WeightChoice};
use super::config::ClassifierConfig;
use super::model::{Backbone, Classifier};
use crate::dataset::Image;
use crate::dataset::tensor::{images_to_tensor, tensor_values};
use crate::error::{Result, SynthError};
use crate::optim::FusedAdam;
use crate::telemetry::{EventLog, progress_bar};

/// Images ready for the network: resized, stacked on the inference device, with their labels.
#[derive(Clone, Debug)]
pub struct PreparedSet {
    /// `[n, channels, side, side]` in [0, 1], on the inference device.
    pub images: Tensor<4>,
    pub labels: Vec<usize>,
}

impl PreparedSet {
    /// Resizes (when `side` is given) and stacks the images.
    pub fn new(images: &[&Image], labels: Vec<usize>, side: Option<usize>, device: &Device) -> Result<PreparedSet> {
        let resized: Vec<Image> = match side {
            Some(s) => images.iter().map(|i| i.resize(s, s)).collect(),
            None => images.iter().map(|i| (*i).clone()).collect(),
        };
        let refs: Vec<&Image> = resized.iter().collect();
        Ok(PreparedSet {
            images: images_to_tensor(&refs, device)?,
            labels,
        })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// One epoch's numbers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EpochStats {
    pub phase: usize,
    pub epoch: usize,
    pub train_loss: f32,
    pub train_accuracy: f32,
    /// None at a fixed-budget validation point whose weights choice does not read it (`last` before its final point,
    /// `swa` everywhere): those fits score only the weights they return, which saves a validation pass per point.
    #[serde(default)]
    pub val_accuracy: Option<f32>,
}

/// What a fit did.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FitReport {
    pub history: Vec<EpochStats>,
    /// Validation accuracy of the returned weights (the best ones, or the last or averaged weights of a fixed-budget
    /// phase with `weights = "last"` / `"swa"`).
    pub best_val_accuracy: f32,
    /// (phase, epoch) of the returned weights; for last or averaged weights, the phase's last validation point.
    pub best_epoch: (usize, usize),
    /// Images passed through the frozen backbone prefix (each image once).
    pub frozen_passes: usize,
    /// Whole backbone blocks before the point where features were cached.
    pub cache_block: usize,
    /// Layer after which features were cached (see [`Backbone::num_layers`](crate::classifier::Backbone::num_layers)):
    /// past `cache_block`'s start when `finetune_layers` trains only a block's last layers.
    #[serde(default)]
    pub cache_layer: usize,
    /// Gradient steps taken, over both phases (eval-gain records it per fit: a condition must not win by getting
    /// more of them).
    #[serde(default)]
    pub steps: usize,
}

impl FitReport {
    /// Where the returned weights come from, in fit.json's history numbering (phase 1 or 2, epoch from 0).
    pub fn best_text(&self) -> String {
        match self.best_epoch {
            (0, _) => "the initial weights (no epoch improved on them)".to_string(),
            (phase, epoch) => format!("phase {phase} epoch {epoch}"),
        }
    }
}

/// How a fit reports while it runs.
pub struct FitMonitor<'a> {
    pub quiet: bool,
    pub log: Option<&'a mut EventLog>,
}

/// Runs the layers `0..to` of the inference copy of the model over a set, `batch` images at a time, a short last
/// chunk padded with zero images to a full batch. Some convolutions choose their algorithm by the batch's size
/// (burn-flex's Winograd from 64 tiles), and the algorithms round differently; in full batches every image takes
/// the same path, and its features are its own alone, bit for bit, whatever images share its set or batch (so
/// eval-gain's bank gives an image the same features whichever sets are banked beside it).
fn frozen_features(model: &Classifier, images: &Tensor<4>, to: usize, batch: usize) -> Tensor<4> {
    let [n, c, h, w] = images.dims();
    let chunks: Vec<Tensor<4>> = (0..n)
        .step_by(batch)
        .map(|start| {
            let end = (start + batch).min(n);
            let chunk = images.clone().slice(start..end);
            if end - start == batch {
                return model.features(chunk, to);
            }
            let padding = Tensor::<4>::zeros([batch - (end - start), c, h, w], &images.device());
            model
                .features(Tensor::cat(vec![chunk, padding], 0), to)
                .slice(0..end - start)
        })
        .collect();
    Tensor::cat(chunks, 0)
}

/// Continues cached features through layers `from..to` (inference, no gradients).
fn advance(model: &Classifier, features: &Tensor<4>, from: usize, to: usize, batch: usize) -> Tensor<4> {
    let n = features.dims()[0];
    let chunks: Vec<Tensor<4>> = (0..n)
        .step_by(batch)
        .map(|s| {
            model
                .backbone
                .forward_layers(features.clone().slice(s..(s + batch).min(n)), from, to)
        })
        .collect();
    Tensor::cat(chunks, 0)
}

/// Predicted classes from features after layer `from`.
pub fn predict_from(model: &Classifier, features: &Tensor<4>, from: usize, batch: usize) -> Result<Vec<usize>> {
    let n = features.dims()[0];
    let to = model.backbone.num_layers();
    let mut out = Vec::with_capacity(n);
    for s in (0..n).step_by(batch) {
        let logits = model.forward_from(features.clone().slice(s..(s + batch).min(n)), from, to);
        out.extend(argmax_rows(logits)?);
    }
    Ok(out)
}

pub use crate::dataset::tensor::argmax_rows;

/// Fraction of equal entries.
pub fn accuracy(predicted: &[usize], labels: &[usize]) -> f32 {
    if labels.is_empty() {
        return 0.0;
    }
    predicted.iter().zip(labels).filter(|(p, l)| p == l).count() as f32 / labels.len() as f32
}

/// One phase: train blocks `from..` and the head on cached features, early-stopping on validation accuracy, or for
/// exactly `steps` optimiser steps when that is set.
struct Phase<'a> {
    index: usize,
    from: usize,
    lr: f64,
    epochs: usize,
    /// The phase's fixed budget of optimiser steps (`steps` or `finetune_steps`); 0 = `epochs` with early stopping.
    steps: usize,
    train: &'a Tensor<4>,
    val: &'a Tensor<4>,
}

/// The layer after which a fit caches features: the end of the frozen prefix (0 for a net trained from scratch).
/// With `finetune_layers` set, only that many of the fine-tuned blocks' last layers train and the blocks' earlier
/// layers join the cached prefix: each fine-tuning step then runs fewer convolutions forward and backward.
pub fn cache_layer(config: &ClassifierConfig, pretrained: bool, backbone: &Backbone) -> usize {
    let num_blocks = backbone.num_blocks();
    let finetune = pretrained && config.finetunes();
    match (pretrained, finetune) {
        (false, _) => 0,
        (true, true) => {
            let block = config
                .freeze_blocks
                .max(num_blocks - config.finetune_blocks.min(num_blocks));
            let start = backbone.block_start(block);
            match config.finetune_layers {
                0 => start,
                k => start.max(backbone.num_layers().saturating_sub(k)),
            }
        }
        (true, false) => backbone.num_layers(),
    }
}

/// Features of images after the frozen layers `0..to` (an inference pass, batch by batch): what a fit trains on.
/// Computing them once per image and reusing them across fits is what makes many fits affordable.
pub fn frozen_prefix_features(model: &Classifier, images: &Tensor<4>, to: usize, batch: usize) -> Tensor<4> {
    frozen_features(&model.valid(), images, to, batch)
}

/// A fit's training or validation part as features after the cache block, with labels; `images` (the pixels) is
/// needed only by adversarial training, which crafts new inputs from them. Its first `real` rows are real images
/// and the rest synthetic (`real` = every row where the part makes no such distinction): what `real_share` reads.
pub struct CachedPart<'a> {
    pub features: &'a Tensor<4>,
    pub labels: &'a [usize],
    pub images: Option<&'a Tensor<4>>,
    pub real: usize,
}

/// Fits `model` (on the autodiff device) to `train`, validating on `val`. `pretrained` selects the two-phase
/// transfer schedule; otherwise one phase trains everything. Returns the best weights found.
pub fn fit(
    model: Classifier,
    train: &PreparedSet,
    val: &PreparedSet,
    config: &ClassifierConfig,
    pretrained: bool,
    monitor: &mut FitMonitor,
) -> Result<(Classifier, FitReport)> {
    if train.is_empty() || val.is_empty() {
        return Err(SynthError::bad_input("the train and validation sets must not be empty"));
    }
    let cut = cache_layer(config, pretrained, &model.backbone);
    let frozen = model.valid();
    let train_cache = frozen_features(&frozen, &train.images, cut, config.batch_size);
    let val_cache = frozen_features(&frozen, &val.images, cut, config.batch_size);
    let train_part = CachedPart {
        features: &train_cache,
        labels: &train.labels,
        images: Some(&train.images),
        real: train.len(),
    };
    let val_part = CachedPart {
        features: &val_cache,
        labels: &val.labels,
        images: None,
        real: val.len(),
    };
    let (model, mut report) = fit_cached(model, &train_part, &val_part, config, pretrained, monitor)?;
    report.frozen_passes = if cut > 0 { train.len() + val.len() } else { 0 };
    Ok((model, report))
}

/// [`fit`] from features already computed after [`cache_block`] (by [`frozen_prefix_features`] with the same
/// frozen weights). Reports no frozen passes: the caller made them.
pub fn fit_cached(
    model: Classifier,
    train: &CachedPart,
    val: &CachedPart,
    config: &ClassifierConfig,
    pretrained: bool,
    monitor: &mut FitMonitor,
) -> Result<(Classifier, FitReport)> {
    if train.labels.is_empty() || val.labels.is_empty() {
        return Err(SynthError::bad_input("the train and validation sets must not be empty"));
    }
    if (config.adversarial.attack_config().is_some() || !config.augment.is_empty()) && train.images.is_none() {
        return Err(SynthError::internal(
            "adversarial training and on-the-fly augmentation need the training images, not only their features",
        ));
    }
    let nl = model.backbone.num_layers();
    let bs = config.batch_size;
    let finetune = pretrained && config.finetunes();
    let cache_layer = cache_layer(config, pretrained, &model.backbone);
    let frozen = model.valid();
    let (train_cache, val_cache) = (train.features, val.features);
    let mut report = FitReport {
        history: Vec::new(),
        best_val_accuracy: 0.0,
        best_epoch: (0, 0),
        frozen_passes: 0,
        cache_block: model.backbone.block_of(cache_layer),
        cache_layer,
        steps: 0,
    };
    let mut model = model;
    if pretrained {
        let train_top = advance(&frozen, train_cache, cache_layer, nl, bs);
        let val_top = advance(&frozen, val_cache, cache_layer, nl, bs);
        let head = Phase {
            index: 1,
            from: nl,
            lr: config.head_lr,
            epochs: config.head_epochs,
            steps: config.steps,
            train: &train_top,
            val: &val_top,
        };
        model = run_phase(model, &head, train, val, config, monitor, &mut report)?;
        if finetune {
            let tune = Phase {
                index: 2,
                from: cache_layer,
                lr: config.finetune_lr,
                epochs: config.finetune_epochs,
                steps: config.finetune_steps,
                train: train_cache,
                val: val_cache,
            };
            model = run_phase(model, &tune, train, val, config, monitor, &mut report)?;
        }
    } else {
        let all = Phase {
            index: 1,
            from: 0,
            lr: config.cnn_lr,
            epochs: config.head_epochs,
            steps: config.steps,
            train: train_cache,
            val: val_cache,
        };
        model = run_phase(model, &all, train, val, config, monitor, &mut report)?;
    }
    Ok((model, report))
}

fn run_phase(
    mut model: Classifier,
    phase: &Phase,
    train: &CachedPart,
    val: &CachedPart,
    config: &ClassifierConfig,
    monitor: &mut FitMonitor,
    report: &mut FitReport,
) -> Result<Classifier> {
    if phase.steps > 0 {
        return run_steps(model, phase, train, val, config, monitor, report);
    }
    let mut optim = FusedAdam::new().init();
    let transforms = BatchTransforms::new(config)?;
    let n = train.labels.len();
    let mut best = (
        model.clone(),
        starting_accuracy(&model, phase, val, config, report)?,
        report.history.len(),
    );
    let schedule = PhaseSchedule::new(config, phase, n);
    let bar = progress_bar(
        (schedule.epochs * schedule.steps_per_epoch) as u64,
        &format!("phase {}", phase.index),
        monitor.quiet,
    );
    let mut since_best = 0;
    let pass = TrainingPass {
        phase,
        train,
        transforms: &transforms,
        config,
        bar: &bar,
    };
    for epoch in 0..schedule.epochs {
        let (trained, loss_sum, correct) = pass.epoch(model, &mut optim, epoch)?;
        model = trained;
        report.steps += schedule.steps_per_epoch;
        let val_accuracy = predict_accuracy(&model, phase, val.labels, config)?;
        let stats = EpochStats {
            phase: phase.index,
            epoch,
            train_loss: (loss_sum / n as f64) as f32,
            train_accuracy: correct as f32 / n as f32,
            val_accuracy: Some(val_accuracy),
        };
        bar.set_message(step_message(&stats));
        record_epoch(report, monitor, stats);
        if val_accuracy > best.1 {
            best = (model.clone(), val_accuracy, report.history.len() - 1);
            report.best_val_accuracy = val_accuracy;
            report.best_epoch = (phase.index, epoch);
            since_best = 0;
        } else {
            since_best += 1;
            if schedule.may_stop(epoch, since_best) {
                break;
            }
        }
    }
    bar.finish_and_clear();
    Ok(best.0)
}

/// The validation accuracy a phase starts from, the one it must beat. It is the fit's best so far for phase 1, and
/// for a later phase only when nothing was recorded before it (otherwise the earlier phase's best stands).
fn starting_accuracy(
    model: &Classifier,
    phase: &Phase,
    val: &CachedPart,
    config: &ClassifierConfig,
    report: &mut FitReport,
) -> Result<f32> {
    let accuracy = predict_accuracy(model, phase, val.labels, config)?;
    if phase.index == 1 || report.history.is_empty() {
        report.best_val_accuracy = accuracy;
    }
    Ok(accuracy)
}

/// Validation points of a fixed-step phase (`steps > 0`): accuracy is measured after every
/// `ceil(steps / STEP_EVALS)` steps and after the last, so fits on different amounts of data are validated at the
/// same steps (and the best of as many measurements rewards each).
pub const STEP_EVALS: usize = 10;

/// A phase with a fixed budget of `phase.steps` optimiser steps (`steps` for phase 1, `finetune_steps` for phase 2):
/// every step takes exactly `batch_size` images from a [`BatchStream`] (seeded shuffles of the training part, or of
/// its real and synthetic rows apart with `real_share`), so the compute is the same whatever the number of images.
/// No early stopping; validation points at [`STEP_EVALS`] evenly spaced steps; the weights `config.weights` names are
/// returned: the best validated ones (the initial ones when no measurement improved on them), the last, or the mean
/// of those at the validation points of the phase's second half. Accuracy is measured only where the choice reads it
/// (every point for best, the last for last, only the average for swa): the 10 passes through the fine-tuned convs
/// were about a fifth of an eval-gain fit. Each history entry covers the steps since the previous one.
fn run_steps(
    mut model: Classifier,
    phase: &Phase,
    train: &CachedPart,
    val: &CachedPart,
    config: &ClassifierConfig,
    monitor: &mut FitMonitor,
    report: &mut FitReport,
) -> Result<Classifier> {
    let mut optim = FusedAdam::new().init();
    let transforms = BatchTransforms::new(config)?;
    // Only the best-weights choice compares against the starting weights.
    let mut best = match config.weights {
        WeightChoice::Best => Some((model.clone(), starting_accuracy(&model, phase, val, config, report)?)),
        WeightChoice::Last | WeightChoice::Swa => None,
    };
    let total = phase.steps;
    let every = total.div_ceil(STEP_EVALS).max(1);
    let bar = progress_bar(total as u64, &format!("phase {}", phase.index), monitor.quiet);
    let pass = TrainingPass {
        phase,
        train,
        transforms: &transforms,
        config,
        bar: &bar,
    };
    let mut batches = BatchStream::new(train.labels.len(), train.real, config, phase.index);
    let mut average = WeightAverage::default();
    let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
    for step in 0..total {
        let batch = batches.next_batch();
        // The step, not the pass, seeds on-the-fly draws: an image twice in one batch gets two draws.
        let (trained, loss, right) = pass.step(model, &mut optim, step, &batch)?;
        model = trained;
        (loss_sum, correct, seen) = (loss_sum + loss, correct + right, seen + batch.len());
        report.steps += 1;
        let last = step + 1 == total;
        if (step + 1) % every == 0 || last {
            let scored = match config.weights {
                WeightChoice::Best => true,
                WeightChoice::Last => last,
                WeightChoice::Swa => false,
            };
            let val_accuracy = if scored {
                Some(predict_accuracy(&model, phase, val.labels, config)?)
            } else {
                None
            };
            let evaluation = report.history.len();
            let stats = EpochStats {
                phase: phase.index,
                epoch: evaluation,
                train_loss: (loss_sum / seen as f64) as f32,
                train_accuracy: correct as f32 / seen as f32,
                val_accuracy,
            };
            bar.set_message(step_message(&stats));
            record_epoch(report, monitor, stats);
            if let (Some((kept, kept_accuracy)), Some(accuracy)) = (best.as_mut(), val_accuracy)
                && accuracy > *kept_accuracy
            {
                (*kept, *kept_accuracy) = (model.clone(), accuracy);
                report.best_val_accuracy = accuracy;
                report.best_epoch = (phase.index, evaluation);
            }
            if config.weights == WeightChoice::Swa && 2 * (step + 1) > total {
                average.add(&model);
            }
            (loss_sum, correct, seen) = (0.0, 0, 0);
        }
    }
    bar.finish_and_clear();
    if let Some((kept, _)) = best {
        return Ok(kept);
    }
    // Last or averaged weights are no validation point's best: their own accuracy is what the report records (the
    // last weights' was measured at the phase's last validation point, which always follows its last step).
    let (returned, accuracy) = match config.weights {
        WeightChoice::Swa => (average.apply(model), None),
        WeightChoice::Best | WeightChoice::Last => {
            let accuracy = report.history.last().and_then(|e| e.val_accuracy);
            (model, accuracy)
        }
    };
    report.best_val_accuracy = match accuracy {
        Some(a) => a,
        None => predict_accuracy(&returned, phase, val.labels, config)?,
    };
    report.best_epoch = (phase.index, report.history.len() - 1);
    Ok(returned)
}

/// The rows of each fixed-budget step: read in order from streams of seeded shuffles of the training part (a batch
/// may straddle two passes; a stream smaller than its share of a batch repeats within one). One stream over every
/// row, or, where `real_share` asks for more real images than the part holds in proportion, a stream of the real
/// rows giving `round(real_share * batch_size)` of each batch and one of the synthetic rows giving the rest.
struct BatchStream {
    streams: Vec<RowStream>,
}

impl BatchStream {
    /// The batches of phase `phase` over a training part of `rows` rows whose first `real` are real images.
    fn new(rows: usize, real: usize, config: &ClassifierConfig, phase: usize) -> BatchStream {
        let real = real.min(rows);
        let seed = config.seed;
        let mixed = 0 < real && real < rows && (real as f64) < config.real_share * rows as f64;
        let from_real = (config.real_share * config.batch_size as f64).round() as usize;
        let streams = if mixed && from_real > 0 {
            let take_synthetic = config.batch_size.saturating_sub(from_real);
            vec![
                RowStream::new((0..real).collect(), from_real, seed, &[phase as u64, REAL_STREAM]),
                RowStream::new(
                    (real..rows).collect(),
                    take_synthetic,
                    seed,
                    &[phase as u64, SYNTHETIC_STREAM],
                ),
            ]
        } else {
            vec![RowStream::new(
                (0..rows).collect(),
                config.batch_size,
                seed,
                &[phase as u64],
            )]
        };
        BatchStream { streams }
    }

    /// The next batch's rows: each stream's share, real rows first.
    fn next_batch(&mut self) -> Vec<usize> {
        self.streams.iter_mut().flat_map(RowStream::take).collect()
    }
}

/// Seed-derivation tags of the two streams of a batch with a real share (the one-stream order keeps the key it
/// had before real shares existed, so fits without one draw exactly as they did).
const REAL_STREAM: u64 = 0x4EA1;
const SYNTHETIC_STREAM: u64 = 0x5EC7;

/// One stream of rows: pass after pass of `rows` in an order seeded by (seed, key, pass), `per_batch` at a time.
struct RowStream {
    rows: Vec<usize>,
    per_batch: usize,
    seed: u64,
    key: Vec<u64>,
    queue: std::collections::VecDeque<usize>,
    passes: u64,
}

impl RowStream {
    fn new(rows: Vec<usize>, per_batch: usize, seed: u64, key: &[u64]) -> RowStream {
        RowStream {
            rows,
            per_batch,
            seed,
            key: key.to_vec(),
            queue: Default::default(),
            passes: 0,
        }
    }

    fn take(&mut self) -> Vec<usize> {
        if self.rows.is_empty() {
            return Vec::new();
        }
        while self.queue.len() < self.per_batch {
            let mut key = self.key.clone();
            key.push(self.passes);
            self.queue.extend(shuffled(self.rows.clone(), self.seed, &key));
            self.passes += 1;
        }
        self.queue.drain(..self.per_batch).collect()
    }
}

/// `rows` in the order seeded by (seed, key).
fn shuffled(mut rows: Vec<usize>, seed: u64, key: &[u64]) -> Vec<usize> {
    rows.shuffle(&mut crate::seed::rng(crate::seed::derive(seed, key)));
    rows
}

/// What one epoch of a phase trains on.
struct TrainingPass<'a> {
    phase: &'a Phase<'a>,
    train: &'a CachedPart<'a>,
    transforms: &'a BatchTransforms,
    config: &'a ClassifierConfig,
    bar: &'a indicatif::ProgressBar,
}

impl TrainingPass<'_> {
    /// One pass over the training part in an order seeded by (seed, phase, epoch). Returns the model after it, the
    /// summed loss and the count of correct training predictions; a non-finite loss is an error, not a model.
    fn epoch(
        &self,
        mut model: Classifier,
        optim: &mut burn::optim::ModuleOptimizer,
        epoch: usize,
    ) -> Result<(Classifier, f64, usize)> {
        let (mut loss_sum, mut correct) = (0.0f64, 0usize);
        for batch in self.order(epoch).chunks(self.config.batch_size) {
            let (trained, loss, right) = self.step(model, optim, epoch, batch)?;
            model = trained;
            loss_sum += loss;
            correct += right;
        }
        Ok((model, loss_sum, correct))
    }

    /// The training part's indices in the order of pass `pass`, seeded by (seed, phase, pass).
    fn order(&self, pass: usize) -> Vec<usize> {
        let rows = (0..self.train.labels.len()).collect();
        shuffled(rows, self.config.seed, &[self.phase.index as u64, pass as u64])
    }

    /// One optimiser step on `batch` (rows of the training part); `draw` seeds on-the-fly pixel changes. Returns the
    /// model after it, the batch's summed loss and its count of correct predictions.
    fn step(
        &self,
        mut model: Classifier,
        optim: &mut burn::optim::ModuleOptimizer,
        draw: usize,
        batch: &[usize],
    ) -> Result<(Classifier, f64, usize)> {
        let (phase, config) = (self.phase, self.config);
        let device = model.head.output.weight.device();
        let nl = model.backbone.num_layers();
        let loss_fn = CrossEntropyLossConfig::new().init(&device);
        let (x, labels) = batch_inputs(&model, phase, self.train, self.transforms, config, draw, batch)?;
        let logits = model.forward_from(x, phase.from, nl);
        let targets = crate::dataset::tensor::labels_to_tensor(&labels, &device);
        let loss = loss_fn.forward(logits.clone(), targets);
        let loss_value = tensor_values(loss.clone())?[0];
        if !loss_value.is_finite() {
            return Err(SynthError::internal(format!(
                "training loss became {loss_value} in phase {}",
                phase.index
            )));
        }
        let correct = argmax_rows(logits.inner())?
            .iter()
            .zip(&labels)
            .filter(|(p, l)| p == l)
            .count();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(phase.lr, model, grads);
        self.bar.inc(1);
        Ok((model, loss_value as f64 * batch.len() as f64, correct))
    }
}

/// One training batch's network input (cached features, or pixels changed on the fly and run through the blocks
/// before the phase's first trained one) and its labels.
fn batch_inputs(
    model: &Classifier,
    phase: &Phase,
    train: &CachedPart,
    transforms: &BatchTransforms,
    config: &ClassifierConfig,
    epoch: usize,
    batch: &[usize],
) -> Result<(Tensor<4>, Vec<usize>)> {
    let idx = Tensor::<1, Int>::from_data(
        TensorData::new(batch.iter().map(|&i| i as i64).collect::<Vec<_>>(), [batch.len()]),
        &phase.train.device(),
    );
    let labels: Vec<usize> = batch.iter().map(|&i| train.labels[i]).collect();
    let x = match train.images.filter(|_| transforms.any()) {
        Some(pixels) => {
            let seeds: Vec<u64> = batch
                .iter()
                .map(|&i| crate::seed::derive(config.seed, &[phase.index as u64, epoch as u64, i as u64]))
                .collect();
            transforms.features(
                model,
                pixels.clone().select(0, idx),
                &labels,
                &seeds,
                config,
                phase.from,
            )?
        }
        None => phase.train.clone().select(0, idx),
    };
    Ok((x, labels))
}

/// The progress bar's line after a fixed-budget validation point (no accuracy where the point measured none).
fn step_message(stats: &EpochStats) -> String {
    match stats.val_accuracy {
        Some(accuracy) => format!("loss {:.4} val acc {accuracy:.4}", stats.train_loss),
        None => format!("loss {:.4}", stats.train_loss),
    }
}

/// Appends an epoch to the report and logs it to TensorBoard.
fn record_epoch(report: &mut FitReport, monitor: &mut FitMonitor, stats: EpochStats) {
    if let Some(log) = monitor.log.as_deref_mut() {
        let step = report.history.len();
        log.scalar("classifier/train_loss", stats.train_loss, step);
        log.scalar("classifier/train_accuracy", stats.train_accuracy, step);
        if let Some(accuracy) = stats.val_accuracy {
            log.scalar("classifier/val_accuracy", accuracy, step);
        }
    }
    report.history.push(stats);
}

/// How long a phase runs and when early stopping may end it. Epochs are a poor clock on small data: 30 images at
/// batch 64 make one optimiser step per epoch, so 20 epochs with patience 3 ended a from-scratch cnn on textures
/// after 3 steps, at chance (it needs ~30 steps to leave it). So phase 1 (the head, or the whole net trained from
/// scratch) runs at least `min_steps` optimiser steps before early stopping may end it (its epochs raised to reach
/// them), and patience is at least `min_steps / 5` steps' worth of epochs. Phase 2 starts from a trained head and
/// keeps its configured epochs and patience.
struct PhaseSchedule {
    epochs: usize,
    steps_per_epoch: usize,
    min_epochs: usize,
    patience: usize,
}

impl PhaseSchedule {
    fn new(config: &ClassifierConfig, phase: &Phase, images: usize) -> PhaseSchedule {
        let steps_per_epoch = images.div_ceil(config.batch_size).max(1);
        let (min_epochs, patience) = if phase.index == 1 {
            (
                config.min_steps.div_ceil(steps_per_epoch),
                config.patience.max((config.min_steps / 5).div_ceil(steps_per_epoch)),
            )
        } else {
            (0, config.patience)
        };
        PhaseSchedule {
            epochs: if phase.epochs == 0 {
                0
            } else {
                phase.epochs.max(min_epochs)
            },
            steps_per_epoch,
            min_epochs,
            patience: patience.max(1),
        }
    }

    /// Whether early stopping may end the phase after `epoch` (0-based) with `since_best` epochs without a gain.
    fn may_stop(&self, epoch: usize, since_best: usize) -> bool {
        since_best >= self.patience && epoch + 1 >= self.min_epochs
    }
}

/// What changes a training batch's pixels on the fly: classic augmentation, then adversarial examples. Either one
/// bypasses the frozen-feature cache, because the pixels differ every epoch.
struct BatchTransforms {
    augment: Option<crate::augment::Pipeline>,
    adversarial: Option<crate::attack::AttackConfig>,
}

impl BatchTransforms {
    fn new(config: &ClassifierConfig) -> Result<BatchTransforms> {
        Ok(BatchTransforms {
            augment: (!config.augment.is_empty())
                .then(|| crate::augment::Pipeline::parse(&config.augment))
                .transpose()?,
            adversarial: config.adversarial.attack_config(),
        })
    }

    fn any(&self) -> bool {
        self.augment.is_some() || self.adversarial.is_some()
    }

    /// The batch's input to blocks `from..`: each image augmented from its own seed, then the first `ratio` of the
    /// (shuffled) batch replaced by adversarial versions crafted against the current weights (an inference copy, so
    /// the attack trains nothing), then carried through the frozen blocks `0..from` like the cached features they
    /// stand in for.
    ///
    /// # Shapes
    /// `images`: `[batch, c, h, w]` in [0, 1] -> features after block `from`
    fn features(
        &self,
        model: &Classifier,
        images: Tensor<4>,
        labels: &[usize],
        seeds: &[u64],
        config: &ClassifierConfig,
        from: usize,
    ) -> Result<Tensor<4>> {
        let frozen = model.valid();
        let mut images = match &self.augment {
            Some(pipeline) => augment_batch(images, pipeline, seeds)?,
            None => images,
        };
        if let Some(attack) = &self.adversarial {
            let n = labels.len();
            let k = ((n as f64 * config.adversarial.ratio).round() as usize).clamp(1, n);
            let goal = crate::attack::Goal::Untargeted(&labels[..k]);
            let crafted = crate::attack::attack(&frozen, &images.clone().slice(0..k), goal, attack, &seeds[..k])?;
            images = if k < n {
                Tensor::cat(vec![crafted, images.slice(k..n)], 0)
            } else {
                crafted
            };
        }
        Ok(frozen.features(images, from))
    }
}

/// Classic augmentation of a batch: image `i` draws its transforms from `seeds[i]` (a different draw every epoch).
fn augment_batch(images: Tensor<4>, pipeline: &crate::augment::Pipeline, seeds: &[u64]) -> Result<Tensor<4>> {
    // A tag of its own, so the augmentation draw is independent of the adversarial random start.
    let seeds: Vec<u64> = seeds
        .iter()
        .map(|&seed| crate::seed::derive(seed, &[AUGMENT_TAG]))
        .collect();
    crate::augment::augment_tensor(images, pipeline, &seeds)
}

/// Seed tag of on-the-fly augmentation draws.
const AUGMENT_TAG: u64 = 0xa7;

fn predict_accuracy(model: &Classifier, phase: &Phase, labels: &[usize], config: &ClassifierConfig) -> Result<f32> {
    let predicted = predict_from(&model.valid(), phase.val, phase.from, config.batch_size)?;
    Ok(accuracy(&predicted, labels))
}

/// Predicted classes for prepared images (inference copy of the model; full network).
pub fn predict(model: &Classifier, set: &PreparedSet, batch: usize) -> Result<Vec<usize>> {
    let features = model.backbone.preprocess(set.images.clone());
    predict_from(model, &features, 0, batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::model::BackboneKind;
    use crate::classifier::run::{per_class_subset, prepare_experiment};
    use crate::dataset::{LoadOptions, Split, SplitConfig, SplitName, load_dataset};

    fn small_experiment(config: &ClassifierConfig, per_class: usize) -> crate::classifier::run::ExperimentData {
        let ds = load_dataset("mnist", &LoadOptions::default()).unwrap();
        let split = Split::stratified(&ds, &SplitConfig::default()).unwrap();
        let train = per_class_subset(&ds, &split.indices(&ds, SplitName::Train).unwrap(), per_class, 1);
        prepare_experiment(&ds, &split, &train, &[], config, &crate::backend::device()).unwrap()
    }

    /// Validation labels shifted by one class: the better the model learns, the lower its validation accuracy, so
    /// the best weights are the earliest and early stopping must hand those back, not the last ones.
    #[test]
    fn early_stopping_restores_the_best_weights() {
        let config = ClassifierConfig {
            backbone: BackboneKind::Cnn,
            head_epochs: 8,
            patience: 2,
            // The epoch-based schedule alone: this test is about patience, not the step floor.
            min_steps: 0,
            ..Default::default()
        };
        let mut data = small_experiment(&config, 20);
        data.val.labels = data.val.labels.iter().map(|l| (l + 1) % 10).collect();
        let model =
            crate::classifier::build_model(&config, 10, data.input, &crate::backend::autodiff_device()).unwrap();
        let (best, report) = fit(
            model,
            &data.train,
            &data.val,
            &config,
            false,
            &mut FitMonitor { quiet: true, log: None },
        )
        .unwrap();
        let last = report.history.last().unwrap().val_accuracy.unwrap();
        assert!(
            report.history.len() < 8,
            "stopped early after {} epochs",
            report.history.len()
        );
        assert!(
            report.best_val_accuracy > last,
            "the peak ({}) came before the end ({last}): {:?}",
            report.best_val_accuracy,
            report.history
        );
        let restored = accuracy(&predict(&best.valid(), &data.val, 64).unwrap(), &data.val.labels);
        assert_eq!(
            restored, report.best_val_accuracy,
            "the returned weights are the best epoch's"
        );
    }

    /// On-the-fly augmentation really changes what the net trains on (another training loss than the plain fit's),
    /// and the cnn still learns digits from 20 images per class with it. (Same seed, same weights is checked through
    /// the binary in tests/classifier_cli.rs: burn's device RNG is process-wide, so tests running side by side in
    /// this test binary draw from it in an unpredictable order.)
    #[test]
    fn on_the_fly_augmentation_changes_the_batches_and_learns() {
        let plain = ClassifierConfig {
            backbone: BackboneKind::Cnn,
            head_epochs: 10,
            patience: 10,
            ..Default::default()
        };
        let augmented = ClassifierConfig {
            augment: vec!["rotate:15".into(), "translate:2".into()],
            ..plain.clone()
        };
        let data = small_experiment(&plain, 20);
        let run = |config: &ClassifierConfig| {
            let model =
                crate::classifier::build_model(config, 10, data.input, &crate::backend::autodiff_device()).unwrap();
            let monitor = &mut FitMonitor { quiet: true, log: None };
            fit(model, &data.train, &data.val, config, false, monitor).unwrap().1
        };
        let (with, without) = (run(&augmented), run(&plain));
        let losses = |r: &FitReport| r.history.iter().map(|e| e.train_loss).collect::<Vec<_>>();
        assert_ne!(
            losses(&with),
            losses(&without),
            "augmentation changes the training batches"
        );
        assert!(
            with.best_val_accuracy > 0.6,
            "an augmented cnn learns MNIST from 20 images per class: {:?}",
            with.history
        );
    }

    /// Frozen VGG blocks are bit-identical after a fit; the fine-tuned block and the head change. With
    /// `finetune_layers = 2` only block 5's last two convs train and the cut moves inside the block. The fit returns
    /// its last weights (fixed budgets, `weights = "last"`): with the best validated ones, a fine-tuning phase that
    /// happened not to improve on the head's validation accuracy would hand back untouched convs, and whether it does
    /// depends on initial weights drawn from Flex's process-wide generator, which parallel tests share.
    #[test]
    fn frozen_blocks_stay_bit_identical() {
        for (finetune_layers, first_trained) in [(0, 10), (2, 11)] {
            let config = ClassifierConfig {
                steps: 2,
                finetune_steps: 2,
                weights: WeightChoice::Last,
                finetune_layers,
                ..Default::default()
            };
            let data = small_experiment(&config, 3);
            let device = crate::backend::autodiff_device();
            let model = crate::classifier::build_model(&config, 10, data.input, &device).unwrap();
            let before = model.clone().valid();
            let (after, report) = fit(
                model,
                &data.train,
                &data.val,
                &config,
                true,
                &mut FitMonitor { quiet: true, log: None },
            )
            .unwrap();
            assert_eq!((report.cache_block, report.cache_layer), (4, first_trained));
            let (Backbone::Vgg16(b), Backbone::Vgg16(a)) = (&before.backbone, &after.valid().backbone) else {
                unreachable!()
            };
            let values = |t: Tensor<4>| tensor_values(t).unwrap();
            for (i, (cb, ca)) in b.convs.iter().zip(&a.convs).enumerate() {
                let same = values(cb.weight.val()) == values(ca.weight.val());
                assert_eq!(
                    same,
                    i < first_trained,
                    "finetune_layers {finetune_layers}, conv {i}: frozen convs keep their weights, the rest trains"
                );
            }
            let head_before = tensor_values(before.head.output.weight.val()).unwrap();
            assert_ne!(
                head_before,
                tensor_values(after.head.output.weight.val()).unwrap(),
                "the head trains"
            );
        }
    }

    /// With fixed budgets for both phases (`steps`, `finetune_steps`) a fit runs exactly their sum of optimiser
    /// steps, fine-tunes too, and is validated at the same number of points, whatever its number of images.
    #[test]
    fn fixed_budgets_give_equal_steps_whatever_the_data() {
        let config = ClassifierConfig {
            steps: 6,
            finetune_steps: 4,
            batch_size: 8,
            finetune_layers: 1,
            ..Default::default()
        };
        let run = |per_class: usize| {
            let data = small_experiment(&config, per_class);
            let model =
                crate::classifier::build_model(&config, 10, data.input, &crate::backend::autodiff_device()).unwrap();
            let monitor = &mut FitMonitor { quiet: true, log: None };
            let report = fit(model, &data.train, &data.val, &config, true, monitor).unwrap().1;
            let phases: Vec<usize> = report.history.iter().map(|e| e.phase).collect();
            (data.train.len(), report.steps, phases)
        };
        let (small, large) = (run(1), run(3));
        assert_eq!((small.0, large.0), (10, 30));
        assert_eq!((small.1, large.1), (10, 10), "6 + 4 steps for 10 and for 30 images");
        assert_eq!(small.2, large.2, "validated at the same points");
        assert_eq!(
            small.2,
            [1, 1, 1, 1, 1, 1, 2, 2, 2, 2],
            "every step of each phase validated"
        );
    }

    /// Validation accuracy is measured only where the weights choice reads it: at every point for `best`, at each
    /// phase's last point for `last`, never during a phase for `swa` (its averaged weights are scored once at the
    /// end). The accuracy a fit reports is that of the weights it returns.
    #[test]
    fn validation_runs_only_where_the_weights_choice_reads_it() {
        let last_of_each = [false, false, false, false, false, true, false, false, false, true];
        for (weights, measured) in [
            (WeightChoice::Best, [true; 10]),
            (WeightChoice::Last, last_of_each),
            (WeightChoice::Swa, [false; 10]),
        ] {
            let config = ClassifierConfig {
                steps: 6,
                finetune_steps: 4,
                batch_size: 8,
                finetune_layers: 1,
                weights,
                ..Default::default()
            };
            let data = small_experiment(&config, 1);
            let model =
                crate::classifier::build_model(&config, 10, data.input, &crate::backend::autodiff_device()).unwrap();
            let monitor = &mut FitMonitor { quiet: true, log: None };
            let (returned, report) = fit(model, &data.train, &data.val, &config, true, monitor).unwrap();
            let seen: Vec<bool> = report.history.iter().map(|e| e.val_accuracy.is_some()).collect();
            assert_eq!(seen, measured, "{weights:?}");
            let scored = accuracy(&predict(&returned.valid(), &data.val, 64).unwrap(), &data.val.labels);
            assert_eq!(
                scored, report.best_val_accuracy,
                "{weights:?}: the reported accuracy is the returned weights'"
            );
        }
    }

    /// With a real share, every batch holds exactly its share of real rows, drawn in passes over them; off, or
    /// where the real rows are already that share (or all or none of the part), the batches are the one stream's,
    /// the same rows in the same order as before real shares existed.
    #[test]
    fn real_share_fixes_each_batchs_real_rows_only_where_they_fall_short() {
        let batches = |rows: usize, real: usize, real_share: f64| {
            let config = ClassifierConfig {
                batch_size: 10,
                real_share,
                seed: 3,
                ..Default::default()
            };
            let mut stream = BatchStream::new(rows, real, &config, 2);
            (0..8).map(|_| stream.next_batch()).collect::<Vec<_>>()
        };
        // 20 real rows of 100: each batch takes 5 of them, every real row once per 4 batches, and 5 synthetic rows.
        let mixed = batches(100, 20, 0.5);
        for (b, batch) in mixed.iter().enumerate() {
            assert_eq!(batch.len(), 10);
            assert!(
                batch[..5].iter().all(|&r| r < 20) && batch[5..].iter().all(|&r| (20..100).contains(&r)),
                "{b}"
            );
        }
        let mut first_pass: Vec<usize> = mixed[..4].iter().flat_map(|b| b[..5].to_vec()).collect();
        first_pass.sort_unstable();
        assert_eq!(first_pass, (0..20).collect::<Vec<_>>());
        // Off, or real rows already at the share, or no synthetic rows: one stream, the batches of before.
        let one_stream = batches(100, 20, 0.0);
        assert_eq!(batches(100, 50, 0.5), one_stream);
        assert_eq!(batches(100, 100, 0.5), one_stream);
        assert_eq!(batches(100, 0, 0.5), one_stream);
        let config = ClassifierConfig {
            seed: 3,
            ..Default::default()
        };
        let before: Vec<usize> = (0..10)
            .flat_map(|pass| shuffled((0..100).collect(), config.seed, &[2, pass]))
            .collect();
        assert_eq!(one_stream.concat(), before[..80]);
        assert_ne!(mixed, one_stream);
    }

    /// An image's frozen features are the same bits in a full batch and in a short set, which is padded to a full
    /// batch: burn-flex's Winograd takes VGG16's 4x4 block-4 maps at 32 px (one tile per image, at least 64 tiles)
    /// only in batches of 64, and the im2col product it falls back to rounds differently.
    #[test]
    fn frozen_features_do_not_depend_on_the_batch_an_image_is_in() {
        let device = crate::backend::device();
        let model = Classifier {
            backbone: Backbone::Vgg16(crate::classifier::Vgg::with_depth(
                crate::classifier::VggDepth::Vgg16,
                64,
                &device,
            )),
            head: crate::classifier::model::Head::new(512, None, 10, 0.0, &device),
        };
        let images = crate::backend::seeded(&device, 5, || {
            Tensor::<4>::random([70, 3, 32, 32], burn::tensor::Distribution::Uniform(0.0, 1.0), &device)
        });
        let to = model.backbone.block_start(4);
        let features = |set: Tensor<4>| tensor_values(frozen_features(&model, &set, to, 64)).unwrap();
        let all = features(images.clone());
        let per_image = all.len() / 70;
        assert_eq!(
            features(images.clone().slice(0..6)),
            all[..6 * per_image],
            "the first 6 alone"
        );
        assert_eq!(
            features(images.slice(64..70)),
            all[64 * per_image..],
            "the last 6 alone"
        );
    }

    /// Running the layers in two pieces, cut anywhere (inside a block too), is running the blocks: what lets a
    /// fit cache features at any layer.
    #[test]
    fn layers_cut_anywhere_compose_to_the_blocks() {
        let device = crate::backend::device();
        let x = Tensor::<4>::random([2, 3, 32, 32], burn::tensor::Distribution::Default, &device);
        let backbones = [
            Backbone::Vgg16(crate::classifier::Vgg::with_depth(
                crate::classifier::VggDepth::Vgg16,
                8,
                &device,
            )),
            Backbone::Resnet50(crate::classifier::resnet::ResNetConfig::resnet50(8).init(&device)),
        ];
        for backbone in &backbones {
            let whole = tensor_values(backbone.forward_blocks(x.clone(), 0, backbone.num_blocks())).unwrap();
            let n = backbone.num_layers();
            assert_eq!(backbone.block_start(backbone.num_blocks()), n);
            assert_eq!(backbone.block_of(n - 1), backbone.num_blocks() - 1);
            for cut in 0..=n {
                let head = backbone.forward_layers(x.clone(), 0, cut);
                let both = tensor_values(backbone.forward_layers(head, cut, n)).unwrap();
                assert_eq!(both, whole, "cut at layer {cut} of {n}");
            }
        }
        assert_eq!(backbones[0].num_layers(), 13);
        assert_eq!(backbones[1].num_layers(), 17);
    }

    use crate::classifier::model::Backbone;
}
