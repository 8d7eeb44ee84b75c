//! `synth gan`'s configuration: configs/gan.toml holds exactly these defaults (a test keeps them equal).

use serde::{Deserialize, Serialize};

use crate::dataset::SplitConfig;
use crate::error::{Result, SynthError};

/// The adversarial loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum GanLoss {
    /// Non-saturating binary cross-entropy (Goodfellow 2014; the DCGAN loss): D minimises
    /// softplus(-D(real)) + softplus(D(fake)), G minimises softplus(-D(fake)).
    Bce,
    /// Hinge loss (Lim & Ye 2017; SAGAN, BigGAN): D minimises relu(1 - D(real)) + relu(1 + D(fake)), G minimises
    /// -D(fake).
    Hinge,
}

impl std::fmt::Display for GanLoss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            GanLoss::Bce => "bce",
            GanLoss::Hinge => "hinge",
        })
    }
}

/// When DiffAugment is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum DiffAugmentMode {
    /// On when the training set has fewer than `diffaugment_below` images.
    Auto,
    On,
    Off,
}

impl std::fmt::Display for DiffAugmentMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DiffAugmentMode::Auto => "auto",
            DiffAugmentMode::On => "on",
            DiffAugmentMode::Off => "off",
        })
    }
}

/// Every setting of a GAN run. The model-shaping and training settings are frozen once a run starts (`--resume`
/// refuses to change them); the sampling and metric settings may differ between runs of `synth gan sample`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GanConfig {
    /// Bundled dataset name or path.
    pub dataset: String,
    /// `keep`, `N` or `WxH`, applied when loading.
    pub resize: String,
    /// The train/val/test split; the GAN trains on the train part only.
    pub split: SplitConfig,
    /// Training images per class drawn from the train split (0 = all), for low-data experiments.
    pub train_per_class: usize,
    /// Passes over the training images (raised when needed to reach `min_steps`).
    pub epochs: usize,
    /// At least this many optimizer steps: small datasets get more epochs, so they are not under-trained.
    pub min_steps: usize,
    pub batch_size: usize,
    /// Length of the latent vector z.
    pub latent_dim: usize,
    /// Size of the generator's learned label embedding (joined to z).
    pub embed_dim: usize,
    /// Channels of the generator's last hidden layer (doubled at each earlier stage).
    pub g_width: usize,
    /// Channels of the discriminator's first layer (doubled at each later stage).
    pub d_width: usize,
    pub loss: GanLoss,
    /// Adam learning rates and betas (Radford et al. 2016: 2e-4, 0.5, 0.999).
    pub lr_g: f64,
    pub lr_d: f64,
    pub beta1: f32,
    pub beta2: f32,
    /// Keep an exponential moving average of the generator's weights and sample from it.
    pub ema: bool,
    /// EMA decay; warmed up as min(decay, (1 + step) / (10 + step)) so early random weights fade quickly.
    pub ema_decay: f64,
    /// DiffAugment (Zhao et al. 2020) on real and fake images before the discriminator.
    pub diffaugment: DiffAugmentMode,
    /// `auto` turns DiffAugment on below this many training images.
    pub diffaugment_below: usize,
    /// DiffAugment transforms, applied in order: color, translation, cutout.
    pub diffaugment_policy: Vec<String>,
    /// Classic augmentation of the real images only, a fresh draw each time an image is batched (the `--ops`
    /// grammar of `synth augment`; empty = none). Unlike DiffAugment the generated images never pass through it, so
    /// the generator learns the augmented distribution: meant for label-preserving ops (small rotations, shifts and
    /// zooms of digits), which widen what a GAN trained on a few images per class draws.
    pub real_augment: Vec<String>,
    /// `real_augment` applies to runs with fewer training images than this (0 = never).
    pub real_augment_below: usize,
    /// An epoch ends with a checkpoint, a sample grid PNG and a TensorBoard image when at least this many steps
    /// passed since the last one (the last epoch always does).
    pub snapshot_steps: usize,
    /// Images written per class after training.
    pub per_class: usize,
    /// Truncation of the latent draws: components with |z| > t are redrawn (0 = none).
    pub truncation: f64,
    /// Class-consistency filter: keep generated images whose conditioning class gets at least this softmax
    /// probability from a cnn fitted on the training images (0 = off; see [`crate::gan::filter`]).
    pub filter_tau: f64,
    /// The filter draws at most this many latents per kept image of a class before filling the class with its
    /// best-scoring rejects.
    pub filter_oversample: usize,
    /// The filter applies to runs with fewer training images than this (where it was measured to help; 0 = never).
    pub filter_below: usize,
    /// Measure CAS and FID at the end of training (and of `synth gan sample`).
    pub metrics: bool,
    /// Maximum epochs of the cnn classifiers behind CAS and FID (early-stopped with patience 3).
    pub metric_epochs: usize,
    /// Seed of initialisation, batches, latents, DiffAugment and sampling.
    pub seed: u64,
}

