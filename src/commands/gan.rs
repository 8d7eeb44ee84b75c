//! `synth gan` (train), `synth gan sample`, `synth gan interpolate`: flags and config in, the capability in
//! `crate::gan`, a summary out.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

use crate::cli::{GanAction, GanCommand, GanInterpolateArgs, GanSampleArgs, GanTrainArgs};
use crate::config;
use crate::dataset::writer::check_out_dir;
use crate::dataset::{Dataset, ExpandedWriter, Image, Origin, SourceKind, Split, SplitName};
use crate::error::{IoContext, SynthError};
use crate::gan::diffaug::DiffAugment;
use crate::gan::metrics::{Quality, feature_net, measure, metric_classifier_config, real_part};
use crate::gan::sample::{SampleSpec, class_grid, interpolation_grid, write_samples};
use crate::gan::train::{
    CHECKPOINT_DIR, CheckpointState, EpochStats, GanMeta, Outcome, TrainMonitor, Trainer, check_training_set,
    checkpoint_dir, load_sampler, read_state,
};
use crate::gan::{GanConfig, config::check_truncation};
use crate::telemetry::{EventLog, progress_bar};

use super::Ui;

/// Raised by Ctrl-C during training; the training loop saves a checkpoint at the next step boundary and stops.
static STOP: AtomicBool = AtomicBool::new(false);
/// Whether the training loop is running (Ctrl-C outside it, or a second Ctrl-C, exits at once: every file synth
/// writes is staged and renamed, so nothing half-written is left in place).
static TRAINING: AtomicBool = AtomicBool::new(false);

/// Folder names inside a run folder.
pub(super) const SAMPLES_DIR: &str = "samples";
const GRIDS_DIR: &str = "grids";
const FID_NET_DIR: &str = "fid-classifier";
const METRICS_FILE: &str = "metrics.json";
const GRID_FILE: &str = "samples-grid.png";
/// Columns of the per-class sample grids.
const GRID_COLS: usize = 10;

/// Runs `synth gan ...`.
pub fn run(cmd: GanCommand, ui: Ui) -> anyhow::Result<()> {
    match cmd.action {
        None => train(cmd.train, ui),
        Some(GanAction::Train(args)) => train(args, ui),
        Some(GanAction::Sample(args)) => sample(args, ui),
        Some(GanAction::Interpolate(args)) => interpolate(args, ui),
    }
}

/// Applies the flags over a config.
fn apply_flags(args: &GanTrainArgs, c: &mut GanConfig) {
    super::apply_data_args(&args.data, &mut c.dataset, &mut c.resize, &mut c.split);
    macro_rules! set {
        ($($field:ident),*) => {$(if let Some(v) = args.$field.clone() { c.$field = v; })*};
    }
    set!(
        train_per_class,
        epochs,
        min_steps,
        batch_size,
        loss,
        diffaugment,
        ema,
        per_class,
        truncation,
        metrics,
        seed
    );
}

fn effective_config(args: &GanTrainArgs) -> anyhow::Result<GanConfig> {
    let mut c: GanConfig = config::load(args.config.as_deref())?;
    apply_flags(args, &mut c);
    c.validate()?;
    Ok(c)
}

/// The names of the settings that differ between two configs.
fn changed_settings(a: &GanConfig, b: &GanConfig) -> Vec<String> {
    let (a, b) = (config::to_json(a), config::to_json(b));
    match (a.as_object(), b.as_object()) {
        (Some(a), Some(b)) => a
            .iter()
            .filter(|(k, v)| b.get(k.as_str()) != Some(v))
            .map(|(k, _)| k.clone())
            .collect(),
        _ => vec!["config".into()],
    }
}

/// The config of a resumed run: the saved one with the flags that may change applied, or bad input naming the
/// settings a flag tried to change.
fn resume_config(args: &GanTrainArgs, saved: &GanConfig) -> anyhow::Result<GanConfig> {
    if args.config.is_some() {
        return Err(SynthError::bad_input("--resume uses the run's saved config; drop --config").into());
    }
    let mut c = saved.clone();
    apply_flags(args, &mut c);
    c.validate()?;
    let changed = changed_settings(&saved.training_identity(), &c.training_identity());
    if !changed.is_empty() {
        return Err(SynthError::bad_input(format!(
            "--resume cannot change {} (the run was trained with other values); only --epochs, --min-steps and the \
             sampling and metric flags may change",
            changed.join(", ")
        ))
        .into());
    }
    Ok(c)
}

