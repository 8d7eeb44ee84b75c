//! `synth policy`'s configuration: configs/policy.toml holds exactly these defaults.

use serde::{Deserialize, Serialize};

use super::controller::ControllerConfig;
use super::search::METHODS;
use crate::classifier::{BackboneKind, ClassifierConfig};
use crate::dataset::SplitConfig;
use crate::error::{Result, SynthError};

/// Every setting of a policy search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    pub dataset: String,
    pub resize: String,
    pub split: SplitConfig,
    /// Labelled real images per class (the same draw as eval-gain's with the same subset seed).
    pub per_class: usize,
    pub subset_seed: u64,
    /// Child fits per search method, shared equally by the search seeds (every method gets the same budget).
    pub budget: usize,
    /// Independent repetitions of each search (seeds 0..search_seeds).
    pub search_seeds: usize,
    /// Wall-clock cap of the whole run in minutes, shared equally by every search (0 = none).
    pub minutes: f64,
    /// Validation images that reward every child fit (evenly spread over the validation split; 0 = all).
    pub val_images: usize,
    /// Search methods compared: rl (REINFORCE controller), random, grid (RandAugment N x M), trivial
    /// (TrivialAugment, no parameters: each fit a fresh draw).
    pub methods: Vec<String>,
    /// Without `--synthetic`, the sets of eval-gain's default pipeline (gan, style, adversarial) whose shares the
    /// space includes, made for the same subset or found in eval-gain's cache (empty = classic ops only).
    pub sources: Vec<String>,
    /// Where eval-gain's default pipeline caches its sets (eval-gain's `cache_dir`): the default sets are found or
    /// made there, so the two commands share them.
    pub cache_dir: String,
    /// Sub-policies per policy, and ops per sub-policy.
    pub sub_policies: usize,
    pub ops_per_sub_policy: usize,
    pub controller: ControllerConfig,
    /// The child classifier (the small cnn, fitted from scratch on each policy's training set).
    pub child: ClassifierConfig,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            dataset: "mnist".into(),
            resize: "keep".into(),
            split: SplitConfig::default(),
            per_class: 20,
            subset_seed: 0,
            budget: 60,
            search_seeds: 3,
            minutes: 0.0,
            val_images: 300,
            methods: METHODS.map(String::from).to_vec(),
            sources: DEFAULT_SOURCES.map(String::from).to_vec(),
            cache_dir: crate::eval::EvalGainConfig::default().cache_dir,
            sub_policies: 2,
            ops_per_sub_policy: 2,
            controller: ControllerConfig::default(),
            child: ClassifierConfig {
                backbone: BackboneKind::Cnn,
                head_epochs: 6,
                patience: 2,
                min_steps: 0,
                steps: CHILD_STEPS,
                batch_size: 64,
                ..ClassifierConfig::default().with_pre_sweep_cnn()
            },
        }
    }
}

pub use crate::limits::MAX_SEEDS;

/// The default pipeline's sets the default space draws shares of.
pub const DEFAULT_SOURCES: [&str; 3] = ["gan", "style", "adversarial"];

/// Optimiser steps of every child fit (batch 64), whatever its amount of data: what the old 6-epoch child gave the
/// largest classic mix (200 real + 400 augmented images = 10 batches x 6 epochs), about 19 passes over the 200 real
/// images alone.
pub const CHILD_STEPS: usize = 60;

/// The name of policy's default run folder (under `outputs/policy/`), as `--help` shows it;
/// [`PolicyConfig::out_name`] fills it in, so the help and the code cannot disagree.
pub const OUT_NAME: &str = "<dataset>-pc<N>-budget<B>";

impl PolicyConfig {
    /// [`OUT_NAME`] for this search (`mnist-pc20-budget60`), given the dataset's file-name-safe short name.
    pub fn out_name(&self, dataset_slug: &str) -> String {
        OUT_NAME
            .replace("<dataset>", dataset_slug)
            .replace("<N>", &self.per_class.to_string())
            .replace("<B>", &self.budget.to_string())
    }

    /// Refuses settings that cannot work, naming the setting.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(SynthError::bad_input(m));
        if self.per_class == 0 {
            return bad("per_class must be at least 1".into());
        }
        if self.search_seeds == 0 || self.budget < self.search_seeds {
            return bad(format!(
                "budget {} must give every one of the {} search seeds at least one child fit",
                self.budget, self.search_seeds
            ));
        }
        use crate::limits::{MAX_COUNT, MAX_IMAGES, check_count};
        check_count("per_class", self.per_class, MAX_COUNT)?;
        check_count("budget", self.budget, MAX_COUNT)?;
        check_count("search_seeds", self.search_seeds, MAX_SEEDS)?;
        check_count("val_images", self.val_images, MAX_IMAGES)?;
        check_count("sub_policies", self.sub_policies, 64)?;
        check_count("ops_per_sub_policy", self.ops_per_sub_policy, 64)?;
        crate::limits::check_range("minutes", self.minutes, 0.0, 1e7)?;
        if self.methods.is_empty() {
            return bad("at least one search method is needed (rl, random, grid, trivial)".into());
        }
        if let Some(m) = self.methods.iter().find(|m| !METHODS.contains(&m.as_str())) {
            return bad(format!("unknown search method {m}; use rl, random, grid or trivial"));
        }
        if let Some(s) = self.sources.iter().find(|s| !DEFAULT_SOURCES.contains(&s.as_str())) {
            return bad(format!(
                "unknown source {s:?}; the default pipeline's sets the space can include are {}",
                DEFAULT_SOURCES.join(", ")
            ));
        }
        if self.sub_policies == 0 || self.ops_per_sub_policy == 0 {
            return bad("sub_policies and ops_per_sub_policy must be at least 1".into());
        }
        if self.split.val <= 0.0 {
            return bad("the search is rewarded on the validation split, so val must be > 0".into());
        }
        self.child.validate()?;
        self.split.validate()
    }
}
