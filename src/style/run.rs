//! Dataset mode (style augmentation): stylise the train split in batches, a style drawn per image, labels kept.

use std::path::{Path, PathBuf};

use rand::RngExt;

use super::config::{StyleConfig, StyleInit};
use super::transfer::{StyleNet, blended_grams, stylise_batch, texture_start};
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

/// A strength drawn uniformly from the config's range (no draw when the range is one value).
fn draw_strength(config: &StyleConfig, rng: &mut impl rand::Rng) -> f64 {
    if config.strength_max > config.strength_min {
        rng.random_range(config.strength_min..=config.strength_max)
    } else {
        config.strength_max
    }
}

/// `content + strength * (stylised - content)`, pixel by pixel: strength 0 is the content image, 1 the stylised one.
/// Both have the content image's size; a grey content image blended toward a colour one is replicated to RGB first.
pub fn blend_toward(content: &Image, stylised: &Image, strength: f64) -> Image {
    if strength >= 1.0 {
        return stylised.clone();
    }
    let rgb;
    let content = if content.channels < stylised.channels {
        rgb = content.to_rgb();
        &rgb
    } else {
        content
    };
    let s = strength as f32;
    let data = content
        .data
        .iter()
        .zip(&stylised.data)
        .map(|(&c, &t)| (c + s * (t - c)).clamp(0.0, 1.0))
        .collect();
    Image {
        channels: content.channels,
        height: content.height,
        width: content.width,
        data,
    }
}

/// How many of a style set's images a classifier fitted on the real images still gives their label: a stylisation
/// that buries the content shows as a low share.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct LabelAgreement {
    pub agreed: usize,
    pub images: usize,
}

impl LabelAgreement {
    /// The share agreed, in [0, 1] (0 for no image).
    pub fn share(&self) -> f64 {
        if self.images == 0 {
            0.0
        } else {
            self.agreed as f64 / self.images as f64
        }
    }
}

/// A classifier fitted on the real images, and the `(channels, side)` it takes them at (a colour set is judged by a
/// grey classifier through its luminance).
pub struct Judge<'a> {
    pub model: &'a crate::classifier::Classifier,
    pub input: (usize, usize),
}

/// Stylises `per_image` versions of each image at `indices`, each with a style and a strength drawn from its own
/// seed, writing them to `writer`. With a `judge`, returns how many written images it still labels correctly.
/// `on_batch` receives the number finished.
#[allow(clippy::too_many_arguments)]
pub fn stylise_dataset(
    net: &StyleNet,
    dataset: &Dataset,
    indices: &[usize],
    styles: &[StyleSource],
    config: &StyleConfig,
    writer: &mut ExpandedWriter,
    judge: Option<&Judge>,
    mut on_batch: impl FnMut(usize),
) -> Result<Option<LabelAgreement>> {
    let mut agreement = judge.map(|_| LabelAgreement::default());
    let device = crate::backend::device();
    let side = config.dataset_size;
    // Each style at the scale its Gram matrices are taken at; a texture start crops the same image.
    let textures: Vec<Image> = styles
        .iter()
        .map(|s| {
            let (w, h) = super::transfer::fit_longest(s.image.width, s.image.height, side.max(128));
            s.image.to_rgb().resize(w, h)
        })
        .collect();
    let style_grams = textures
        .iter()
        .map(|t| blended_grams(net, &[(t.clone(), 1.0)], &device))
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
        // One stream per image: its style first, then its strength (so a strength range leaves the styles as drawn).
        let (style_of, strengths): (Vec<usize>, Vec<f64>) = seeds
            .iter()
            .map(|&s| {
                let mut rng = crate::seed::rng(s);
                let style = draw(&weights, &mut rng);
                (style, draw_strength(config, &mut rng))
            })
            .unzip();
        let images: Vec<&Image> = batch.iter().map(|&(i, _)| &dataset.samples[i].image).collect();
        let starts: Option<Vec<Image>> = (config.dataset_init == StyleInit::Texture).then(|| {
            images
                .iter()
                .zip(&style_of)
                .zip(&seeds)
                .map(|((image, &style), &seed)| texture_start(image, &textures[style], crate::seed::derive(seed, &[1])))
                .collect()
        });
        let outputs = stylise_batch(net, &images, starts.as_deref(), &style_of, &style_grams, config, |_| {})?;
        let outputs: Vec<Image> = batch
            .iter()
            .zip(outputs)
            .zip(&strengths)
            .map(|((&(i, _), stylised), &s)| blend_toward(&dataset.samples[i].image, &stylised, s))
            .collect();
        if let (Some(judge), Some(agreement)) = (judge, agreement.as_mut()) {
            let labels: Vec<usize> = batch.iter().map(|&(i, _)| dataset.samples[i].label).collect();
            agreement.agreed += agreed(judge, &outputs, &labels, dataset.classes.len())?;
            agreement.images += outputs.len();
        }
        for (j, (&(i, k), out)) in batch.iter().zip(outputs).enumerate() {
            let (style, strength, seed) = (style_of[j], strengths[j], &seeds[j]);
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
                "strength": strength,
                "colour": config.colour,
                "init": config.dataset_init,
            });
            let stem = format!("style-{}-{k}", crate::dataset::id_file_stem(&sample.id));
            writer.add_derived(&out, sample, &stem, params, *seed)?;
        }
        on_batch(batch.len());
    }
    Ok(agreement)
}

