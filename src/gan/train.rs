//! The GAN training loop: Adam on both networks, the discriminator step on real and (detached) fake images, the
//! generator step through the updated discriminator, an EMA of the generator for sampling, optional DiffAugment,
//! and checkpoints that hold everything needed to continue bit-identically (both networks, the EMA, both
//! optimizers' state, the position in the run; the random streams are derived from the seed and that position).
//!
//! Every random draw of step `s` of epoch `e` (fake labels, latents, DiffAugment) comes from a generator seeded by
//! `(seed, e, s)`, and the batch order of epoch `e` from `(seed, e)`, so the stream state a checkpoint must hold is
//! exactly its `(epoch, step)`, and a run resumed from any step boundary repeats the same arithmetic.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use burn::module::{ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::activation::{relu, softplus};
use rand::RngExt;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::config::{GanConfig, GanLoss};
use super::diffaug::DiffAugment;
use super::model::{Discriminator, DiscriminatorConfig, Generator, GeneratorConfig, Plan};
use super::sample::{latent_from, latents_to_tensor, to_model_range, to_unit_range};
use crate::dataset::tensor::{images_to_tensor, labels_to_tensor, tensor_values};
use crate::dataset::writer::{commit_dir, stage_dir};
use crate::dataset::{Dataset, Image};
use crate::error::{IoContext, Result, SynthError};
use crate::optim::FusedAdam;
use crate::seed::{derive, rng};
use crate::telemetry::EventLog;

/// The checkpoint folder inside a run folder, and its files.
pub const CHECKPOINT_DIR: &str = "checkpoint";
pub const GENERATOR_FILE: &str = "generator.bpk";
pub const EMA_FILE: &str = "ema.bpk";
pub const DISCRIMINATOR_FILE: &str = "discriminator.bpk";
pub const OPTIM_G_FILE: &str = "optim_g.bpk";
pub const OPTIM_D_FILE: &str = "optim_d.bpk";
pub const STATE_FILE: &str = "state.json";

/// Stream tags for [`derive`].
const EPOCH_STREAM: u64 = 0xE90C;
const STEP_STREAM: u64 = 0x57E9;
/// Seed stream of the real images' classic augmentation (`real_augment`).
const REAL_AUGMENT_STREAM: u64 = 0x2EA1;
/// Adam's epsilon, PyTorch's default (burn's is 1e-5).
pub(crate) const ADAM_EPSILON: f32 = 1e-8;

/// What the trained models are: enough to rebuild them, sample them and know what data made them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GanMeta {
    pub config: GanConfig,
    pub classes: Vec<String>,
    pub channels: usize,
    pub side: usize,
    /// The dataset as named on the command line, and the seed of its split.
    pub dataset: String,
    pub split_seed: u64,
    /// Images in the training set (train split, after `train_per_class`).
    pub train_images: usize,
    /// The DiffAugment policy in effect (empty when off).
    pub diffaugment: Vec<String>,
    /// The classic augmentation of real images in effect (empty when off; absent in runs made before it existed).
    #[serde(default)]
    pub real_augment: Vec<String>,
    pub synth_version: String,
}

impl GanMeta {
    /// The generator this run trains (untrained weights).
    pub fn generator(&self, device: &Device) -> Result<Generator> {
        GeneratorConfig::new(self.classes.len(), self.channels, self.side)
            .with_latent_dim(self.config.latent_dim)
            .with_embed_dim(self.config.embed_dim)
            .with_width(self.config.g_width)
            .init(device)
    }

    /// The discriminator this run trains (untrained weights).
    pub fn discriminator(&self, device: &Device) -> Result<Discriminator> {
        DiscriminatorConfig::new(self.classes.len(), self.channels, self.side)
            .with_width(self.config.d_width)
            .init(device)
    }
}

/// Sums over the steps of the epoch in progress (saved in checkpoints, so a resumed epoch reports the same means).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EpochSums {
    pub d_loss: f64,
    pub g_loss: f64,
    pub d_real: f64,
    pub d_fake: f64,
    pub steps: usize,
}

/// One epoch's means.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    pub epoch: usize,
    pub d_loss: f32,
    pub g_loss: f32,
    /// Mean sigmoid of D's logits on real and on fake images.
    pub d_real: f32,
    pub d_fake: f32,
    pub seconds: f64,
}

/// One step's numbers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepStats {
    pub d_loss: f32,
    pub g_loss: f32,
    pub d_real: f32,
    pub d_fake: f32,
}