impl Default for GanConfig {
    fn default() -> Self {
        GanConfig {
            dataset: "mnist".into(),
            resize: "keep".into(),
            split: SplitConfig::default(),
            train_per_class: 0,
            epochs: 60,
            min_steps: 2000,
            batch_size: 64,
            latent_dim: 100,
            embed_dim: 10,
            g_width: 64,
            d_width: 64,
            loss: GanLoss::Bce,
            lr_g: 2e-4,
            lr_d: 2e-4,
            beta1: 0.5,
            beta2: 0.999,
            ema: true,
            ema_decay: 0.999,
            diffaugment: DiffAugmentMode::Off,
            diffaugment_below: 1000,
            diffaugment_policy: ["color", "translation", "cutout"].map(String::from).to_vec(),
            real_augment: ["rotate:10@0.5", "translate:2@0.5", "scale:0.1@0.5"]
                .map(String::from)
                .to_vec(),
            real_augment_below: 1000,
            snapshot_steps: 50,
            per_class: 500,
            truncation: 0.0,
            filter_tau: 0.9,
            filter_oversample: 10,
            filter_below: 1000,
            metrics: true,
            metric_epochs: 20,
            seed: 0,
        }
    }
}

impl GanConfig {
    /// Refuses settings that cannot work, naming the setting.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(SynthError::bad_input(m));
        if self.batch_size < 2 {
            return bad(format!(
                "batch_size {} is too small: batch norm needs at least 2 images",
                self.batch_size
            ));
        }
        if self.epochs == 0 && self.min_steps == 0 {
            return bad("epochs and min_steps are both 0: nothing to train".into());
        }
        for (name, v) in [
            ("latent_dim", self.latent_dim),
            ("embed_dim", self.embed_dim),
            ("g_width", self.g_width),
            ("d_width", self.d_width),
        ] {
            if v == 0 {
                return bad(format!("{name} must be at least 1"));
            }
        }
        crate::limits::check_positive("lr_g", self.lr_g)?;
        crate::limits::check_positive("lr_d", self.lr_d)?;
        self.check_counts()?;
        if !((0.0..1.0).contains(&self.beta1) && (0.0..1.0).contains(&self.beta2)) {
            return bad("Adam betas must be in [0, 1)".into());
        }
        if !(0.0..1.0).contains(&self.ema_decay) {
            return bad(format!("ema_decay {} must be in [0, 1)", self.ema_decay));
        }
        check_truncation(self.truncation)?;
        check_filter_tau(self.filter_tau)?;
        crate::gan::diffaug::DiffAugment::parse(&self.diffaugment_policy)?;
        if !self.real_augment.is_empty() {
            crate::augment::Pipeline::parse(&self.real_augment)?;
        }
        self.split.validate()
    }

    /// Bounds every count, so no product of them overflows and no flag asks for an absurd allocation.
    fn check_counts(&self) -> Result<()> {
        use crate::limits::{MAX_COUNT, check_count};
        for (name, value, max) in [
            ("epochs", self.epochs, MAX_COUNT),
            ("min_steps", self.min_steps, MAX_COUNT),
            ("snapshot_steps", self.snapshot_steps, MAX_COUNT),
            ("metric_epochs", self.metric_epochs, MAX_COUNT),
            ("train_per_class", self.train_per_class, MAX_COUNT),
            ("per_class", self.per_class, MAX_PER_CLASS),
            ("filter_oversample", self.filter_oversample, MAX_OVERSAMPLE),
            ("filter_below", self.filter_below, MAX_COUNT),
            ("real_augment_below", self.real_augment_below, MAX_COUNT),
            ("batch_size", self.batch_size, MAX_WIDTH),
            ("latent_dim", self.latent_dim, MAX_WIDTH),
            ("embed_dim", self.embed_dim, MAX_WIDTH),
            ("g_width", self.g_width, MAX_WIDTH),
            ("d_width", self.d_width, MAX_WIDTH),
        ] {
            check_count(name, value, max)?;
        }
        Ok(())
    }

    /// The real-image augmentation in effect for a training set of `train_images` (canonical op strings; empty
    /// when off).
    pub fn real_augment_ops(&self, train_images: usize) -> Result<Vec<String>> {
        if self.real_augment.is_empty() || train_images >= self.real_augment_below {
            return Ok(Vec::new());
        }
        Ok(crate::augment::Pipeline::parse(&self.real_augment)?.to_strings())
    }

    /// Whether DiffAugment is on for a training set of `train_images`.
    pub fn diffaugment_on(&self, train_images: usize) -> bool {
        match self.diffaugment {
            DiffAugmentMode::On => true,
            DiffAugmentMode::Off => false,
            DiffAugmentMode::Auto => train_images < self.diffaugment_below,
        }
    }

    /// The filter threshold for a run of `train_images` (0 = no filter): `filter_tau` below `filter_below` images.
    pub fn filter_tau_for(&self, train_images: usize) -> f64 {
        if train_images < self.filter_below {
            self.filter_tau
        } else {
            0.0
        }
    }

    /// The settings a resumed run must share with the run it continues (everything that shapes the models, the
    /// data or the random streams); only the number of epochs and the sampling and metric settings may change.
    pub fn training_identity(&self) -> GanConfig {
        GanConfig {
            epochs: 0,
            min_steps: 0,
            snapshot_steps: 0,
            per_class: 0,
            truncation: 0.0,
            filter_tau: 0.0,
            filter_oversample: 0,
            filter_below: 0,
            metrics: false,
            metric_epochs: 0,
            ..self.clone()
        }
    }
}

