//! Attacking a whole set of images batch by batch: clean and adversarial predictions, per-image success and
//! perturbation norms, and the summary numbers `synth adversarial` and `synth classifier eval --attack` print.

use burn::module::Module;
use burn::prelude::*;
use serde::Serialize;

use super::config::AdversarialConfig;
use crate::attack::{AttackConfig, AttackKind, Goal, Target, attack, perturbation_norms, quantize_within};
use crate::classifier::run::{per_class_subset, prepare_experiment, train_and_test};
use crate::classifier::{Classifier, ClassifierConfig, FitMonitor, PreparedSet, argmax_rows};
use crate::dataset::tensor::tensor_values;
use std::path::{Path, PathBuf};

use crate::dataset::{
    Dataset, ExpandedWriter, Image, Origin, OutDir, Provenance, SourceKind, Split, SplitName, image_grid,
};
use crate::error::{Result, SynthError};

/// What the attack did to one image.
#[derive(Clone, Debug, Serialize)]
pub struct ImageOutcome {
    /// True label.
    pub label: usize,
    /// The class the attack aimed at (targeted attacks).
    pub target: Option<usize>,
    pub clean_prediction: usize,
    pub adversarial_prediction: usize,
    /// Untargeted: the adversarial image is misclassified. Targeted: it is classified as the target.
    pub success: bool,
    /// L-inf and L2 length of the perturbation (of the 8-bit image when the run quantises).
    pub linf: f32,
    pub l2: f32,
    /// Seed of this image's random starts and random target.
    pub seed: u64,
}

/// The adversarial images of a set and what happened to each.
pub struct AttackRun {
    pub images: Vec<Image>,
    pub outcomes: Vec<ImageOutcome>,
}

/// The numbers a run reports.
#[derive(Clone, Debug, Serialize)]
pub struct AttackSummary {
    pub images: usize,
    pub clean_accuracy: f32,
    pub adversarial_accuracy: f32,
    /// Untargeted: share of the images classified correctly when clean that the attack makes misclassified.
    /// Targeted: share of the images whose label is not the target that end up classified as the target.
    pub success_rate: f32,
    /// The images `success_rate` is taken over.
    pub success_base: usize,
    pub mean_linf: f32,
    pub max_linf: f32,
    pub mean_l2: f32,
    pub max_l2: f32,
}

impl AttackRun {
    /// Accuracies, success rate and norm statistics.
    pub fn summary(&self) -> AttackSummary {
        let o = &self.outcomes;
        let n = o.len().max(1) as f32;
        let share = |hit: usize, of: usize| if of == 0 { 0.0 } else { hit as f32 / of as f32 };
        let base: Vec<&ImageOutcome> = o
            .iter()
            .filter(|x| match x.target {
                None => x.clean_prediction == x.label,
                Some(t) => t != x.label,
            })
            .collect();
        let fold = |f: fn(&ImageOutcome) -> f32| {
            let (sum, max) = o.iter().map(f).fold((0.0f32, 0.0f32), |(s, m), v| (s + v, m.max(v)));
            (sum / n, max)
        };
        let (mean_linf, max_linf) = fold(|x| x.linf);
        let (mean_l2, max_l2) = fold(|x| x.l2);
        AttackSummary {
            images: o.len(),
            clean_accuracy: share(o.iter().filter(|x| x.clean_prediction == x.label).count(), o.len()),
            adversarial_accuracy: share(
                o.iter().filter(|x| x.adversarial_prediction == x.label).count(),
                o.len(),
            ),
            success_rate: share(base.iter().filter(|x| x.success).count(), base.len()),
            success_base: base.len(),
            mean_linf,
            max_linf,
            mean_l2,
            max_l2,
        }
    }
}

/// How [`attack_set`] runs.
#[derive(Clone, Copy, Debug)]
pub struct AttackOptions {
    pub batch_size: usize,
    /// Run seed; each image's seed is derived from it and the image's key.
    pub seed: u64,
    /// Round the adversarial images to 8 bits (inside the ball) before measuring them, so the numbers describe the
    /// PNGs written rather than float images nobody stores.
    pub quantize: bool,
}

