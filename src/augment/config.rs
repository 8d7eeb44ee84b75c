//! `synth augment`'s configuration: configs/augment.toml holds exactly these defaults.

use serde::{Deserialize, Serialize};

use crate::dataset::SplitConfig;
use crate::error::Result;

/// Every setting of an augment run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AugmentConfig {
    /// Bundled dataset name or path.
    pub dataset: String,
    /// Ops in the `--ops` grammar, applied in order.
    pub ops: Vec<String>,
    /// Augmented copies written per training image.
    pub copies: usize,
    /// Seed of the augmentation draws.
    pub seed: u64,
    /// `keep`, `N` or `WxH`.
    pub resize: String,
    /// The train/val/test split whose train part is augmented.
    pub split: SplitConfig,
    /// A policy file from `synth policy` (best.toml); when set, its sub-policies replace `ops`.
    pub policy: String,
    /// A named policy instead of `ops`: `trivial` (TrivialAugment: one op per copy, drawn uniformly, at a
    /// magnitude drawn uniformly); empty = none. Left out of a saved config when empty, so cache keys made
    /// before it read the same.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub preset: String,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        AugmentConfig {
            dataset: "mnist".into(),
            ops: ["rotate:15", "translate:3", "scale:0.1", "noise:0.05"]
                .map(String::from)
                .to_vec(),
            copies: 4,
            seed: 0,
            resize: "keep".into(),
            split: SplitConfig::default(),
            policy: String::new(),
            preset: String::new(),
        }
    }
}

/// The presets `preset` may name.
pub const PRESETS: [&str; 1] = ["trivial"];

/// Most augmented copies per image.
pub const MAX_COPIES: usize = 1000;

impl AugmentConfig {
    /// Refuses settings that cannot work, naming the setting.
    pub fn validate(&self) -> Result<()> {
        crate::limits::check_positive_count("copies", self.copies, MAX_COPIES)?;
        if !self.preset.is_empty() && !PRESETS.contains(&self.preset.as_str()) {
            return Err(crate::error::SynthError::bad_input(format!(
                "unknown preset {:?}; the presets are {}",
                self.preset,
                PRESETS.join(", ")
            )));
        }
        if !self.preset.is_empty() && !self.policy.is_empty() {
            return Err(crate::error::SynthError::bad_input(
                "give a preset or a policy, not both",
            ));
        }
        self.split.validate()
    }
}
