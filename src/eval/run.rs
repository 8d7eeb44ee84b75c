//! `synth eval-gain`'s run: the leakage guard on the given sets, the default pipeline's sources (cached), the
//! experiment over seeds, and the report written into the claimed output folder.

use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::ProgressBar;

use super::experiment::{SourceRole, TEST, VAL};
use super::report::{Report, SourceInfo};
use super::sources::{
    MadeSource, SetSpec, cache_root, default_gan, default_source, is_cached, load_source, make_policy, name_sets,
    policy_dir,
};
use super::{EvalGainConfig, Experiment, Source};
use crate::augment::Policy;
use crate::dataset::{OutDir, SourceKind, Split};
use crate::error::{IoContext, Result};

/// Runs the verdict: `synthetic` are the user's sets (none = the default pipeline's `config.sources`), `policy` an
/// optional searched policy file; the report lands in `out` in one rename. Returns the report and its folder.
pub fn run(
    config: &EvalGainConfig,
    synthetic: &[SetSpec],
    policy: Option<&Path>,
    out: OutDir,
    progress: &ProgressBar,
) -> Result<(Report, PathBuf)> {
    let final_dir = out.root().to_path_buf();
    let config = &held_out_config(config, synthetic);
    let report = run_into(config, synthetic, policy, out.path(), &final_dir, progress)?;
    let config_path = out.path().join("config.toml");
    std::fs::write(&config_path, crate::config::to_toml(config)?).at(&config_path, "writing")?;
    let final_dir = out.commit()?;
    Ok((report, final_dir))
}

