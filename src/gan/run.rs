//! A whole `synth gan` training run as a library function: the run folder (locked; trained in place so a killed
//! run can be resumed, or staged beside an old run that `force` replaces only on success), the training loop with
//! its checkpoints, the samples written as an expanded dataset, and CAS / FID. `synth gan` and eval-gain's GAN
//! source both call [`train`].

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::diffaug::DiffAugment;
use super::filter::{CnnJudge, FilterPolicy, FilterReport, Judge};
use super::metrics::{Quality, feature_net, measure, metric_classifier_config, real_part};
use super::sample::{SampleSpec, class_grid, write_samples};
use super::train::{
    CHECKPOINT_DIR, CheckpointState, EpochStats, GanMeta, Outcome, STATE_FILE, TrainMonitor, Trainer,
    check_training_set, planned_epochs, read_state,
};
use super::{GanConfig, Generator};
use crate::dataset::writer::{OutLock, check_out_dir, recover_replacement};
use crate::dataset::{Dataset, ExpandedWriter, Image, Origin, OutDir, Provenance, SourceKind, Split, SplitName};
use crate::error::{IoContext, Result, SynthError};
use crate::telemetry::{EventLog, progress_bar};

/// Folder names inside a run folder.
pub const SAMPLES_DIR: &str = "samples";
const GRIDS_DIR: &str = "grids";
const FID_NET_DIR: &str = "fid-classifier";
const METRICS_FILE: &str = "metrics.json";
/// The per-class sample grid of a run.
pub const GRID_FILE: &str = "samples-grid.png";
/// Columns of the per-class sample grids.
const GRID_COLS: usize = 10;

/// Where and how a training run writes.
#[derive(Clone, Debug)]
pub struct RunPlan {
    /// The run folder.
    pub out: PathBuf,
    /// Replace a non-empty run folder (only once the new run has succeeded).
    pub force: bool,
    /// Continue the run in `out` from its checkpoint.
    pub resume: bool,
    /// TensorBoard folder.
    pub tb_dir: PathBuf,
    /// Hide progress bars.
    pub quiet: bool,
}

/// What a finished training run did.
#[derive(Clone, Debug, Serialize)]
pub struct TrainSummary {
    pub out: String,
    pub samples: String,
    pub images: usize,
    pub train_images: usize,
    pub epochs: usize,
    pub steps: usize,
    pub diffaugment: Vec<String>,
    pub real_augment: Vec<String>,
    pub ema: bool,
    pub loss: String,
    pub per_class: usize,
    pub train_seconds: f64,
    pub last_epoch: Option<EpochStats>,
    pub quality: Option<Quality>,
}

/// The data a run trains on: the dataset, its split and the training indices.
pub struct TrainData {
    pub dataset: Dataset,
    pub split: Split,
    pub train: Vec<usize>,
}

/// Loads the dataset a GAN config names, splits it and draws the training images.
pub fn load_train_data(config: &GanConfig) -> Result<TrainData> {
    let dataset = crate::dataset::load_named(&config.dataset, &config.resize)?;
    let split = Split::stratified(&dataset, &config.split)?;
    let all_train = split.indices(&dataset, SplitName::Train)?;
    let train = crate::classifier::run::per_class_subset(&dataset, &all_train, config.train_per_class, config.seed);
    Ok(TrainData { dataset, split, train })
}

/// The saved state of the run in `out`, for `--resume` (a checkpoint replacement interrupted between its two
/// renames is repaired first).
pub fn saved_run(out: &Path) -> Result<CheckpointState> {
    let ckpt = out.join(CHECKPOINT_DIR);
    recover_replacement(&ckpt)?;
    if !ckpt.join(STATE_FILE).is_file() {
        return Err(SynthError::bad_input(format!(
            "--resume: {} holds no GAN checkpoint ({} is missing)",
            out.display(),
            ckpt.join(STATE_FILE).display()
        )));
    }
    read_state(&ckpt)
}

/// The run folder being written: in place (a fresh or resumed run, resumable if killed) or staged beside an old
/// run that it replaces only on success.
enum RunFolder {
    InPlace { root: PathBuf, _lock: OutLock },
    Staged(OutDir),
}

