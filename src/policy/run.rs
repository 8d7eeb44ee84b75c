//! A whole `synth policy` run as a library function: the real subset and validation images, the synthetic sets
//! (given, or else eval-gain's default pipeline's for the same subset, from its cache; all through the leakage guard), every search method over its seeds with its share of the time cap, and the report
//! (best.toml, report.md, curves.png) written into an output folder claimed before the work.

use std::path::Path;
use std::time::Instant;

use super::report::{SearchReport, method_results};
use super::search::{ChildData, Episode, search};
use super::{PolicyConfig, SearchSpace};
use crate::classifier::PreparedSet;
use crate::dataset::expanded::{SetSpec, check_set, name_sets, open_for_training};
use crate::dataset::{Dataset, Image, OutDir, Split, SplitName};
use crate::error::{IoContext, Result, SynthError};
use crate::telemetry::{EventLog, progress_bar};

/// Runs the searches of `config` (with `sets` in the search space) and writes the report into `out`.
pub fn run(config: &PolicyConfig, sets: &[SetSpec], out: OutDir, tb_dir: &Path, quiet: bool) -> Result<SearchReport> {
    let started = Instant::now();
    config.validate()?;
    let dataset = crate::dataset::load_named(&config.dataset, &config.resize)?;
    let split = Split::stratified(&dataset, &config.split)?;
    let defaults;
    let sets = if sets.is_empty() && !config.sources.is_empty() {
        defaults = default_sets(config, quiet)?;
        &defaults[..]
    } else {
        sets
    };
    let synthetic = synthetic_sets(sets, &dataset, &split)?;
    let train = split.indices(&dataset, SplitName::Train)?;
    let subset = crate::classifier::run::per_class_subset(&dataset, &train, config.per_class, config.subset_seed);
    crate::classifier::run::check_trainable(&dataset, &split, subset.len())?;
    let val = validation_images(config, &dataset, &split)?;
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
    let episodes = run_searches(config, &space, &data, tb_dir, quiet)?;
    let best = episodes
        .iter()
        .max_by(|a, b| a.reward.total_cmp(&b.reward))
        .cloned()
        .ok_or_else(|| SynthError::internal("no child fit ran"))?;
    let methods = method_results(config, &episodes);
    let winner = methods
        .iter()
        .max_by(|a, b| a.final_best.mean.total_cmp(&b.final_best.mean))
        .map(|m| m.method.clone())
        .unwrap_or_default();
    let report = SearchReport {
        config: config.clone(),
        synthetic_sets: space.synthetic.clone(),
        synthetic_dirs: sets.iter().map(|s| s.dir.display().to_string()).collect(),
        methods,
        winner,
        best,
        episodes,
        seconds: started.elapsed().as_secs_f64(),
    };
    super::report::write(&report, out.path())?;
    let config_path = out.path().join("config.toml");
    std::fs::write(&config_path, crate::config::to_toml(config)?).at(&config_path, "writing")?;
    out.commit()?;
    Ok(report)
}

/// Without `--synthetic`: the sets `config.sources` of eval-gain's default pipeline for this subset (its
/// dataset, split, per-class draw and subset seed, every other setting eval-gain's default), made now or found in
/// eval-gain's cache by the same library function, so `synth eval-gain` and `synth policy` share them.
fn default_sets(config: &PolicyConfig, quiet: bool) -> Result<Vec<SetSpec>> {
    let eval = crate::eval::EvalGainConfig {
        dataset: config.dataset.clone(),
        resize: config.resize.clone(),
        split: config.split.clone(),
        per_class: config.per_class,
        subset_seed: config.subset_seed,
        cache_dir: config.cache_dir.clone(),
        ..Default::default()
    };
    let bar = progress_bar(config.sources.len() as u64, "policy sets", quiet);
    let mut done = 0;
    let made = crate::eval::sources::default_sets(&eval, &config.sources, |name| {
        bar.set_position(done);
        done += 1;
        bar.set_message(format!(
            "the {name} set (eval-gain's default pipeline, cached under {})",
            eval.cache_dir
        ));
    })?;
    bar.finish_and_clear();
    Ok(made
        .into_iter()
        .map(|(name, set)| SetSpec {
            name: Some(name),
            dir: set.root,
        })
        .collect())
}

/// The given sets, through the leakage guard, named by their origin's source kind (or the user's `NAME=`).
fn synthetic_sets(sets: &[SetSpec], dataset: &Dataset, split: &Split) -> Result<Vec<(String, Dataset)>> {
    let mut kinds = Vec::new();
    for set in sets {
        let origin = check_set(&set.dir, &dataset.name, split)?;
        kinds.push((set.name.clone(), origin.source));
    }
    sets.iter()
        .zip(name_sets(&kinds, &[])?)
        .map(|(set, name)| Ok((name, open_for_training(&set.dir, dataset, split)?.dataset)))
        .collect()
}

