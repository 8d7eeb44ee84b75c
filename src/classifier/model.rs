//! The classifier: a backbone split into blocks (so a frozen prefix can be cached) and a new head.

use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig, Relu};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::cnn::{CNN_BLOCKS, CNN_CHANNELS, SmallCnn};
use super::resnet::{RESNET_BLOCKS, RESNET50_URL, ResNet};
use super::vgg::{VGG16_BLOCKS, VGG19_URL, Vgg, preprocess};
use super::weights::torchvision_preprocess;

/// Which backbone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum BackboneKind {
    /// VGG16 with ImageNet weights (bundled): transfer learning.
    Vgg16,
    /// VGG19 from the user's torchvision weight file: transfer learning.
    Vgg19,
    /// ResNet-50 from the user's torchvision weight file: transfer learning.
    Resnet50,
    /// The small CNN, from scratch.
    Cnn,
}

impl BackboneKind {
    /// Whether the backbone comes with pretrained weights (two-phase transfer schedule, frozen cached blocks,
    /// `input_size` inputs) rather than being trained from scratch.
    pub fn pretrained(self) -> bool {
        self != BackboneKind::Cnn
    }

    /// Where torchvision's ImageNet weights are, for a backbone that has no bundled weights.
    pub fn weights_url(self) -> Option<&'static str> {
        match self {
            BackboneKind::Vgg19 => Some(VGG19_URL),
            BackboneKind::Resnet50 => Some(RESNET50_URL),
            BackboneKind::Vgg16 | BackboneKind::Cnn => None,
        }
    }
}

impl std::fmt::Display for BackboneKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BackboneKind::Vgg16 => "vgg16",
            BackboneKind::Vgg19 => "vgg19",
            BackboneKind::Resnet50 => "resnet50",
            BackboneKind::Cnn => "cnn",
        })
    }
}

/// A backbone as a sequence of blocks. One exists per model, so the variants' size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Backbone {
    Vgg16(Vgg),
    Vgg19(Vgg),
    Resnet50(ResNet),
    Cnn(SmallCnn),
}

impl Backbone {
    /// Number of blocks.
    pub fn num_blocks(&self) -> usize {
        match self {
            Backbone::Vgg16(_) | Backbone::Vgg19(_) => VGG16_BLOCKS,
            Backbone::Resnet50(_) => RESNET_BLOCKS,
            Backbone::Cnn(_) => CNN_BLOCKS,
        }
    }

    /// Channels of the last block's output.
    pub fn out_channels(&self) -> usize {
        match self {
            Backbone::Vgg16(v) | Backbone::Vgg19(v) => v.out_channels(),
            Backbone::Resnet50(r) => r.out_channels(),
            Backbone::Cnn(_) => CNN_CHANNELS,
        }
    }

    /// Maps [0, 1] images to the backbone's input convention: the bundled VGG16 (Keras/Caffe weights) wants RGB
    /// 0..255 minus the ImageNet mean; VGG19 and ResNet-50, loaded from torchvision files, want torchvision's
    /// `Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])`; the cnn takes them as they are, or
    /// standardised per image.
    pub fn preprocess(&self, images: Tensor<4>) -> Tensor<4> {
        match self {
            Backbone::Vgg16(_) => preprocess(images),
            Backbone::Vgg19(_) | Backbone::Resnet50(_) => torchvision_preprocess(images),
            Backbone::Cnn(c) => c.preprocess(images),
        }
    }

    /// Runs blocks `from..to`.
    pub fn forward_blocks(&self, x: Tensor<4>, from: usize, to: usize) -> Tensor<4> {
        self.forward_layers(x, self.block_start(from), self.block_start(to))
    }

    /// Layers in all: the finest units a frozen prefix can end at (VGG: each conv with its ReLU, the block's
    /// max-pool after its last; ResNet: the stem, then each bottleneck; the cnn: its blocks).
    pub fn num_layers(&self) -> usize {
        self.block_start(self.num_blocks())
    }

    /// Layers before block `block`.
    pub fn block_start(&self, block: usize) -> usize {
        match self {
            Backbone::Vgg16(v) | Backbone::Vgg19(v) => v.block_start(block),
            Backbone::Resnet50(r) => r.block_start(block),
            Backbone::Cnn(_) => block.min(CNN_BLOCKS),
        }
    }

