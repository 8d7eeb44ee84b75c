//! Sampling a trained generator: latent vectors from per-image seeds (so any image can be regenerated from its
//! manifest line), images for (class, latent) pairs, the per-class grid and the latent interpolation grid, and
//! writing an expanded dataset of `per_class` images per class.

use burn::prelude::*;
use rand_chacha::ChaCha8Rng;

use super::filter::{ClassCount, FilterPolicy, Judge, select_class};
use super::model::Generator;
use crate::dataset::tensor::{labels_to_tensor, tensor_to_images};
use crate::dataset::{ExpandedWriter, Image, image_grid};
use crate::error::Result;
use crate::seed::{derive, rng};

/// Stream tags, so the seeds of different uses of one run seed never coincide.
const SAMPLE_STREAM: u64 = 0x5A_4D50;
const GRID_STREAM: u64 = 0x6752_4944;
const LERP_STREAM: u64 = 0x4C45_5250;

/// Batch size of generation; fixed, so a request gives the same bytes however it is split across calls.
pub const SAMPLE_BATCH: usize = 100;

/// A latent vector drawn from `rng`: standard normal, with components beyond `truncation` redrawn when it is
/// positive (the truncation trick: less variety, more typical images).
pub fn latent_from(rng: &mut ChaCha8Rng, dim: usize, truncation: f64) -> Vec<f32> {
    (0..dim)
        .map(|_| {
            loop {
                let v = crate::seed::standard_normal(rng);
                if truncation <= 0.0 || (v as f64).abs() <= truncation {
                    break v;
                }
            }
        })
        .collect()
}

/// The seed of image `index` of class `label` in a sampling run seeded with `seed` (what the manifest records).
pub fn latent_seed(seed: u64, label: usize, index: usize) -> u64 {
    derive(seed, &[SAMPLE_STREAM, label as u64, index as u64])
}

/// The latent vector a latent seed stands for.
pub fn latent(latent_seed: u64, dim: usize, truncation: f64) -> Vec<f32> {
    latent_from(&mut rng(latent_seed), dim, truncation)
}

/// `[n, dim]` latents as a tensor.
pub fn latents_to_tensor(latents: &[Vec<f32>], device: &Device) -> Tensor<2> {
    let dim = latents.first().map_or(0, Vec::len);
    let flat: Vec<f32> = latents.iter().flatten().copied().collect();
    Tensor::from_data(TensorData::new(flat, [latents.len(), dim]), device)
}

/// Maps generator output in [-1, 1] to images in [0, 1].
pub fn to_unit_range(images: Tensor<4>) -> Tensor<4> {
    images.add_scalar(1.0).mul_scalar(0.5).clamp(0.0, 1.0)
}

/// Maps images in [0, 1] to the generator's tanh range [-1, 1], where the discriminator sees real and fake alike.
pub fn to_model_range(images: Tensor<4>) -> Tensor<4> {
    images.mul_scalar(2.0).sub_scalar(1.0)
}

/// Images for `(label, latent)` pairs from an inference generator (eval-mode batch norm), in [0, 1], generated in
/// batches of [`SAMPLE_BATCH`].
pub fn generate(g: &Generator, labels: &[usize], latents: &[Vec<f32>], device: &Device) -> Result<Vec<Image>> {
    let mut out = Vec::with_capacity(labels.len());
    for (lab, lat) in labels.chunks(SAMPLE_BATCH).zip(latents.chunks(SAMPLE_BATCH)) {
        let images = g.forward(latents_to_tensor(lat, device), labels_to_tensor(lab, device));
        out.extend(tensor_to_images(to_unit_range(images))?);
    }
    Ok(out)
}

/// A grid with one row per class and `cols` columns; column k uses the same latent in every row, so rows differ
/// only by the label (the check that each row shows its class).
pub fn class_grid(g: &Generator, classes: usize, cols: usize, seed: u64, truncation: f64) -> Result<Image> {
    let device = g.project.weight.device();
    let column_latents: Vec<Vec<f32>> = (0..cols)
        .map(|k| latent(derive(seed, &[GRID_STREAM, k as u64]), g.latent_dim, truncation))
        .collect();
    let labels: Vec<usize> = (0..classes).flat_map(|c| std::iter::repeat_n(c, cols)).collect();
    let latents: Vec<Vec<f32>> = (0..classes).flat_map(|_| column_latents.iter().cloned()).collect();
    let images = generate(g, &labels, &latents, &device)?;
    image_grid(&images, cols).ok_or_else(|| crate::SynthError::internal("an empty sample grid"))
}

/// A grid with one row per class: `steps` images along the straight line between two latents (the same two for
/// every row), showing how smoothly the generator maps latent space to images.
pub fn interpolation_grid(g: &Generator, classes: usize, steps: usize, seed: u64, truncation: f64) -> Result<Image> {
    let device = g.project.weight.device();
    let a = latent(derive(seed, &[LERP_STREAM, 0]), g.latent_dim, truncation);
    let b = latent(derive(seed, &[LERP_STREAM, 1]), g.latent_dim, truncation);
    let steps = steps.max(2);
    let line: Vec<Vec<f32>> = (0..steps)
        .map(|k| {
            let t = k as f32 / (steps - 1) as f32;
            a.iter().zip(&b).map(|(x, y)| x * (1.0 - t) + y * t).collect()
        })
        .collect();
    let labels: Vec<usize> = (0..classes).flat_map(|c| std::iter::repeat_n(c, steps)).collect();
    let latents: Vec<Vec<f32>> = (0..classes).flat_map(|_| line.iter().cloned()).collect();
    let images = generate(g, &labels, &latents, &device)?;
    image_grid(&images, steps).ok_or_else(|| crate::SynthError::internal("an empty interpolation grid"))
}

