//! `synth gan` (train), `synth gan sample`, `synth gan interpolate`: flags and config in, the capability in
//! `synth::gan`, a summary out.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cli::{GanAction, GanCommand, GanInterpolateArgs, GanSampleArgs, GanTrainArgs};
use synth::config;
use synth::dataset::OutDir;
use synth::error::{IoContext, SynthError};
use synth::gan::metrics::Quality;
use synth::gan::run::{GRID_FILE, RunPlan, fid_net_dir, load_train_data, quality, quality_text};
use synth::gan::sample::{SampleSpec, interpolation_grid};
use synth::gan::train::{checkpoint_dir, load_sampler};
use synth::gan::{GanConfig, config::check_truncation};

use super::Ui;

/// Runs `synth gan ...`.
pub fn run(cmd: GanCommand, ui: Ui) -> anyhow::Result<()> {
    match cmd.action {
        None => train(cmd.train, ui),
        Some(GanAction::Train(args)) => train(*args, ui),
        Some(GanAction::Sample(args)) => sample(args, ui),
        Some(GanAction::Interpolate(args)) => interpolate(args, ui),
    }
}

fn effective_config(args: &GanTrainArgs) -> anyhow::Result<GanConfig> {
    let mut c: GanConfig = config::load(args.config.as_deref())?;
    args.apply(&mut c);
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
    args.apply(&mut c);
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

fn train(args: GanTrainArgs, ui: Ui) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let (config, out) = if args.resume {
        let out = args
            .output
            .out
            .clone()
            .ok_or_else(|| SynthError::bad_input("--resume needs --out, the run folder to continue"))?;
        let saved = synth::gan::run::saved_run(&out)?;
        (resume_config(&args, &saved.meta.config)?, out)
    } else {
        let config = effective_config(&args)?;
        let out = args.output.out_dir(
            "gan",
            &format!("{}-seed{}", super::dataset_slug(&config.dataset), config.seed),
        );
        (config, out)
    };
    let plan = RunPlan {
        tb_dir: args.output.tb_dir("gan", &out),
        out,
        force: args.output.force,
        resume: args.resume,
        quiet: ui.quiet,
    };
    let summary = synth::gan::run::train(&config, &plan)?;
    let mut human = format!(
        "trained on {} images for {} epochs ({} steps, {:.0} s; loss {}, DiffAugment {}, real images augmented {}, \
         EMA {})\n",
        summary.train_images,
        summary.epochs,
        summary.steps,
        summary.train_seconds,
        summary.loss,
        joined_or_off(&summary.diffaugment, "+"),
        joined_or_off(&summary.real_augment, ","),
        if summary.ema { "on" } else { "off" }
    );
    if let Some(e) = &summary.last_epoch {
        human += &format!(
            "last epoch: D loss {:.3}, G loss {:.3}, D(real) {:.2}, D(fake) {:.2}\n",
            e.d_loss, e.g_loss, e.d_real, e.d_fake
        );
    }
    human += &format!(
        "wrote {} images ({} per class) to {}\nsample grid (a row per class): {}\n",
        summary.images,
        summary.per_class,
        summary.samples,
        plan.out.join(GRID_FILE).display()
    );
    if let Some(q) = &summary.quality {
        human += &quality_text(q);
    }
    human += &format!(
        "run folder {} ({:.0} s in all; TensorBoard: {})",
        plan.out.display(),
        started.elapsed().as_secs_f64(),
        plan.tb_dir.display()
    );
    ui.summary(&summary, &human)
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
    let device = synth::backend::device();
    let (state, g, weights) = load_sampler(&ckpt, args.weights, &device)?;
    let meta = state.meta;
    let per_class = args.per_class.unwrap_or(meta.config.per_class);
    let seed = args.seed.unwrap_or(meta.config.seed);
    let truncation = args.truncation.unwrap_or(meta.config.truncation);
    check_truncation(truncation)?;
    let filter_tau = args
        .filter_tau
        .unwrap_or_else(|| meta.config.filter_tau_for(meta.train_images));
    synth::gan::config::check_filter_tau(filter_tau)?;
    let metrics = args.metrics.unwrap_or(meta.config.metrics);
    synth::limits::check_positive_count("--per-class", per_class, synth::gan::config::MAX_PER_CLASS)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| root.join(format!("samples-seed{seed}-t{truncation}")));
    let out_dir = OutDir::claim(&out, args.force)?;
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
        filter: synth::gan::run::filter_policy(filter_tau, meta.config.filter_oversample),
    };
    let written = synth::gan::run::write_set_into(&g, &meta, &data, &spec, out_dir, ui.quiet)?;
    let quality = if metrics {
        Some(quality(&meta, &data, &written, &fid_net_dir(&root), &out, ui.quiet)?)
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
    let (state, g, _) = load_sampler(&ckpt, args.weights, &synth::backend::device())?;
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

/// `off` for an empty list, else its items joined.
fn joined_or_off(items: &[String], separator: &str) -> String {
    if items.is_empty() {
        "off".to_string()
    } else {
        items.join(separator)
    }
}
