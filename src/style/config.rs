//! `synth style`'s configuration: configs/style.toml holds exactly these defaults.

use serde::{Deserialize, Serialize};

use crate::dataset::SplitConfig;
use crate::error::{Result, SynthError};

/// How the image is optimised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum StyleOptimizer {
    /// L-BFGS (burn-optim), as Gatys et al.: few, expensive, well-directed steps.
    Lbfgs,
    /// Adam on the pixels: cheap steps, good for many images at once.
    Adam,
}

/// Where the optimisation starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum StyleInit {
    /// The content image itself (Gatys et al.'s usual start for a content-preserving transfer).
    Content,
    /// Seeded uniform noise.
    Noise,
    /// The content cut out of a random crop of its style image, `|content - crop|` per channel: the content loss
    /// pins a black MNIST frame dark from a content start, so only a start that already carries the texture gives
    /// the background one (what mnist-m's digits sit on).
    Texture,
}

/// Every setting of a style transfer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StyleConfig {
    /// Longest side of the output image (single-image mode).
    pub size: usize,
    /// Content layer (VGG16 ReLU name).
    pub content_layer: String,
    /// Style layers and their relative weights.
    pub style_layers: Vec<String>,
    pub style_layer_weights: Vec<f64>,
    pub content_weight: f64,
    pub style_weight: f64,
    pub tv_weight: f64,
    pub optimizer: StyleOptimizer,
    /// Loss evaluations (L-BFGS) or steps (Adam) in single-image mode.
    pub iterations: usize,
    /// Adam learning rate on [0, 1] pixels (L-BFGS uses a unit step).
    pub adam_lr: f64,
    /// Single-image mode: where the optimisation starts.
    pub init: StyleInit,
    /// Optimise at half size first (half the iterations), then upscale and finish at full size.
    pub coarse_to_fine: bool,
    /// Keep the content image's colours (transfer luminance only).
    pub preserve_color: bool,
    pub seed: u64,
    /// Dataset mode: side the images are stylised at (VGG needs >= 32), then resized back.
    pub dataset_size: usize,
    /// Dataset mode: images optimised together.
    pub batch_size: usize,
    /// Dataset mode: optimiser steps per batch.
    pub dataset_iterations: usize,
    /// Dataset mode: where each image's optimisation starts. A texture start gives the digit's black frame the
    /// style's texture, which a content start keeps dark: measured on the validation mnist-m (README), it is what
    /// makes the style set help on a photo-background shift.
    pub dataset_init: StyleInit,
    /// Dataset mode: stylised versions written per train image.
    pub per_image: usize,
    /// Dataset mode: train images stylised (0 = the whole train split).
    pub max_images: usize,
    /// Dataset mode: each image's style strength is drawn uniformly from [strength_min, strength_max] with its own
    /// seed, and the written image is content + strength * (stylised - content): 0 is the content image, 1 the full
    /// transfer. Random strength is style augmentation's recipe (Jackson et al. 2019) and keeps the digit legible.
    pub strength_min: f64,
    pub strength_max: f64,
    /// Dataset mode: write grey content images in the stylised colours (RGB) instead of the result's luminance. A
    /// grey dataset meant to carry over to a colour domain (mnist-m's photo blends) may need the styles' colours,
    /// which the luminance drops; off by default (grey datasets stay grey). Not serialised when off, so settings
    /// made before it existed keep their cache keys.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub colour: bool,
    /// Dataset mode: a classifier run (`synth classifier train`) that judges the set: the share of stylised images it
    /// still labels correctly is reported (label agreement). None = no judge.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub judge: Option<String>,
    /// Dataset mode: bundled dataset name or path.
    pub dataset: String,
    pub resize: String,
    pub split: SplitConfig,
}

impl Default for StyleConfig {
    fn default() -> Self {
        StyleConfig {
            size: 256,
            content_layer: "relu4_2".into(),
            style_layers: ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
                .map(String::from)
                .to_vec(),
            style_layer_weights: vec![1.0; 5],
            content_weight: 1.0,
            style_weight: 1e2,
            tv_weight: 1e3,
            optimizer: StyleOptimizer::Lbfgs,
            iterations: 200,
            adam_lr: 0.02,
            init: StyleInit::Content,
            coarse_to_fine: true,
            preserve_color: false,
            seed: 0,
            dataset_size: 32,
            batch_size: 50,
            dataset_iterations: 20,
            dataset_init: StyleInit::Texture,
            per_image: 1,
            max_images: 0,
            strength_min: 0.2,
            strength_max: 0.5,
            colour: false,
            judge: None,
            dataset: "mnist".into(),
            resize: "keep".into(),
            split: SplitConfig::default(),
        }
    }
}

impl StyleConfig {
    /// Refuses settings that cannot work.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(SynthError::bad_input(m));
        if self.size < 32 || self.dataset_size < 32 {
            return bad(format!(
                "size {} / dataset_size {} is too small for VGG16's pooling stack (>= 32 pixels)",
                self.size, self.dataset_size
            ));
        }
        if self.style_layers.is_empty() || self.style_layers.len() != self.style_layer_weights.len() {
            return bad("style_layers and style_layer_weights must be non-empty and of equal length".into());
        }
        if [self.content_weight, self.style_weight, self.tv_weight]
            .iter()
            .any(|w| !w.is_finite() || *w < 0.0)
        {
            return bad("content, style and tv weights must be finite and >= 0".into());
        }
        if self.iterations == 0 || self.dataset_iterations == 0 || self.batch_size == 0 || self.per_image == 0 {
            return bad("iterations, dataset_iterations, batch_size and per_image must be at least 1".into());
        }
        use crate::limits::{MAX_COUNT, MAX_IMAGES, MAX_SIDE, check_count};
        for (name, value, max) in [
            ("size", self.size, MAX_SIDE),
            ("dataset_size", self.dataset_size, MAX_SIDE),
            ("iterations", self.iterations, MAX_COUNT),
            ("dataset_iterations", self.dataset_iterations, MAX_COUNT),
            ("batch_size", self.batch_size, crate::classifier::config::MAX_BATCH),
            ("per_image", self.per_image, 1000),
            ("max_images", self.max_images, MAX_IMAGES),
        ] {
            check_count(name, value, max)?;
        }
        let (lo, hi) = (self.strength_min, self.strength_max);
        if !(0.0..=1.0).contains(&lo) || !(0.0..=1.0).contains(&hi) || lo > hi {
            return bad(format!(
                "strength_min {lo} and strength_max {hi} must lie in [0, 1] with strength_min <= strength_max"
            ));
        }
        if let Some(w) = self.style_layer_weights.iter().find(|w| !w.is_finite() || **w < 0.0) {
            return bad(format!("style layer weight {w} must be finite and >= 0"));
        }
        Ok(())
    }
}