#[derive(Serialize)]
struct TrainSummary<'a> {
    out: String,
    samples: String,
    images: usize,
    train_images: usize,
    epochs: usize,
    steps: usize,
    diffaugment: &'a [String],
    ema: bool,
    loss: String,
    train_seconds: f64,
    seconds: f64,
    last_epoch: Option<&'a EpochStats>,
    quality: Option<&'a Quality>,
}

/// The data a run trains on: the dataset, its split and the training indices.
struct TrainData {
    dataset: Dataset,
    split: Split,
    train: Vec<usize>,
}

fn load_train_data(config: &GanConfig) -> anyhow::Result<TrainData> {
    let dataset = super::load(&config.dataset, &config.resize)?;
    let split = Split::stratified(&dataset, &config.split)?;
    let all_train = split.indices(&dataset, SplitName::Train)?;
    let train = crate::classifier::run::per_class_subset(&dataset, &all_train, config.train_per_class, config.seed);
    Ok(TrainData { dataset, split, train })
}

fn install_ctrlc() {
    // Only the first call installs; later calls (a second command in one process) keep the same handler.
    let _ = ctrlc::set_handler(|| {
        if TRAINING.load(Ordering::SeqCst) && !STOP.swap(true, Ordering::SeqCst) {
            eprintln!("\nCtrl-C: saving a checkpoint at the end of this step (Ctrl-C again to quit at once)");
        } else {
            std::process::exit(130);
        }
    });
}