/// What a sampling pass records about each image, beside its latent seed.
#[derive(Clone, Debug)]
pub struct SampleSpec {
    /// Images per class.
    pub per_class: usize,
    pub seed: u64,
    pub truncation: f64,
    /// The checkpoint the generator came from, as recorded in the manifest.
    pub checkpoint: String,
    /// Which weights: `ema` or `generator`.
    pub weights: String,
    /// The class-consistency filter, when on (its judge is passed to [`write_samples`]).
    pub filter: Option<FilterPolicy>,
}

/// What a sampling pass wrote: the images with their labels, class-major, and the filter's per-class counts (empty
/// without a filter).
pub struct Written {
    pub images: Vec<(Image, usize)>,
    pub counts: Vec<ClassCount>,
}

/// Generates `per_class` images of every class and writes them (`<class>/gan-<class>-<index>.png`, manifest params:
/// class, latent seed, checkpoint, truncation; with the filter also the judge's probability of the class and whether
/// it reached tau). Without a filter image `index` is latent `index`; with one, `index` is the latent index of a kept
/// image, so any image can be regenerated from its name or latent seed. Returns the images with their labels,
/// class-major, for metrics, and the filter's per-class counts.
pub fn write_samples(
    g: &Generator,
    classes: &[String],
    spec: &SampleSpec,
    judge: Option<&dyn Judge>,
    writer: &mut ExpandedWriter,
    mut on_image: impl FnMut(),
) -> Result<Written> {
    match (spec.filter, judge) {
        (Some(policy), Some(judge)) => write_filtered(g, classes, spec, policy, judge, writer, on_image),
        (Some(_), None) => Err(crate::SynthError::internal("a filtered sampling pass without a judge")),
        (None, _) => {
            let jobs: Vec<(usize, usize)> = (0..classes.len())
                .flat_map(|c| (0..spec.per_class).map(move |i| (c, i)))
                .collect();
            let mut out = Vec::with_capacity(jobs.len());
            for chunk in jobs.chunks(SAMPLE_BATCH) {
                let (images, seeds) = draw(g, spec, chunk)?;
                for ((image, &(c, i)), &s) in images.into_iter().zip(chunk).zip(&seeds) {
                    let params = image_params(classes, spec, c, s);
                    writer.add(&image, c, &format!("gan-{c}-{i:05}"), None, params, s)?;
                    on_image();
                    out.push((image, c));
                }
            }
            Ok(Written {
                images: out,
                counts: Vec::new(),
            })
        }
    }
}

/// The images and latent seeds of `(class, index)` jobs.
fn draw(g: &Generator, spec: &SampleSpec, jobs: &[(usize, usize)]) -> Result<(Vec<Image>, Vec<u64>)> {
    let device = g.project.weight.device();
    let seeds: Vec<u64> = jobs.iter().map(|&(c, i)| latent_seed(spec.seed, c, i)).collect();
    let latents: Vec<Vec<f32>> = seeds
        .iter()
        .map(|&s| latent(s, g.latent_dim, spec.truncation))
        .collect();
    let labels: Vec<usize> = jobs.iter().map(|&(c, _)| c).collect();
    Ok((generate(g, &labels, &latents, &device)?, seeds))
}

fn image_params(classes: &[String], spec: &SampleSpec, c: usize, latent_seed: u64) -> serde_json::Value {
    serde_json::json!({
        "class": classes[c],
        "latent_seed": latent_seed,
        "checkpoint": spec.checkpoint,
        "weights": spec.weights,
        "truncation": spec.truncation,
    })
}

/// [`write_samples`] through the class-consistency filter, one class at a time.
fn write_filtered(
    g: &Generator,
    classes: &[String],
    spec: &SampleSpec,
    policy: FilterPolicy,
    judge: &dyn Judge,
    writer: &mut ExpandedWriter,
    mut on_image: impl FnMut(),
) -> Result<Written> {
    let mut out = Vec::with_capacity(classes.len() * spec.per_class);
    let mut counts = Vec::with_capacity(classes.len());
    for c in 0..classes.len() {
        let selection = select_class(c, spec.per_class, policy, judge, |start, n| {
            let jobs: Vec<(usize, usize)> = (start..start + n).map(|i| (c, i)).collect();
            Ok(draw(g, spec, &jobs)?.0)
        })?;
        counts.push(selection.count());
        for candidate in selection.kept {
            let s = latent_seed(spec.seed, c, candidate.index);
            let mut params = image_params(classes, spec, c, s);
            if let Some(o) = params.as_object_mut() {
                o.insert("judge_probability".into(), candidate.probability.into());
                o.insert("passed_filter".into(), candidate.passed.into());
                o.insert("filter_tau".into(), policy.tau.into());
            }
            let name = format!("gan-{c}-{:05}", candidate.index);
            writer.add(&candidate.image, c, &name, None, params, s)?;
            on_image();
            out.push((candidate.image, c));
        }
    }
    Ok(Written { images: out, counts })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latents_are_seeded_normal_and_truncated() {
        let a = latent(7, 4000, 0.0);
        assert_eq!(a, latent(7, 4000, 0.0));
        assert_ne!(a, latent(8, 4000, 0.0));
        let mean = a.iter().sum::<f32>() / a.len() as f32;
        let var = a.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / a.len() as f32;
        assert!(mean.abs() < 0.1 && (var - 1.0).abs() < 0.1, "mean {mean} var {var}");
        assert!(latent(7, 4000, 0.5).iter().all(|v| v.abs() <= 0.5));
    }
}