impl RunFolder {
    fn open(plan: &RunPlan) -> Result<RunFolder> {
        let root = &plan.out;
        if plan.resume {
            return Ok(RunFolder::InPlace {
                _lock: OutLock::acquire(root)?,
                root: root.clone(),
            });
        }
        check_out_dir(root, true)?;
        let non_empty = root.is_dir() && std::fs::read_dir(root).at(root, "listing")?.next().is_some();
        if non_empty && !plan.force {
            return Err(SynthError::bad_input(format!(
                "--out {} exists and is not empty; pass --resume to continue its training or --force to replace it",
                root.display()
            )));
        }
        if non_empty {
            return Ok(RunFolder::Staged(OutDir::claim(root, true)?));
        }
        if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).at(parent, "creating")?;
        }
        let lock = OutLock::acquire(root)?;
        std::fs::create_dir_all(root).at(root, "creating")?;
        Ok(RunFolder::InPlace {
            root: root.clone(),
            _lock: lock,
        })
    }

    /// Where files are written now.
    fn path(&self) -> &Path {
        match self {
            RunFolder::InPlace { root, .. } => root,
            RunFolder::Staged(out) => out.path(),
        }
    }

    fn finish(self) -> Result<()> {
        if let RunFolder::Staged(out) = self {
            out.commit()?;
        }
        Ok(())
    }
}

/// Trains a GAN with `config` into `plan.out` (or continues it with `plan.resume`), writes `config.per_class`
/// images per class to `<out>/samples` and, with `config.metrics`, measures CAS and FID.
pub fn train(config: &GanConfig, plan: &RunPlan) -> Result<TrainSummary> {
    config.validate()?;
    let saved = if plan.resume { Some(saved_run(&plan.out)?) } else { None };
    let data = load_train_data(config)?;
    let (channels, side) = check_training_set(&data.dataset, &data.train, config.batch_size)?;
    if config.metrics {
        if config.per_class == 0 {
            return Err(SynthError::bad_input(
                "--metrics true needs --per-class of at least 1 (CAS trains on them)",
            ));
        }
        for part in [SplitName::Val, SplitName::Test] {
            real_part(&data.dataset, &data.split, part, &crate::backend::device())?;
        }
    }
    let meta = run_meta(config, &data, channels, side)?;
    if let Some(saved) = &saved {
        let same_data = saved.meta.classes == meta.classes
            && saved.meta.train_images == meta.train_images
            && (saved.meta.channels, saved.meta.side) == (channels, side);
        if !same_data {
            return Err(SynthError::bad_input(format!(
                "--resume: dataset {} no longer gives the training set the run started with",
                config.dataset
            )));
        }
    }

    // Everything is checked (in well under a second): the run folder may be claimed now, before the training.
    let folder = RunFolder::open(plan)?;
    let dir = folder.path().to_path_buf();
    let config_path = dir.join("config.toml");
    std::fs::write(&config_path, crate::config::to_toml(config)?).at(&config_path, "writing")?;
    data.split.save(&dir.join(crate::dataset::split::SPLIT_FILE))?;
    let ckpt = dir.join(CHECKPOINT_DIR);

    let device = crate::backend::autodiff_device();
    let images: Vec<&Image> = data.train.iter().map(|&i| &data.dataset.samples[i].image).collect();
    let labels: Vec<usize> = data.train.iter().map(|&i| data.dataset.samples[i].label).collect();
    let mut trainer = match &saved {
        None => Trainer::new(meta, &images, labels, &device)?,
        Some(_) => {
            let mut t = Trainer::resume(&ckpt, &images, labels, None, &device)?;
            let steps = t.steps_per_epoch();
            t.state.epochs = planned_epochs(config, steps);
            t.meta.config = config.clone();
            t
        }
    };

    let mut log = EventLog::create(&plan.tb_dir)?;
    let outcome = train_loop(&mut trainer, &ckpt, &dir, &mut log, plan.quiet)?;
    if outcome == Outcome::Interrupted {
        log.flush();
        let what = match &folder {
            RunFolder::InPlace { .. } => format!(
                "checkpoint saved in {}; continue with `synth gan --resume --out {}`",
                ckpt.display(),
                plan.out.display()
            ),
            RunFolder::Staged(_) => format!(
                "the new run is discarded and the old run in {} is kept (a --force run replaces it only on success)",
                plan.out.display()
            ),
        };
        return Err(SynthError::internal(format!(
            "interrupted at epoch {} step {}: {what}",
            trainer.state.epoch + 1,
            trainer.state.step
        )));
    }

    let RunOutputs { written, quality } = write_outputs(config, plan, &trainer, &data, &dir, &mut log)?;
    folder.finish()?;

    Ok(TrainSummary {
        out: plan.out.display().to_string(),
        samples: plan.out.join(SAMPLES_DIR).display().to_string(),
        images: written.len(),
        train_images: trainer.meta.train_images,
        epochs: trainer.state.epochs,
        steps: trainer.state.global_step,
        diffaugment: trainer.meta.diffaugment.clone(),
        real_augment: trainer.meta.real_augment.clone(),
        ema: config.ema,
        loss: config.loss.to_string(),
        per_class: config.per_class,
        train_seconds: trainer.state.seconds,
        last_epoch: trainer.state.history.last().cloned(),
        quality,
    })
}

