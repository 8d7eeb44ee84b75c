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
use crate::dataset::{Dataset, Image, Split, SplitName};
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
        resize: config.resize.clone(),
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
            let adv: Vec<f32> = out.images.iter().flat_map(|i| i.data.clone()).collect();
            assert!(
                adv.iter().all(|v| (0.0..=1.0).contains(v)),
                "{config:?}: outside [0, 1]"
            );
            for (linf, l2) in perturbation_norms(&adv, &clean, 28 * 28) {
                let size = if norm == Norm::Linf { linf } else { l2 };
                assert!(size <= eps as f32 + 1e-6, "{config:?}: perturbation {size} > eps");
            }
            if eps == 0.0 {
                assert_eq!(adv, clean, "{config:?}: eps 0 returns the input unchanged");
            }
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
            let adv: Vec<f32> = out.images.iter().flat_map(|i| i.data.clone()).collect();
            assert!(
                adv.iter().all(|v| (0.0..=1.0).contains(v)),
                "{config:?}: outside [0, 1]"
            );
            for (linf, l2) in perturbation_norms(&adv, &clean, 28 * 28) {
                let size = if norm == Norm::Linf { linf } else { l2 };
                assert!(size <= eps as f32 + 1e-6, "{config:?}: perturbation {size} > eps");
            }
            if eps == 0.0 {
                assert_eq!(adv, clean, "{config:?}: eps 0 returns the input unchanged");
            }
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