/// The manifest parameters of one adversarial image.
pub fn manifest_params(config: &AttackConfig, outcome: &ImageOutcome) -> serde_json::Value {
    let pgd = config.attack == AttackKind::Pgd;
    let iterative = config.attack != AttackKind::Fgsm;
    let mut params = serde_json::json!({
        "attack": config.attack,
        "norm": config.norm,
        "eps": config.eps,
        "alpha": pgd.then(|| config.step_size()),
        "steps": iterative.then_some(config.steps),
        "random_start": iterative && config.random_start,
        "restarts": iterative.then_some(config.restarts),
        "target": outcome.target,
        "success": outcome.success,
        "clean_prediction": outcome.clean_prediction,
        "adversarial_prediction": outcome.adversarial_prediction,
        "linf": outcome.linf,
        "l2": outcome.l2,
    });
    if config.attack.uses_dlr() {
        params["target_classes"] = serde_json::json!(super::apgd::APGD_T_TARGETS);
    }
    params
}

/// The class a `random` target picks for an image: uniform among the classes other than its label.
pub fn random_target(seed: u64, label: usize, classes: usize) -> usize {
    let draw = rand::RngExt::random_range(
        &mut crate::seed::rng(crate::seed::derive(seed, &[0x7A46])),
        0..classes - 1,
    );
    draw + usize::from(draw >= label)
}

/// Attacks every image of `set` (on the inference device) with `config`, `options.batch_size` at a time. `keys`
/// name the images stably (their dataset indices), so each image's seed, random start and random target do not
/// depend on batching. `progress` is told how many images each finished batch held.
pub fn attack_set(
    model: &Classifier,
    set: &PreparedSet,
    keys: &[u64],
    classes: usize,
    config: &AttackConfig,
    options: AttackOptions,
    mut progress: impl FnMut(usize),
) -> Result<AttackRun> {
    config.validate()?;
    config.validate_for_classes(classes)?;
    if keys.len() != set.len() {
        return Err(SynthError::internal("attack_set needs one key per image"));
    }
    let model = model.valid();
    let n = set.len();
    let [_, c, h, w] = set.images.dims();
    let per = c * h * w;
    let eps = config.eps as f32;
    let mut run = AttackRun {
        images: Vec::with_capacity(n),
        outcomes: Vec::with_capacity(n),
    };
    for start in (0..n).step_by(options.batch_size.max(1)) {
        let end = (start + options.batch_size.max(1)).min(n);
        let images = set.images.clone().slice(start..end);
        let labels = &set.labels[start..end];
        let seeds: Vec<u64> = keys[start..end]
            .iter()
            .map(|&k| crate::seed::derive(options.seed, &[k]))
            .collect();
        let targets: Vec<Option<usize>> = labels
            .iter()
            .zip(&seeds)
            .map(|(&label, &seed)| match config.target {
                Target::Untargeted => None,
                Target::Class(k) => Some(k),
                Target::Random => Some(random_target(seed, label, classes)),
            })
            .collect();
        let target_classes: Vec<usize> = targets.iter().flatten().copied().collect();
        let goal = if config.targeted() {
            Goal::Targeted(&target_classes)
        } else {
            Goal::Untargeted(labels)
        };
        let clean_predictions = argmax_rows(model.forward(images.clone()))?;
        let adversarial = attack(&model, &images, goal, config, &seeds)?;
        let clean = tensor_values(images)?;
        let (values, adversarial) = if options.quantize {
            let values: Vec<f32> = tensor_values(adversarial)?
                .chunks_exact(per)
                .zip(clean.chunks_exact(per))
                .flat_map(|(a, x)| quantize_within(a, x, eps, config.norm))
                .collect();
            let tensor = Tensor::<4>::from_data(
                TensorData::new(values.clone(), [end - start, c, h, w]),
                &set.images.device(),
            );
            (values, tensor)
        } else {
            (tensor_values(adversarial.clone())?, adversarial)
        };
        let adversarial_predictions = argmax_rows(model.forward(adversarial))?;
        let norms = perturbation_norms(&values, &clean, per);
        for (i, chunk) in values.chunks_exact(per).enumerate() {
            let (label, target) = (labels[i], targets[i]);
            let adversarial_prediction = adversarial_predictions[i];
            run.images.push(Image::from_planar(c, h, w, chunk.to_vec())?);
            run.outcomes.push(ImageOutcome {
                label,
                target,
                clean_prediction: clean_predictions[i],
                adversarial_prediction,
                success: match target {
                    None => adversarial_prediction != label,
                    Some(t) => adversarial_prediction == t,
                },
                linf: norms[i].0,
                l2: norms[i].1,
                seed: seeds[i],
            });
        }
        progress(end - start);
    }
    Ok(run)
}

