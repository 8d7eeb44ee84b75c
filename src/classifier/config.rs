//! `synth classifier`'s configuration: configs/classifier.toml holds exactly these defaults.

use serde::{Deserialize, Serialize};

use super::average::WeightChoice;
use super::model::BackboneKind;
use crate::attack::AdversarialTraining;
use crate::dataset::SplitConfig;
use crate::error::{Result, SynthError};

/// Every setting of a classifier fit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClassifierConfig {
    /// Bundled dataset name or path.
    pub dataset: String,
    /// `keep`, `N` or `WxH`, applied when loading.
    pub resize: String,
    pub split: SplitConfig,
    /// Training images per class taken from the train split (0 = all), drawn with `seed`.
    pub per_class: usize,
    pub backbone: BackboneKind,
    /// Backbone weights in torchvision layout (.safetensors or .pth). vgg16: empty = the bundled ImageNet weights;
    /// vgg19 and resnet50 need one (synth bundles none and downloads nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backbone_weights: Option<String>,
    /// Side inputs of a pretrained backbone (VGG, ResNet) are resized to (the cnn uses the dataset's own size).
    pub input_size: usize,
    /// Early backbone blocks that are never trained (VGG: 5 conv blocks; ResNet-50: the stem and layer1..4);
    /// their outputs are computed once per image and cached.
    pub freeze_blocks: usize,
    /// Top backbone blocks unfrozen in phase 2 (fine-tuning).
    pub finetune_blocks: usize,
    /// Of those blocks, only the last this many layers train (VGG: convs; ResNet: the stem and bottlenecks; 0 = all
    /// of them); the blocks' earlier layers stay frozen and join the cached prefix, so a fine-tuning step runs fewer
    /// convolutions. Left out of a saved config when 0, so the configs and cache keys from before it read the same.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub finetune_layers: usize,
    /// Phase 1 (the head of a pretrained backbone) learning rate (Adam).
    pub head_lr: f64,
    /// Learning rate (Adam) of the cnn, whose one phase trains the whole net from scratch.
    pub cnn_lr: f64,
    /// Phase 2 (fine-tuning) learning rate (Adam).
    pub finetune_lr: f64,
    /// Maximum epochs of phase 1.
    pub head_epochs: usize,
    /// Maximum epochs of phase 2 (0 skips fine-tuning).
    pub finetune_epochs: usize,
    /// Epochs without a better validation accuracy before a phase stops; the best weights are restored.
    pub patience: usize,
    /// Optimiser steps phase 1 runs at least before early stopping may end it (its epochs are raised to reach
    /// them); patience is also at least a fifth of them. On small data an epoch is one or two steps.
    pub min_steps: usize,
    /// Phase 1 as a fixed budget of exactly this many optimiser steps of `batch_size` images each, whatever the
    /// number of training images (0 = epochs with early stopping, as above): no early stopping, validation at
    /// [`STEP_EVALS`](crate::classifier::fit::STEP_EVALS) evenly spaced steps, the best validated weights returned.
    /// Equal compute for fits on different amounts of data (`synth policy`'s child). Left out of a saved config
    /// when 0, so the configs and cache keys from before it read the same.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub steps: usize,
    /// Phase 2 (fine-tuning) as a fixed budget of exactly this many optimiser steps, as `steps` does for phase 1 (0 =
    /// epochs with early stopping). With both set, every fit runs the same steps whatever its amount of data, and
    /// no fit's length depends on where a noisy validation curve first stalls. Left out of a saved config when 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub finetune_steps: usize,
    /// The weights a fixed-budget phase returns: `best` (the best validated snapshot), `last`, or `swa` (the mean
    /// of the snapshots at the validation points of the phase's second half). Only `best` scores every validation
    /// point; `last` and `swa` score just the weights they return. Epoch-based phases always keep their best. Left
    /// out of a saved config when `best`, so the configs and cache keys from before it read the same.
    #[serde(default, skip_serializing_if = "WeightChoice::is_best")]
    pub weights: WeightChoice,
    pub batch_size: usize,
    /// The least share of each fixed-budget step's batch taken from the real images of a training part that marks
    /// them (eval-gain's conditions: the real subset, then synthetic images); 0 = off. Where the real images are a
    /// smaller share of the part than this, each batch takes `round(real_share * batch_size)` rows from seeded
    /// shuffles of the real rows and the rest from shuffles of the synthetic ones, so adding many synthetic images
    /// does not leave the real ones a sliver of the gradient; where they already are at least this share, batches
    /// draw from the whole part as with 0. Epoch-based phases pass over every image once per epoch and ignore it.
    /// Left out of a saved config when 0, so the configs and cache keys from before it read the same.
    #[serde(default, skip_serializing_if = "is_zero_share")]
    pub real_share: f64,
    /// Dropout before the last linear layer.
    pub dropout: f64,
    /// Hidden units of the cnn head.
    pub cnn_hidden: usize,
    /// Per-image standardisation of the cnn's inputs (each image to zero mean and unit standard deviation, as
    /// `tf.image.per_image_standardization`); off feeds the [0, 1] pixels as they are.
    pub cnn_standardize: bool,
    /// Seed of initialisation, shuffling, dropout and the per-class draw.
    pub seed: u64,
    /// Adversarial training: adversarial versions of part of each batch, crafted against the current weights.
    pub adversarial: AdversarialTraining,
    /// On-the-fly classic augmentation of every training batch, in the `--ops` grammar of `synth augment` (empty =
    /// off). Augmented pixels change every epoch, so they cannot use the frozen-feature cache: each batch runs the
    /// frozen blocks again, which makes a VGG16 fit several times slower (the cnn barely notices).
    pub augment: Vec<String>,
}

