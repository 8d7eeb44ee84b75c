//! `synth eval-gain`: flags and config, the default pipeline's sources (cached), the experiment, the report.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::cli::{DataArgs, EvalGainArgs, GanTrainArgs};
use crate::config;
use crate::dataset::Split;
use crate::dataset::writer::{check_out_dir, commit_dir, stage_dir};
use crate::error::SynthError;
use crate::eval::experiment::{SHIFT, TEST, VAL};
use crate::eval::report::{Report, SourceInfo};
use crate::eval::sources::{
    cache_root, load_source, make_adversarial, make_augment, make_policy, make_style, policy_dir,
};
use crate::eval::{EvalGainConfig, Experiment, Source};
use crate::telemetry::{EventLog, progress_bar};

use super::Ui;

fn effective_config(args: &EvalGainArgs) -> anyhow::Result<EvalGainConfig> {
    let mut c: EvalGainConfig = config::load(args.config.as_deref())?;
    super::apply_data_args(&args.data, &mut c.dataset, &mut c.resize, &mut c.split);
    args.low_data.apply(&mut c.per_class, &mut c.subset_seed);
    if let Some(v) = args.seeds {
        c.seeds = v;
    }
    if let Some(v) = &args.sources {
        c.sources = v.clone();
    }
    if let Some(v) = args.mix {
        c.mix = v;
    }
    if let Some(v) = args.synthetic_only {
        c.synthetic_only = v;
    }
    if let Some(v) = args.robust_mode {
        c.robust_mode = v;
    }
    if let Some(v) = args.robust_attack {
        c.robust_attack.attack = v;
    }
    if let Some(v) = args.eps {
        c.robust_attack.eps = v;
    }
    if let Some(v) = args.robust_images {
        c.robust_images = v;
    }
    if let Some(v) = &args.shift {
        c.shift = if v == "none" { String::new() } else { v.clone() };
    }
    if let Some(v) = args.backbone {
        c.classifier.backbone = v;
    }
    if let Some(v) = args.input_size {
        c.classifier.input_size = v;
    }
    if let Some(v) = &args.cache_dir {
        c.cache_dir = v.display().to_string();
    }
    c.validate()?;
    Ok(c)
}

/// Trains `synth gan` with its defaults on the subset (same draw: `train_per_class` with the subset seed) into
/// `run`, and returns its samples folder.
fn make_gan(config: &EvalGainConfig, run: &Path) -> anyhow::Result<PathBuf> {
    let args = GanTrainArgs {
        config: None,
        data: DataArgs {
            dataset: Some(config.dataset.clone()),
            resize: Some(config.resize.clone()),
            val: Some(config.split.val),
            test: Some(config.split.test),
            split_seed: Some(config.split.seed),
        },
        resume: false,
        train_per_class: Some(config.per_class),
        epochs: None,
        min_steps: None,
        batch_size: None,
        loss: None,
        diffaugment: None,
        ema: None,
        per_class: None,
        truncation: None,
        metrics: Some(false),
        seed: Some(config.subset_seed),
        out: Some(run.to_path_buf()),
        force: true,
        tb_dir: Some(run.join("tb")),
    };
    let ui = Ui {
        quiet: true,
        json: false,
        silent: true,
    };
    super::gan::train(args, ui)?;
    Ok(run.join(super::gan::SAMPLES_DIR))
}

/// Makes (or reuses from the cache) one default source; returns its folder, whether it was made now, and seconds.
fn default_source(exp: &Experiment, name: &str, cache: &Path) -> anyhow::Result<(PathBuf, bool, f64)> {
    let started = Instant::now();
    let dir = cache.join(name);
    let root = if name == "gan" {
        dir.join(super::gan::SAMPLES_DIR)
    } else {
        dir.clone()
    };
    if root.join(crate::dataset::manifest::ORIGIN_FILE).is_file() {
        return Ok((root, false, 0.0));
    }
    std::fs::create_dir_all(cache).map_err(|e| SynthError::internal(format!("{}: {e}", cache.display())))?;
    let made = match name {
        "augment" => make_augment(exp, &dir)?,
        "style" => make_style(exp, &dir)?,
        "adversarial" => make_adversarial(exp, &dir)?,
        "gan" => make_gan(&exp.config, &dir)?,
        other => return Err(SynthError::bad_input(format!("unknown source {other}")).into()),
    };
    Ok((made, true, started.elapsed().as_secs_f64()))
}

/// A short name for a given set: its folder name, made unique.
fn set_name(path: &Path, taken: &[Source]) -> String {
    let base = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "set".into());
    let mut name = base.clone();
    let mut k = 2;
    while taken.iter().any(|s| s.name == name) {
        name = format!("{base}-{k}");
        k += 1;
    }
    name
}