/// Indices of `part` of `split` to attack: all of them, or `limit` drawn with `seed` (kept in dataset order).
pub fn images_to_attack(
    dataset: &Dataset,
    split: &Split,
    part: SplitName,
    limit: usize,
    seed: u64,
) -> Result<Vec<usize>> {
    let mut indices = split.indices(dataset, part)?;
    if limit > 0 && limit < indices.len() {
        use rand::seq::SliceRandom;
        indices.shuffle(&mut crate::seed::rng(crate::seed::derive(seed, &[0x11A1])));
        indices.truncate(limit);
        indices.sort_unstable();
    }
    if indices.is_empty() {
        return Err(SynthError::bad_input(format!(
            "the {part} split of {} has no images to attack",
            dataset.name
        )));
    }
    Ok(indices)
}

/// The classifier `synth adversarial` trains when it is given no model: the configured backbone with the
/// classifier's defaults, on the whole train split. Returns the inference copy, its config and its test accuracy.
pub fn train_default_classifier(
    config: &AdversarialConfig,
    dataset: &Dataset,
    split: &Split,
    quiet: bool,
) -> Result<(Classifier, ClassifierConfig, f32)> {
    let classifier = ClassifierConfig {
        dataset: dataset.name.clone(),
        resize: config.resize.clone().unwrap_or_else(|| "keep".into()),
        split: config.split.clone(),
        backbone: config.backbone,
        seed: config.seed,
        ..Default::default()
    };
    classifier.validate()?;
    let train = per_class_subset(dataset, &split.indices(dataset, SplitName::Train)?, 0, config.seed);
    let data = prepare_experiment(dataset, split, &train, &[], &classifier, &crate::backend::device())?;
    let (model, _, test) = train_and_test(&classifier, &data, &mut FitMonitor { quiet, log: None })?;
    Ok((model.valid(), classifier, test.accuracy))
}

/// Adds the attacked versions of the dataset's images at `indices` (in the order attacked) with their true labels,
/// each named after its source image and recording the attack's outcome and seed in the manifest.
pub fn add_attacked(
    writer: &mut ExpandedWriter,
    dataset: &Dataset,
    indices: &[usize],
    attacked: &AttackRun,
    attack: &AttackConfig,
) -> Result<()> {
    for ((&i, image), outcome) in indices.iter().zip(&attacked.images).zip(&attacked.outcomes) {
        let sample = &dataset.samples[i];
        let stem = format!("adv-{}", crate::dataset::id_file_stem(&sample.id));
        let params = manifest_params(attack, outcome);
        writer.add_derived(image, sample, &stem, params, outcome.seed)?;
    }
    Ok(())
}

/// Clean/adversarial pairs shown in preview.png.
const PREVIEW_PAIRS: usize = 32;

/// The classifier under attack and what to say about it.
pub struct UnderAttack {
    pub model: Classifier,
    /// Height and width the model takes.
    pub input: (usize, usize),
    /// Where it came from, for origin.json and the summary.
    pub description: serde_json::Value,
}