/// Where a run is: the epoch in progress and the steps done in it (which also fix the random streams).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// 0-based epoch in progress (equal to `epochs` when training is complete).
    pub epoch: usize,
    /// Steps done in that epoch.
    pub step: usize,
    /// Steps done in the whole run.
    pub global_step: usize,
    /// Epochs the run is to train.
    pub epochs: usize,
    pub sums: EpochSums,
    pub history: Vec<EpochStats>,
    /// `global_step` of the last snapshot.
    pub last_snapshot: usize,
    /// Seconds spent training, over every session of the run.
    pub seconds: f64,
}

/// state.json: what the models are and where the run is.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CheckpointState {
    pub meta: GanMeta,
    pub state: TrainState,
}

/// The whole training state of a run.
pub struct Trainer {
    pub meta: GanMeta,
    pub g: Generator,
    pub d: Discriminator,
    /// The generator EMA (on the inference device), when enabled.
    pub ema: Option<Generator>,
    opt_g: ModuleOptimizer,
    opt_d: ModuleOptimizer,
    pub state: TrainState,
    /// Training images in [-1, 1] and their labels.
    images: Tensor<4>,
    labels: Vec<usize>,
    augment: Option<DiffAugment>,
    real_augment: Option<crate::augment::Pipeline>,
    device: Device,
}

/// How a call to [`Trainer::run`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every planned epoch is done.
    Finished,
    /// The stop flag was raised; a checkpoint at the current step was saved.
    Interrupted,
}

/// A callback run after every training step (progress bars, Ctrl-C checks).
pub type StepCallback<'a> = Box<dyn FnMut(&TrainState, &StepStats) + 'a>;

/// What the loop reports to while it runs.
pub struct TrainMonitor<'a> {
    /// Called after every step.
    pub on_step: StepCallback<'a>,
    pub log: Option<&'a mut EventLog>,
    /// Folder that receives `grids/epoch-NNN.png` at every snapshot.
    pub grids: Option<PathBuf>,
}

impl TrainMonitor<'_> {
    /// A monitor that reports nothing.
    pub fn silent() -> TrainMonitor<'static> {
        TrainMonitor {
            on_step: Box::new(|_, _| {}),
            log: None,
            grids: None,
        }
    }
}

/// The planned number of epochs: `epochs`, raised to reach `min_steps`.
pub fn planned_epochs(config: &GanConfig, steps_per_epoch: usize) -> usize {
    config.epochs.max(config.min_steps.div_ceil(steps_per_epoch.max(1)))
}

/// Refuses a training set the GAN cannot learn from: fewer than two classes, a class with no image, fewer images
/// than a batch, or a size the architecture cannot make.
pub fn check_training_set(dataset: &Dataset, indices: &[usize], batch_size: usize) -> Result<(usize, usize)> {
    if dataset.classes.len() < 2 {
        return Err(SynthError::bad_input(format!(
            "dataset {} has {} class; a class-conditional GAN needs at least 2",
            dataset.name,
            dataset.classes.len()
        )));
    }
    let mut counts = vec![0usize; dataset.classes.len()];
    for &i in indices {
        counts[dataset.samples[i].label] += 1;
    }
    if let Some(c) = counts.iter().position(|&n| n == 0) {
        return Err(SynthError::bad_input(format!(
            "class '{}' of dataset {} has no training images",
            dataset.classes[c], dataset.name
        )));
    }
    if indices.len() < batch_size {
        return Err(SynthError::bad_input(format!(
            "the training set has {} images, fewer than one batch of {batch_size}; pass a smaller --batch-size",
            indices.len()
        )));
    }
    let (channels, h, w) = dataset.require_uniform_shape()?;
    Plan::for_size(h, w)?;
    Ok((channels, w))
}

fn record_error(path: &Path, e: impl std::fmt::Display) -> SynthError {
    SynthError::bad_input(format!(
        "checkpoint {}: corrupt or not a synth GAN file ({e})",
        path.display()
    ))
}

/// Loads a module record file into `module`, as bad input when it is missing, corrupt, or does not fit.
pub fn load_module<M: Module>(module: M, path: &Path) -> Result<M> {
    if !path.is_file() {
        return Err(SynthError::bad_input(format!("checkpoint {}: missing", path.display())));
    }
    let record = ModuleRecord::load(path).map_err(|e| record_error(path, e))?;
    module.try_load_record(record).map_err(|e| record_error(path, e))
}

/// Reads state.json of a checkpoint folder.
pub fn read_state(dir: &Path) -> Result<CheckpointState> {
    let path = dir.join(STATE_FILE);
    let text = std::fs::read_to_string(&path).at(&path, "reading checkpoint")?;
    serde_json::from_str(&text).map_err(|e| record_error(&path, e))
}

