//! Batching images and labels into burn tensors (f32 NCHW in [0, 1], labels as Int) and back.

use burn::prelude::*;

use super::Image;
use crate::error::{Result, SynthError};

/// Stacks same-shaped images into one `[batch, channels, height, width]` tensor.
pub fn images_to_tensor(images: &[&Image], device: &Device) -> Result<Tensor<4>> {
    let first = images
        .first()
        .ok_or_else(|| SynthError::internal("cannot batch zero images"))?;
    let (c, h, w) = first.shape();
    let mut data = Vec::with_capacity(images.len() * c * h * w);
    for img in images {
        if img.shape() != (c, h, w) {
            return Err(SynthError::internal(format!(
                "cannot batch a {:?} image with {:?} images",
                img.shape(),
                (c, h, w)
            )));
        }
        data.extend_from_slice(&img.data);
    }
    Ok(Tensor::from_data(
        TensorData::new(data, [images.len(), c, h, w]),
        device,
    ))
}

/// Labels as a `[batch]` Int tensor.
pub fn labels_to_tensor(labels: &[usize], device: &Device) -> Tensor<1, Int> {
    let data: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
    Tensor::from_data(TensorData::new(data, [labels.len()]), device)
}

/// Splits a `[batch, channels, height, width]` tensor back into images.
pub fn tensor_to_images(tensor: Tensor<4>) -> Result<Vec<Image>> {
    let [n, c, h, w] = tensor.dims();
    let values = tensor_values(tensor)?;
    values
        .chunks_exact(c * h * w)
        .take(n)
        .map(|chunk| Image::from_planar(c, h, w, chunk.to_vec()))
        .collect()
}

/// The values of any float tensor, row-major.
pub fn tensor_values<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>> {
    tensor
        .into_data()
        .try_into_vec_as::<f32>()
        .map_err(|e| SynthError::internal(format!("reading tensor: {e:?}")))
}

/// Row-wise argmax of a `[batch, classes]` tensor.
pub fn argmax_rows(logits: Tensor<2>) -> Result<Vec<usize>> {
    let classes = logits.dims()[1];
    let values = tensor_values(logits)?;
    Ok(values
        .chunks_exact(classes)
        .map(|row| {
            row.iter()
                .enumerate()
                .fold((0, f32::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b })
                .0
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_round_trip_through_a_tensor() {
        let device = crate::backend::device();
        let a = Image::from_planar(1, 2, 3, (0..6).map(|v| v as f32 / 10.0).collect()).unwrap();
        let b = Image::from_planar(1, 2, 3, (0..6).map(|v| 1.0 - v as f32 / 10.0).collect()).unwrap();
        let t = images_to_tensor(&[&a, &b], &device).unwrap();
        assert_eq!(t.dims(), [2, 1, 2, 3]);
        assert_eq!(tensor_to_images(t).unwrap(), vec![a, b]);
        let labels = labels_to_tensor(&[3, 1], &device);
        assert_eq!(labels.into_data().try_into_vec_as::<i64>().unwrap(), vec![3, 1]);
    }
}
