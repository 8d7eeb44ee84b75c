//! `synth policy`: flags and config, the child data, the searches (one progress bar), the report.

use std::time::Instant;

use crate::classifier::PreparedSet;
use crate::cli::PolicyArgs;
use crate::config;
use crate::dataset::writer::{commit_dir, stage_dir};
use crate::dataset::{Image, LoadOptions, Split, SplitName, load_dataset};
use crate::error::SynthError;
use crate::policy::report::{SearchReport, method_results};
use crate::policy::search::{ChildData, Episode, search};
use crate::policy::{PolicyConfig, SearchSpace};
use crate::telemetry::{EventLog, progress_bar};

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
    let out = args
        .output
        .out_dir("policy", &config.out_name(&super::dataset_slug(&config.dataset)));
    super::check_out(&args.output, &out)?;
    let dataset = super::load(&config.dataset, &config.resize)?;
    let split = Split::stratified(&dataset, &config.split)?;
    let mut kinds = Vec::new();
    for set in &args.synthetic {
        let origin = crate::eval::leakage::check_set(&set.dir, &dataset.name, &split)?;
        kinds.push((set.name.clone(), origin.source));
    }
    let mut synthetic = Vec::new();
    for (set, name) in args.synthetic.iter().zip(crate::eval::sources::name_sets(&kinds, &[])?) {
        let loaded = load_dataset(&set.dir.display().to_string(), &LoadOptions::default())?;
        if loaded.classes != dataset.classes {
            return Err(
                SynthError::bad_input(format!("{}: its classes are not the dataset's", set.dir.display())).into(),
            );
        }
        synthetic.push((name, loaded));
    }
    let train = split.indices(&dataset, SplitName::Train)?;
    let subset = crate::classifier::run::per_class_subset(&dataset, &train, config.per_class, config.subset_seed);
    let all_val = split.indices(&dataset, SplitName::Val)?;
    let take = if config.val_images == 0 {
        all_val.len()
    } else {
        config.val_images.min(all_val.len())
    };
    // Evenly spread: the split is stratified and ordered by class, so a stride keeps the classes balanced.
    let val_idx: Vec<usize> = (0..take).map(|k| all_val[k * all_val.len() / take]).collect();
    let val_images: Vec<&Image> = val_idx.iter().map(|&i| &dataset.samples[i].image).collect();
    let val = PreparedSet::new(
        &val_images,
        val_idx.iter().map(|&i| dataset.samples[i].label).collect(),
        None,
        &crate::backend::device(),
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
    let staging = stage_dir(&out, args.output.force)?;
    crate::policy::report::write(&report, &staging)?;
    std::fs::write(staging.join("config.toml"), config::to_toml(&config)?)
        .map_err(|e| SynthError::internal(format!("writing config.toml: {e}")))?;
    commit_dir(&staging, &out)?;
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
        methods: &'a [crate::policy::report::MethodResult],
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
