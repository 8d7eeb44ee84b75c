//! `synth classifier train|eval`: flags and config in, [`synth::classifier::run::train_run`] or
//! [`synth::adversarial::run::evaluate_model`], the summary out.

use serde::Serialize;

use crate::cli::{ClassifierEvalArgs, ClassifierTrainArgs};
use synth::adversarial::AttackConfig;
use synth::adversarial::run::RobustAccuracy;
use synth::classifier::report::Evaluation;
use synth::classifier::run::{EvalRequest, TrainOutcome};
use synth::classifier::{ClassifierConfig, FitReport};
use synth::config;
use synth::dataset::{OutDir, SplitName};

use super::Ui;

fn effective_config(args: &ClassifierTrainArgs) -> anyhow::Result<ClassifierConfig> {
    let mut c: ClassifierConfig = config::load(args.config.as_deref())?;
    args.apply(&mut c);
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
    let slug = super::dataset_slug(&config.dataset);
    let name = format!("{slug}-{}-seed{}", config.backbone, config.seed);
    let out = args.output.out_dir("classifier", &name);
    let out = OutDir::claim(&out, args.output.force)?;
    let tb_dir = args.output.tb_dir("classifier", out.root());
    let outcome = synth::classifier::run::train_run(&config, &args.extra, out, Some(&tb_dir), ui.quiet)?;

    let TrainOutcome {
        out,
        train_images,
        report,
        test,
    } = &outcome;
    let summary = TrainSummary {
        out: out.display().to_string(),
        backbone: config.backbone.to_string(),
        train_images: *train_images,
        val_accuracy: report.best_val_accuracy,
        test_accuracy: test.accuracy,
        seconds: started.elapsed().as_secs_f64(),
        fit: report,
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
        "trained {}{adversarial} on {train_images} images ({} epochs, best val accuracy {:.4} at {})\ntest accuracy {:.4} on {} images\nsaved to {} in {:.0} s (TensorBoard: {})",
        config.backbone,
        report.history.len(),
        report.best_val_accuracy,
        report.best_text(),
        test.accuracy,
        test.images,
        summary.out,
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
    robust: Option<RobustAccuracy>,
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
    let request = EvalRequest {
        model: &args.model,
        dataset: args.dataset.clone(),
        resize: args.resize.clone(),
        split: args.split,
    };
    let seed = args.seed.unwrap_or(0);
    let result = synth::adversarial::run::evaluate_model(&request, attack.as_ref(), seed, ui.quiet)?;
    let clean = result.clean;
    let evaluation = &clean.evaluation;
    let mut human = format!(
        "accuracy {:.4} on {} {} images of {}\n",
        evaluation.accuracy, evaluation.images, args.split, clean.dataset
    );
    for (c, a) in clean.classes.iter().zip(&evaluation.per_class_accuracy) {
        human += &format!("  class {c:<10} {a:.4}\n");
    }
    human += &evaluation.confusion_text(&clean.classes);
    human += &format!("\nconfusion matrix: {}", clean.confusion_png.display());
    if let Some(robust) = &result.robust {
        let n = &robust.numbers;
        human += &format!(
            "\nrobust accuracy {:.4} under {} (success rate {:.4}; mean perturbation L-inf {:.4}, L2 {:.4})",
            n.adversarial_accuracy,
            robust.attack.describe(),
            n.success_rate,
            n.mean_linf,
            n.mean_l2
        );
    }
    let summary = EvalSummary {
        model: args.model.display().to_string(),
        dataset: clean.dataset,
        split: args.split,
        evaluation: clean.evaluation,
        confusion_png: clean.confusion_png.display().to_string(),
        robust: result.robust,
    };
    ui.summary(&summary, &human)
}