/// Most images per class a run or `synth gan sample` writes.
pub const MAX_PER_CLASS: usize = 100_000;
/// Largest filter oversampling factor.
pub const MAX_OVERSAMPLE: usize = 100;
/// Largest batch size and layer width.
pub const MAX_WIDTH: usize = 4096;

/// Refuses a truncation that is negative or not a number.
pub fn check_truncation(t: f64) -> Result<()> {
    if t.is_finite() && t >= 0.0 {
        Ok(())
    } else {
        Err(SynthError::bad_input(format!(
            "truncation {t} must be 0 (none) or a positive number such as 1.5"
        )))
    }
}

/// Refuses a filter threshold outside [0, 1].
pub fn check_filter_tau(tau: f64) -> Result<()> {
    if (0.0..=1.0).contains(&tau) {
        Ok(())
    } else {
        Err(SynthError::bad_input(format!(
            "filter_tau {tau} must be a probability in [0, 1] (0 = no filter)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The low-data defaults measured on the validation split (README, "GAN sweep") are the code's and
    /// configs/gan.toml's: DiffAugment off, no truncation, the filter at 0.9 below 1,000 training images only, and
    /// at least 2,000 steps.
    #[test]
    fn measured_defaults_are_the_shipped_ones() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/gan.toml");
        let shipped: GanConfig = crate::config::load(Some(&path)).unwrap();
        let d = GanConfig::default();
        assert_eq!(shipped, d);
        assert_eq!(
            (d.diffaugment, d.truncation, d.filter_tau, d.min_steps),
            (DiffAugmentMode::Off, 0.0, 0.9, 2000)
        );
        assert_eq!(
            d.real_augment_ops(200).unwrap().len(),
            3,
            "the mild real-image augmentation at 20 per class"
        );
        assert!(
            d.real_augment_ops(3500).unwrap().is_empty(),
            "and none on the full-MNIST default run"
        );
        assert!(!d.diffaugment_on(200));
        assert_eq!(d.filter_tau_for(200), 0.9);
        assert_eq!(d.filter_tau_for(3500), 0.0, "the full-MNIST default run is unfiltered");
    }

    #[test]
    fn a_filter_tau_outside_0_1_is_refused() {
        for tau in [-0.1, 1.5, f64::NAN] {
            let c = GanConfig {
                filter_tau: tau,
                ..Default::default()
            };
            assert!(c.validate().unwrap_err().to_string().contains("filter_tau"), "{tau}");
        }
    }
}