/// The checkpoint folder of a run folder, or the folder itself when it is one.
pub fn checkpoint_dir(path: &Path) -> PathBuf {
    if path.join(STATE_FILE).is_file() {
        path.to_path_buf()
    } else {
        path.join(CHECKPOINT_DIR)
    }
}

/// Which generator weights to sample from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Weights {
    /// The exponential moving average (when the run kept one), else the generator.
    Auto,
    Ema,
    Generator,
}

/// Loads a sampling generator of a checkpoint folder on `device`; returns which weights it is (`ema` or
/// `generator`).
pub fn load_sampler(
    dir: &Path,
    weights: Weights,
    device: &Device,
) -> Result<(CheckpointState, Generator, &'static str)> {
    let state = read_state(dir)?;
    let fresh = state.meta.generator(device)?;
    let ema = match weights {
        Weights::Auto => state.meta.config.ema,
        Weights::Ema if !state.meta.config.ema => {
            return Err(SynthError::bad_input(format!(
                "{}: the run kept no EMA weights (ema = false); use --weights generator",
                dir.display()
            )));
        }
        Weights::Ema => true,
        Weights::Generator => false,
    };
    let (file, which) = if ema {
        (EMA_FILE, "ema")
    } else {
        (GENERATOR_FILE, "generator")
    };
    let g = load_module(fresh, &dir.join(file))?.valid();
    Ok((state, g, which))
}

fn adam(config: &GanConfig) -> ModuleOptimizer {
    FusedAdam::with_settings(config.beta1, config.beta2, ADAM_EPSILON).init()
}

/// Collects a module's float tensors (flattened) by parameter id.
struct Collect(HashMap<ParamId, Tensor<1>>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val();
        let n = t.shape().num_elements();
        self.0.insert(param.id, t.reshape([n]));
    }
}

/// Moves each float tensor towards the collected one: `t * decay + src * (1 - decay)`.
struct Blend<'a> {
    src: &'a HashMap<ParamId, Tensor<1>>,
    decay: f64,
}

impl ModuleMapper for Blend<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let id = param.id;
        let (src, decay) = (self.src, self.decay);
        param.map(|t| match src.get(&id) {
            Some(s) => {
                let shape = t.shape();
                t.mul_scalar(decay) + s.clone().reshape(shape).mul_scalar(1.0 - decay)
            }
            None => t,
        })
    }
}

/// One EMA update of `ema` (inference device) towards `g`; batch-norm running statistics are averaged the same way.
pub fn ema_update(ema: Generator, g: &Generator, decay: f64) -> Generator {
    let mut collect = Collect(HashMap::new());
    g.valid().visit(&mut collect);
    ema.map(&mut Blend { src: &collect.0, decay })
}

/// Mean sigmoid of logits.
fn mean_sigmoid(logits: &[f32]) -> f32 {
    logits.iter().map(|&x| 1.0 / (1.0 + (-x).exp())).sum::<f32>() / logits.len().max(1) as f32
}

/// D's loss on real and fake logits.
///
/// # Shapes
/// `[batch]`, `[batch]` -> `[1]`
pub fn d_loss(loss: GanLoss, real: Tensor<1>, fake: Tensor<1>) -> Tensor<1> {
    match loss {
        GanLoss::Bce => softplus(real.neg(), 1.0).mean() + softplus(fake, 1.0).mean(),
        GanLoss::Hinge => relu(real.neg().add_scalar(1.0)).mean() + relu(fake.add_scalar(1.0)).mean(),
    }
}

/// G's loss on D's logits for its images.
///
/// # Shapes
/// `[batch]` -> `[1]`
pub fn g_loss(loss: GanLoss, fake: Tensor<1>) -> Tensor<1> {
    match loss {
        GanLoss::Bce => softplus(fake.neg(), 1.0).mean(),
        GanLoss::Hinge => fake.mean().neg(),
    }
}

impl Trainer {
    /// A fresh run on `images` (in [0, 1]) and their labels; models initialised from the seed. `device` must be
    /// an autodiff device.
    pub fn new(meta: GanMeta, images: &[&Image], labels: Vec<usize>, device: &Device) -> Result<Trainer> {
        let (g, d) = crate::backend::seeded(device, meta.config.seed, || -> Result<_> {
            Ok((meta.generator(device)?, meta.discriminator(device)?))
        })?;
        let ema = meta.config.ema.then(|| g.valid());
        let steps_per_epoch = labels.len() / meta.config.batch_size;
        let state = TrainState {
            epoch: 0,
            step: 0,
            global_step: 0,
            epochs: planned_epochs(&meta.config, steps_per_epoch),
            sums: EpochSums::default(),
            history: Vec::new(),
            last_snapshot: 0,
            seconds: 0.0,
        };
        let augment = if meta.diffaugment.is_empty() {
            None
        } else {
            Some(DiffAugment::parse(&meta.diffaugment)?)
        };
        let real_augment = (!meta.real_augment.is_empty())
            .then(|| crate::augment::Pipeline::parse(&meta.real_augment))
            .transpose()?;
        Ok(Trainer {
            real_augment,
            opt_g: adam(&meta.config),
            opt_d: adam(&meta.config),
            images: to_model_range(images_to_tensor(images, device)?),
            labels,
            augment,
            g,
            d,
            ema,
            state,
            meta,
            device: device.clone(),
        })
    }