/// After training: the samples as an expanded dataset, the per-class grid, CAS and FID when asked, and the loss
/// history, all into the run folder `dir`.
fn write_outputs(
    config: &GanConfig,
    plan: &RunPlan,
    trainer: &Trainer,
    data: &TrainData,
    dir: &Path,
    log: &mut EventLog,
) -> Result<RunOutputs> {
    // Samples, then quality.
    let sampler = trainer.sampler();
    let spec = SampleSpec {
        per_class: config.per_class,
        seed: config.seed,
        truncation: config.truncation,
        filter: filter_policy(config.filter_tau_for(data.train.len()), config.filter_oversample),
        checkpoint: plan.out.join(CHECKPOINT_DIR).display().to_string(),
        weights: if config.ema { "ema" } else { "generator" }.into(),
    };
    let written = write_set(
        &sampler,
        &trainer.meta,
        data,
        &spec,
        &dir.join(SAMPLES_DIR),
        true,
        plan.quiet,
    )?;
    let grid = class_grid(
        &sampler,
        trainer.meta.classes.len(),
        GRID_COLS,
        config.seed,
        config.truncation,
    )?;
    let grid_path = dir.join(GRID_FILE);
    std::fs::write(&grid_path, grid.to_png()?).at(&grid_path, "writing")?;
    log.image("gan/final_samples", &grid, trainer.state.epoch);
    let quality = if config.metrics {
        let fid_net = dir.join(FID_NET_DIR);
        let q = quality(&trainer.meta, data, &written, &fid_net, dir, plan.quiet)?;
        log.scalar("gan/cas", q.cas, trainer.state.global_step);
        log.scalar("gan/fid", q.fid as f32, trainer.state.global_step);
        Some(q)
    } else {
        None
    };
    log.flush();
    let history_path = dir.join("history.json");
    std::fs::write(&history_path, crate::config::pretty_json(&trainer.state.history)?).at(&history_path, "writing")?;
    Ok(RunOutputs { written, quality })
}

/// What a run wrote after training: the generated images with their labels, and their quality when measured.
struct RunOutputs {
    written: Vec<(Image, usize)>,
    quality: Option<Quality>,
}

/// What a run records about itself beside its weights.
fn run_meta(config: &GanConfig, data: &TrainData, channels: usize, side: usize) -> Result<GanMeta> {
    let diffaugment = if config.diffaugment_on(data.train.len()) {
        DiffAugment::parse(&config.diffaugment_policy)?
            .names()
            .into_iter()
            .map(String::from)
            .collect()
    } else {
        Vec::new()
    };
    Ok(GanMeta {
        config: config.clone(),
        classes: data.dataset.classes.clone(),
        channels,
        side,
        dataset: data.dataset.name.clone(),
        split_seed: data.split.config.seed,
        train_images: data.train.len(),
        diffaugment,
        real_augment: config.real_augment_ops(data.train.len())?,
        synth_version: env!("CARGO_PKG_VERSION").to_string(),
    })
}

/// The training loop with a progress bar, TensorBoard scalars and snapshot grids; the first Ctrl-C stops it at a
/// step boundary with a checkpoint saved.
fn train_loop(trainer: &mut Trainer, ckpt: &Path, dir: &Path, log: &mut EventLog, quiet: bool) -> Result<Outcome> {
    let total = (trainer.state.epochs * trainer.steps_per_epoch()) as u64;
    let bar = progress_bar(total, "gan", quiet);
    bar.set_position(trainer.state.global_step as u64);
    let _stoppable = crate::interrupt::StopScope::enter();
    let mut monitor = TrainMonitor {
        on_step: Box::new(|state, stats| {
            bar.set_position(state.global_step as u64);
            bar.set_message(format!(
                "epoch {}/{} D {:.3} G {:.3} D(x) {:.2} D(G(z)) {:.2}",
                state.epoch + 1,
                state.epochs,
                stats.d_loss,
                stats.g_loss,
                stats.d_real,
                stats.d_fake
            ));
        }),
        log: Some(log),
        grids: Some(dir.join(GRIDS_DIR)),
    };
    let outcome = trainer.run(Some(ckpt), crate::interrupt::stop_flag(), &mut monitor);
    bar.finish_and_clear();
    outcome
}

/// Writes an expanded dataset of generated images to `root` (atomically), with origin, split, config and a preview.
pub fn write_set(
    g: &Generator,
    meta: &GanMeta,
    data: &TrainData,
    spec: &SampleSpec,
    root: &Path,
    force: bool,
    quiet: bool,
) -> Result<Vec<(Image, usize)>> {
    write_set_into(g, meta, data, spec, OutDir::claim(root, force)?, quiet)
}