/// What a `synth adversarial` run wrote and measured.
pub struct AdversarialOutcome {
    /// The committed expanded dataset.
    pub out: PathBuf,
    /// The effective config, with the dataset, size policy and split the model brought filled in.
    pub config: AdversarialConfig,
    /// The classifier under attack (origin.json's `classifier`).
    pub model: serde_json::Value,
    pub numbers: AttackSummary,
    /// Images written.
    pub written: usize,
    /// Clean/adversarial pairs side by side.
    pub preview: Option<Image>,
    pub attack_seconds: f64,
}

/// `synth adversarial`: loads `config.model` (or trains the default classifier), attacks the chosen part of the
/// split and writes the adversarial images, with their true labels and every image's attack outcome, into `out`.
pub fn run(mut config: AdversarialConfig, out: OutDir, quiet: bool) -> Result<AdversarialOutcome> {
    config.validate()?;
    let (target, dataset, split) = classifier_under_attack(&mut config, quiet)?;
    let indices = images_to_attack(&dataset, &split, config.source_split, config.limit, config.seed)?;
    let side = target.input.1;
    let images: Vec<&Image> = indices.iter().map(|&i| &dataset.samples[i].image).collect();
    let resize = images
        .iter()
        .any(|i| i.height != side || i.width != side)
        .then_some(side);
    let labels = indices.iter().map(|&i| dataset.samples[i].label).collect();
    let set = PreparedSet::new(&images, labels, resize, &crate::backend::device())?;
    let keys: Vec<u64> = indices.iter().map(|&i| i as u64).collect();

    let attack_started = std::time::Instant::now();
    let bar = crate::telemetry::progress_bar(set.len() as u64, &config.attack.attack.to_string(), quiet);
    let options = AttackOptions {
        batch_size: config.batch_size,
        seed: config.seed,
        quantize: true,
    };
    let classes = dataset.classes.len();
    let attacked = attack_set(&target.model, &set, &keys, classes, &config.attack, options, |n| {
        bar.inc(n as u64)
    })?;
    bar.finish_and_clear();
    let attack_seconds = attack_started.elapsed().as_secs_f64();

    let mut writer = ExpandedWriter::new(out, &dataset.classes, SourceKind::Adversarial)?;
    add_attacked(&mut writer, &dataset, &indices, &attacked, &config.attack)?;
    let mut preview = Vec::with_capacity(2 * PREVIEW_PAIRS);
    for (&i, image) in indices.iter().zip(&attacked.images).take(PREVIEW_PAIRS) {
        let clean = &dataset.samples[i].image;
        preview.push(resize.map_or_else(|| clean.clone(), |s| clean.resize(s, s)));
        preview.push(image.clone());
    }
    let mut origin_config = crate::config::to_json(&config);
    origin_config["classifier"] = target.description.clone();
    let origin = Origin::describe(
        &dataset,
        &split,
        config.source_split,
        SourceKind::Adversarial,
        origin_config,
    );
    let preview = image_grid(&preview, 8);
    let written = writer.count();
    let out = writer.finish(Provenance {
        origin: &origin,
        split: &split,
        config_toml: Some(crate::config::to_toml(&config)?),
        preview: preview.clone(),
    })?;
    Ok(AdversarialOutcome {
        out,
        config,
        model: target.description,
        numbers: attacked.summary(),
        written,
        preview,
        attack_seconds,
    })
}

/// Loads `config.model`, or trains the default classifier (saying so); refuses a model whose classes are not the
/// dataset's, and a target class the model does not have, before any long work. Fills in the dataset, size policy
/// and split the model brought.
pub fn classifier_under_attack(config: &mut AdversarialConfig, quiet: bool) -> Result<(UnderAttack, Dataset, Split)> {
    match config.model.clone() {
        None => train_under_attack(config, quiet),
        Some(dir) => load_under_attack(config, Path::new(&dir)),
    }
}

