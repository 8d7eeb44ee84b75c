use serde::Serialize;

use crate::cli::{ClassifierEvalArgs, ClassifierTrainArgs};
use synth::adversarial::{AttackConfig, AttackOptions, AttackSummary, attack_set};
use synth::classifier::report::Evaluation;
use synth::classifier::run::{
    ExperimentData, evaluate, input_shape, per_class_subset, prepare_experiment, train_and_test,
};
use synth::classifier::{Checkpoint, ClassifierConfig, FitMonitor, FitReport, PreparedSet};
use synth::config;
use synth::dataset::{Dataset, OutDir, Split, SplitName};
use synth::error::{IoContext, SynthError};
use synth::telemetry::{EventLog, progress_bar};

use super::Ui;

fn effective_config(args: &ClassifierTrainArgs) -> anyhow::Result<ClassifierConfig> {
    let mut c: ClassifierConfig = config::load(args.config.as_deref())?;
    super::apply_data_args(&args.data, &mut c.dataset, &mut c.resize, &mut c.split);
    macro_rules! set {
        ($($field:ident),*) => {$(if let Some(v) = args.$field.clone() { c.$field = v; })*};
    }
    set!(
        per_class,
        backbone,
        input_size,
        freeze_blocks,
        finetune_blocks,
        head_epochs,
        finetune_epochs,
        head_lr,
        cnn_lr,
        cnn_hidden,
        cnn_standardize,
        finetune_lr,
        patience,
        min_steps,
        batch_size,
        seed
    );
    if let Some(w) = &args.backbone_weights {
        c.backbone_weights = Some(w.display().to_string());
    }
    let adv = &mut c.adversarial;
    if let Some(v) = args.adversarial {
        adv.attack = v;
    }
    if let Some(v) = args.eps {
        adv.eps = v;
    }
    if let Some(v) = args.alpha {
        adv.alpha = v;
    }
    if let Some(v) = args.steps {
        adv.steps = v;
    }
    if let Some(v) = args.norm {
        adv.norm = v;
    }
    if let Some(v) = args.adv_ratio {
        adv.ratio = v;
    }
    if let Some(ops) = &args.augment {
        c.augment = ops
            .split(',')
            .map(|op| op.trim().to_string())
            .filter(|op| !op.is_empty())
            .collect();
    }
    c.validate()?;
    Ok(c)
}

#[derive(Serialize)]
struct TrainSummary<'a> {
    out: String,
    backbone: String,
    train_images: usize,
    val_accuracy: f32,
    test_accuracy: f32,
    seconds: f64,
    fit: &'a FitReport,
}

pub fn train(args: Box<ClassifierTrainArgs>, ui: Ui) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let config = effective_config(&args)?;
    let name = format!(
        "{}-{}-seed{}",
        super::dataset_slug(&config.dataset),
        config.backbone,
        config.seed
    );
    let out = args.output.out_dir("classifier", &name);
    let out = OutDir::claim(&out, args.output.force)?;
    train_into(&args, &config, out, ui, started)
}

fn train_into(
    args: &ClassifierTrainArgs,
    config: &ClassifierConfig,
    out_dir: OutDir,
    ui: Ui,
    started: std::time::Instant,
) -> anyhow::Result<()> {
    let (staging, out) = (out_dir.path(), out_dir.root().to_path_buf());
    let out = out.as_path();
    let dataset = super::load(&config.dataset, &config.resize)?;
    let split = Split::stratified(&dataset, &config.split)?;
    let train_idx = per_class_subset(
        &dataset,
        &split.indices(&dataset, SplitName::Train)?,
        config.per_class,
        config.seed,
    );
    let extras: Vec<Dataset> = args
        .extra
        .iter()
        .map(|p| synth::dataset::expanded::open_for_training(p, &dataset, &split).map(|set| set.dataset))
        .collect::<synth::error::Result<_>>()?;
    let extra_refs: Vec<&Dataset> = extras.iter().collect();
    let device = synth::backend::device();
    let data: ExperimentData = prepare_experiment(&dataset, &split, &train_idx, &extra_refs, config, &device)?;

    let tb_dir = args.output.tb_dir("classifier", out);
    let mut log = EventLog::create(&tb_dir)?;
    let mut monitor = FitMonitor {
        quiet: ui.quiet,
        log: Some(&mut log),
    };
    let (model, report, test) = train_and_test(config, &data, &mut monitor)?;
    log.scalar("classifier/test_accuracy", test.accuracy, 0);
    log.flush();

    let checkpoint = Checkpoint {
        config: config.clone(),
        classes: data.classes.clone(),
        input: data.input,
        dataset: dataset.name.clone(),
        split_seed: split.config.seed,
        test_accuracy: Some(test.accuracy),
    };
    checkpoint.save(&model, staging)?;
    split.save(&staging.join(synth::dataset::split::SPLIT_FILE))?;
    let report_path = staging.join("fit.json");
    std::fs::write(&report_path, synth::dataset::manifest::pretty_json(&report)?).at(&report_path, "writing")?;
    std::fs::write(staging.join("config.toml"), config::to_toml(config)?).at(staging, "writing")?;
    out_dir.commit()?;

    let summary = TrainSummary {
        out: out.display().to_string(),
        backbone: config.backbone.to_string(),
        train_images: data.train.len(),
        val_accuracy: report.best_val_accuracy,
        test_accuracy: test.accuracy,
        seconds: started.elapsed().as_secs_f64(),
        fit: &report,
    };
    let adversarial = config
        .adversarial
        .attack_config()
        .map(|a| {
            format!(
                " adversarially ({}, {:.0}% of each batch)",
                a.describe(),
                config.adversarial.ratio * 100.0
            )
        })
        .unwrap_or_default();
    let human = format!(
        "trained {}{adversarial} on {} images ({} epochs, best val accuracy {:.4} at {})\ntest accuracy {:.4} on {} images\nsaved to {} in {:.0} s (TensorBoard: {})",
        config.backbone,
        data.train.len(),
        report.history.len(),
        report.best_val_accuracy,
        report.best_text(),
        test.accuracy,
        test.images,
        out.display(),
        summary.seconds,
        tb_dir.display()
    );
    if let Some(why) = test.not_learned() {
        eprintln!(
            "warning: this classifier has not learned the task: {why}; more data, more epochs (--head-epochs, \
             --min-steps) or another --backbone may help"
        );
    }
    ui.summary(&summary, &human)
}

