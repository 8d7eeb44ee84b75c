//! The searches of `synth policy`, all at the same budget of child fits: REINFORCE (the controller), random search
//! over the same space, a RandAugment-style grid (N ops at magnitude M) and TrivialAugment (no parameters; each fit
//! a fresh seed). A child fit trains the small `cnn` on the real N-per-class subset plus the policy's augmented and
//! synthetic images, for the same number of optimiser steps whatever their number (`[child] steps`), and is
//! rewarded by its validation accuracy (never the test split).

use rand::RngExt;
use rand::seq::SliceRandom;
use serde::Serialize;

use super::controller::{Controller, ControllerConfig};
use super::space::{MAGNITUDES, Policy, SearchSpace};
use crate::classifier::{ClassifierConfig, FitMonitor, PreparedSet, build_model, fit};
use crate::dataset::{Dataset, Image};
use crate::error::{Result, SynthError};

/// The search methods.
pub const METHODS: [&str; 4] = ["rl", "random", "grid", "trivial"];

/// What a child fit trains and validates on.
pub struct ChildData<'a> {
    pub dataset: &'a Dataset,
    /// Dataset indices of the real training subset.
    pub subset: Vec<usize>,
    pub per_class: usize,
    /// The real validation split, prepared once.
    pub val: PreparedSet,
    /// Synthetic sets available to the policy, by name.
    pub synthetic: Vec<(String, Dataset)>,
    pub classifier: ClassifierConfig,
}

pub use crate::augment::policy::policy_images;

/// Class-balanced draw of `per` images per class from a set.
fn draw_synthetic(set: &Dataset, classes: usize, per: usize, seed: u64) -> Vec<usize> {
    let members = set.samples.iter().enumerate().map(|(i, s)| (i, s.label));
    crate::dataset::split::class_balanced_draw(members, classes, per, |class| {
        crate::seed::derive(seed, &[class as u64])
    })
}

/// What one child fit measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChildFit {
    /// Best validation accuracy.
    pub reward: f64,
    /// Optimiser steps it took (the same for every policy when `[child] steps` is set).
    pub steps: usize,
    /// Images it trained on: the real subset plus the policy's augmented and synthetic images.
    pub train_images: usize,
}

/// One child fit of `policy` with child seed `seed`.
pub fn child_reward(data: &ChildData, policy: &Policy, seed: u64) -> Result<ChildFit> {
    let pipelines = policy.pipelines()?;
    let (channels, side, _) = data.dataset.require_uniform_shape()?;
    let mut images: Vec<Image> = data
        .subset
        .iter()
        .map(|&i| data.dataset.samples[i].image.clone())
        .collect();
    let mut labels: Vec<usize> = data.subset.iter().map(|&i| data.dataset.samples[i].label).collect();
    for (i, _, image) in policy_images(data.dataset, &data.subset, data.per_class, policy, &pipelines, seed) {
        images.push(image);
        labels.push(data.dataset.samples[i].label);
    }
    for share in &policy.synthetic {
        let Some((_, set)) = data.synthetic.iter().find(|(n, _)| *n == share.source) else {
            return Err(SynthError::bad_input(format!(
                "the policy names synthetic set {}, which is not given",
                share.source
            )));
        };
        let per = (share.share * data.per_class as f64).round() as usize;
        for k in draw_synthetic(
            set,
            data.dataset.classes.len(),
            per,
            crate::seed::derive(seed, &[0x5E7]),
        ) {
            images.push(Image::conform(&set.samples[k].image, channels, side));
            labels.push(set.samples[k].label);
        }
    }
    let train_images = images.len();
    let refs: Vec<&Image> = images.iter().collect();
    let train = PreparedSet::new(&refs, labels, None, &crate::backend::device())?;
    let config = ClassifierConfig {
        seed,
        ..data.classifier.clone()
    };
    let model = build_model(
        &config,
        data.dataset.classes.len(),
        (channels, side),
        &crate::backend::autodiff_device(),
    )?;
    let (_, report) = fit(
        model,
        &train,
        &data.val,
        &config,
        false,
        &mut FitMonitor { quiet: true, log: None },
    )?;
    Ok(ChildFit {
        reward: report.best_val_accuracy as f64,
        steps: report.steps,
        train_images,
    })
}

/// One episode of a search.
#[derive(Clone, Debug, Serialize)]
pub struct Episode {
    pub method: String,
    pub search_seed: u64,
    pub episode: usize,
    pub reward: f64,
    pub best_so_far: f64,
    pub policy: Policy,
    /// Optimiser steps of its child fit, and the images it trained on.
    pub steps: usize,
    pub train_images: usize,
    /// The controller's mean decision entropy before this episode's update (RL only).
    pub entropy: Option<f64>,
}

/// The RandAugment grid points (N ops, magnitude bin M) in a seeded order, cycled to fill the budget.
fn grid_points(budget: usize, seed: u64) -> Vec<(usize, usize)> {
    let mut points: Vec<(usize, usize)> = (1..=3)
        .flat_map(|n| (1..MAGNITUDES).step_by(2).map(move |m| (n, m)))
        .collect();
    points.shuffle(&mut crate::seed::rng(crate::seed::derive(seed, &[0x6_21D])));
    points.iter().copied().cycle().take(budget).collect()
}