fn train_under_attack(config: &mut AdversarialConfig, quiet: bool) -> Result<(UnderAttack, Dataset, Split)> {
    let name = config.dataset.get_or_insert_with(|| "mnist".into()).clone();
    let resize = config.resize.get_or_insert_with(|| "keep".into()).clone();
    let dataset = crate::dataset::load_named(&name, &resize)?;
    config.attack.validate_for_classes(dataset.classes.len())?;
    let split = Split::stratified(&dataset, &config.split)?;
    crate::classifier::run::check_trainable(&dataset, &split, split.ids(SplitName::Train).len())?;
    eprintln!(
        "no --model given: training the default {} classifier on the train split of {name} first (seed {}; pass \
         --model <run of synth classifier train> to attack a saved one)",
        config.backbone, config.seed
    );
    let (model, classifier, test_accuracy) = train_default_classifier(config, &dataset, &split, quiet)?;
    eprintln!("trained: test accuracy {test_accuracy:.4}");
    let input = crate::classifier::run::input_shape(&classifier, dataset.require_uniform_shape()?)?;
    let description = serde_json::json!({
        "trained_in_this_run": true,
        "backbone": classifier.backbone,
        "seed": classifier.seed,
        "test_accuracy": test_accuracy,
    });
    let target = UnderAttack {
        model,
        input,
        description,
    };
    Ok((target, dataset, split))
}