/// The experiment at `config.per_class`, its report written into `dir` (the staging folder of `final_dir`, which
/// report.md's links are relative to).
pub fn run_into(
    config: &EvalGainConfig,
    synthetic: &[SetSpec],
    policy: Option<&Path>,
    dir: &Path,
    final_dir: &Path,
    progress: &ProgressBar,
) -> Result<Report> {
    let started = Instant::now();
    let config = &held_out_config(config, synthetic);
    config.validate()?;
    let lanes = crate::backend::Lanes::new(config.jobs)?;
    let dataset = crate::dataset::load_named(&config.dataset, &config.resize)?;
    let split = Split::stratified(&dataset, &config.split)?;
    let kinds = guard_sets(synthetic, &dataset.name, &split)?;
    let shifts = super::shifts::load(config, &dataset, &split)?;
    let to_make = sources_to_make(config, synthetic);
    let names = name_sets(&kinds, &to_make)?;
    let loaded_policy = policy.map(Policy::load).transpose()?;
    progress
        .set_length((to_make.len() + first_condition_count(config, &to_make, synthetic, policy) * config.seeds) as u64);
    progress.set_message("frozen features of the real images");
    let mut exp = Experiment::for_sources(config, dataset, split)?;
    let cache = cache_root(&exp);
    // The GAN's set takes minutes and needs nothing of the experiment: with two lanes or more it is made on its own
    // lane while the other lane banks the features, makes the other sets and fits every condition without it. Not
    // when a searched policy may take a share of its images, nor when equal steps need every set's size up front.
    let gan_aside = (lanes.count() > 1
        && !config.equal_steps
        && policy.is_none()
        && to_make.iter().any(|n| n == "gan")
        && !is_cached(config, "gan", &cache))
    .then(|| to_make.iter().position(|n| n == "gan"))
    .flatten();
    let (sources, infos, mut plan) = std::thread::scope(|scope| -> Result<_> {
        let gan = gan_aside.map(|_| {
            let (subset, cache, pool) = (exp.subset.len(), cache.clone(), lanes.pool(1));
            scope.spawn(move || pool.install(|| default_gan(config, subset, &cache)))
        });
        exp.bank_scored(&shifts)?;
        let mut sources = Vec::new();
        let mut infos = Vec::new();
        for name in &to_make {
            if gan_aside.is_some() && name == "gan" {
                sources.push(placeholder(&exp, name, &cache));
                infos.push(None);
                continue;
            }
            progress.set_message(format!("making the {name} set"));
            let made = default_source(&exp, name, &cache)?;
            let (source, info) = made_source(&exp, name, &made)?;
            infos.push(Some(info));
            sources.push(source);
            progress.inc(1);
        }
        for (set, name) in synthetic.iter().zip(names) {
            let source = load_source(&exp, &name, &set.dir)?;
            infos.push(Some(source_info(
                &name,
                source.kind.to_string(),
                &set.dir,
                &source,
                false,
                0.0,
            )));
            sources.push(source);
        }
        if let (Some(policy), Some(path)) = (&loaded_policy, policy) {
            let (source, info) = policy_source(&exp, policy, path, &cache, &sources)?;
            infos.push(Some(info));
            sources.push(source);
        }
        progress.set_length((to_make.len() + exp.conditions(&sources).len() * config.seeds) as u64);
        let mut plan = exp.plan(&sources)?;
        if let (Some(g), Some(handle)) = (gan_aside, gan) {
            progress.set_message("making the gan set on its own lane, fitting the conditions without it");
            let gan_done = || handle.is_finished();
            let on_fit = |name: &str| {
                progress.set_message(format!("fitted {name} (the gan set is being made on its own lane)"));
                progress.inc(1);
            };
            let without_gan = |c: &super::experiment::Condition| !c.sources.contains(&g);
            exp.fit_planned(
                &sources,
                &mut plan,
                &lanes.pools()[..1],
                &without_gan,
                &gan_done,
                &on_fit,
            )?;
            let made = handle
                .join()
                .map_err(|_| crate::error::SynthError::internal("the GAN's lane panicked"))??;
            let (source, info) = made_source(&exp, "gan", &made)?;
            infos[g] = Some(info);
            sources[g] = source;
            exp.source_ready(&sources, g, &mut plan)?;
            progress.inc(1);
        }
        Ok((sources, infos.into_iter().flatten().collect::<Vec<_>>(), plan))
    })?;
    for warning in exp.shortfalls(&sources) {
        progress.suspend(|| eprintln!("{warning}"));
    }
    exp.fit_planned(
        &sources,
        &mut plan,
        lanes.pools(),
        &|_| true,
        &|| false,
        &|name: &str| {
            progress.set_message(format!("fitted {name}"));
            progress.inc(1);
        },
    )?;
    let results = exp.summarise(plan)?;
    let (frozen_passes, max_passes_per_image) = exp.bank.pass_counts();
    let unused_train_images = exp.unused_train()?.len();
    let report = Report {
        config: config.clone(),
        dataset: exp.dataset.name.clone(),
        real_train_images: exp.subset.len(),
        val_images: exp.scored_images(VAL),
        test_images: exp.scored_images(TEST) - unused_train_images,
        unused_train_images,
        robust_images: exp.robust_images(),
        shift_images: exp
            .shifts
            .iter()
            .map(|name| (name.clone(), exp.scored_images(&super::shifts::group(name))))
            .collect(),
        sources: infos,
        mde: super::report::power(&results),
        conditions: results,
        surrogate: exp.surrogate.clone(),
        frozen_passes,
        max_passes_per_image,
        seconds: started.elapsed().as_secs_f64(),
    };
    super::report::write(&report, dir, final_dir)?;
    Ok(report)
}

/// `config` as this run can honour it: the train split's images outside the subset are held out (`unused_train`)
/// only while every set comes from the default pipeline, which sees the subset alone; a given set's generator may
/// have trained on any train image, so with `--synthetic` sets the clean accuracy is the test split's alone.
pub fn held_out_config(config: &EvalGainConfig, synthetic: &[SetSpec]) -> EvalGainConfig {
    EvalGainConfig {
        unused_train: config.unused_train && synthetic.is_empty(),
        ..config.clone()
    }
}

/// The leakage guard, before any long work: every given set must come from this dataset's train split under this
/// split. Returns each set's name (if given) and its origin's source kind, to name the conditions.
fn guard_sets(synthetic: &[SetSpec], dataset: &str, split: &Split) -> Result<Vec<(Option<String>, SourceKind)>> {
    synthetic
        .iter()
        .map(|set| {
            let origin = crate::dataset::expanded::check_set(&set.dir, dataset, split)?;
            Ok((set.name.clone(), origin.source))
        })
        .collect()
}

