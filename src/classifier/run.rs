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
        BackboneKind::Vgg16 | BackboneKind::Vgg19 | BackboneKind::Resnet50 => Ok((c, config.input_size)),
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
    let pretrained = config.backbone.pretrained();
    let (model, report) = fit(model, &data.train, &data.val, config, pretrained, monitor)?;
    let test = evaluate(&model, &data.test, data.classes.len(), config.batch_size)?;
    Ok((model, report, test))
}

/// Evaluates a model (any device; inference copy used) on prepared images.
pub fn evaluate(model: &Classifier, set: &PreparedSet, classes: usize, batch: usize) -> Result<Evaluation> {
    let predicted = predict(&model.valid(), set, batch)?;
    Ok(Evaluation::new(&predicted, &set.labels, classes))
}

/// What `synth classifier train` wrote and measured.
pub struct TrainOutcome {
    /// The committed run folder (weights, meta.json, split.json, fit.json, config.toml).
    pub out: std::path::PathBuf,
    pub train_images: usize,
    pub report: FitReport,
    pub test: Evaluation,
}

/// `synth classifier train`: fits `config` on its train split (plus the `extras` sets, each through the leakage
/// guard), tests it, and writes the checkpoint with its split, fit history and config into `out`. With `tb_dir`,
/// the fit's curves and the test accuracy go to a TensorBoard log there (created once the data has loaded).
pub fn train_run(
    config: &ClassifierConfig,
    extras: &[std::path::PathBuf],
    out: crate::dataset::OutDir,
    tb_dir: Option<&std::path::Path>,
    quiet: bool,
) -> Result<TrainOutcome> {
    use crate::error::IoContext;
    config.validate()?;
    let dataset = crate::dataset::load_named(&config.dataset, &config.resize)?;
    let split = Split::stratified(&dataset, &config.split)?;
    let train = per_class_subset(
        &dataset,
        &split.indices(&dataset, SplitName::Train)?,
        config.per_class,
        config.seed,
    );
    let extras: Vec<Dataset> = extras
        .iter()
        .map(|p| crate::dataset::expanded::open_for_training(p, &dataset, &split).map(|set| set.dataset))
        .collect::<Result<_>>()?;
    let extra_refs: Vec<&Dataset> = extras.iter().collect();
    let data = prepare_experiment(&dataset, &split, &train, &extra_refs, config, &crate::backend::device())?;
    let mut log = tb_dir.map(crate::telemetry::EventLog::create).transpose()?;
    let mut monitor = FitMonitor {
        quiet,
        log: log.as_mut(),
    };
    let (model, report, test) = train_and_test(config, &data, &mut monitor)?;
    if let Some(log) = &mut log {
        log.scalar("classifier/test_accuracy", test.accuracy, 0);
        log.flush();
    }

    let staging = out.path();
    let checkpoint = super::Checkpoint::of_fit(config, &data, &dataset, &split, test.accuracy);
    checkpoint.save(&model, staging)?;
    split.save(&staging.join(crate::dataset::split::SPLIT_FILE))?;
    let report_path = staging.join("fit.json");
    std::fs::write(&report_path, crate::config::pretty_json(&report)?).at(&report_path, "writing")?;
    std::fs::write(staging.join("config.toml"), crate::config::to_toml(config)?).at(staging, "writing")?;
    Ok(TrainOutcome {
        out: out.commit()?,
        train_images: data.train.len(),
        report,
        test,
    })
}

/// Which saved model `synth classifier eval` scores, on what.
pub struct EvalRequest<'a> {
    /// A run folder of `synth classifier train`.
    pub model: &'a std::path::Path,
    /// Dataset to score; none = the one the model was trained on.
    pub dataset: Option<String>,
    /// Size policy; none = the model's.
    pub resize: Option<String>,
    /// The part of the model's own split to score.
    pub split: SplitName,
}

/// A saved model scored on a part of its split, with what a robust evaluation needs to go on.
pub struct CheckpointEvaluation {
    pub model: Classifier,
    pub dataset: String,
    pub classes: Vec<String>,
    /// The images scored, prepared at the model's input size, and their dataset indices (the attack's seed keys).
    pub set: PreparedSet,
    pub indices: Vec<usize>,
    pub evaluation: Evaluation,
    /// The confusion matrix, written into the model's folder.
    pub confusion_png: std::path::PathBuf,
}

/// Scores a saved model on `request.split` of its own split (so its test images stay the unseen ones) and writes
/// confusion-<split>.png beside it. `check` runs on the model's class count before any image is prepared.
pub fn evaluate_checkpoint(
    request: &EvalRequest,
    check: impl FnOnce(usize) -> Result<()>,
) -> Result<CheckpointEvaluation> {
    use crate::error::IoContext;
    let device = crate::backend::device();
    let (meta, model) = super::Checkpoint::load(request.model, &device)?;
    let spec = request.dataset.clone().unwrap_or_else(|| meta.dataset.clone());
    let resize = request.resize.clone().unwrap_or_else(|| meta.config.resize.clone());
    let dataset = crate::dataset::load_named(&spec, &resize)?;
    if dataset.classes != meta.classes {
        return Err(SynthError::bad_input(format!(
            "model {} was trained on classes [{}], dataset {spec} has [{}]",
            request.model.display(),
            meta.classes.join(", "),
            dataset.classes.join(", ")
        )));
    }
    check(meta.classes.len())?;
    let split = Split::stratified(&dataset, &meta.config.split)?;
    let indices = split.indices(&dataset, request.split)?;
    let shape = dataset.require_uniform_shape()?;
    let input = input_shape(&meta.config, shape)?;
    let images: Vec<_> = indices.iter().map(|&i| &dataset.samples[i].image).collect();
    let labels = indices.iter().map(|&i| dataset.samples[i].label).collect();
    let side = (shape.1 != input.1 || shape.2 != input.1).then_some(input.1);
    let set = PreparedSet::new(&images, labels, side, &device)?;
    let evaluation = evaluate(&model, &set, meta.classes.len(), meta.config.batch_size)?;
    let png = request.model.join(format!("confusion-{}.png", request.split));
    let tmp = png.with_extension("png.tmp");
    std::fs::write(&tmp, evaluation.confusion_image().to_png()?).at(&tmp, "writing")?;
    std::fs::rename(&tmp, &png).at(&png, "writing")?;
    Ok(CheckpointEvaluation {
        model,
        dataset: spec,
        classes: meta.classes,
        set,
        indices,
        evaluation,
        confusion_png: png,
    })
}