pub fn run(args: EvalGainArgs, ui: Ui) -> anyhow::Result<()> {
    let started = Instant::now();
    let config = effective_config(&args)?;
    let slug = super::dataset_slug(&config.dataset);
    let out = args.output.out_dir(
        "eval-gain",
        &format!("{slug}-pc{}-seeds{}", config.per_class, config.seeds),
    );
    check_out_dir(&out, args.output.force)?;
    let dataset = super::load(&config.dataset, &config.resize)?;
    let split = Split::stratified(&dataset, &config.split)?;
    // The leakage guard runs before any long work.
    for dir in &args.synthetic {
        crate::eval::leakage::check_set(dir, &dataset.name, &split)?;
    }
    let shift = if config.shift.is_empty() {
        None
    } else {
        Some(super::load(&config.shift, "keep")?)
    };

    let mut to_make: Vec<String> = vec!["augment".into()];
    if args.synthetic.is_empty() {
        to_make.extend(config.sources.iter().filter(|s| *s != "augment").cloned());
    }
    let policy = args.policy.as_deref().map(crate::policy::Policy::load).transpose()?;
    let sets = to_make.len() + args.synthetic.len();
    let conditions =
        1 + sets + usize::from(sets > 1) + if config.synthetic_only { sets } else { 0 } + usize::from(policy.is_some());
    let bar = progress_bar(
        (to_make.len() + conditions * config.seeds) as u64,
        "eval-gain",
        ui.quiet,
    );
    bar.set_message("frozen features of the real images");
    let mut exp = Experiment::prepare(&config, dataset, split, shift.as_ref())?;

    let cache = cache_root(&exp);
    let mut sources: Vec<Source> = Vec::new();
    let mut infos = Vec::new();
    for name in &to_make {
        bar.set_message(format!("making the {name} set"));
        let (root, made_now, seconds) = default_source(&exp, name, &cache)?;
        let source = load_source(&exp, name, &root)?;
        infos.push(SourceInfo {
            name: name.clone(),
            kind: source.kind.to_string(),
            path: root.display().to_string(),
            images: source.dataset.len(),
            made_now,
            seconds,
        });
        sources.push(source);
        bar.inc(1);
    }
    for dir in &args.synthetic {
        let name = set_name(dir, &sources);
        let source = load_source(&exp, &name, dir)?;
        infos.push(SourceInfo {
            name: name.clone(),
            kind: source.kind.to_string(),
            path: dir.display().to_string(),
            images: source.dataset.len(),
            made_now: false,
            seconds: 0.0,
        });
        sources.push(source);
    }

    if let (Some(policy), Some(path)) = (&policy, &args.policy) {
        let dir = policy_dir(&cache, policy)?;
        let started = Instant::now();
        let made_now = !dir.join(crate::dataset::manifest::ORIGIN_FILE).is_file();
        if made_now {
            make_policy(&exp, policy, &dir)?;
        }
        let mut source = load_source(&exp, "policy", &dir)?;
        source.policy = true;
        infos.push(SourceInfo {
            name: "policy".into(),
            kind: format!("augment policy {}", path.display()),
            path: dir.display().to_string(),
            images: source.dataset.len(),
            made_now,
            seconds: started.elapsed().as_secs_f64(),
        });
        sources.push(source);
    }

    let results = exp.run(&sources, |name| {
        bar.set_message(format!("fitted {name}"));
        bar.inc(1);
    })?;
    bar.finish_and_clear();
    let (frozen_passes, max_passes_per_image) = exp.bank.pass_counts();
    let report = Report {
        config: config.clone(),
        dataset: exp.dataset.name.clone(),
        real_train_images: exp.subset.len(),
        val_images: exp.scored_images(VAL),
        test_images: exp.scored_images(TEST),
        robust_images: exp.robust_images(),
        shift_images: exp.scored_images(SHIFT),
        sources: infos,
        conditions: results,
        surrogate: exp.surrogate.clone(),
        frozen_passes,
        max_passes_per_image,
        seconds: started.elapsed().as_secs_f64(),
    };

    let staging = stage_dir(&out, args.output.force)?;
    crate::eval::report::write(&report, &staging, &out)?;
    std::fs::write(staging.join("config.toml"), config::to_toml(&config)?)
        .map_err(|e| SynthError::internal(format!("writing config.toml: {e}")))?;
    commit_dir(&staging, &out)?;

    let tb_dir = args.output.tb_dir("eval-gain", &out);
    let mut log = EventLog::create(&tb_dir)?;
    for c in &report.conditions {
        for s in &c.seeds {
            let tag = c.condition.name.replace(' ', "");
            log.scalar(&format!("eval_gain/clean/{tag}"), s.clean as f32, s.seed as usize);
            if let Some(r) = s.robust {
                log.scalar(&format!("eval_gain/robust/{tag}"), r as f32, s.seed as usize);
            }
            if let Some(r) = s.shifted {
                log.scalar(&format!("eval_gain/shifted/{tag}"), r as f32, s.seed as usize);
            }
        }
    }
    log.flush();

    let human = format!(
        "{}\nreport: {} (report.md, report.json, gain.png) in {:.0} s; TensorBoard: {}",
        crate::eval::report::table(&report),
        out.display(),
        report.seconds,
        tb_dir.display()
    );
    ui.summary(&report, &human)
}