impl Default for ClassifierConfig {
    fn default() -> Self {
        ClassifierConfig {
            dataset: "mnist".into(),
            resize: "keep".into(),
            split: SplitConfig::default(),
            per_class: 0,
            backbone: BackboneKind::Vgg16,
            backbone_weights: None,
            input_size: 64,
            freeze_blocks: 4,
            finetune_blocks: 1,
            finetune_layers: 0,
            head_lr: 1e-3,
            cnn_lr: 1e-3,
            finetune_lr: 1e-4,
            head_epochs: 20,
            finetune_epochs: 10,
            patience: 3,
            min_steps: 100,
            steps: 0,
            finetune_steps: 0,
            weights: WeightChoice::Best,
            batch_size: 64,
            real_share: 0.0,
            dropout: 0.5,
            cnn_hidden: 256,
            cnn_standardize: false,
            seed: 0,
            adversarial: AdversarialTraining::default(),
            augment: Vec::new(),
        }
    }
}

/// Largest batch size (and cnn head width).
pub const MAX_BATCH: usize = 4096;

impl ClassifierConfig {
    /// This config with the cnn settings from before the 2026-11-30 sweep (scripts/sweep_cnn.sh) chose the defaults:
    /// learning rate 1e-3, 128 hidden units, raw pixels. The cnns inside other commands keep them: the CAS/FID
    /// classifier of `synth gan` (FID is computed on its hidden layer), the child of `synth policy` and eval-gain's
    /// surrogate cnn (its adversarial source's target and its transfer attack's surrogate), so that their README
    /// numbers still reproduce; moving them to the swept defaults means measuring those numbers again.
    pub fn with_pre_sweep_cnn(self) -> ClassifierConfig {
        ClassifierConfig {
            cnn_lr: 1e-3,
            cnn_hidden: 128,
            cnn_standardize: false,
            ..self
        }
    }

    /// Whether a pretrained backbone's fit has a fine-tuning phase (a from-scratch net never has one).
    pub fn finetunes(&self) -> bool {
        self.finetune_epochs > 0 && self.finetune_blocks > 0
    }

    /// The optimiser steps every fit runs whatever its number of images, when each phase it runs has a fixed budget:
    /// `steps`, plus `finetune_steps` where it fine-tunes. None when any phase runs epochs with early stopping.
    pub fn fixed_steps_per_fit(&self) -> Option<usize> {
        let finetunes = self.backbone.pretrained() && self.finetunes();
        match (self.steps, finetunes, self.finetune_steps) {
            (0, _, _) | (_, true, 0) => None,
            (head, false, _) => Some(head),
            (head, true, tune) => Some(head + tune),
        }
    }

