//! The small CNN backbone: random init, fast, and the from-scratch baseline transfer learning must beat.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{PaddingConfig2d, Relu};
use burn::prelude::*;

use super::vgg::max_pool_2x2;

/// Conv 3x3 (32) - ReLU - MaxPool - Conv 3x3 (64) - ReLU - MaxPool; two blocks.
#[derive(Module, Debug)]
pub struct SmallCnn {
    pub conv1: Conv2d,
    pub conv2: Conv2d,
    relu: Relu,
}

/// Blocks of the small CNN.
pub const CNN_BLOCKS: usize = 2;
/// Output channels of the small CNN.
pub const CNN_CHANNELS: usize = 64;

impl SmallCnn {
    /// A fresh network for `channels`-channel input (weights drawn from the device's seeded generator).
    pub fn new(channels: usize, device: &Device) -> SmallCnn {
        let conv = |cin, cout| {
            Conv2dConfig::new([cin, cout], [3, 3])
                .with_padding(PaddingConfig2d::Same)
                .init(device)
        };
        SmallCnn {
            conv1: conv(channels, 32),
            conv2: conv(32, CNN_CHANNELS),
            relu: Relu::new(),
        }
    }

    /// Runs blocks `from..to`.
    ///
    /// # Shapes
    /// `[batch, c, h, w]` -> `[batch, 64, h / 4, w / 4]` for the whole stack
    pub fn forward_blocks(&self, mut x: Tensor<4>, from: usize, to: usize) -> Tensor<4> {
        for block in from..to {
            let conv = if block == 0 { &self.conv1 } else { &self.conv2 };
            x = max_pool_2x2(self.relu.forward(conv.forward(x)));
        }
        x
    }
}