/// The default sources this run makes: augment always (the practitioner's baseline), the others of `sources` only
/// when the user gave no set of their own.
fn sources_to_make(config: &EvalGainConfig, synthetic: &[SetSpec]) -> Vec<String> {
    let mut to_make: Vec<String> = vec!["augment".into()];
    if synthetic.is_empty() {
        to_make.extend(config.sources.iter().filter(|s| *s != "augment").cloned());
    }
    to_make
}

/// A first count of the conditions for the progress bar (set exactly once the sets are loaded): real, real + X
/// per set, real + augment + X per other set, real + all, X only, policy.
fn first_condition_count(
    config: &EvalGainConfig,
    to_make: &[String],
    synthetic: &[SetSpec],
    policy: Option<&Path>,
) -> usize {
    let sets = to_make.len() + synthetic.len();
    1 + sets
        + sets.saturating_sub(1)
        + usize::from(sets > 1)
        + if config.synthetic_only { sets } else { 0 }
        + usize::from(policy.is_some())
}

/// Stands in for a set still being made on another lane: its name and role, and no image (nothing is banked or
/// drawn from it until it is replaced).
fn placeholder(exp: &Experiment, name: &str, cache: &Path) -> Source {
    Source {
        name: name.to_string(),
        kind: SourceKind::Gan,
        root: cache.join(name),
        dataset: crate::dataset::Dataset {
            name: exp.dataset.name.clone(),
            classes: exp.dataset.classes.clone(),
            samples: Vec::new(),
        },
        role: SourceRole::Set,
    }
}

/// A default-pipeline set just made or found in the cache, loaded as a source (augment in its baseline role) with
/// the report's line about it.
fn made_source(exp: &Experiment, name: &str, made: &MadeSource) -> Result<(Source, SourceInfo)> {
    let mut source = load_source(exp, name, &made.root)?;
    if name == "augment" {
        source.role = SourceRole::Augment;
    }
    let kind = source.kind.to_string();
    let info = source_info(name, kind, &made.root, &source, made.made_now, made.seconds);
    Ok((source, info))
}

fn source_info(name: &str, kind: String, root: &Path, source: &Source, made_now: bool, seconds: f64) -> SourceInfo {
    SourceInfo {
        name: name.to_string(),
        kind,
        path: root.display().to_string(),
        images: source.dataset.len(),
        made_now,
        seconds,
    }
}

/// The searched policy's set, made from the subset (or found in the cache) at the run's synthetic amount (`mix`
/// images per real one, as `real + augment`), as a policy-role source. The synthetic sets it takes shares of come
/// from `sources` by name, or else from the default pipeline (made or found in the cache, used by the policy only).
fn policy_source(
    exp: &Experiment,
    policy: &Policy,
    path: &Path,
    cache: &Path,
    sources: &[Source],
) -> Result<(Source, SourceInfo)> {
    let per_class = super::experiment::synthetic_shares(exp.config.mix, exp.config.per_class, 1).0;
    let dir = policy_dir(cache, policy, per_class)?;
    let started = Instant::now();
    let made_now = !dir.join(crate::dataset::manifest::ORIGIN_FILE).is_file();
    if made_now {
        let mut extra = Vec::new();
        for share in policy.synthetic.iter().filter(|s| s.share > 0.0) {
            let named = sources.iter().any(|s| s.name == share.source);
            if !named && super::config::SOURCES.contains(&share.source.as_str()) {
                let made = default_source(exp, &share.source, cache)?;
                extra.push(load_source(exp, &share.source, &made.root)?);
            }
        }
        let sets: Vec<(&str, &crate::dataset::Dataset)> = sources
            .iter()
            .chain(&extra)
            .map(|s| (s.name.as_str(), &s.dataset))
            .collect();
        make_policy(exp, policy, &sets, per_class, &dir)?;
    }
    let mut source = load_source(exp, "policy", &dir)?;
    source.role = SourceRole::Policy;
    let kind = format!(
        "augment policy {} ({per_class} images per class in its proportions: {})",
        path.display(),
        policy.describe()
    );
    let info = source_info("policy", kind, &dir, &source, made_now, started.elapsed().as_secs_f64());
    Ok((source, info))
}