    /// Continues the run saved in checkpoint folder `dir`, on the same training images. `epochs` replaces the
    /// planned number of epochs when given (to train longer).
    pub fn resume(
        dir: &Path,
        images: &[&Image],
        labels: Vec<usize>,
        epochs: Option<usize>,
        device: &Device,
    ) -> Result<Trainer> {
        let saved = read_state(dir)?;
        let mut trainer = Trainer::new(saved.meta, images, labels, device)?;
        trainer.g = load_module(trainer.g, &dir.join(GENERATOR_FILE))?;
        trainer.d = load_module(trainer.d, &dir.join(DISCRIMINATOR_FILE))?;
        if let Some(ema) = trainer.ema.take() {
            trainer.ema = Some(load_module(ema, &dir.join(EMA_FILE))?);
        }
        let load_optim = |opt: ModuleOptimizer, file: &str| {
            let path = dir.join(file);
            if !path.is_file() {
                return Err(SynthError::bad_input(format!("checkpoint {}: missing", path.display())));
            }
            opt.load(&path).map_err(|e| record_error(&path, e))
        };
        trainer.opt_g = load_optim(trainer.opt_g, OPTIM_G_FILE)?;
        trainer.opt_d = load_optim(trainer.opt_d, OPTIM_D_FILE)?;
        trainer.state = saved.state;
        if let Some(e) = epochs {
            trainer.state.epochs = e;
        }
        Ok(trainer)
    }

    /// Steps per epoch (the last partial batch is dropped, so batch norm always sees full batches).
    pub fn steps_per_epoch(&self) -> usize {
        self.labels.len() / self.meta.config.batch_size
    }

    /// Whether every planned epoch is done.
    pub fn finished(&self) -> bool {
        self.state.epoch >= self.state.epochs
    }

    /// The generator to sample from: the EMA when kept, else an inference copy of the generator.
    pub fn sampler(&self) -> Generator {
        match &self.ema {
            Some(ema) => ema.clone(),
            None => self.g.valid(),
        }
    }

    /// Writes the checkpoint folder `dir` atomically (staged beside it, then renamed over the old one).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let staging = stage_dir(dir)?;
        let result = self.save_into(&staging);
        if let Err(e) = result {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
        commit_dir(&staging, dir)
    }

    fn save_into(&self, dir: &Path) -> Result<()> {
        let fail = |path: PathBuf, e: burn::store::RecordError| {
            SynthError::internal(format!("saving {}: {e}", path.display()))
        };
        // `valid()` folds pending batch-norm statistics into the recorded value.
        let path = dir.join(GENERATOR_FILE);
        self.g.valid().save_file(&path).map_err(|e| fail(path, e))?;
        let path = dir.join(DISCRIMINATOR_FILE);
        self.d.valid().save_file(&path).map_err(|e| fail(path, e))?;
        if let Some(ema) = &self.ema {
            let path = dir.join(EMA_FILE);
            ema.clone().save_file(&path).map_err(|e| fail(path, e))?;
        }
        let path = dir.join(OPTIM_G_FILE);
        self.opt_g.save(&path).map_err(|e| fail(path, e))?;
        let path = dir.join(OPTIM_D_FILE);
        self.opt_d.save(&path).map_err(|e| fail(path, e))?;
        let state = CheckpointState {
            meta: self.meta.clone(),
            state: self.state.clone(),
        };
        let path = dir.join(STATE_FILE);
        std::fs::write(&path, crate::config::pretty_json(&state)?).at(&path, "writing")
    }

