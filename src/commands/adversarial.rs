use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

use crate::cli::AdversarialArgs;
use synth::adversarial::run::train_default_classifier;
use synth::adversarial::{
    AdversarialConfig, AttackConfig, AttackOptions, AttackRun, AttackSummary, attack_set, images_to_attack,
};
use synth::classifier::run::input_shape;
use synth::classifier::{Checkpoint, PreparedSet};
use synth::config;
use synth::dataset::{
    Dataset, ExpandedWriter, Image, Origin, OutDir, Provenance, SourceKind, Split, SplitName, image_grid,
};
use synth::error::SynthError;
use synth::telemetry::{EventLog, progress_bar};

use super::Ui;

/// Clean/adversarial pairs shown in preview.png.
const PREVIEW_PAIRS: usize = 32;

fn effective_config(args: &AdversarialArgs) -> anyhow::Result<AdversarialConfig> {
    let mut c: AdversarialConfig = config::load(args.config.as_deref())?;
    super::apply_data_args(&args.data, &mut c.dataset, &mut c.resize, &mut c.split);
    if let Some(m) = &args.model {
        c.model = m.display().to_string();
    }
    if let Some(v) = args.backbone {
        c.backbone = v;
    }
    if let Some(v) = args.split {
        c.source_split = v;
    }
    if let Some(v) = args.attack {
        c.attack.attack = v;
    }
    args.attack_args.apply(&mut c.attack);
    if let Some(v) = args.limit {
        c.limit = v;
    }
    if let Some(v) = args.batch_size {
        c.batch_size = v;
    }
    if let Some(v) = args.seed {
        c.seed = v;
    }
    let split_flags = args.data.val.is_some() || args.data.test.is_some() || args.data.split_seed.is_some();
    if !c.model.is_empty() && split_flags {
        return Err(SynthError::bad_input(
            "--val, --test and --split-seed cannot be combined with --model: the model's own split is used, so its \
             test images stay unseen",
        )
        .into());
    }
    c.validate()?;
    Ok(c)
}

/// The classifier under attack and what to say about it.
struct UnderAttack {
    model: synth::classifier::Classifier,
    input: (usize, usize),
    /// Where it came from, for origin.json and the summary.
    description: serde_json::Value,
}

/// Loads `--model`, or trains the default classifier (saying so); refuses a model whose classes are not the
/// dataset's, and a target class the model does not have, before any long work.
fn classifier_under_attack(config: &mut AdversarialConfig, ui: Ui) -> anyhow::Result<(UnderAttack, Dataset, Split)> {
    let device = synth::backend::device();
    if config.model.is_empty() {
        if config.dataset.is_empty() {
            config.dataset = "mnist".into();
        }
        if config.resize.is_empty() {
            config.resize = "keep".into();
        }
        let dataset = super::load(&config.dataset, &config.resize)?;
        config.attack.validate_for_classes(dataset.classes.len())?;
        let split = Split::stratified(&dataset, &config.split)?;
        synth::classifier::run::check_trainable(&dataset, &split, split.ids(SplitName::Train).len())?;
        eprintln!(
            "no --model given: training the default {} classifier on the train split of {} first (seed {}; pass \
             --model <run of synth classifier train> to attack a saved one)",
            config.backbone, config.dataset, config.seed
        );
        let (model, classifier, test_accuracy) = train_default_classifier(config, &dataset, &split, ui.quiet)?;
        eprintln!("trained: test accuracy {test_accuracy:.4}");
        let input = input_shape(&classifier, dataset.require_uniform_shape()?)?;
        let description = serde_json::json!({
            "trained_in_this_run": true,
            "backbone": classifier.backbone,
            "seed": classifier.seed,
            "test_accuracy": test_accuracy,
        });
        return Ok((
            UnderAttack {
                model,
                input,
                description,
            },
            dataset,
            split,
        ));
    }
    let dir = PathBuf::from(&config.model);
    let (meta, model) = Checkpoint::load(&dir, &device)?;
    if config.dataset.is_empty() {
        config.dataset = meta.dataset.clone();
    }
    if config.resize.is_empty() {
        config.resize = meta.config.resize.clone();
    }
    config.split = meta.config.split.clone();
    let dataset = super::load(&config.dataset, &config.resize)?;
    if dataset.classes != meta.classes {
        return Err(SynthError::bad_input(format!(
            "model {} was trained on classes [{}], dataset {} has [{}]",
            dir.display(),
            meta.classes.join(", "),
            config.dataset,
            dataset.classes.join(", ")
        ))
        .into());
    }
    config.attack.validate_for_classes(meta.classes.len())?;
    let input = input_shape(&meta.config, dataset.require_uniform_shape()?)?;
    let split = Split::stratified(&dataset, &config.split)?;
    let description = serde_json::json!({
        "path": dir.display().to_string(),
        "backbone": meta.config.backbone,
        "dataset": meta.dataset,
        "test_accuracy": meta.test_accuracy,
    });
    Ok((
        UnderAttack {
            model,
            input,
            description,
        },
        dataset,
        split,
    ))
}

#[derive(Serialize)]
struct Summary<'a> {
    out: String,
    dataset: String,
    split: SplitName,
    model: &'a serde_json::Value,
    attack: &'a AttackConfig,
    step_size: f64,
    #[serde(flatten)]
    numbers: &'a AttackSummary,
    attack_seconds: f64,
    seconds: f64,
}

