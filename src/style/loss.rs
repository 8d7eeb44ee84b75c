//! The three terms of Gatys et al. (2016): content (feature distance at one layer), style (distance between Gram
//! matrices, i.e. feature correlations, at several layers) and total variation (smoothness).

use burn::prelude::*;

/// Feature correlations of each image, normalised by the number of entries summed so layers of different sizes are
/// comparable.
///
/// # Shapes
/// `[batch, channels, height, width]` -> `[batch, channels, channels]`
pub fn gram_matrix(features: Tensor<4>) -> Tensor<3> {
    let [b, c, h, w] = features.dims();
    let f = features.reshape([b, c, h * w]); // [b, c, hw]
    f.clone().matmul(f.swap_dims(1, 2)) / ((c * h * w) as f64)
}

/// Mean squared difference between features and the content target, per image.
///
/// # Shapes
/// `[batch, c, h, w]`, `[batch, c, h, w]` -> `[batch]`
pub fn content_loss(features: Tensor<4>, target: Tensor<4>) -> Tensor<1> {
    let [b, ..] = features.dims();
    (features - target)
        .powi_scalar(2)
        .reshape([b as i32, -1])
        .mean_dim(1)
        .reshape([b])
}

/// Mean squared difference between Gram matrices, per image.
///
/// # Shapes
/// `[batch, c, c]`, `[batch, c, c]` -> `[batch]`
pub fn style_loss(gram: Tensor<3>, target: Tensor<3>) -> Tensor<1> {
    let [b, ..] = gram.dims();
    (gram - target)
        .powi_scalar(2)
        .reshape([b as i32, -1])
        .mean_dim(1)
        .reshape([b])
}

/// Mean squared difference between neighbouring pixels (rows and columns), per image.
///
/// # Shapes
/// `[batch, c, h, w]` -> `[batch]`
pub fn total_variation(images: Tensor<4>) -> Tensor<1> {
    let [b, _, h, w] = images.dims();
    let dy = images.clone().slice(s![.., .., 1..h, ..]) - images.clone().slice(s![.., .., 0..h - 1, ..]);
    let dx = images.clone().slice(s![.., .., .., 1..w]) - images.slice(s![.., .., .., 0..w - 1]);
    let per = |d: Tensor<4>| d.powi_scalar(2).reshape([b as i32, -1]).mean_dim(1).reshape([b]);
    per(dy) + per(dx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::tensor::tensor_values;

    #[test]
    fn gram_of_a_known_tensor() {
        let device = crate::backend::device();
        // One image, 2 channels, 1x2 pixels: f0 = [1, 2], f1 = [3, 4].
        let f = Tensor::<4>::from_data(TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [1, 2, 1, 2]), &device);
        let g = tensor_values(gram_matrix(f)).unwrap();
        // [[1+4, 3+8], [3+8, 9+16]] / (2 * 1 * 2)
        assert_eq!(g, vec![5.0 / 4.0, 11.0 / 4.0, 11.0 / 4.0, 25.0 / 4.0]);
    }

    #[test]
    fn total_variation_of_a_constant_image_is_zero() {
        let device = crate::backend::device();
        let flat = Tensor::<4>::full([2, 3, 8, 8], 0.7, &device);
        assert_eq!(tensor_values(total_variation(flat)).unwrap(), vec![0.0, 0.0]);
        let ramp = Tensor::<4>::from_data(TensorData::new(vec![0.0f32, 1.0, 0.0, 1.0], [1, 1, 2, 2]), &device);
        // Columns differ by 1 (2 pairs, mean 1), rows by 0.
        assert_eq!(tensor_values(total_variation(ramp)).unwrap(), vec![1.0]);
    }

    #[test]
    fn losses_are_zero_at_their_targets() {
        let device = crate::backend::device();
        let f = Tensor::<4>::random([2, 4, 3, 3], burn::tensor::Distribution::Default, &device);
        assert_eq!(
            tensor_values(content_loss(f.clone(), f.clone())).unwrap(),
            vec![0.0, 0.0]
        );
        let g = gram_matrix(f);
        assert_eq!(tensor_values(style_loss(g.clone(), g)).unwrap(), vec![0.0, 0.0]);
    }
}