    /// One D step and one G step on the training images at `batch`, with the random streams of the current
    /// position. Fails (leaving the models as they were before the failing update) on a non-finite loss.
    pub fn step(&mut self, batch: &[usize]) -> Result<StepStats> {
        let config = &self.meta.config;
        let mut r = rng(derive(
            config.seed,
            &[STEP_STREAM, self.state.epoch as u64, self.state.step as u64],
        ));
        let n = batch.len();
        let classes = self.meta.classes.len();
        let idx = Tensor::<1, Int>::from_data(
            TensorData::new(batch.iter().map(|&i| i as i64).collect::<Vec<_>>(), [n]),
            &self.device,
        );
        let real = self.augment_real(self.images.clone().select(0, idx))?;
        let real_labels: Vec<usize> = batch.iter().map(|&i| self.labels[i]).collect();
        let real_labels = labels_to_tensor(&real_labels, &self.device);
        let fake_labels: Vec<usize> = (0..n).map(|_| r.random_range(0..classes)).collect();
        let fake_labels = labels_to_tensor(&fake_labels, &self.device);
        let latents: Vec<Vec<f32>> = (0..n).map(|_| latent_from(&mut r, config.latent_dim, 0.0)).collect();
        let z = latents_to_tensor(&latents, &self.device);

        // Discriminator: real vs the generator's images (detached; one generator pass serves both steps).
        let fake = self.g.forward(z, fake_labels.clone()); // [batch, c, side, side]
        let (real_in, fake_in) = match &self.augment {
            Some(a) => (a.apply(real, &mut r), a.apply(fake.clone().detach(), &mut r)),
            None => (real, fake.clone().detach()),
        };
        let real_logits = self.d.forward(real_in, real_labels);
        let fake_logits = self.d.forward(fake_in, fake_labels.clone());
        let loss_d = d_loss(config.loss, real_logits.clone(), fake_logits.clone());
        let d_value = tensor_values(loss_d.clone())?[0];
        self.check_finite("discriminator", d_value)?;
        let d_real = mean_sigmoid(&tensor_values(real_logits.inner())?);
        let d_fake = mean_sigmoid(&tensor_values(fake_logits.inner())?);
        let grads = GradientsParams::from_grads(loss_d.backward(), &self.d);
        self.d = self.opt_d.step(config.lr_d, self.d.clone(), grads);

        // Generator: through the updated discriminator, whose weights need no gradient here.
        let fake_in = match &self.augment {
            Some(a) => a.apply(fake, &mut r),
            None => fake,
        };
        let loss_g = g_loss(config.loss, self.d.clone().no_grad().forward(fake_in, fake_labels));
        let g_value = tensor_values(loss_g.clone())?[0];
        self.check_finite("generator", g_value)?;
        let grads = GradientsParams::from_grads(loss_g.backward(), &self.g);
        self.g = self.opt_g.step(config.lr_g, self.g.clone(), grads);

        if let Some(ema) = self.ema.take() {
            let t = self.state.global_step as f64;
            let decay = config.ema_decay.min((1.0 + t) / (10.0 + t));
            self.ema = Some(ema_update(ema, &self.g, decay));
        }
        Ok(StepStats {
            d_loss: d_value,
            g_loss: g_value,
            d_real,
            d_fake,
        })
    }

    /// The real batch (in [-1, 1]) through `real_augment`, image `i` of the step drawing from its own seed.
    fn augment_real(&self, real: Tensor<4>) -> Result<Tensor<4>> {
        let Some(pipeline) = &self.real_augment else {
            return Ok(real);
        };
        let (epoch, step) = (self.state.epoch as u64, self.state.step as u64);
        let seeds: Vec<u64> = (0..real.dims()[0] as u64)
            .map(|i| derive(self.meta.config.seed, &[REAL_AUGMENT_STREAM, epoch, step, i]))
            .collect();
        Ok(to_model_range(crate::augment::augment_tensor(
            to_unit_range(real),
            pipeline,
            &seeds,
        )?))
    }

    fn check_finite(&self, which: &str, value: f32) -> Result<()> {
        if value.is_finite() {
            return Ok(());
        }
        let last = match self.state.last_snapshot {
            0 => "no checkpoint had been saved yet".to_string(),
            s => format!("the last good checkpoint (step {s}) is kept"),
        };
        Err(SynthError::internal(format!(
            "training diverged: the {which} loss became {value} at epoch {} step {}; {last}; try a lower learning \
             rate or --loss hinge",
            self.state.epoch + 1,
            self.state.step
        )))
    }

    /// The batches of the current epoch, in its seeded order.
    fn epoch_batches(&self) -> Vec<Vec<usize>> {
        let mut order: Vec<usize> = (0..self.labels.len()).collect();
        order.shuffle(&mut rng(derive(
            self.meta.config.seed,
            &[EPOCH_STREAM, self.state.epoch as u64],
        )));
        order
            .chunks_exact(self.meta.config.batch_size)
            .map(<[usize]>::to_vec)
            .collect()
    }

