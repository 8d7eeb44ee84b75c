//! `synth adversarial`'s configuration (configs/adversarial.toml holds exactly these defaults): the data, the
//! classifier under attack and how the attacked images are drawn; the attack itself is [`crate::attack`]'s.

use serde::{Deserialize, Serialize};

use crate::attack::AttackConfig;
use crate::classifier::BackboneKind;
use crate::dataset::{SplitConfig, SplitName};
use crate::error::Result;

/// Every setting of a `synth adversarial` run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdversarialConfig {
    /// Bundled dataset name or path; none = the dataset the model was trained on (mnist without a model).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    /// `keep`, `N` or `WxH`; none = the model's setting (keep without a model).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resize: Option<String>,
    /// A classifier run folder (`synth classifier train`); none = train the default classifier first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Backbone of the classifier trained when no model is given (cnn: two conv layers, so a PGD-40 run over 1,000
    /// MNIST images takes about a minute; vgg16's thirteen take many times longer).
    pub backbone: BackboneKind,
    /// Which part of the split is attacked. Sets made from test images are marked so in origin.json and eval-gain
    /// refuses to train on them.
    pub source_split: SplitName,
    /// Images attacked, drawn with `seed` from that part (0 = all).
    pub limit: usize,
    /// Images attacked together.
    pub batch_size: usize,
    /// Seed of random starts, random targets and the `limit` draw (and of the default classifier).
    pub seed: u64,
    pub attack: AttackConfig,
    /// The split used when no model is given (a model brings its own).
    pub split: SplitConfig,
}

impl Default for AdversarialConfig {
    fn default() -> Self {
        AdversarialConfig {
            dataset: None,
            resize: None,
            model: None,
            backbone: BackboneKind::Cnn,
            source_split: SplitName::Train,
            limit: 0,
            batch_size: 256,
            seed: 0,
            attack: AttackConfig::default(),
            split: SplitConfig::default(),
        }
    }
}

impl AdversarialConfig {
    /// Refuses settings that cannot work, naming the setting.
    pub fn validate(&self) -> Result<()> {
        crate::limits::check_positive_count("batch_size", self.batch_size, crate::classifier::config::MAX_BATCH)?;
        crate::limits::check_count("limit", self.limit, crate::limits::MAX_IMAGES)?;
        self.attack.validate()?;
        self.split.validate()
    }
}