pub(super) fn train(args: GanTrainArgs, ui: Ui) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let first = if args.resume {
        None
    } else {
        Some(effective_config(&args)?)
    };
    let out = match (&args.out, &first) {
        (Some(out), _) => out.clone(),
        (None, Some(c)) => {
            Path::new("outputs")
                .join("gan")
                .join(format!("{}-seed{}", super::dataset_slug(&c.dataset), c.seed))
        }
        (None, None) => return Err(SynthError::bad_input("--resume needs --out, the run folder to continue").into()),
    };
    let ckpt = out.join(CHECKPOINT_DIR);
    let (config, saved) = match first {
        Some(c) => {
            if out.is_dir() && !args.force && std::fs::read_dir(&out).at(&out, "listing")?.next().is_some() {
                return Err(SynthError::bad_input(format!(
                    "--out {} exists and is not empty; pass --resume to continue its training or --force to replace it",
                    out.display()
                ))
                .into());
            }
            check_out_dir(&out, true)?;
            (c, None)
        }
        None => {
            if !ckpt.join(crate::gan::train::STATE_FILE).is_file() {
                return Err(SynthError::bad_input(format!(
                    "--resume: {} holds no GAN checkpoint ({} is missing)",
                    out.display(),
                    ckpt.join(crate::gan::train::STATE_FILE).display()
                ))
                .into());
            }
            let saved: CheckpointState = read_state(&ckpt)?;
            (resume_config(&args, &saved.meta.config)?, Some(saved))
        }
    };
    let data = load_train_data(&config)?;
    let (channels, side) = check_training_set(&data.dataset, &data.train, config.batch_size)?;
    if config.metrics {
        if config.per_class == 0 {
            return Err(
                SynthError::bad_input("--metrics true needs --per-class of at least 1 (CAS trains on them)").into(),
            );
        }
        for part in [SplitName::Val, SplitName::Test] {
            real_part(&data.dataset, &data.split, part, &crate::backend::device())?;
        }
    }
    let diffaugment = if config.diffaugment_on(data.train.len()) {
        DiffAugment::parse(&config.diffaugment_policy)?
            .names()
            .into_iter()
            .map(String::from)
            .collect()
    } else {
        Vec::new()
    };
    let meta = GanMeta {
        config: config.clone(),
        classes: data.dataset.classes.clone(),
        channels,
        side,
        dataset: data.dataset.name.clone(),
        split_seed: data.split.config.seed,
        train_images: data.train.len(),
        diffaugment,
        synth_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    if let Some(saved) = &saved {
        let same_data = saved.meta.classes == meta.classes
            && saved.meta.train_images == meta.train_images
            && (saved.meta.channels, saved.meta.side) == (channels, side);
        if !same_data {
            return Err(SynthError::bad_input(format!(
                "--resume: dataset {} no longer gives the training set the run started with",
                config.dataset
            ))
            .into());
        }
    }

    // Everything is checked: the run folder may be created now.
    if saved.is_none() && out.exists() {
        std::fs::remove_dir_all(&out).at(&out, "replacing")?;
    }
    std::fs::create_dir_all(&out).at(&out, "creating")?;
    std::fs::write(out.join("config.toml"), config::to_toml(&config)?).at(&out, "writing")?;
    data.split.save(&out.join(crate::dataset::split::SPLIT_FILE))?;

    let device = crate::backend::autodiff_device();
    let images: Vec<&Image> = data.train.iter().map(|&i| &data.dataset.samples[i].image).collect();
    let labels: Vec<usize> = data.train.iter().map(|&i| data.dataset.samples[i].label).collect();
    let mut trainer = match &saved {
        None => Trainer::new(meta, &images, labels, &device)?,
        Some(_) => {
            let mut t = Trainer::resume(&ckpt, &images, labels, None, &device)?;
            let steps = t.steps_per_epoch();
            t.state.epochs = crate::gan::train::planned_epochs(&config, steps);
            t.meta.config = config.clone();
            t
        }
    };

    let tb_dir = args.tb_dir.clone().unwrap_or_else(|| {
        let name = out
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| "run".into());
        Path::new("outputs").join("tb").join("gan").join(name)
    });
    let mut log = EventLog::create(&tb_dir)?;
    let total = (trainer.state.epochs * trainer.steps_per_epoch()) as u64;
    let bar = progress_bar(total, "gan", ui.quiet);
    bar.set_position(trainer.state.global_step as u64);
    install_ctrlc();
    TRAINING.store(true, Ordering::SeqCst);
    let outcome = {
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
            log: Some(&mut log),
            grids: Some(out.join(GRIDS_DIR)),
        };
        let outcome = trainer.run(Some(&ckpt), &STOP, &mut monitor);
        TRAINING.store(false, Ordering::SeqCst);
        outcome?
    };
    bar.finish_and_clear();
    log.flush();
    if outcome == Outcome::Interrupted {
        return Err(SynthError::internal(format!(
            "interrupted at epoch {} step {}: checkpoint saved in {}; continue with `synth gan --resume --out {}`",
            trainer.state.epoch + 1,
            trainer.state.step,
            ckpt.display(),
            out.display()
        ))
        .into());
    }

    // Samples, then quality.
    let sampler = trainer.sampler();
    let spec = SampleSpec {
        per_class: config.per_class,
        seed: config.seed,
        truncation: config.truncation,
        checkpoint: ckpt.display().to_string(),
        weights: if config.ema { "ema" } else { "generator" }.into(),
    };
    let samples_dir = out.join(SAMPLES_DIR);
    let written = write_set(&sampler, &trainer.meta, &data, &spec, &samples_dir, true, ui)?;
    let grid = class_grid(
        &sampler,
        trainer.meta.classes.len(),
        GRID_COLS,
        config.seed,
        config.truncation,
    )?;
    std::fs::write(out.join(GRID_FILE), grid.to_png()?).at(&out.join(GRID_FILE), "writing")?;
    log.image("gan/final_samples", &grid, trainer.state.epoch);
    let quality = if config.metrics {
        let q = quality(&trainer.meta, &data, &spec, &written, &out, ui)?;
        log.scalar("gan/cas", q.cas, trainer.state.global_step);
        log.scalar("gan/fid", q.fid as f32, trainer.state.global_step);
        Some(q)
    } else {
        None
    };
    log.flush();
    let history_path = out.join("history.json");
    std::fs::write(
        &history_path,
        crate::dataset::manifest::pretty_json(&trainer.state.history)?,
    )
    .at(&history_path, "writing")?;

    let summary = TrainSummary {
        out: out.display().to_string(),
        samples: samples_dir.display().to_string(),
        images: written.len(),
        train_images: trainer.meta.train_images,
        epochs: trainer.state.epochs,
        steps: trainer.state.global_step,
        diffaugment: &trainer.meta.diffaugment,
        ema: config.ema,
        loss: config.loss.to_string(),
        train_seconds: trainer.state.seconds,
        seconds: started.elapsed().as_secs_f64(),
        last_epoch: trainer.state.history.last(),
        quality: quality.as_ref(),
    };
    let mut human = format!(
        "trained on {} images for {} epochs ({} steps, {:.0} s; loss {}, DiffAugment {}, EMA {})\n",
        summary.train_images,
        summary.epochs,
        summary.steps,
        summary.train_seconds,
        summary.loss,
        if summary.diffaugment.is_empty() {
            "off".to_string()
        } else {
            summary.diffaugment.join("+")
        },
        if config.ema { "on" } else { "off" }
    );
    if let Some(e) = summary.last_epoch {
        human += &format!(
            "last epoch: D loss {:.3}, G loss {:.3}, D(real) {:.2}, D(fake) {:.2}\n",
            e.d_loss, e.g_loss, e.d_real, e.d_fake
        );
    }
    human += &format!(
        "wrote {} images ({} per class) to {}\nsample grid (a row per class): {}\n",
        written.len(),
        config.per_class,
        samples_dir.display(),
        out.join(GRID_FILE).display()
    );
    if let Some(q) = &quality {
        human += &quality_text(q);
    }
    human += &format!(
        "run folder {} ({:.0} s in all; TensorBoard: {})",
        out.display(),
        summary.seconds,
        tb_dir.display()
    );
    ui.summary(&summary, &human)
}