pub fn run(args: AdversarialArgs, ui: Ui) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut config = effective_config(&args)?;
    let slug = if config.dataset.is_empty() && config.model.is_empty() {
        "mnist".to_string()
    } else if config.dataset.is_empty() {
        super::dataset_slug(&config.model)
    } else {
        super::dataset_slug(&config.dataset)
    };
    let out = args.output.out_dir(
        "adversarial",
        &format!(
            "{slug}-{}-{}-eps{}-seed{}",
            config.attack.attack, config.attack.norm, config.attack.eps, config.seed
        ),
    );
    let out = OutDir::claim(&out, args.output.force)?;
    let (target, dataset, split) = classifier_under_attack(&mut config, ui)?;

    let indices = images_to_attack(&dataset, &split, config.source_split, config.limit, config.seed)?;
    let side = target.input.1;
    let images: Vec<&Image> = indices.iter().map(|&i| &dataset.samples[i].image).collect();
    let resize = images
        .iter()
        .any(|i| i.height != side || i.width != side)
        .then_some(side);
    let labels = indices.iter().map(|&i| dataset.samples[i].label).collect();
    let set = PreparedSet::new(&images, labels, resize, &synth::backend::device())?;
    let keys: Vec<u64> = indices.iter().map(|&i| i as u64).collect();

    let attack_started = Instant::now();
    let bar = progress_bar(set.len() as u64, &config.attack.attack.to_string(), ui.quiet);
    let options = AttackOptions {
        batch_size: config.batch_size,
        seed: config.seed,
        quantize: true,
    };
    let run: AttackRun = attack_set(
        &target.model,
        &set,
        &keys,
        dataset.classes.len(),
        &config.attack,
        options,
        |n| bar.inc(n as u64),
    )?;
    bar.finish_and_clear();
    let attack_seconds = attack_started.elapsed().as_secs_f64();
    let numbers = run.summary();

    let mut writer = ExpandedWriter::new(out, &dataset.classes, SourceKind::Adversarial)?;
    let mut preview = Vec::with_capacity(2 * PREVIEW_PAIRS);
    for ((&i, image), outcome) in indices.iter().zip(&run.images).zip(&run.outcomes) {
        let sample = &dataset.samples[i];
        let stem = format!("adv-{}", synth::dataset::id_file_stem(&sample.id));
        writer.add(
            image,
            sample.label,
            &stem,
            Some(sample.id.clone()),
            synth::adversarial::run::manifest_params(&config.attack, outcome),
            outcome.seed,
        )?;
        if preview.len() < 2 * PREVIEW_PAIRS {
            preview.push(resize.map_or_else(|| sample.image.clone(), |s| sample.image.resize(s, s)));
            preview.push(image.clone());
        }
    }
    let mut origin_config = config::to_json(&config);
    origin_config["classifier"] = target.description.clone();
    let origin = Origin::describe(
        &dataset,
        &split,
        config.source_split,
        SourceKind::Adversarial,
        origin_config,
    );
    let grid = image_grid(&preview, 8);
    let written = writer.count();
    let out = writer.finish(Provenance {
        origin: &origin,
        split: &split,
        config_toml: Some(config::to_toml(&config)?),
        preview: grid.clone(),
    })?;

    let tb_dir = args.output.tb_dir("adversarial", &out);
    let mut log = EventLog::create(&tb_dir)?;
    log.scalar("adversarial/clean_accuracy", numbers.clean_accuracy, 0);
    log.scalar("adversarial/adversarial_accuracy", numbers.adversarial_accuracy, 0);
    log.scalar("adversarial/success_rate", numbers.success_rate, 0);
    log.scalar("adversarial/mean_linf", numbers.mean_linf, 0);
    log.scalar("adversarial/mean_l2", numbers.mean_l2, 0);
    if let Some(grid) = &grid {
        log.image("adversarial/clean_and_adversarial", grid, 0);
    }
    log.flush();

    let summary = Summary {
        out: out.display().to_string(),
        dataset: config.dataset.clone(),
        split: config.source_split,
        model: &target.description,
        attack: &config.attack,
        step_size: config.attack.step_size(),
        numbers: &numbers,
        attack_seconds,
        seconds: started.elapsed().as_secs_f64(),
    };
    let success_of = if config.attack.targeted() {
        "images whose label is not the target"
    } else {
        "images classified correctly when clean"
    };
    let human = format!(
        "attacked {written} {} images of {} with {}\n\
         clean accuracy {:.4}, adversarial accuracy {:.4} (on the 8-bit images written)\n\
         success rate {:.4} (of {} {success_of})\n\
         perturbation L-inf mean {:.4} max {:.4}, L2 mean {:.4} max {:.4}\n\
         wrote {written} images to {} in {:.1} s (attack {:.1} s; TensorBoard: {})",
        config.source_split,
        config.dataset,
        config.attack.describe(),
        numbers.clean_accuracy,
        numbers.adversarial_accuracy,
        numbers.success_rate,
        numbers.success_base,
        numbers.mean_linf,
        numbers.max_linf,
        numbers.mean_l2,
        numbers.max_l2,
        out.display(),
        summary.seconds,
        attack_seconds,
        tb_dir.display()
    );
    ui.summary(&summary, &human)
}
