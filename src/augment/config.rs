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
        }
    }
}

/// Most augmented copies per image.
pub const MAX_COPIES: usize = 1000;

impl AugmentConfig {
    /// Refuses settings that cannot work, naming the setting.
    pub fn validate(&self) -> Result<()> {
        crate::limits::check_positive_count("copies", self.copies, MAX_COPIES)?;
        self.split.validate()
    }
}
