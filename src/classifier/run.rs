//! A whole classifier experiment on one dataset and split: pick the training images, prepare every part, fit, test.
//! `synth classifier train` and eval-gain both run through here, so they measure the same way.

use burn::module::Module;
use burn::prelude::*;

use super::config::ClassifierConfig;
use super::fit::{FitMonitor, FitReport, PreparedSet, fit, predict};
use super::model::{BackboneKind, Classifier};
use super::report::Evaluation;
use crate::dataset::{Dataset, Image, Split, SplitName};
use crate::error::{Result, SynthError};

/// Up to `per_class` indices of each class from `indices`, drawn with `seed` (all when `per_class` is 0), in
/// dataset order.
pub fn per_class_subset(dataset: &Dataset, indices: &[usize], per_class: usize, seed: u64) -> Vec<usize> {
    if per_class == 0 {
        return indices.to_vec();
    }
    let members = indices.iter().map(|&i| (i, dataset.samples[i].label));
    let mut chosen = crate::dataset::split::class_balanced_draw(members, dataset.classes.len(), per_class, |class| {
        crate::seed::derive(seed, &[0x5EED, class as u64])
    });
    chosen.sort_unstable();
    chosen
}

/// `(channels, side)` of the network input for a dataset of `(channels, height, width)` images.
pub fn input_shape(config: &ClassifierConfig, (c, h, w): (usize, usize, usize)) -> Result<(usize, usize)> {
    match config.backbone {
        BackboneKind::Vgg16 => Ok((c, config.input_size)),
        BackboneKind::Cnn if h == w && h >= 4 => Ok((c, h)),
        BackboneKind::Cnn => Err(SynthError::bad_input(format!(
            "the cnn backbone needs square images of side >= 4 (got {w}x{h}); pass --resize N"
        ))),
    }
}

/// Every part of an experiment, ready for the network.
pub struct ExperimentData {
    pub train: PreparedSet,
    pub val: PreparedSet,
    pub test: PreparedSet,
    pub classes: Vec<String>,
    pub input: (usize, usize),
}

fn prepare_part(
    images: Vec<&Image>,
    labels: Vec<usize>,
    input: (usize, usize),
    device: &Device,
) -> Result<PreparedSet> {
    let side = images
        .first()
        .is_some_and(|i| i.height != input.1 || i.width != input.1)
        .then_some(input.1);
    PreparedSet::new(&images, labels, side, device)
}

/// The real train images (`train_indices`) plus every extra image, and the real val and test parts of `split`.
pub fn prepare_experiment(
    dataset: &Dataset,
    split: &Split,
    train_indices: &[usize],
    extras: &[&Dataset],
    config: &ClassifierConfig,
    device: &Device,
) -> Result<ExperimentData> {
    check_trainable(dataset, split, train_indices.len())?;
    let shape = dataset.require_uniform_shape()?;
    let input = input_shape(config, shape)?;
    let mut images: Vec<&Image> = train_indices.iter().map(|&i| &dataset.samples[i].image).collect();
    let mut labels: Vec<usize> = train_indices.iter().map(|&i| dataset.samples[i].label).collect();
    let mut resized_extras = Vec::new();
    for extra in extras {
        for s in &extra.samples {
            if s.image.shape() == shape {
                images.push(&s.image);
            } else {
                resized_extras.push(s.image.resize(shape.2, shape.1));
            }
            labels.push(s.label);
        }
    }
    let mut tail = resized_extras.iter();
    let images: Vec<&Image> = images.into_iter().chain(std::iter::from_fn(|| tail.next())).collect();
    let part = |name| -> Result<PreparedSet> {
        let idx = split.indices(dataset, name)?;
        prepare_part(
            idx.iter().map(|&i| &dataset.samples[i].image).collect(),
            idx.iter().map(|&i| dataset.samples[i].label).collect(),
            input,
            device,
        )
    };
    Ok(ExperimentData {
        train: prepare_part(images, labels, input, device)?,
        val: part(SplitName::Val)?,
        test: part(SplitName::Test)?,
        classes: dataset.classes.clone(),
        input,
    })
}

/// Refuses, naming the flag to change, an experiment that cannot measure anything: fewer than two classes (every
/// prediction is right), or an empty train, validation (early stopping) or test (the score) part.
pub fn check_trainable(dataset: &Dataset, split: &Split, train_images: usize) -> Result<()> {
    if dataset.classes.len() < 2 {
        return Err(SynthError::bad_input(format!(
            "dataset {} has {} class: a classifier needs at least two",
            dataset.name,
            dataset.classes.len()
        )));
    }
    let fractions = format!("(--val {}, --test {})", split.config.val, split.config.test);
    if train_images == 0 {
        return Err(SynthError::bad_input(format!(
            "the train part of {} is empty {fractions}: lower --val or --test",
            dataset.name
        )));
    }
    for (part, flag) in [(SplitName::Val, "--val"), (SplitName::Test, "--test")] {
        if split.ids(part).is_empty() {
            return Err(SynthError::bad_input(format!(
                "the {part} part of {} is empty {fractions}: raise {flag} so that every class keeps at least one \
                 {part} image",
                dataset.name
            )));
        }
    }
    Ok(())
}

/// Builds, fits and tests a classifier. Returns the best weights, the fit report and the test evaluation.
pub fn train_and_test(
    config: &ClassifierConfig,
    data: &ExperimentData,
    monitor: &mut FitMonitor,
) -> Result<(Classifier, FitReport, Evaluation)> {
    let device = crate::backend::autodiff_device();
    let model = super::build_model(config, data.classes.len(), data.input, &device)?;
    let pretrained = config.backbone == BackboneKind::Vgg16;
    let (model, report) = fit(model, &data.train, &data.val, config, pretrained, monitor)?;
    let test = evaluate(&model, &data.test, data.classes.len(), config.batch_size)?;
    Ok((model, report, test))
}

/// Evaluates a model (any device; inference copy used) on prepared images.
pub fn evaluate(model: &Classifier, set: &PreparedSet, classes: usize, batch: usize) -> Result<Evaluation> {
    let predicted = predict(&model.valid(), set, batch)?;
    Ok(Evaluation::new(&predicted, &set.labels, classes))
}
