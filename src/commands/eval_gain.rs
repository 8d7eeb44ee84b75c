//! `synth eval-gain`: flags and config, the default pipeline's sources (cached), the experiment, the report.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::cli::EvalGainArgs;
use synth::config;
use synth::dataset::Split;
use synth::error::{IoContext, SynthError};
use synth::eval::experiment::{SHIFT, SourceRole, TEST, VAL};
use synth::eval::report::{Report, SourceInfo};
use synth::eval::sources::{
    cache_root, load_source, make_adversarial, make_augment, make_policy, make_style, name_sets, policy_dir,
};
use synth::eval::{EvalGainConfig, Experiment, Source};
use synth::telemetry::{EventLog, progress_bar};

use super::Ui;

fn effective_config(args: &EvalGainArgs) -> anyhow::Result<EvalGainConfig> {
    let mut c: EvalGainConfig = config::load(args.config.as_deref())?;
    args.apply(&mut c);
    c.validate()?;
    Ok(c)
}

/// Trains `synth gan` with its defaults on the subset (same draw: `train_per_class` with the subset seed) into
/// `run`, and returns its samples folder.
fn make_gan(config: &EvalGainConfig, run: &Path) -> anyhow::Result<PathBuf> {
    let gan = synth::gan::GanConfig {
        dataset: config.dataset.clone(),
        resize: config.resize.clone(),
        split: config.split.clone(),
        train_per_class: config.per_class,
        metrics: false,
        seed: config.subset_seed,
        ..Default::default()
    };
    let plan = synth::gan::run::RunPlan {
        out: run.to_path_buf(),
        force: true,
        resume: false,
        tb_dir: run.join("tb"),
        quiet: true,
    };
    synth::gan::run::train(&gan, &plan)?;
    Ok(run.join(synth::gan::run::SAMPLES_DIR))
}

/// Makes (or reuses from the cache) one default source; returns its folder, whether it was made now, and seconds.
fn default_source(exp: &Experiment, name: &str, cache: &Path) -> anyhow::Result<(PathBuf, bool, f64)> {
    let started = Instant::now();
    let dir = cache.join(name);
    let root = if name == "gan" {
        dir.join(synth::gan::run::SAMPLES_DIR)
    } else {
        dir.clone()
    };
    if root.join(synth::dataset::manifest::ORIGIN_FILE).is_file() {
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

pub fn run(args: EvalGainArgs, ui: Ui) -> anyhow::Result<()> {
    let started = Instant::now();
    let config = effective_config(&args)?;
    let slug = super::dataset_slug(&config.dataset);
    let out = args.output.out_dir("eval-gain", &config.out_name(&slug));
    let out_dir = super::claim_out(&args.output, &out)?;
    let dataset = super::load(&config.dataset, &config.resize)?;
    let split = Split::stratified(&dataset, &config.split)?;
    // The leakage guard runs before any long work, and names each given set by its origin's source kind.
    let mut kinds = Vec::new();
    for set in &args.synthetic {
        let origin = synth::dataset::expanded::check_set(&set.dir, &dataset.name, &split)?;
        kinds.push((set.name.clone(), origin.source));
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
    let names = name_sets(&kinds, &to_make)?;
    let policy = args.policy.as_deref().map(synth::policy::Policy::load).transpose()?;
    // real, real + X per set, real + augment + X per other set (augment is always made), real + all, X only, policy
    // (a first count; set exactly from the experiment's conditions once the sets are loaded).
    let sets = to_make.len() + args.synthetic.len();
    let conditions = 1
        + sets
        + sets.saturating_sub(1)
        + usize::from(sets > 1)
        + if config.synthetic_only { sets } else { 0 }
        + usize::from(policy.is_some());
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
        let mut source = load_source(&exp, name, &root)?;
        if name == "augment" {
            source.role = SourceRole::Augment;
        }
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
    for (set, name) in args.synthetic.iter().zip(names) {
        let source = load_source(&exp, &name, &set.dir)?;
        infos.push(SourceInfo {
            name,
            kind: source.kind.to_string(),
            path: set.dir.display().to_string(),
            images: source.dataset.len(),
            made_now: false,
            seconds: 0.0,
        });
        sources.push(source);
    }

    if let (Some(policy), Some(path)) = (&policy, &args.policy) {
        let dir = policy_dir(&cache, policy)?;
        let started = Instant::now();
        let made_now = !dir.join(synth::dataset::manifest::ORIGIN_FILE).is_file();
        if made_now {
            make_policy(&exp, policy, &dir)?;
        }
        let mut source = load_source(&exp, "policy", &dir)?;
        source.role = SourceRole::Policy;
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

    bar.set_length((to_make.len() + exp.conditions(&sources).len() * config.seeds) as u64);
    for warning in exp.shortfalls(&sources) {
        bar.suspend(|| eprintln!("{warning}"));
    }
    let results = exp.run(&sources, |name| {
        bar.set_message(format!("fitted {name}"));
        bar.inc(1);
    })?;
    bar.finish_and_clear();
    let (frozen_passes, max_passes_per_image) = exp.bank.pass_counts();
    let mde = synth::eval::report::power(&results);
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
        mde,
        surrogate: exp.surrogate.clone(),
        frozen_passes,
        max_passes_per_image,
        seconds: started.elapsed().as_secs_f64(),
    };

    synth::eval::report::write(&report, out_dir.path(), &out)?;
    let config_path = out_dir.path().join("config.toml");
    std::fs::write(&config_path, config::to_toml(&config)?).at(&config_path, "writing")?;
    out_dir.commit()?;

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
        "{}\n{}\nreport: {} (report.md, report.json, gain.png) in {:.0} s; TensorBoard: {}",
        synth::eval::report::table(&report),
        synth::eval::report::mde_line(&report),
        out.display(),
        report.seconds,
        tb_dir.display()
    );
    for warning in synth::eval::report::warnings(&report) {
        eprintln!("warning: {warning}");
    }
    ui.summary(&report, &human)
}