    /// Refuses settings that cannot work, naming the setting.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(SynthError::bad_input(m));
        if self.batch_size == 0 {
            return bad("batch_size must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&self.real_share) {
            return bad(format!("real_share {} must be in [0, 1]", self.real_share));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("dropout {} must be in [0, 1)", self.dropout));
        }
        if self.backbone.pretrained() {
            let backbone = self.backbone;
            if self.freeze_blocks > 5 || self.finetune_blocks > 5 {
                return bad(format!(
                    "freeze_blocks and finetune_blocks must be in 0..=5 for {backbone}"
                ));
            }
            if self.input_size < 32 {
                return bad(format!(
                    "input_size {} is too small for {backbone}'s five stride-2 stages (>= 32)",
                    self.input_size
                ));
            }
            if self.backbone != BackboneKind::Vgg16 {
                super::checkpoint::required_weights(self)?;
            }
        }
        if !self.weights.is_best() && self.steps == 0 && self.finetune_steps == 0 {
            return bad(format!(
                "weights = {} needs a fixed step budget (steps or finetune_steps): epoch-based phases keep their \
                 best validated weights",
                self.weights.name()
            ));
        }
        crate::limits::check_positive("head_lr", self.head_lr)?;
        crate::limits::check_positive("cnn_lr", self.cnn_lr)?;
        crate::limits::check_positive("finetune_lr", self.finetune_lr)?;
        crate::limits::check_side("input_size", self.input_size)?;
        for (name, value, max) in [
            ("per_class", self.per_class, crate::limits::MAX_COUNT),
            ("head_epochs", self.head_epochs, crate::limits::MAX_COUNT),
            ("finetune_epochs", self.finetune_epochs, crate::limits::MAX_COUNT),
            ("finetune_layers", self.finetune_layers, crate::limits::MAX_COUNT),
            ("patience", self.patience, crate::limits::MAX_COUNT),
            ("min_steps", self.min_steps, crate::limits::MAX_COUNT),
            ("steps", self.steps, crate::limits::MAX_COUNT),
            ("finetune_steps", self.finetune_steps, crate::limits::MAX_COUNT),
            ("batch_size", self.batch_size, MAX_BATCH),
        ] {
            crate::limits::check_count(name, value, max)?;
        }
        crate::limits::check_positive_count("cnn_hidden", self.cnn_hidden, MAX_BATCH)?;
        self.adversarial.validate()?;
        if !self.augment.is_empty() {
            crate::augment::Pipeline::parse(&self.augment)?;
        }
        self.split.validate()
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn is_zero_share(x: &f64) -> bool {
    *x == 0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fit's steps are fixed only when every phase it runs has a budget: a cnn has no fine-tuning phase, a VGG
    /// fine-tuning on epochs is not fixed, and no fine-tuning (0 epochs) leaves the head's budget alone.
    #[test]
    fn fixed_steps_count_only_the_phases_a_fit_runs() {
        let vgg = ClassifierConfig {
            steps: 120,
            finetune_steps: 60,
            ..Default::default()
        };
        assert_eq!(vgg.fixed_steps_per_fit(), Some(180));
        let cnn = ClassifierConfig {
            backbone: BackboneKind::Cnn,
            ..vgg.clone()
        };
        assert_eq!(cnn.fixed_steps_per_fit(), Some(120));
        let head_only = ClassifierConfig {
            finetune_epochs: 0,
            ..vgg.clone()
        };
        assert_eq!(head_only.fixed_steps_per_fit(), Some(120));
        let epochs_tune = ClassifierConfig {
            finetune_steps: 0,
            ..vgg.clone()
        };
        assert_eq!(epochs_tune.fixed_steps_per_fit(), None);
        assert_eq!(ClassifierConfig::default().fixed_steps_per_fit(), None);
    }

    /// Averaged or last weights need a fixed budget: an epoch-based phase keeps its best by early stopping.
    #[test]
    fn weight_choice_needs_a_fixed_budget() {
        let swa = ClassifierConfig {
            weights: WeightChoice::Swa,
            ..Default::default()
        };
        let err = swa.validate().unwrap_err();
        assert!(err.is_bad_input() && err.to_string().contains("swa"), "{err}");
        let budgeted = ClassifierConfig { steps: 10, ..swa };
        assert!(budgeted.validate().is_ok());
    }
}