fn load_under_attack(config: &mut AdversarialConfig, dir: &Path) -> Result<(UnderAttack, Dataset, Split)> {
    let (meta, model) = crate::classifier::Checkpoint::load(dir, &crate::backend::device())?;
    let name = config.dataset.get_or_insert_with(|| meta.dataset.clone()).clone();
    let resize = config.resize.get_or_insert_with(|| meta.config.resize.clone()).clone();
    config.split = meta.config.split.clone();
    let dataset = crate::dataset::load_named(&name, &resize)?;
    if dataset.classes != meta.classes {
        return Err(SynthError::bad_input(format!(
            "model {} was trained on classes [{}], dataset {name} has [{}]",
            dir.display(),
            meta.classes.join(", "),
            dataset.classes.join(", ")
        )));
    }
    config.attack.validate_for_classes(meta.classes.len())?;
    let input = crate::classifier::run::input_shape(&meta.config, dataset.require_uniform_shape()?)?;
    let split = Split::stratified(&dataset, &config.split)?;
    let description = serde_json::json!({
        "path": dir.display().to_string(),
        "backbone": meta.config.backbone,
        "dataset": meta.dataset,
        "test_accuracy": meta.test_accuracy,
    });
    let target = UnderAttack {
        model,
        input,
        description,
    };
    Ok((target, dataset, split))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attack::{AttackKind, Norm};
    use crate::classifier::BackboneKind;
    use crate::dataset::{LoadOptions, SplitConfig, load_dataset};

    /// A small cnn trained briefly on 40 MNIST images per class, and 64 test images: enough for the attack
    /// properties to be measured on a real model in a few seconds.
    fn trained() -> (Classifier, PreparedSet, Vec<u64>) {
        let ds = load_dataset("mnist", &LoadOptions::default()).unwrap();
        let split = Split::stratified(&ds, &SplitConfig::default()).unwrap();
        let config = ClassifierConfig {
            backbone: BackboneKind::Cnn,
            head_epochs: 4,
            ..Default::default()
        };
        let train = per_class_subset(&ds, &split.indices(&ds, SplitName::Train).unwrap(), 40, 0);
        let data = prepare_experiment(&ds, &split, &train, &[], &config, &crate::backend::device()).unwrap();
        let (model, _, _) = train_and_test(&config, &data, &mut FitMonitor { quiet: true, log: None }).unwrap();
        let keys: Vec<u64> = (0..64).collect();
        let test = PreparedSet {
            images: data.test.images.clone().slice(0..64),
            labels: data.test.labels[..64].to_vec(),
        };
        (model.valid(), test, keys)
    }

    /// Every adversarial image inside [0, 1] and the config's eps-ball around its clean image; eps 0 changes nothing.
    fn assert_in_ball(out: &AttackRun, clean: &[f32], config: &AttackConfig) {
        let adv: Vec<f32> = out.images.iter().flat_map(|i| i.data.clone()).collect();
        assert!(
            adv.iter().all(|v| (0.0..=1.0).contains(v)),
            "{config:?}: outside [0, 1]"
        );
        for (linf, l2) in perturbation_norms(&adv, clean, 28 * 28) {
            let size = if config.norm == Norm::Linf { linf } else { l2 };
            assert!(
                size <= config.eps as f32 + 1e-6,
                "{config:?}: perturbation {size} > eps"
            );
        }
        if config.eps == 0.0 {
            assert_eq!(adv, clean, "{config:?}: eps 0 returns the input unchanged");
        }
    }

    fn run(model: &Classifier, set: &PreparedSet, keys: &[u64], config: &AttackConfig) -> AttackRun {
        let options = AttackOptions {
            batch_size: 64,
            seed: 1,
            quantize: false,
        };
        attack_set(model, set, keys, 10, config, options, |_| {}).unwrap()
    }

    /// The properties CleverHans and torchattacks test, on a real (small) MNIST model: every output inside the
    /// eps-ball and [0, 1]; eps = 0 changes nothing; adversarial accuracy never above clean; PGD-40 never weaker than
    /// FGSM; a random wrong target is never the label.
    #[test]
    fn attack_properties_on_a_trained_cnn() {
        let (model, set, keys) = trained();
        let clean = tensor_values(set.images.clone()).unwrap();
        let summaries: Vec<(AttackConfig, AttackSummary)> = [
            (AttackKind::Fgsm, Norm::Linf, 0.3, Target::Untargeted, 40, 1),
            (AttackKind::Pgd, Norm::Linf, 0.3, Target::Untargeted, 40, 1),
            (AttackKind::Pgd, Norm::L2, 1.5, Target::Untargeted, 10, 2),
            (AttackKind::Pgd, Norm::Linf, 0.3, Target::Random, 40, 1),
            (AttackKind::Fgsm, Norm::L2, 0.0, Target::Untargeted, 1, 1),
            (AttackKind::Pgd, Norm::Linf, 0.0, Target::Untargeted, 3, 1),
        ]
        .into_iter()
        .map(|(attack, norm, eps, target, steps, restarts)| {
            let config = AttackConfig {
                attack,
                norm,
                eps,
                alpha: if norm == Norm::L2 { 0.25 } else { 0.01 },
                steps,
                restarts,
                target,
                ..Default::default()
            };
            let out = run(&model, &set, &keys, &config);
            assert_in_ball(&out, &clean, &config);
            for o in &out.outcomes {
                if let Some(t) = o.target {
                    assert_ne!(t, o.label, "a random target is a wrong class");
                }
            }
            let summary = out.summary();
            eprintln!("{}: {summary:?}", config.describe());
            assert!(
                summary.adversarial_accuracy <= summary.clean_accuracy,
                "{config:?}: {summary:?}"
            );
            (config, summary)
        })
        .collect();
        let (fgsm, pgd) = (&summaries[0].1, &summaries[1].1);
        assert!(fgsm.clean_accuracy > 0.7, "the model learned something: {fgsm:?}");
        assert!(
            pgd.adversarial_accuracy <= fgsm.adversarial_accuracy,
            "PGD-40 ({}) is never weaker than FGSM ({})",
            pgd.adversarial_accuracy,
            fgsm.adversarial_accuracy
        );
        assert!(
            pgd.adversarial_accuracy < pgd.clean_accuracy / 2.0,
            "PGD at eps 0.3 breaks most of an undefended model: {pgd:?}"
        );
        let targeted = &summaries[3].1;
        assert!(
            targeted.success_rate > 0.5,
            "targeted PGD reaches most targets: {targeted:?}"
        );
    }

    /// APGD on the same real model: every output inside the ball and [0, 1]; eps = 0 changes nothing; and the
    /// AutoAttack sequence is never weaker than PGD-40 on the same images (the reason it exists).
    #[test]
    fn apgd_properties_and_auto_no_weaker_than_pgd40_on_a_trained_cnn() {
        let (model, set, keys) = trained();
        let clean = tensor_values(set.images.clone()).unwrap();
        let config = |attack, norm, eps, steps| AttackConfig {
            attack,
            norm,
            eps,
            steps,
            ..Default::default()
        };
        for (attack, norm, eps) in [
            (AttackKind::ApgdCe, Norm::L2, 1.5),
            (AttackKind::ApgdT, Norm::Linf, 0.2),
            (AttackKind::Auto, Norm::L2, 0.0),
        ] {
            let config = config(attack, norm, eps, 10);
            let out = run(&model, &set, &keys, &config);
            assert_in_ball(&out, &clean, &config);
            let summary = out.summary();
            eprintln!("{}: {summary:?}", config.describe());
            assert!(summary.adversarial_accuracy <= summary.clean_accuracy, "{summary:?}");
        }
        for eps in [0.1, 0.15] {
            let pgd = run(&model, &set, &keys, &config(AttackKind::Pgd, Norm::Linf, eps, 40)).summary();
            let auto = run(&model, &set, &keys, &config(AttackKind::Auto, Norm::Linf, eps, 40)).summary();
            eprintln!("eps {eps}: PGD-40 {pgd:?}\nauto {auto:?}");
            assert!(
                pgd.adversarial_accuracy < pgd.clean_accuracy,
                "eps {eps} is a real test: {pgd:?}"
            );
            assert!(
                auto.adversarial_accuracy <= pgd.adversarial_accuracy,
                "eps {eps}: auto ({}) is never weaker than PGD-40 ({})",
                auto.adversarial_accuracy,
                pgd.adversarial_accuracy
            );
        }
    }

    #[test]
    fn random_targets_are_uniform_over_the_wrong_classes() {
        let mut counts = [0usize; 10];
        for seed in 0..2000 {
            let t = random_target(seed, 4, 10);
            assert_ne!(t, 4);
            counts[t] += 1;
        }
        assert_eq!(counts[4], 0);
        assert!(
            counts
                .iter()
                .enumerate()
                .all(|(k, &c)| k == 4 || (150..300).contains(&c)),
            "{counts:?}"
        );
    }
}

