//! Writing augmented copies of the training images as an expanded dataset.

use serde::Serialize;

use super::AugmentConfig;
use super::pipeline::{Pipeline, apply_all};
use crate::dataset::{
    Dataset, ExpandedWriter, Image, Origin, OutDir, Provenance, SourceKind, Split, SplitName, image_grid,
};
use crate::error::{Result, SynthError};

/// Images shown in preview.png.
const PREVIEW: usize = 64;

/// A finished augment run: its summary and the preview grid (for TensorBoard).
pub struct AugmentOutcome {
    pub summary: AugmentSummary,
    pub preview: Option<Image>,
}

/// Writes `config.copies` augmented copies of every train-split image of `config.dataset` to `out` (claimed by the
/// caller before any work), applying `pipelines` (the parsed `ops`, or a policy's sub-policies), with its
/// provenance. `progress` counts the written images.
pub fn run(
    config: &AugmentConfig,
    pipelines: &[Pipeline],
    out: OutDir,
    progress: &indicatif::ProgressBar,
) -> Result<AugmentOutcome> {
    config.validate()?;
    let dataset = crate::dataset::load_named(&config.dataset, &config.resize)?;
    let split = Split::stratified(&dataset, &config.split)?;
    let train = split.indices(&dataset, SplitName::Train)?;
    if train.is_empty() {
        return Err(SynthError::bad_input(format!(
            "the train split of {} is empty: lower --val ({}) or --test ({})",
            dataset.name, config.split.val, config.split.test
        )));
    }
    let mut writer = ExpandedWriter::new(out, &dataset.classes, SourceKind::Augment)?;
    let mut kept = Vec::with_capacity(PREVIEW);
    progress.set_length((train.len() * config.copies) as u64);
    augment_images(
        &dataset,
        &train,
        pipelines,
        config.copies,
        config.seed,
        &mut writer,
        |image| {
            if kept.len() < PREVIEW {
                kept.push(image.clone());
            }
            progress.inc(1);
        },
    )?;
    let origin = Origin::describe(
        &dataset,
        &split,
        SplitName::Train,
        SourceKind::Augment,
        crate::config::to_json(config),
    );
    let preview = image_grid(&kept, 8);
    let images = writer.count();
    let root = writer.finish(Provenance {
        origin: &origin,
        split: &split,
        config_toml: Some(crate::config::to_toml(config)?),
        preview: preview.clone(),
    })?;
    let per_class = dataset
        .subset(&train)
        .class_counts()
        .iter()
        .map(|n| n * config.copies)
        .collect();
    Ok(AugmentOutcome {
        summary: AugmentSummary {
            out: root.display().to_string(),
            images,
            train_images: train.len(),
            copies: config.copies,
            per_class,
            ops: config.ops.clone(),
        },
        preview,
    })
}

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
            writer.add_derived(&out, sample, &stem, params, image_seed)?;
            on_image(&out);
        }
    }
    Ok(())
}