/// How many of `images` the judge labels as `labels`.
fn agreed(judge: &Judge, images: &[Image], labels: &[usize], classes: usize) -> Result<usize> {
    let (channels, side) = judge.input;
    let conformed: Vec<Image> = images.iter().map(|i| i.conform(channels, side)).collect();
    let refs: Vec<&Image> = conformed.iter().collect();
    let set = crate::classifier::PreparedSet::new(&refs, labels.to_vec(), None, &crate::backend::device())?;
    let evaluation = crate::classifier::run::evaluate(judge.model, &set, classes, images.len().max(1))?;
    Ok((0..classes).map(|c| evaluation.confusion[c][c]).sum())
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
    /// With a judge: how many images it still labels correctly.
    pub agreement: Option<LabelAgreement>,
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
    let judge = config
        .judge
        .as_deref()
        .map(|dir| load_judge(Path::new(dir), &dataset))
        .transpose()?;
    let judge_ref = judge.as_ref().map(|(model, input)| Judge { model, input: *input });
    let mut writer = ExpandedWriter::new(out, &dataset.classes, SourceKind::Style)?;
    progress.set_length((train.len() * config.per_image) as u64);
    let agreement = stylise_dataset(
        net,
        &dataset,
        &train,
        styles,
        config,
        &mut writer,
        judge_ref.as_ref(),
        |n| progress.inc(n as u64),
    )?;
    let mut json = crate::config::to_json(config);
    if let Some(a) = agreement {
        json["label_agreement"] = serde_json::json!({"share": a.share(), "agreed": a.agreed, "images": a.images});
    }
    let origin = Origin::describe(&dataset, &split, SplitName::Train, SourceKind::Style, json);
    let preview = writer.preview_from_disk(64)?;
    let images = writer.count();
    let out = writer.finish(Provenance {
        origin: &origin,
        split: &split,
        config_toml: Some(crate::config::to_toml(config)?),
        preview: preview.clone(),
    })?;
    Ok(StyleSetOutcome {
        out,
        images,
        preview,
        agreement,
    })
}

/// A saved classifier to judge a style set with; refused unless it was trained on the dataset's classes.
fn load_judge(dir: &Path, dataset: &Dataset) -> Result<(crate::classifier::Classifier, (usize, usize))> {
    let (meta, model) = crate::classifier::Checkpoint::load(dir, &crate::backend::device())?;
    if meta.classes != dataset.classes {
        return Err(SynthError::bad_input(format!(
            "judge {} was trained on classes [{}], dataset {} has [{}]",
            dir.display(),
            meta.classes.join(", "),
            dataset.name,
            dataset.classes.join(", ")
        )));
    }
    Ok((model, meta.input))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(channels: usize, seed: u64) -> Image {
        let mut rng = crate::seed::rng(seed);
        let data = (0..channels * 28 * 28)
            .map(|_| rng.random_range(0.0f32..=1.0))
            .collect();
        Image {
            channels,
            height: 28,
            width: 28,
            data,
        }
    }

    /// Strength 0 writes the content image and 1 the stylised one, byte for byte as PNGs; in between each pixel
    /// lies on the segment between them.
    #[test]
    fn strength_interpolates_from_the_content_to_the_stylised_image() {
        let (content, stylised) = (image(1, 1), image(1, 2));
        let png = |i: &Image| i.to_png().unwrap();
        assert_eq!(png(&blend_toward(&content, &stylised, 0.0)), png(&content));
        assert_eq!(png(&blend_toward(&content, &stylised, 1.0)), png(&stylised));
        let half = blend_toward(&content, &stylised, 0.5);
        for ((&h, &c), &s) in half.data.iter().zip(&content.data).zip(&stylised.data) {
            assert!((h - (c + s) / 2.0).abs() < 1e-6);
        }
    }

    /// A grey content image blended toward a colour result (`colour`) is its RGB copy at strength 0.
    #[test]
    fn grey_content_blends_toward_a_colour_result_as_rgb() {
        let (content, stylised) = (image(1, 3), image(3, 4));
        let png = |i: &Image| i.to_png().unwrap();
        assert_eq!(png(&blend_toward(&content, &stylised, 0.0)), png(&content.to_rgb()));
        let half = blend_toward(&content, &stylised, 0.5);
        assert_eq!(half.shape(), (3, 28, 28));
        assert!((half.data[784] - (content.data[0] + stylised.data[784]) / 2.0).abs() < 1e-6);
    }

    /// Strengths are drawn inside the configured range, reproducibly per seed, and spread over it.
    #[test]
    fn strengths_are_drawn_inside_the_range() {
        let config = StyleConfig {
            strength_min: 0.2,
            strength_max: 0.6,
            ..StyleConfig::default()
        };
        let draws: Vec<f64> = (0..200)
            .map(|s| draw_strength(&config, &mut crate::seed::rng(s)))
            .collect();
        assert!(draws.iter().all(|s| (0.2..=0.6).contains(s)));
        assert!(draws.iter().any(|&s| s < 0.3) && draws.iter().any(|&s| s > 0.5));
        assert_eq!(draws[7], draw_strength(&config, &mut crate::seed::rng(7)));
        let fixed = StyleConfig {
            strength_min: 1.0,
            strength_max: 1.0,
            ..StyleConfig::default()
        };
        assert_eq!(draw_strength(&fixed, &mut crate::seed::rng(3)), 1.0);
    }
}
