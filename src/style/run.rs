//! Dataset mode (style augmentation): stylise the train split in batches, a style drawn per image, labels kept.

use std::path::{Path, PathBuf};

use rand::RngExt;

use super::config::StyleConfig;
use super::transfer::{StyleNet, blended_grams, stylise_batch};
use crate::dataset::{Dataset, ExpandedWriter, Image};
use crate::error::{Result, SynthError};

/// A style image with its weight, as the user named it.
#[derive(Clone, Debug)]
pub struct StyleSource {
    pub path: PathBuf,
    pub weight: f64,
    pub image: Image,
}

/// Parses `path[:weight]` or a folder (every PNG/JPEG in it, weight 1 each) and loads the images.
pub fn load_styles(specs: &[String]) -> Result<Vec<StyleSource>> {
    let mut out = Vec::new();
    for spec in specs {
        let (path, weight) = match spec.rsplit_once(':') {
            Some((p, w)) if w.parse::<f64>().is_ok() && !Path::new(spec).exists() => {
                (PathBuf::from(p), w.parse::<f64>().unwrap_or(1.0))
            }
            _ => (PathBuf::from(spec), 1.0),
        };
        if !weight.is_finite() || weight < 0.0 {
            return Err(SynthError::bad_input(format!(
                "--style {spec}: the weight must be a number >= 0"
            )));
        }
        if path.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&path)
                .map_err(|e| SynthError::io(&path, "listing", e))?
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
                })
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(SynthError::bad_input(format!(
                    "--style {}: the folder has no PNG or JPEG images",
                    path.display()
                )));
            }
            for f in files {
                out.push(StyleSource {
                    image: Image::load(&f)?,
                    path: f,
                    weight,
                });
            }
        } else {
            out.push(StyleSource {
                image: Image::load(&path)?,
                path,
                weight,
            });
        }
    }
    let total: f64 = out.iter().map(|s| s.weight).sum();
    if total <= 0.0 || total.is_nan() {
        return Err(SynthError::bad_input(
            "the style weights sum to 0; give at least one style a positive weight",
        ));
    }
    Ok(out)
}

/// Draws an index with probability proportional to `weights`.
fn draw(weights: &[f64], rng: &mut impl rand::Rng) -> usize {
    let total: f64 = weights.iter().sum();
    let mut u = rng.random::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if u < *w {
            return i;
        }
        u -= w;
    }
    weights.len() - 1
}

/// Stylises `per_image` versions of each image at `indices`, each with a style drawn from its own seed, writing them
/// to `writer`. `on_batch` receives the number of images finished.
pub fn stylise_dataset(
    net: &StyleNet,
    dataset: &Dataset,
    indices: &[usize],
    styles: &[StyleSource],
    config: &StyleConfig,
    writer: &mut ExpandedWriter,
    mut on_batch: impl FnMut(usize),
) -> Result<()> {
    let device = crate::backend::device();
    let side = config.dataset_size;
    let style_grams = styles
        .iter()
        .map(|s| {
            let (w, h) = super::transfer::fit_longest(s.image.width, s.image.height, side.max(128));
            blended_grams(net, &[(s.image.to_rgb().resize(w, h), 1.0)], &device)
        })
        .collect::<Result<Vec<_>>>()?;
    let weights: Vec<f64> = styles.iter().map(|s| s.weight).collect();
    let jobs: Vec<(usize, usize)> = indices
        .iter()
        .flat_map(|&i| (0..config.per_image).map(move |k| (i, k)))
        .collect();
    for batch in jobs.chunks(config.batch_size) {
        let seeds: Vec<u64> = batch
            .iter()
            .map(|&(i, k)| crate::seed::derive(config.seed, &[i as u64, k as u64]))
            .collect();
        let style_of: Vec<usize> = seeds
            .iter()
            .map(|&s| draw(&weights, &mut crate::seed::rng(s)))
            .collect();
        let images: Vec<&Image> = batch.iter().map(|&(i, _)| &dataset.samples[i].image).collect();
        let outputs = stylise_batch(net, &images, &style_of, &style_grams, config, |_| {})?;
        for (((&(i, k), out), &style), seed) in batch.iter().zip(outputs).zip(&style_of).zip(&seeds) {
            let sample = &dataset.samples[i];
            let params = serde_json::json!({
                "style": styles[style].path.display().to_string(),
                "style_set": styles.iter().map(|s| serde_json::json!({"file": s.path.display().to_string(), "weight": s.weight})).collect::<Vec<_>>(),
                "content_weight": config.content_weight,
                "style_weight": config.style_weight,
                "tv_weight": config.tv_weight,
                "steps": config.dataset_iterations,
                "optimizer": config.optimizer,
                "size": side,
            });
            let stem = format!("style-{}-{k}", crate::dataset::id_file_stem(&sample.id));
            writer.add(&out, sample.label, &stem, Some(sample.id.clone()), params, *seed)?;
        }
        on_batch(batch.len());
    }
    Ok(())
}