/// [`write_set`] into an output folder claimed earlier.
pub fn write_set_into(
    g: &Generator,
    meta: &GanMeta,
    data: &TrainData,
    spec: &SampleSpec,
    out: OutDir,
    quiet: bool,
) -> Result<Vec<(Image, usize)>> {
    let mut writer = ExpandedWriter::new(out, &meta.classes, SourceKind::Gan)?;
    let judge = match spec.filter {
        Some(_) => Some(fit_judge(meta, data, quiet)?),
        None => None,
    };
    let bar = progress_bar((spec.per_class * meta.classes.len()) as u64, "sample", quiet);
    let super::sample::Written {
        images: written,
        counts,
    } = write_samples(
        g,
        &meta.classes,
        spec,
        judge.as_ref().map(|j| j as &dyn Judge),
        &mut writer,
        || bar.inc(1),
    )?;
    bar.finish_and_clear();
    let mut effective = crate::config::to_json(&meta.config);
    if let Some(o) = effective.as_object_mut() {
        o.insert("sample_seed".into(), spec.seed.into());
        o.insert("sample_per_class".into(), spec.per_class.into());
        o.insert("sample_truncation".into(), spec.truncation.into());
        o.insert("checkpoint".into(), spec.checkpoint.clone().into());
        let filter = match (spec.filter, &judge) {
            (Some(policy), Some(judge)) => crate::config::to_json(&FilterReport::of(policy, &counts, judge)),
            _ => serde_json::Value::Null,
        };
        o.insert("sample_filter".into(), filter);
    }
    let origin = Origin::describe(&data.dataset, &data.split, SplitName::Train, SourceKind::Gan, effective);
    let grid = class_grid(g, meta.classes.len(), GRID_COLS, spec.seed, spec.truncation)?;
    writer.finish(Provenance {
        origin: &origin,
        split: &data.split,
        config_toml: Some(crate::config::to_toml(&meta.config)?),
        preview: Some(grid),
    })?;
    Ok(written)
}

/// The filter of a sampling pass: `None` when `tau` is 0.
pub fn filter_policy(tau: f64, oversample: usize) -> Option<FilterPolicy> {
    (tau > 0.0).then_some(FilterPolicy {
        tau: tau as f32,
        oversample,
    })
}

/// The filter's judge: the cnn fitted on the run's training images, early-stopped on the real validation split
/// (which must not be empty).
fn fit_judge(meta: &GanMeta, data: &TrainData, quiet: bool) -> Result<CnnJudge> {
    if data.split.ids(SplitName::Val).is_empty() {
        return Err(SynthError::bad_input(
            "the class-consistency filter fits its judge early-stopped on the validation split, which is empty: \
             pass --val > 0 or --filter-tau 0",
        ));
    }
    CnnJudge::fit(
        &data.dataset,
        &data.split,
        &data.train,
        meta.config.metric_epochs,
        meta.config.seed,
        quiet,
    )
}

/// CAS and FID of `written` (the FID feature network is cached in `fid_net_dir`), saved as
/// `metrics_dir/metrics.json`.
pub fn quality(
    meta: &GanMeta,
    data: &TrainData,
    written: &[(Image, usize)],
    fid_net_dir: &Path,
    metrics_dir: &Path,
    quiet: bool,
) -> Result<Quality> {
    let device = crate::backend::device();
    let val = real_part(&data.dataset, &data.split, SplitName::Val, &device)?;
    let test = real_part(&data.dataset, &data.split, SplitName::Test, &device)?;
    let cfg = metric_classifier_config(&meta.dataset, &data.split, meta.config.metric_epochs, meta.config.seed);
    let net = feature_net(&data.dataset, &data.split, &cfg, fid_net_dir, quiet)?;
    let q = measure(written, &val, &test, &net, &cfg, meta.classes.len(), quiet)?;
    let path = metrics_dir.join(METRICS_FILE);
    std::fs::write(&path, crate::config::pretty_json(&q)?).at(&path, "writing")?;
    Ok(q)
}

/// The FID feature network's folder of the run a checkpoint belongs to.
pub fn fid_net_dir(run_root: &Path) -> PathBuf {
    run_root.join(FID_NET_DIR)
}

/// Human text for CAS and FID.
pub fn quality_text(q: &Quality) -> String {
    format!(
        "CAS {:.4} (cnn trained on {} synthetic images only, epoch picked on {} real val images, tested on {} real \
         test images; its val accuracy {:.4})\nFID {:.2} vs the real \
         test split (real train vs real test: {:.2}) on the {} (its real test accuracy {:.4}; its accuracy on the \
         synthetic images {:.4})\n",
        q.cas,
        q.cas_train_images,
        q.real_val_images,
        q.real_test_images,
        q.cas_val,
        q.fid,
        q.fid_real_train_vs_test,
        q.fid_features,
        q.feature_net_test_accuracy,
        q.real_classifier_on_synthetic
    )
}
