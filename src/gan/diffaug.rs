//! DiffAugment (Zhao et al., "Differentiable Augmentation for Data-Efficient GAN Training", NeurIPS 2020): the same
//! kind of random, differentiable transforms applied to real and fake images before the discriminator, so a
//! discriminator trained on few images cannot simply memorise them, while the generator still receives gradients
//! through the transform. The three policies of the paper, with its magnitudes, on images in [-1, 1]:
//!
//! - `color`: brightness + U(-0.5, 0.5), saturation x U(0, 2) around the per-pixel channel mean, contrast
//!   x U(0.5, 1.5) around the image mean;
//! - `translation`: a whole-pixel shift of up to 1/8 of the side on each axis, the uncovered border set to 0;
//! - `cutout`: a square of half the side, centred anywhere, set to 0.
//!
//! Each image gets its own draws from the caller's seeded generator, so training stays reproducible. Translation
//! and cutout are one gather over the flattened pixels (index `side * side` points at an appended zero), which is
//! differentiable with respect to the image.

use burn::prelude::*;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use crate::error::{Result, SynthError};

/// Which DiffAugment transforms run (always in the order color, translation, cutout).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiffAugment {
    pub color: bool,
    pub translation: bool,
    pub cutout: bool,
}

/// Fraction of the side an image may shift by (the paper's 1/8).
const TRANSLATION_RATIO: f64 = 0.125;
/// Side of the cutout square as a fraction of the image side (the paper's 1/2).
const CUTOUT_RATIO: f64 = 0.5;

impl DiffAugment {
    /// Parses a policy list (`color`, `translation`, `cutout`; each at most once).
    pub fn parse(policy: &[String]) -> Result<DiffAugment> {
        let mut out = DiffAugment::default();
        for name in policy {
            let flag = match name.trim() {
                "color" => &mut out.color,
                "translation" => &mut out.translation,
                "cutout" => &mut out.cutout,
                other => {
                    return Err(SynthError::bad_input(format!(
                        "unknown DiffAugment policy '{other}' (expected color, translation, cutout)"
                    )));
                }
            };
            if *flag {
                return Err(SynthError::bad_input(format!(
                    "DiffAugment policy '{name}' is listed twice"
                )));
            }
            *flag = true;
        }
        Ok(out)
    }