    /// Trains until every planned epoch is done or `stop` is raised (then a checkpoint at the current step is
    /// saved). Checkpoints go to `checkpoint` (when given) at snapshots: at the end of an epoch when at least
    /// `snapshot_steps` steps passed since the last one, and after the last epoch.
    pub fn run(&mut self, checkpoint: Option<&Path>, stop: &AtomicBool, monitor: &mut TrainMonitor) -> Result<Outcome> {
        let mut clock = std::time::Instant::now();
        while !self.finished() {
            let batches = self.epoch_batches();
            while self.state.step < batches.len() {
                if stop.load(Ordering::SeqCst) {
                    self.state.seconds += clock.elapsed().as_secs_f64();
                    if let Some(dir) = checkpoint {
                        self.save(dir)?;
                    }
                    return Ok(Outcome::Interrupted);
                }
                let stats = self.step(&batches[self.state.step])?;
                let sums = &mut self.state.sums;
                sums.d_loss += stats.d_loss as f64;
                sums.g_loss += stats.g_loss as f64;
                sums.d_real += stats.d_real as f64;
                sums.d_fake += stats.d_fake as f64;
                sums.steps += 1;
                self.state.step += 1;
                self.state.global_step += 1;
                if let Some(log) = monitor.log.as_deref_mut() {
                    let s = self.state.global_step;
                    log.scalar("gan/d_loss", stats.d_loss, s);
                    log.scalar("gan/g_loss", stats.g_loss, s);
                    log.scalar("gan/d_real", stats.d_real, s);
                    log.scalar("gan/d_fake", stats.d_fake, s);
                }
                (monitor.on_step)(&self.state, &stats);
            }
            self.state.seconds += clock.elapsed().as_secs_f64();
            clock = std::time::Instant::now();
            self.end_epoch(checkpoint, monitor)?;
        }
        Ok(Outcome::Finished)
    }

