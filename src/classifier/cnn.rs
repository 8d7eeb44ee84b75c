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
    /// Per-image standardisation of the inputs (a setting, not a weight: rebuilt from the config, never saved).
    #[module(skip)]
    standardize: bool,
}

/// Blocks of the small CNN.
pub const CNN_BLOCKS: usize = 2;
/// Output channels of the small CNN.
pub const CNN_CHANNELS: usize = 64;

impl SmallCnn {
    /// A fresh network for `channels`-channel input (weights drawn from the device's seeded generator);
    /// `standardize` makes [`SmallCnn::preprocess`] standardise each image.
    pub fn new(channels: usize, standardize: bool, device: &Device) -> SmallCnn {
        let conv = |cin, cout| {
            Conv2dConfig::new([cin, cout], [3, 3])
                .with_padding(PaddingConfig2d::Same)
                .init(device)
        };
        SmallCnn {
            conv1: conv(channels, 32),
            conv2: conv(32, CNN_CHANNELS),
            relu: Relu::new(),
            standardize,
        }
    }

    /// The network's input for [0, 1] images: the pixels as they are, or (with `standardize`) each image shifted to
    /// zero mean and divided by its standard deviation, floored at `1 / sqrt(pixels)` so that a flat image stays
    /// finite (`tf.image.per_image_standardization`).
    ///
    /// # Shapes
    /// `[batch, c, h, w]` -> the same
    pub fn preprocess(&self, images: Tensor<4>) -> Tensor<4> {
        if !self.standardize {
            return images;
        }
        let dims = images.dims();
        let pixels = dims[1] * dims[2] * dims[3];
        let flat: Tensor<2> = images.flatten(1, 3);
        let centred = flat.clone() - flat.mean_dim(1);
        let std = centred
            .clone()
            .powi_scalar(2)
            .mean_dim(1)
            .sqrt()
            .clamp_min(1.0 / (pixels as f32).sqrt());
        (centred / std).reshape(dims)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Standardised inputs have zero mean and unit standard deviation per image; a flat image stays finite (zeros);
    /// without the setting the pixels pass unchanged.
    #[test]
    fn standardisation_is_per_image() {
        let device = crate::backend::device();
        // A fixed, shuffled ramp over [0.2, 0.9]: its standard deviation (0.21) stays clear of the 1/6 floor, which
        // unseeded uniform draws of 36 pixels can fall under (the floor then scales the variance below one).
        let ramp: Vec<f32> = (0..36).map(|i| 0.2 + 0.7 * ((i * 7) % 36) as f32 / 35.0).collect();
        let ramp_image = Tensor::<4>::from_data(burn::tensor::TensorData::new(ramp, [1, 1, 6, 6]), &device);
        let flat = Tensor::<4>::full([1, 1, 6, 6], 0.7, &device);
        let images = Tensor::cat(vec![ramp_image, flat], 0);
        let raw = SmallCnn::new(1, false, &device).preprocess(images.clone());
        let values = |t: Tensor<4>| crate::dataset::tensor::tensor_values(t).unwrap();
        assert_eq!(values(raw), values(images.clone()));
        let out = values(SmallCnn::new(1, true, &device).preprocess(images));
        let (first, second) = out.split_at(36);
        let mean = first.iter().sum::<f32>() / 36.0;
        let var = first.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 36.0;
        assert!(
            mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-4,
            "mean {mean}, variance {var}"
        );
        assert!(
            second.iter().all(|v| v.abs() < 1e-5),
            "a flat image maps to zeros: {second:?}"
        );
    }
}