    /// The policy names, in application order.
    pub fn names(&self) -> Vec<&'static str> {
        [
            (self.color, "color"),
            (self.translation, "translation"),
            (self.cutout, "cutout"),
        ]
        .into_iter()
        .filter_map(|(on, n)| on.then_some(n))
        .collect()
    }

    /// Augments a batch with fresh draws from `rng`.
    ///
    /// # Shapes
    /// `[batch, channels, height, width]` -> the same
    pub fn apply(&self, x: Tensor<4>, rng: &mut ChaCha8Rng) -> Tensor<4> {
        let [batch, channels, h, w] = x.dims();
        let device = x.device();
        let per_image = |rng: &mut ChaCha8Rng, lo: f32, hi: f32| -> Tensor<4> {
            let v: Vec<f32> = (0..batch).map(|_| rng.random_range(lo..hi)).collect();
            Tensor::from_data(TensorData::new(v, [batch, 1, 1, 1]), &device)
        };
        let mut x = x;
        if self.color {
            x = x + per_image(rng, -0.5, 0.5); // brightness
            let mean = x.clone().mean_dim(1); // [batch, 1, h, w]
            x = (x - mean.clone()) * per_image(rng, 0.0, 2.0) + mean; // saturation
            let mean = x.clone().mean_dim(1).mean_dim(2).mean_dim(3); // [batch, 1, 1, 1]
            x = (x - mean.clone()) * per_image(rng, 0.5, 1.5) + mean; // contrast
        }
        if self.translation || self.cutout {
            let index = self.gather_index(rng, batch, h, w);
            let plane = h * w;
            let idx: Vec<i64> = (0..batch)
                .flat_map(|b| {
                    let row = &index[b * plane..(b + 1) * plane];
                    (0..channels).flat_map(move |_| row.iter().copied())
                })
                .collect();
            let idx = Tensor::<3, Int>::from_data(TensorData::new(idx, [batch, channels, plane]), &device);
            let flat = x.reshape([batch, channels, plane]);
            let padded = Tensor::cat(vec![flat, Tensor::zeros([batch, channels, 1], &device)], 2); // [b, c, h*w + 1]
            x = padded.gather(2, idx).reshape([batch, channels, h, w]);
        }
        x
    }

    /// For each image and output pixel, the source pixel (row-major) or `h * w` for zero.
    fn gather_index(&self, rng: &mut ChaCha8Rng, batch: usize, h: usize, w: usize) -> Vec<i64> {
        let zero = (h * w) as i64;
        let mut out = Vec::with_capacity(batch * h * w);
        let shift = |side: usize| (side as f64 * TRANSLATION_RATIO + 0.5) as i64;
        let (sy, sx) = (shift(h), shift(w));
        let (cut_h, cut_w) = (
            (h as f64 * CUTOUT_RATIO + 0.5) as i64,
            (w as f64 * CUTOUT_RATIO + 0.5) as i64,
        );
        for _ in 0..batch {
            let (ty, tx) = if self.translation {
                (rng.random_range(-sy..=sy), rng.random_range(-sx..=sx))
            } else {
                (0, 0)
            };
            // The cutout centre, anywhere in the image (as the paper: offsets in [0, side + (1 - size % 2))).
            let cut = self.cutout.then(|| {
                let cy = rng.random_range(0..h as i64 + (1 - cut_h % 2));
                let cx = rng.random_range(0..w as i64 + (1 - cut_w % 2));
                (cy - cut_h / 2, cx - cut_w / 2)
            });
            for y in 0..h as i64 {
                for x in 0..w as i64 {
                    let in_cut =
                        cut.is_some_and(|(y0, x0)| (y0..y0 + cut_h).contains(&y) && (x0..x0 + cut_w).contains(&x));
                    let (src_y, src_x) = (y + ty, x + tx);
                    let inside = (0..h as i64).contains(&src_y) && (0..w as i64).contains(&src_x);
                    out.push(if in_cut || !inside {
                        zero
                    } else {
                        src_y * w as i64 + src_x
                    });
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::tensor::tensor_values;

    fn policy(names: &[&str]) -> DiffAugment {
        DiffAugment::parse(&names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn policies_parse_and_refuse_unknown_or_repeated_names() {
        assert_eq!(
            policy(&["color", "cutout"]),
            DiffAugment {
                color: true,
                translation: false,
                cutout: true
            }
        );
        let err = DiffAugment::parse(&["colour".to_string()]).unwrap_err();
        assert!(err.is_bad_input() && err.to_string().contains("colour"));
        assert!(DiffAugment::parse(&["cutout".to_string(), "cutout".to_string()]).is_err());
    }

    /// Translation moves pixels whole (values are preserved or zeroed, never blended); cutout zeroes a square of
    /// half the side; the same seed gives the same result.
    #[test]
    fn translation_and_cutout_move_and_zero_whole_pixels() {
        let device = crate::backend::device();
        let (b, h, w) = (4, 8, 8);
        let values: Vec<f32> = (0..b * h * w).map(|i| 1.0 + i as f32).collect();
        let x = Tensor::<4>::from_data(TensorData::new(values.clone(), [b, 1, h, w]), &device);
        let run = |p: DiffAugment, seed| tensor_values(p.apply(x.clone(), &mut crate::seed::rng(seed))).unwrap();
        let moved = run(policy(&["translation"]), 3);
        assert_eq!(moved, run(policy(&["translation"]), 3));
        for (k, v) in moved.iter().enumerate() {
            let image = k / (h * w);
            assert!(*v == 0.0 || values[image * h * w..(image + 1) * h * w].contains(v));
        }
        let cut = run(policy(&["cutout"]), 5);
        for image in cut.chunks(h * w) {
            let zeros = image.iter().filter(|v| **v == 0.0).count();
            assert!(
                zeros > 0 && zeros <= 16,
                "a 4x4 square at most, clipped at the border: {zeros}"
            );
        }
    }

    /// The generator learns through DiffAugment: the gradient reaches the input.
    #[test]
    fn gradients_flow_through_every_policy() {
        let device = crate::backend::autodiff_device();
        let x = Tensor::<4>::ones([2, 3, 8, 8], &device).require_grad();
        let all = policy(&["color", "translation", "cutout"]);
        let y = all.apply(x.clone(), &mut crate::seed::rng(1));
        let grad = x.grad(&y.sum().backward()).unwrap();
        let g = tensor_values(grad).unwrap();
        assert!(g.iter().any(|v| *v != 0.0));
    }
}
