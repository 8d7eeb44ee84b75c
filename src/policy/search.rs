//! The searches of `synth policy`, all at the same budget of child fits: REINFORCE (the controller), random search
//! over the same space, and a RandAugment-style grid (N ops at magnitude M). A child fit trains the small `cnn`
//! on the real N-per-class subset plus the policy's augmented and synthetic images and is rewarded by its
//! validation accuracy (never the test split).

use rand::RngExt;
use rand::seq::SliceRandom;
use serde::Serialize;

use super::controller::{Controller, ControllerConfig};
use super::space::{MAGNITUDES, Policy, SearchSpace};
use crate::augment::{Pipeline, apply_all};
use crate::classifier::{ClassifierConfig, FitMonitor, PreparedSet, build_model, fit};
use crate::dataset::{Dataset, Image};
use crate::error::{Result, SynthError};

/// The search methods.
pub const METHODS: [&str; 3] = ["rl", "random", "grid"];

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

/// The augmented images a policy makes from the real subset: `round(mix * per_class)` per class, each from a real
/// image of that class (in turn) through one sub-policy drawn at random, with its own seed.
pub fn policy_images(
    dataset: &Dataset,
    subset: &[usize],
    per_class: usize,
    policy: &Policy,
    pipelines: &[Pipeline],
    seed: u64,
) -> Vec<(usize, usize, Image)> {
    let classes = dataset.classes.len();
    let per = (policy.mix * per_class as f64).round() as usize;
    let mut out = Vec::new();
    for class in 0..classes {
        let members: Vec<usize> = subset
            .iter()
            .copied()
            .filter(|&i| dataset.samples[i].label == class)
            .collect();
        if members.is_empty() {
            continue;
        }
        for j in 0..per {
            let i = members[j % members.len()];
            let image_seed = crate::seed::derive(seed, &[i as u64, j as u64]);
            let mut r = crate::seed::rng(image_seed);
            let pipeline = &pipelines[r.random_range(0..pipelines.len())];
            let (_, h, w) = dataset.samples[i].image.shape();
            let transforms = pipeline.sample(&mut r, h, w);
            out.push((i, j, apply_all(&dataset.samples[i].image, &transforms)));
        }
    }
    out
}

/// Class-balanced draw of `per` images per class from a set.
fn draw_synthetic(set: &Dataset, classes: usize, per: usize, seed: u64) -> Vec<usize> {
    let members = set.samples.iter().enumerate().map(|(i, s)| (i, s.label));
    crate::dataset::split::class_balanced_draw(members, classes, per, |class| {
        crate::seed::derive(seed, &[class as u64])
    })
}

/// One child fit: the reward (best validation accuracy) of `policy` with child seed `seed`.
pub fn child_reward(data: &ChildData, policy: &Policy, seed: u64) -> Result<f64> {
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
    Ok(report.best_val_accuracy as f64)
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
            other => {
                return Err(SynthError::bad_input(format!(
                    "unknown search method {other}; use rl, random or grid"
                )));
            }
        };
        let reward = child_reward(data, &policy, child_seed)?;
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
            entropy,
        };
        on_episode(&episode);
        episodes.push(episode);
    }
    Ok(episodes)
}
