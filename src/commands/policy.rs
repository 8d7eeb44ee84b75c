//! `synth policy`: flags and config, the child data, the searches (one progress bar), the report.

use std::time::Instant;

use crate::cli::PolicyArgs;
use synth::classifier::PreparedSet;
use synth::config;
use synth::dataset::{Image, OutDir, Split, SplitName};
use synth::error::{IoContext, SynthError};
use synth::policy::report::{SearchReport, method_results};
use synth::policy::search::{ChildData, Episode, search};
use synth::policy::{PolicyConfig, SearchSpace};
use synth::telemetry::{EventLog, progress_bar};

use super::Ui;

fn effective_config(args: &PolicyArgs) -> anyhow::Result<PolicyConfig> {
    let mut c: PolicyConfig = config::load(args.config.as_deref())?;
    super::apply_data_args(&args.data, &mut c.dataset, &mut c.resize, &mut c.split);
    args.low_data.apply(&mut c.per_class, &mut c.subset_seed);
    if let Some(v) = args.budget {
        c.budget = v;
    }
    if let Some(v) = args.search_seeds {
        c.search_seeds = v;
    }
    if let Some(v) = args.minutes {
        c.minutes = v;
    }
    if let Some(v) = &args.methods {
        c.methods = v.clone();
    }
    c.validate()?;
    Ok(c)
}

pub fn run(args: PolicyArgs, ui: Ui) -> anyhow::Result<()> {
    let started = Instant::now();
    let config = effective_config(&args)?;
    let out = args.output.out_dir(
        "policy",
        &format!(
            "{}-pc{}-budget{}",
            super::dataset_slug(&config.dataset),
            config.per_class,
            config.budget
        ),
    );
    let out_dir = OutDir::claim(&out, args.output.force)?;
    let dataset = super::load(&config.dataset, &config.resize)?;
    let split = Split::stratified(&dataset, &config.split)?;
    let mut synthetic = Vec::new();
    for dir in &args.synthetic {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| "set".into());
        if synthetic.iter().any(|(n, _)| *n == name) {
            return Err(SynthError::bad_input(format!("two --synthetic sets are named {name}; rename one")).into());
        }
        let set = synth::dataset::expanded::open_for_training(dir, &dataset, &split)?.dataset;
        synthetic.push((name, set));
    }
    let train = split.indices(&dataset, SplitName::Train)?;
    let subset = synth::classifier::run::per_class_subset(&dataset, &train, config.per_class, config.subset_seed);
    synth::classifier::run::check_trainable(&dataset, &split, subset.len())?;
    let all_val = split.indices(&dataset, SplitName::Val)?;
    let val_idx: Vec<usize> = synth::dataset::split::spread(all_val.len(), config.val_images)
        .into_iter()
        .map(|k| all_val[k])
        .collect();
    let val_images: Vec<&Image> = val_idx.iter().map(|&i| &dataset.samples[i].image).collect();
    let val = PreparedSet::new(
        &val_images,
        val_idx.iter().map(|&i| dataset.samples[i].label).collect(),
        None,
        &synth::backend::device(),
    )?;
    let space = SearchSpace {
        sub_policies: config.sub_policies,
        ops_per_sub_policy: config.ops_per_sub_policy,
        synthetic: synthetic.iter().map(|(n, _)| n.clone()).collect(),
    };
    let data = ChildData {
        dataset: &dataset,
        subset,
        per_class: config.per_class,
        val,
        synthetic,
        classifier: config.child.clone(),
    };

    let per_seed = config.budget / config.search_seeds;
    let searches = config.methods.len() * config.search_seeds;
    let bar = progress_bar((searches * per_seed) as u64, "policy", ui.quiet);
    let tb_dir = args.output.tb_dir("policy", &out);
    let mut log = EventLog::create(&tb_dir)?;
    let mut episodes: Vec<Episode> = Vec::new();
    let mut best_overall = f64::MIN;
    let share = if config.minutes > 0.0 {
        Some(config.minutes * 60.0 / searches as f64)
    } else {
        None
    };
    for method in &config.methods {
        for seed in 0..config.search_seeds as u64 {
            // A time cap: a search stops taking new child fits once its share of the minutes is spent.
            let deadline = share.map(|s| Instant::now() + std::time::Duration::from_secs_f64(s));
            let found = search(
                method,
                &space,
                &data,
                per_seed,
                seed,
                &config.controller,
                deadline,
                |e| {
                    best_overall = best_overall.max(e.reward);
                    bar.set_message(format!(
                        "{method} seed {seed}: best {:.4} (all {:.4})",
                        e.best_so_far, best_overall
                    ));
                    bar.inc(1);
                    let tag = format!("policy/{method}/seed{seed}");
                    log.scalar(&format!("{tag}/reward"), e.reward as f32, e.episode);
                    log.scalar(&format!("{tag}/best_so_far"), e.best_so_far as f32, e.episode);
                    if let Some(h) = e.entropy {
                        log.scalar(&format!("{tag}/entropy"), h as f32, e.episode);
                    }
                },
            );
            episodes.extend(found?);
        }
    }
    bar.finish_and_clear();
    log.flush();
    let best = episodes
        .iter()
        .max_by(|a, b| a.reward.total_cmp(&b.reward))
        .cloned()
        .ok_or_else(|| SynthError::internal("no child fit ran"))?;
    let methods = method_results(&config, &episodes);
    let winner = methods
        .iter()
        .max_by(|a, b| a.final_best.mean.total_cmp(&b.final_best.mean))
        .map(|m| m.method.clone())
        .unwrap_or_default();
    let report = SearchReport {
        config: config.clone(),
        synthetic_sets: space.synthetic.clone(),
        methods,
        winner,
        best,
        episodes,
        seconds: started.elapsed().as_secs_f64(),
    };
    synth::policy::report::write(&report, out_dir.path())?;
    let config_path = out_dir.path().join("config.toml");
    std::fs::write(&config_path, config::to_toml(&config)?).at(&config_path, "writing")?;
    out_dir.commit()?;
    let mut human = String::new();
    for m in &report.methods {
        human.push_str(&format!(
            "{:>6}: final best val acc {:.2}% [{:.2}, {:.2}] over {} seeds, mean reward {:.2}%\n",
            m.method,
            100.0 * m.final_best.mean,
            100.0 * m.final_best.ci_low,
            100.0 * m.final_best.ci_high,
            m.final_best.n,
            100.0 * m.mean_reward
        ));
    }
    human.push_str(&format!(
        "best policy ({:.2}%, {}): {}\nwrote {} (best.toml, report.md, curves.png) in {:.0} s; TensorBoard: {}",
        100.0 * report.best.reward,
        report.best.method,
        report.best.policy.describe(),
        out.display(),
        report.seconds,
        tb_dir.display()
    ));
    #[derive(serde::Serialize)]
    struct Summary<'a> {
        out: String,
        winner: &'a str,
        best: &'a Episode,
        methods: &'a [synth::policy::report::MethodResult],
        seconds: f64,
    }
    let summary = Summary {
        out: out.display().to_string(),
        winner: &report.winner,
        best: &report.best,
        methods: &report.methods,
        seconds: report.seconds,
    };
    ui.summary(&summary, &human)
}