    /// Whole blocks before layer `layer` (the block a cut at `layer` falls in, or ends).
    pub fn block_of(&self, layer: usize) -> usize {
        (0..=self.num_blocks())
            .rev()
            .find(|&b| self.block_start(b) <= layer)
            .unwrap_or(0)
    }

    /// Runs layers `from..to`.
    pub fn forward_layers(&self, x: Tensor<4>, from: usize, to: usize) -> Tensor<4> {
        match self {
            Backbone::Vgg16(v) | Backbone::Vgg19(v) => v.forward_layers(x, from, to),
            Backbone::Resnet50(r) => r.forward_layers(x, from, to),
            Backbone::Cnn(c) => c.forward_blocks(x, from, to),
        }
    }
}

/// The new head. Pretrained backbones (VGG, ResNet): global average pooling, dropout, linear (the Keras
/// transfer-learning head). CNN: flatten, linear `cnn_hidden` (256), ReLU, dropout, linear (spatial layout matters
/// for a small net trained from scratch).
#[derive(Module, Debug)]
pub struct Head {
    pub hidden: Option<Linear>,
    pub output: Linear,
    dropout: Dropout,
    relu: Relu,
}

impl Head {
    /// A head for `features` inputs; `hidden` adds a layer of that many units (and means flatten instead of pooling).
    pub fn new(features: usize, hidden: Option<usize>, classes: usize, dropout: f64, device: &Device) -> Head {
        let hidden_layer = hidden.map(|h| LinearConfig::new(features, h).init(device));
        let out_in = hidden.unwrap_or(features);
        Head {
            hidden: hidden_layer,
            output: LinearConfig::new(out_in, classes).init(device),
            dropout: DropoutConfig::new(dropout).init(),
            relu: Relu::new(),
        }
    }

    /// The penultimate representation: pooled (or flattened and hidden) features.
    ///
    /// # Shapes
    /// `[batch, c, h, w]` -> `[batch, c]` (pooled) or `[batch, hidden]` (hidden)
    pub fn embed(&self, features: Tensor<4>) -> Tensor<2> {
        match &self.hidden {
            None => features.mean_dim(3).mean_dim(2).flatten(1, 3),
            Some(hidden) => self.relu.forward(hidden.forward(features.flatten(1, 3))),
        }
    }

    /// Logits.
    ///
    /// # Shapes
    /// `[batch, c, h, w]` -> `[batch, classes]`
    pub fn forward(&self, features: Tensor<4>) -> Tensor<2> {
        self.output.forward(self.dropout.forward(self.embed(features)))
    }
}

/// Backbone + head.
#[derive(Module, Debug)]
pub struct Classifier {
    pub backbone: Backbone,
    pub head: Head,
}

impl Classifier {
    /// Logits for [0, 1] images.
    ///
    /// # Shapes
    /// `[batch, channels, size, size]` -> `[batch, classes]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let n = self.backbone.num_layers();
        self.forward_from(self.backbone.preprocess(images), 0, n)
    }

    /// Backbone features after `to` layers (see [`Backbone::num_layers`]), for [0, 1] images.
    pub fn features(&self, images: Tensor<4>, to: usize) -> Tensor<4> {
        self.backbone.forward_layers(self.backbone.preprocess(images), 0, to)
    }

    /// Logits from the features after layer `from` (a cached frozen prefix), running layers `from..to` and the head.
    pub fn forward_from(&self, features: Tensor<4>, from: usize, to: usize) -> Tensor<2> {
        self.head.forward(self.backbone.forward_layers(features, from, to))
    }

    /// The penultimate embedding for [0, 1] images (FID and CAS features).
    pub fn embed(&self, images: Tensor<4>) -> Tensor<2> {
        let n = self.backbone.num_layers();
        self.head.embed(self.features(images, n))
    }
}

/// The classifier is what every attack targets: its logits on [0, 1] images.
impl crate::attack::AttackModel for Classifier {
    fn logits(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward(images)
    }
}