    fn end_epoch(&mut self, checkpoint: Option<&Path>, monitor: &mut TrainMonitor) -> Result<()> {
        let sums = std::mem::take(&mut self.state.sums);
        let n = sums.steps.max(1) as f64;
        let stats = EpochStats {
            epoch: self.state.epoch + 1,
            d_loss: (sums.d_loss / n) as f32,
            g_loss: (sums.g_loss / n) as f32,
            d_real: (sums.d_real / n) as f32,
            d_fake: (sums.d_fake / n) as f32,
            seconds: self.state.seconds,
        };
        self.state.history.push(stats);
        self.state.epoch += 1;
        self.state.step = 0;
        let due = self.state.global_step - self.state.last_snapshot >= self.meta.config.snapshot_steps;
        if due || self.finished() {
            self.state.last_snapshot = self.state.global_step;
            let grid = super::sample::class_grid(
                &self.sampler(),
                self.meta.classes.len(),
                10,
                self.meta.config.seed,
                self.meta.config.truncation,
            )?;
            if let Some(log) = monitor.log.as_deref_mut() {
                log.image("gan/samples", &grid, self.state.epoch);
                log.flush();
            }
            if let Some(dir) = &monitor.grids {
                std::fs::create_dir_all(dir).at(dir, "creating")?;
                let path = dir.join(format!("epoch-{:03}.png", self.state.epoch));
                std::fs::write(&path, grid.to_png()?).at(&path, "writing")?;
            }
            if let Some(dir) = checkpoint {
                self.save(dir)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{LoadOptions, load_dataset};

    /// A tiny run on 8x8 digits: 2 classes x 16 images, narrow networks, batch 8.
    pub(crate) fn tiny(epochs: usize, augment: bool) -> (GanMeta, Vec<Image>, Vec<usize>) {
        let ds = load_dataset("digits", &LoadOptions::default()).unwrap();
        let mut picked = Vec::new();
        for class in 0..2 {
            picked.extend(ds.samples.iter().filter(|s| s.label == class).take(16).cloned());
        }
        let config = GanConfig {
            dataset: "digits".into(),
            epochs,
            min_steps: 0,
            batch_size: 8,
            latent_dim: 8,
            embed_dim: 4,
            g_width: 8,
            d_width: 8,
            snapshot_steps: 1,
            seed: 3,
            ..Default::default()
        };
        let meta = GanMeta {
            diffaugment: if augment {
                config.diffaugment_policy.clone()
            } else {
                vec![]
            },
            config,
            classes: vec!["0".into(), "1".into()],
            channels: 1,
            side: 8,
            dataset: "digits".into(),
            split_seed: 0,
            train_images: picked.len(),
            real_augment: vec![],
            synth_version: "test".into(),
        };
        let labels = picked.iter().map(|s| s.label).collect();
        (meta, picked.into_iter().map(|s| s.image).collect(), labels)
    }

    /// Every float tensor of a module (parameters and batch-norm statistics), in visiting order.
    struct Ordered(Vec<Vec<f32>>);

    impl ModuleVisitor for Ordered {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(tensor_values(param.val()).unwrap());
        }
    }

    pub(crate) fn all_values<M: Module>(m: &M) -> Vec<Vec<f32>> {
        let mut c = Ordered(Vec::new());
        m.visit(&mut c);
        c.0
    }

    pub(crate) fn weights(t: &Trainer) -> Vec<Vec<f32>> {
        let mut out = all_values(&t.g.valid());
        out.extend(all_values(&t.d.valid()));
        out.extend(all_values(t.ema.as_ref().unwrap()));
        out
    }

    /// Stopping after epoch 1 (and, separately, in the middle of epoch 2) and resuming from the checkpoint ends
    /// with the same weights, EMA and history as an uninterrupted run, bit for bit.
    ///
    /// Both runs start from one saved initial state rather than two `Trainer::new` calls: burn draws initial
    /// weights from one process-wide generator, and the tests running beside this one draw from it too, so two
    /// constructions with one seed can differ here (CI saw it). Training itself draws only from the trainer's own
    /// seeded streams, which is what this test is about.
    #[test]
    fn resume_is_bit_identical_to_an_uninterrupted_run() {
        let device = crate::backend::autodiff_device();
        let (mut meta, images, labels) = tiny(3, true);
        // The real images' augmentation draws from the step's streams too, so resuming must reproduce it.
        meta.real_augment = vec!["rotate:15".into(), "translate:1".into()];
        let refs: Vec<&Image> = images.iter().collect();
        let never = AtomicBool::new(false);
        let dir = tempfile::tempdir().unwrap();
        let start = dir.path().join("start");
        Trainer::new(meta, &refs, labels.clone(), &device)
            .unwrap()
            .save(&start)
            .unwrap();
        let mut straight = Trainer::resume(&start, &refs, labels.clone(), None, &device).unwrap();
        assert_eq!(straight.steps_per_epoch(), 4);
        straight.run(None, &never, &mut TrainMonitor::silent()).unwrap();

        let ckpt = dir.path().join(CHECKPOINT_DIR);
        let mut first = Trainer::resume(&start, &refs, labels.clone(), None, &device).unwrap();
        first.state.epochs = 1;
        first.run(Some(&ckpt), &never, &mut TrainMonitor::silent()).unwrap();
        let mut resumed = Trainer::resume(&ckpt, &refs, labels.clone(), Some(3), &device).unwrap();
        // Stop in the middle of epoch 2, as Ctrl-C would, then resume again.
        let stop = AtomicBool::new(false);
        let mut monitor = TrainMonitor {
            on_step: Box::new(|s: &TrainState, _: &StepStats| {
                if s.epoch == 1 && s.step == 2 {
                    stop.store(true, Ordering::SeqCst);
                }
            }),
            log: None,
            grids: None,
        };
        assert_eq!(
            resumed.run(Some(&ckpt), &stop, &mut monitor).unwrap(),
            Outcome::Interrupted
        );
        assert_eq!((resumed.state.epoch, resumed.state.step), (1, 2));
        let mut last = Trainer::resume(&ckpt, &refs, labels, None, &device).unwrap();
        assert_eq!((last.state.epoch, last.state.step, last.state.epochs), (1, 2, 3));
        last.run(Some(&ckpt), &never, &mut TrainMonitor::silent()).unwrap();

        let (a, b) = (weights(&last), weights(&straight));
        assert_eq!(a.len(), b.len());
        let differing: Vec<(usize, f32)> = a
            .iter()
            .zip(&b)
            .enumerate()
            .filter(|(_, (x, y))| x != y)
            .map(|(i, (x, y))| (i, x.iter().zip(y).map(|(p, q)| (p - q).abs()).fold(0.0, f32::max)))
            .collect();
        assert!(
            differing.is_empty(),
            "tensors differ (index, max |diff|): {differing:?}"
        );
        let losses =
            |t: &Trainer| -> Vec<(f32, f32)> { t.state.history.iter().map(|h| (h.d_loss, h.g_loss)).collect() };
        assert_eq!(losses(&last), losses(&straight));
    }

    /// `real_augment` moves the real batch's pixels (and only when set), keeps them in [-1, 1], draws the same for
    /// the same step and differently at the next one.
    #[test]
    fn real_images_are_augmented_per_step_and_reproducibly() {
        let device = crate::backend::autodiff_device();
        let (mut meta, images, labels) = tiny(1, false);
        let refs: Vec<&Image> = images.iter().collect();
        let plain = Trainer::new(meta.clone(), &refs, labels.clone(), &device).unwrap();
        meta.real_augment = vec!["rotate:20@1".into(), "translate:2@1".into()];
        let mut trainer = Trainer::new(meta, &refs, labels, &device).unwrap();
        let real = || plain.images.clone();
        let values = |t: Tensor<4>| tensor_values(t).unwrap();
        assert_eq!(values(plain.augment_real(real()).unwrap()), values(real()));
        let first = values(trainer.augment_real(real()).unwrap());
        assert_ne!(first, values(real()), "the real images were not augmented");
        assert!(
            first.iter().all(|v| (-1.0..=1.0).contains(v)),
            "augmented values left [-1, 1]"
        );
        assert_eq!(
            values(trainer.augment_real(real()).unwrap()),
            first,
            "same step, different draw"
        );
        trainer.state.step += 1;
        assert_ne!(
            values(trainer.augment_real(real()).unwrap()),
            first,
            "the next step drew the same"
        );
    }

    /// Losses are finite and of the expected size at initialisation (BCE: about 2 ln 2 for D and ln 2 for G when
    /// D is undecided), the models move, and a poisoned discriminator stops the run with the divergence message.
    #[test]
    fn losses_train_and_divergence_is_reported() {
        let device = crate::backend::autodiff_device();
        let (meta, images, labels) = tiny(1, false);
        let refs: Vec<&Image> = images.iter().collect();
        let mut t = Trainer::new(meta, &refs, labels, &device).unwrap();
        let before = weights(&t);
        let batch: Vec<usize> = (0..8).collect();
        let s = t.step(&batch).unwrap();
        assert!((s.d_loss - 2.0 * 2f32.ln()).abs() < 0.2, "{s:?}");
        assert!((s.g_loss - 2f32.ln()).abs() < 0.2, "{s:?}");
        assert!((s.d_real - 0.5).abs() < 0.1 && (s.d_fake - 0.5).abs() < 0.1, "{s:?}");
        assert_ne!(weights(&t), before);

        let nan = Tensor::<1>::from_data(TensorData::new(vec![f32::NAN], [1]), &device);
        t.d.head.bias = t.d.head.bias.take().map(|b| b.map(|v| v + nan.clone()));
        let err = t.step(&batch).unwrap_err();
        assert!(err.to_string().contains("training diverged"), "{err}");
        assert!(err.to_string().contains("discriminator loss became NaN"), "{err}");
    }

    #[test]
    fn hinge_losses_match_their_definition() {
        let device = crate::backend::device();
        let t = |v: Vec<f32>| Tensor::<1>::from_data(TensorData::new(v, [2]), &device);
        let d = tensor_values(d_loss(GanLoss::Hinge, t(vec![2.0, 0.5]), t(vec![-2.0, 0.0]))).unwrap()[0];
        assert!((d - (0.25 + 0.5)).abs() < 1e-6, "{d}");
        let g = tensor_values(g_loss(GanLoss::Hinge, t(vec![1.0, 3.0]))).unwrap()[0];
        assert!((g + 2.0).abs() < 1e-6, "{g}");
        let d = tensor_values(d_loss(GanLoss::Bce, t(vec![0.0, 0.0]), t(vec![0.0, 0.0]))).unwrap()[0];
        assert!((d - 2.0 * 2f32.ln()).abs() < 1e-6, "{d}");
    }

    #[test]
    fn one_class_and_small_sets_are_refused() {
        let ds = load_dataset("digits", &LoadOptions::default()).unwrap();
        let all: Vec<usize> = (0..ds.len()).collect();
        let no_nines: Vec<usize> = all.iter().copied().filter(|&i| ds.samples[i].label != 9).collect();
        let err = check_training_set(&ds, &no_nines, 64).unwrap_err();
        assert!(
            err.is_bad_input() && err.to_string().contains("no training images"),
            "{err}"
        );
        let two: Vec<usize> = all.iter().copied().filter(|&i| ds.samples[i].label < 2).collect();
        let mut two_class = ds.subset(&two);
        two_class.classes.truncate(2);
        let idx: Vec<usize> = (0..20).collect();
        let err = check_training_set(&two_class, &idx, 64).unwrap_err();
        assert!(err.to_string().contains("fewer than one batch"), "{err}");
        let mut one = two_class.clone();
        one.classes.truncate(1);
        assert!(
            check_training_set(&one, &idx, 8)
                .unwrap_err()
                .to_string()
                .contains("at least 2")
        );
    }
}
