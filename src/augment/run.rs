//! Writing augmented copies of the training images as an expanded dataset.

use serde::Serialize;

use super::pipeline::{Pipeline, apply_all};
use crate::dataset::{Dataset, ExpandedWriter};
use crate::error::Result;

/// What an augment run wrote.
#[derive(Clone, Debug, Serialize)]
pub struct AugmentSummary {
    pub out: String,
    pub images: usize,
    pub train_images: usize,
    pub copies: usize,
    pub per_class: Vec<usize>,
    pub ops: Vec<String>,
}

/// Writes `copies` augmented versions of each image at `indices`, each drawn from its own seed derived from
/// `(seed, index, copy)`. `on_image` sees each written image (for progress and previews).
pub fn augment_images(
    dataset: &Dataset,
    indices: &[usize],
    pipeline: &Pipeline,
    copies: usize,
    seed: u64,
    writer: &mut ExpandedWriter,
    mut on_image: impl FnMut(&crate::dataset::Image),
) -> Result<()> {
    for &i in indices {
        let sample = &dataset.samples[i];
        let (_, h, w) = sample.image.shape();
        for copy in 0..copies {
            let image_seed = crate::seed::derive(seed, &[i as u64, copy as u64]);
            let transforms = pipeline.sample(&mut crate::seed::rng(image_seed), h, w);
            let out = apply_all(&sample.image, &transforms);
            let stem = format!("aug-{}-{copy}", sample.id.replace(['/', '.'], "_"));
            let params = serde_json::json!({ "ops": transforms, "pipeline": pipeline.to_strings() });
            writer.add(&out, sample.label, &stem, Some(sample.id.clone()), params, image_seed)?;
            on_image(&out);
        }
    }
    Ok(())
}