/// Accuracy under attack of a model on a prepared set (`synth classifier eval --attack`).
#[derive(Clone, Debug, Serialize)]
pub struct RobustAccuracy {
    pub attack: AttackConfig,
    pub step_size: f64,
    #[serde(flatten)]
    pub numbers: AttackSummary,
    pub seconds: f64,
}

/// A saved model's clean evaluation and, when `attack` is given, its robust accuracy on the same images (in
/// [0, 1] pixels, not quantised: the model's own robustness, not that of 8-bit files).
pub struct ModelEvaluation {
    pub clean: crate::classifier::run::CheckpointEvaluation,
    pub robust: Option<RobustAccuracy>,
}

/// `synth classifier eval`: scores the saved model, then attacks the scored images with `attack` (validated for the
/// model's classes before any image is prepared), seeded by `seed`.
pub fn evaluate_model(
    request: &crate::classifier::run::EvalRequest,
    attack: Option<&AttackConfig>,
    seed: u64,
    quiet: bool,
) -> Result<ModelEvaluation> {
    let clean = crate::classifier::run::evaluate_checkpoint(request, |classes| match attack {
        Some(a) => a.validate_for_classes(classes),
        None => Ok(()),
    })?;
    let Some(attack) = attack else {
        return Ok(ModelEvaluation { clean, robust: None });
    };
    let started = std::time::Instant::now();
    let bar = crate::telemetry::progress_bar(clean.set.len() as u64, &attack.attack.to_string(), quiet);
    let keys: Vec<u64> = clean.indices.iter().map(|&i| i as u64).collect();
    let options = AttackOptions {
        batch_size: 256,
        seed,
        quantize: false,
    };
    let classes = clean.classes.len();
    let attacked = attack_set(&clean.model, &clean.set, &keys, classes, attack, options, |n| {
        bar.inc(n as u64)
    })?;
    bar.finish_and_clear();
    let robust = RobustAccuracy {
        attack: attack.clone(),
        step_size: attack.step_size(),
        numbers: attacked.summary(),
        seconds: started.elapsed().as_secs_f64(),
    };
    Ok(ModelEvaluation {
        clean,
        robust: Some(robust),
    })
}