/// Runs one search (`method`, `search_seed`) for `budget` child fits, or until `deadline` passes (after at least
/// one fit); `on_episode` hears each one.
#[allow(clippy::too_many_arguments)]
pub fn search(
    method: &str,
    space: &SearchSpace,
    data: &ChildData,
    budget: usize,
    search_seed: u64,
    controller: &ControllerConfig,
    deadline: Option<std::time::Instant>,
    mut on_episode: impl FnMut(&Episode),
) -> Result<Vec<Episode>> {
    let decisions = space.decisions();
    let mut episodes: Vec<Episode> = Vec::with_capacity(budget);
    let mut rl = (method == "rl").then(|| Controller::new(decisions.clone(), controller.clone(), search_seed));
    let grid = grid_points(budget, search_seed);
    let mut best = f64::MIN;
    for (e, &(grid_n, grid_m)) in grid.iter().enumerate() {
        if e > 0 && deadline.is_some_and(|d| std::time::Instant::now() > d) {
            break;
        }
        let child_seed = crate::seed::derive(search_seed, &[0xC41D, e as u64]);
        let (choices, policy) = match method {
            "rl" => {
                let c = rl.as_mut().map(|c| c.sample()).transpose()?.unwrap_or_default();
                let p = space.decode(&c);
                (Some(c), p)
            }
            "random" => {
                let mut r = crate::seed::rng(crate::seed::derive(search_seed, &[0xAA_DD, e as u64]));
                let c: Vec<usize> = decisions.iter().map(|&n| r.random_range(0..n)).collect();
                (None, space.decode(&c))
            }
            "grid" => (None, space.rand_augment(grid_n, grid_m, 1)),
            // No parameter to search: every fit draws TrivialAugment's images and the child afresh (its seed).
            "trivial" => (None, space.trivial_augment()),
            other => {
                return Err(SynthError::bad_input(format!(
                    "unknown search method {other}; use rl, random, grid or trivial"
                )));
            }
        };
        let fitted = child_reward(data, &policy, child_seed)?;
        let reward = fitted.reward;
        let entropy = match (rl.as_mut(), &choices) {
            (Some(c), Some(choice)) => Some(c.update(choice, reward)?.entropy),
            _ => None,
        };
        best = best.max(reward);
        let episode = Episode {
            method: method.to_string(),
            search_seed,
            episode: e,
            reward,
            best_so_far: best,
            policy,
            steps: fitted.steps,
            train_images: fitted.train_images,
            entropy,
        };
        on_episode(&episode);
        episodes.push(episode);
    }
    Ok(episodes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::run::per_class_subset;
    use crate::dataset::{Split, SplitConfig, SplitName};

    /// Equal compute: a tiny search whose policies train on very different amounts of data (mixes 0.5 to 2, a
    /// synthetic share of 0 to 1) gives every child fit exactly `[child] steps` optimiser steps; the epoch schedule
    /// it replaces does not.
    #[test]
    fn every_child_fit_takes_the_same_steps_whatever_the_mix() {
        let dataset = crate::dataset::load_named("mnist", "keep").unwrap();
        let split = Split::stratified(&dataset, &SplitConfig::default()).unwrap();
        let train = split.indices(&dataset, SplitName::Train).unwrap();
        let val_idx: Vec<usize> = split.indices(&dataset, SplitName::Val).unwrap()[..40].to_vec();
        let val_images: Vec<&Image> = val_idx.iter().map(|&i| &dataset.samples[i].image).collect();
        let val = PreparedSet::new(
            &val_images,
            val_idx.iter().map(|&i| dataset.samples[i].label).collect(),
            None,
            &crate::backend::device(),
        )
        .unwrap();
        // A stand-in synthetic set: other train images.
        let stand_in = dataset.subset(&per_class_subset(&dataset, &train, 6, 9));
        let steps = 7;
        let mut data = ChildData {
            dataset: &dataset,
            subset: per_class_subset(&dataset, &train, 3, 0),
            per_class: 3,
            val,
            synthetic: vec![("gan".into(), stand_in)],
            classifier: ClassifierConfig {
                steps,
                cnn_hidden: 16,
                ..super::super::PolicyConfig::default().child
            },
        };
        let space = SearchSpace {
            sub_policies: 1,
            ops_per_sub_policy: 1,
            synthetic: vec!["gan".into()],
        };
        let policy = |mix: f64, share: f64| Policy {
            mix,
            synthetic: vec![super::super::space::SyntheticShare {
                source: "gan".into(),
                share,
            }],
            ..space.rand_augment(1, 3, 0)
        };
        let (small, large) = (policy(0.5, 0.0), policy(2.0, 1.0));
        let (a, b) = (
            child_reward(&data, &small, 1).unwrap(),
            child_reward(&data, &large, 1).unwrap(),
        );
        assert_eq!((a.train_images, b.train_images), (30 + 20, 30 + 60 + 30));
        assert_eq!((a.steps, b.steps), (steps, steps), "equal steps whatever the data");
        let mut seen = Vec::new();
        for method in ["random", "trivial"] {
            let episodes = search(method, &space, &data, 3, 0, &ControllerConfig::default(), None, |_| {}).unwrap();
            assert_eq!(episodes.len(), 3);
            for e in &episodes {
                assert_eq!(e.steps, steps, "{method} fit {}: {} images", e.episode, e.train_images);
                seen.push(e.train_images);
            }
        }
        assert!(seen.iter().any(|&n| n != seen[0]), "the mixes differ: {seen:?}");
        // The epoch schedule (steps 0) gives more data more steps: what the fixed budget removes.
        data.classifier.steps = 0;
        data.classifier.head_epochs = 2;
        data.classifier.patience = 5;
        let (a, b) = (
            child_reward(&data, &small, 1).unwrap(),
            child_reward(&data, &large, 1).unwrap(),
        );
        assert!(a.steps < b.steps, "epochs: {} vs {} steps", a.steps, b.steps);
    }
}