/// The validation images that reward every child: `val_images` spread evenly over the validation split.
fn validation_images(config: &PolicyConfig, dataset: &Dataset, split: &Split) -> Result<PreparedSet> {
    let all_val = split.indices(dataset, SplitName::Val)?;
    let val_idx: Vec<usize> = crate::dataset::split::spread(all_val.len(), config.val_images)
        .into_iter()
        .map(|k| all_val[k])
        .collect();
    let val_images: Vec<&Image> = val_idx.iter().map(|&i| &dataset.samples[i].image).collect();
    PreparedSet::new(
        &val_images,
        val_idx.iter().map(|&i| dataset.samples[i].label).collect(),
        None,
        &crate::backend::device(),
    )
}

/// Every method over every search seed, each with its equal share of the budget and of the time cap, with one
/// progress bar and TensorBoard curves.
fn run_searches(
    config: &PolicyConfig,
    space: &SearchSpace,
    data: &ChildData,
    tb_dir: &Path,
    quiet: bool,
) -> Result<Vec<Episode>> {
    let per_seed = config.budget / config.search_seeds;
    let searches = config.methods.len() * config.search_seeds;
    let bar = progress_bar((searches * per_seed) as u64, "policy", quiet);
    let mut log = EventLog::create(tb_dir)?;
    let mut episodes: Vec<Episode> = Vec::new();
    let mut best_overall = f64::MIN;
    let share = (config.minutes > 0.0).then(|| config.minutes * 60.0 / searches as f64);
    for method in &config.methods {
        for seed in 0..config.search_seeds as u64 {
            // A time cap: a search stops taking new child fits once its share of the minutes is spent.
            let deadline = share.map(|s| Instant::now() + std::time::Duration::from_secs_f64(s));
            let found = search(method, space, data, per_seed, seed, &config.controller, deadline, |e| {
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
            });
            episodes.extend(found?);
        }
    }
    bar.finish_and_clear();
    log.flush();
    Ok(episodes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{EvalGainConfig, Experiment};

    /// Without `--synthetic`, the default space holds a share of each of eval-gain's default sets (gan, style,
    /// adversarial), found in eval-gain's cache for the same subset. The cache here holds stand-ins (classic
    /// augmentations of the subset, made by eval-gain's own function) where the real sets would take minutes.
    #[test]
    fn the_default_space_includes_the_default_pipelines_synthetic_shares() {
        let cache = tempfile::tempdir().unwrap();
        let config = PolicyConfig {
            per_class: 3,
            budget: 2,
            search_seeds: 1,
            methods: vec!["random".into()],
            val_images: 40,
            cache_dir: cache.path().display().to_string(),
            child: crate::classifier::ClassifierConfig {
                steps: 3,
                cnn_hidden: 16,
                ..PolicyConfig::default().child
            },
            ..PolicyConfig::default()
        };
        assert_eq!(PolicyConfig::default().sources, ["gan", "style", "adversarial"]);
        let eval = EvalGainConfig {
            per_class: config.per_class,
            cache_dir: config.cache_dir.clone(),
            ..Default::default()
        };
        let dataset = crate::dataset::load_named(&eval.dataset, &eval.resize).unwrap();
        let split = Split::stratified(&dataset, &eval.split).unwrap();
        let exp = Experiment::for_sources(&eval, dataset, split).unwrap();
        let root = crate::eval::sources::cache_root(&exp);
        for (name, dir) in [
            ("gan", root.join("gan").join(crate::gan::run::SAMPLES_DIR)),
            ("style", root.join("style")),
            ("adversarial", root.join("adversarial")),
        ] {
            crate::eval::sources::make_augment(&exp, &dir).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let out_root = tempfile::tempdir().unwrap();
        let out = OutDir::claim(&out_root.path().join("run"), false).unwrap();
        let report = run(&config, &[], out, &out_root.path().join("tb"), true).unwrap();
        assert_eq!(report.synthetic_sets, ["gan", "style", "adversarial"]);
        assert!(
            report
                .synthetic_dirs
                .iter()
                .all(|d| d.starts_with(&root.display().to_string()))
        );
        for e in &report.episodes {
            let shares: Vec<&str> = e.policy.synthetic.iter().map(|s| s.source.as_str()).collect();
            assert_eq!(
                shares,
                ["gan", "style", "adversarial"],
                "every policy has a share of each set"
            );
        }
        // Given sets replace the defaults; `sources = []` leaves classic ops only.
        let classic = PolicyConfig {
            sources: Vec::new(),
            ..config
        };
        let out = OutDir::claim(&out_root.path().join("classic"), false).unwrap();
        let report = run(&classic, &[], out, &out_root.path().join("tb2"), true).unwrap();
        assert!(report.synthetic_sets.is_empty() && report.best.policy.synthetic.is_empty());
    }
}
