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
/// `(seed, index, copy)`. With several pipelines (a searched policy's sub-policies) each copy applies one, drawn
/// uniformly from that seed. `on_image` sees each written image (for progress and previews).
pub fn augment_images(
    dataset: &Dataset,
    indices: &[usize],
    pipelines: &[Pipeline],
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
            let mut r = crate::seed::rng(image_seed);
            // One pipeline: no draw, so plain augment runs keep their bytes.
            let chosen = if pipelines.len() > 1 {
                rand::RngExt::random_range(&mut r, 0..pipelines.len())
            } else {
                0
            };
            let pipeline = &pipelines[chosen];
            let transforms = pipeline.sample(&mut r, h, w);
            let out = apply_all(&sample.image, &transforms);
            let stem = format!("aug-{}-{copy}", crate::dataset::id_file_stem(&sample.id));
            let params = if pipelines.len() > 1 {
                serde_json::json!({ "ops": transforms, "pipeline": pipeline.to_strings(), "sub_policy": chosen })
            } else {
                serde_json::json!({ "ops": transforms, "pipeline": pipeline.to_strings() })
            };
            writer.add(&out, sample.label, &stem, Some(sample.id.clone()), params, image_seed)?;
            on_image(&out);
        }
    }
    Ok(())
}