fn quality_text(q: &Quality) -> String {
    format!(
        "CAS {:.4} (cnn trained on {} synthetic images only, epoch picked on {} real val images, tested on {} real \
         test images)\nFID {:.2} vs the real \
         test split (real train vs real test: {:.2}) on the {} (its real test accuracy {:.4}; its accuracy on the \
         synthetic images {:.4})\n",
        q.cas,
        q.cas_train_images,
        q.real_val_images,
        q.real_test_images,
        q.fid,
        q.fid_real_train_vs_test,
        q.fid_features,
        q.feature_net_test_accuracy,
        q.real_classifier_on_synthetic
    )
}

/// Writes an expanded dataset of generated images to `root` (atomically), with origin, split, config and a preview.
fn write_set(
    g: &crate::gan::Generator,
    meta: &GanMeta,
    data: &TrainData,
    spec: &SampleSpec,
    root: &Path,
    force: bool,
    ui: Ui,
) -> anyhow::Result<Vec<(Image, usize)>> {
    let mut writer = ExpandedWriter::create(root, force, &meta.classes, SourceKind::Gan)?;
    let bar = progress_bar((spec.per_class * meta.classes.len()) as u64, "sample", ui.quiet);
    let written = write_samples(g, &meta.classes, spec, &mut writer, || bar.inc(1))?;
    bar.finish_and_clear();
    let mut effective = config::to_json(&meta.config);
    if let Some(o) = effective.as_object_mut() {
        o.insert("sample_seed".into(), spec.seed.into());
        o.insert("sample_per_class".into(), spec.per_class.into());
        o.insert("sample_truncation".into(), spec.truncation.into());
        o.insert("checkpoint".into(), spec.checkpoint.clone().into());
    }
    let origin = Origin::describe(&data.dataset, &data.split, SplitName::Train, SourceKind::Gan, effective);
    origin.write_with_split(&data.split, &writer)?;
    writer.write_file("config.toml", config::to_toml(&meta.config)?.as_bytes())?;
    let grid = class_grid(g, meta.classes.len(), GRID_COLS, spec.seed, spec.truncation)?;
    writer.write_file("preview.png", &grid.to_png()?)?;
    writer.finish()?;
    Ok(written)
}

/// CAS and FID of `written` (the FID feature network is cached in `<run>/fid-classifier`), saved as
/// `metrics_dir/metrics.json`.
fn quality(
    meta: &GanMeta,
    data: &TrainData,
    spec: &SampleSpec,
    written: &[(Image, usize)],
    metrics_dir: &Path,
    ui: Ui,
) -> anyhow::Result<Quality> {
    let device = crate::backend::device();
    let val = real_part(&data.dataset, &data.split, SplitName::Val, &device)?;
    let test = real_part(&data.dataset, &data.split, SplitName::Test, &device)?;
    let cfg = metric_classifier_config(&meta.dataset, &data.split, meta.config.metric_epochs, meta.config.seed);
    let run_root = Path::new(&spec.checkpoint).parent().unwrap_or(Path::new("."));
    let net = feature_net(&data.dataset, &data.split, &cfg, &run_root.join(FID_NET_DIR), ui.quiet)?;
    let q = measure(written, &val, &test, &net, &cfg, meta.classes.len(), ui.quiet)?;
    let path = metrics_dir.join(METRICS_FILE);
    std::fs::write(&path, crate::dataset::manifest::pretty_json(&q)?).at(&path, "writing")?;
    Ok(q)
}