/// What `synth style` wrote from one content image.
pub struct StyledImage {
    pub out: PathBuf,
    pub image: Image,
    /// The loss terms at every evaluation.
    pub history: Vec<super::transfer::LossTerms>,
}

/// `synth style`'s single-image mode: stylises `content` with the weighted `styles` and writes the PNG to `out`.
/// `on_eval` receives the loss terms at every evaluation (for a progress bar and TensorBoard).
pub fn run_single(
    net: &StyleNet,
    content: &Path,
    styles: &[StyleSource],
    config: &StyleConfig,
    out: crate::dataset::OutFile,
    on_eval: impl FnMut(&super::transfer::LossTerms),
) -> Result<StyledImage> {
    let content = Image::load(content)?;
    let weighted: Vec<(Image, f64)> = styles.iter().map(|s| (s.image.clone(), s.weight)).collect();
    let result = super::stylise_image(net, &content, &weighted, config, on_eval)?;
    let out = out.commit(&result.image.to_png()?)?;
    Ok(StyledImage {
        out,
        image: result.image,
        history: result.history,
    })
}

/// What `synth style`'s dataset mode wrote.
pub struct StyleSetOutcome {
    pub out: PathBuf,
    pub images: usize,
    /// The first images, as a grid.
    pub preview: Option<Image>,
}

/// `synth style`'s dataset mode: stylises the train split of `config.dataset` (at most `max_images`, class-balanced)
/// and writes the expanded dataset into `out`. `on_batch` receives the number of images finished.
pub fn run_dataset(
    net: &StyleNet,
    styles: &[StyleSource],
    config: &StyleConfig,
    out: crate::dataset::OutDir,
    progress: &indicatif::ProgressBar,
) -> Result<StyleSetOutcome> {
    use crate::dataset::{Origin, Provenance, SourceKind, Split, SplitName};
    let dataset = crate::dataset::load_named(&config.dataset, &config.resize)?;
    let split = Split::stratified(&dataset, &config.split)?;
    let mut train = split.indices(&dataset, SplitName::Train)?;
    if config.max_images > 0 {
        let per_class = config.max_images.div_ceil(dataset.classes.len());
        train = crate::classifier::run::per_class_subset(&dataset, &train, per_class, config.seed);
        train.truncate(config.max_images);
    }
    let mut writer = ExpandedWriter::new(out, &dataset.classes, SourceKind::Style)?;
    progress.set_length((train.len() * config.per_image) as u64);
    stylise_dataset(net, &dataset, &train, styles, config, &mut writer, |n| {
        progress.inc(n as u64)
    })?;
    let json = crate::config::to_json(config);
    let origin = Origin::describe(&dataset, &split, SplitName::Train, SourceKind::Style, json);
    let preview = writer.preview_from_disk(64)?;
    let images = writer.count();
    let out = writer.finish(Provenance {
        origin: &origin,
        split: &split,
        config_toml: Some(crate::config::to_toml(config)?),
        preview: preview.clone(),
    })?;
    Ok(StyleSetOutcome { out, images, preview })
}