#[derive(Serialize)]
struct EvalSummary {
    model: String,
    dataset: String,
    split: SplitName,
    #[serde(flatten)]
    evaluation: Evaluation,
    confusion_png: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    robust: Option<RobustSummary>,
}

/// Accuracy under attack (`--attack`).
#[derive(Serialize)]
struct RobustSummary {
    attack: AttackConfig,
    step_size: f64,
    #[serde(flatten)]
    numbers: AttackSummary,
    seconds: f64,
}

/// The attack `--attack` asks for, validated before any work.
fn eval_attack(args: &ClassifierEvalArgs) -> anyhow::Result<Option<AttackConfig>> {
    let Some(kind) = args.attack else {
        return Ok(None);
    };
    let mut attack = AttackConfig {
        attack: kind,
        ..Default::default()
    };
    args.attack_args.apply(&mut attack);
    attack.validate()?;
    Ok(Some(attack))
}

pub fn eval(args: ClassifierEvalArgs, ui: Ui) -> anyhow::Result<()> {
    let attack = eval_attack(&args)?;
    let device = synth::backend::device();
    let (meta, model) = Checkpoint::load(&args.model, &device)?;
    let spec = args.dataset.clone().unwrap_or_else(|| meta.dataset.clone());
    let resize = args.resize.clone().unwrap_or_else(|| meta.config.resize.clone());
    let dataset = super::load(&spec, &resize)?;
    if dataset.classes != meta.classes {
        return Err(SynthError::bad_input(format!(
            "model {} was trained on classes [{}], dataset {spec} has [{}]",
            args.model.display(),
            meta.classes.join(", "),
            dataset.classes.join(", ")
        ))
        .into());
    }
    if let Some(attack) = &attack {
        attack.validate_for_classes(meta.classes.len())?;
    }
    let split = Split::stratified(&dataset, &meta.config.split)?;
    let idx = split.indices(&dataset, args.split)?;
    let shape = dataset.require_uniform_shape()?;
    let input = input_shape(&meta.config, shape)?;
    let images: Vec<_> = idx.iter().map(|&i| &dataset.samples[i].image).collect();
    let labels = idx.iter().map(|&i| dataset.samples[i].label).collect();
    let side = (shape.1 != input.1 || shape.2 != input.1).then_some(input.1);
    let set = PreparedSet::new(&images, labels, side, &device)?;
    let evaluation = evaluate(&model, &set, meta.classes.len(), meta.config.batch_size)?;
    let png = args.model.join(format!("confusion-{}.png", args.split));
    let tmp = png.with_extension("png.tmp");
    std::fs::write(&tmp, evaluation.confusion_image().to_png()?).at(&tmp, "writing")?;
    std::fs::rename(&tmp, &png).at(&png, "writing")?;
    let mut human = format!(
        "accuracy {:.4} on {} {} images of {spec}\n",
        evaluation.accuracy, evaluation.images, args.split
    );
    for (c, a) in meta.classes.iter().zip(&evaluation.per_class_accuracy) {
        human += &format!("  class {c:<10} {a:.4}\n");
    }
    human += &evaluation.confusion_text(&meta.classes);
    human += &format!("\nconfusion matrix: {}", png.display());
    let robust = match attack {
        None => None,
        Some(attack) => {
            let started = std::time::Instant::now();
            let bar = progress_bar(set.len() as u64, &attack.attack.to_string(), ui.quiet);
            let keys: Vec<u64> = idx.iter().map(|&i| i as u64).collect();
            let options = AttackOptions {
                batch_size: 256,
                seed: args.seed.unwrap_or(0),
                quantize: false,
            };
            let run = attack_set(&model, &set, &keys, meta.classes.len(), &attack, options, |n| {
                bar.inc(n as u64)
            })?;
            bar.finish_and_clear();
            let numbers = run.summary();
            human += &format!(
                "\nrobust accuracy {:.4} under {} (success rate {:.4}; mean perturbation L-inf {:.4}, L2 {:.4})",
                numbers.adversarial_accuracy,
                attack.describe(),
                numbers.success_rate,
                numbers.mean_linf,
                numbers.mean_l2
            );
            Some(RobustSummary {
                step_size: attack.step_size(),
                attack,
                numbers,
                seconds: started.elapsed().as_secs_f64(),
            })
        }
    };
    let summary = EvalSummary {
        model: args.model.display().to_string(),
        dataset: spec,
        split: args.split,
        evaluation,
        confusion_png: png.display().to_string(),
        robust,
    };
    ui.summary(&summary, &human)
}