/// The run folder and checkpoint folder a `--checkpoint` path names.
fn run_paths(path: &Path) -> (PathBuf, PathBuf) {
    let ckpt = checkpoint_dir(path);
    let root = if ckpt == path {
        path.parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    } else {
        path.to_path_buf()
    };
    (root, ckpt)
}

#[derive(Serialize)]
struct SampleSummary<'a> {
    out: String,
    checkpoint: String,
    weights: &'a str,
    images: usize,
    per_class: usize,
    seed: u64,
    truncation: f64,
    quality: Option<&'a Quality>,
}

fn sample(args: GanSampleArgs, ui: Ui) -> anyhow::Result<()> {
    let (root, ckpt) = run_paths(&args.checkpoint);
    let device = crate::backend::device();
    let (state, g, weights) = load_sampler(&ckpt, args.weights, &device)?;
    let meta = state.meta;
    let per_class = args.per_class.unwrap_or(meta.config.per_class);
    let seed = args.seed.unwrap_or(meta.config.seed);
    let truncation = args.truncation.unwrap_or(meta.config.truncation);
    check_truncation(truncation)?;
    let metrics = args.metrics.unwrap_or(meta.config.metrics);
    if per_class == 0 {
        return Err(SynthError::bad_input("--per-class must be at least 1").into());
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| root.join(format!("samples-seed{seed}-t{truncation}")));
    check_out_dir(&out, args.force)?;
    let data = load_train_data(&meta.config)?;
    if data.dataset.classes != meta.classes {
        return Err(SynthError::bad_input(format!(
            "dataset {} no longer has the classes the generator was trained on",
            meta.dataset
        ))
        .into());
    }
    let spec = SampleSpec {
        per_class,
        seed,
        truncation,
        checkpoint: ckpt.display().to_string(),
        weights: weights.into(),
    };
    let written = write_set(&g, &meta, &data, &spec, &out, args.force, ui)?;
    let quality = if metrics {
        Some(quality(&meta, &data, &spec, &written, &out, ui)?)
    } else {
        None
    };
    let summary = SampleSummary {
        out: out.display().to_string(),
        checkpoint: ckpt.display().to_string(),
        weights,
        images: written.len(),
        per_class,
        seed,
        truncation,
        quality: quality.as_ref(),
    };
    let mut human = format!(
        "wrote {} images ({per_class} per class, seed {seed}, truncation {truncation}, {weights} weights of {}) to {}\n",
        written.len(),
        ckpt.display(),
        out.display()
    );
    if let Some(q) = &quality {
        human += &quality_text(q);
    }
    ui.summary(&summary, human.trim_end())
}

#[derive(Serialize)]
struct InterpolateSummary {
    out: String,
    rows: usize,
    steps: usize,
    seed: u64,
    truncation: f64,
}

fn interpolate(args: GanInterpolateArgs, ui: Ui) -> anyhow::Result<()> {
    let (root, ckpt) = run_paths(&args.checkpoint);
    let (state, g, _) = load_sampler(&ckpt, args.weights, &crate::backend::device())?;
    let seed = args.seed.unwrap_or(state.meta.config.seed);
    let truncation = args.truncation.unwrap_or(state.meta.config.truncation);
    check_truncation(truncation)?;
    if args.steps < 2 {
        return Err(SynthError::bad_input("--steps must be at least 2").into());
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| root.join(format!("interpolate-seed{seed}.png")));
    if out.is_dir() {
        return Err(SynthError::bad_input(format!("--out {} is a folder, not a PNG file", out.display())).into());
    }
    let grid = interpolation_grid(&g, state.meta.classes.len(), args.steps, seed, truncation)?;
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).at(parent, "creating")?;
    }
    let tmp = out.with_extension("png.partial");
    std::fs::write(&tmp, grid.to_png()?).at(&tmp, "writing")?;
    std::fs::rename(&tmp, &out).at(&out, "writing")?;
    let summary = InterpolateSummary {
        out: out.display().to_string(),
        rows: state.meta.classes.len(),
        steps: args.steps,
        seed,
        truncation,
    };
    let human = format!(
        "wrote a {}x{} interpolation grid (a row per class, the same two latents in every row) to {}",
        summary.rows,
        summary.steps,
        out.display()
    );
    ui.summary(&summary, &human)
}
