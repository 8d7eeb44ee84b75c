//! `synth adversarial`: flags and config in, [`synth::adversarial::run::run`], the summary and TensorBoard out.

use serde::Serialize;

use crate::cli::AdversarialArgs;
use synth::adversarial::run::AdversarialOutcome;
use synth::adversarial::{AdversarialConfig, AttackConfig, AttackSummary};
use synth::config;
use synth::dataset::{OutDir, SplitName};
use synth::telemetry::EventLog;

use super::Ui;

fn effective_config(args: &AdversarialArgs) -> anyhow::Result<AdversarialConfig> {
    let mut c: AdversarialConfig = config::load(args.config.as_deref())?;
    args.apply(&mut c)?;
    c.validate()?;
    Ok(c)
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

/// `<dataset>-<attack>-<norm>-eps<eps>-seed<seed>`, the dataset named by --dataset, else by the model's folder.
fn default_name(config: &AdversarialConfig) -> String {
    let slug = match (&config.dataset, &config.model) {
        (Some(dataset), _) => super::dataset_slug(dataset),
        (None, Some(model)) => super::dataset_slug(model),
        (None, None) => "mnist".to_string(),
    };
    let a = &config.attack;
    format!("{slug}-{}-{}-eps{}-seed{}", a.attack, a.norm, a.eps, config.seed)
}

pub fn run(args: AdversarialArgs, ui: Ui) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let config = effective_config(&args)?;
    let out = args.output.out_dir("adversarial", &default_name(&config));
    let out = OutDir::claim(&out, args.output.force)?;
    let outcome = synth::adversarial::run::run(config, out, ui.quiet)?;
    let tb_dir = args.output.tb_dir("adversarial", &outcome.out);
    log_outcome(&outcome, &tb_dir)?;

    let (config, numbers) = (&outcome.config, &outcome.numbers);
    let dataset = config.dataset.clone().unwrap_or_default();
    let summary = Summary {
        out: outcome.out.display().to_string(),
        dataset: dataset.clone(),
        split: config.source_split,
        model: &outcome.model,
        attack: &config.attack,
        step_size: config.attack.step_size(),
        numbers,
        attack_seconds: outcome.attack_seconds,
        seconds: started.elapsed().as_secs_f64(),
    };
    let success_of = if config.attack.targeted() {
        "images whose label is not the target"
    } else {
        "images classified correctly when clean"
    };
    let written = outcome.written;
    let human = format!(
        "attacked {written} {} images of {dataset} with {}\n\
         clean accuracy {:.4}, adversarial accuracy {:.4} (on the 8-bit images written)\n\
         success rate {:.4} (of {} {success_of})\n\
         perturbation L-inf mean {:.4} max {:.4}, L2 mean {:.4} max {:.4}\n\
         wrote {written} images to {} in {:.1} s (attack {:.1} s; TensorBoard: {})",
        config.source_split,
        config.attack.describe(),
        numbers.clean_accuracy,
        numbers.adversarial_accuracy,
        numbers.success_rate,
        numbers.success_base,
        numbers.mean_linf,
        numbers.max_linf,
        numbers.mean_l2,
        numbers.max_l2,
        summary.out,
        summary.seconds,
        summary.attack_seconds,
        tb_dir.display()
    );
    ui.summary(&summary, &human)
}

fn log_outcome(outcome: &AdversarialOutcome, tb_dir: &std::path::Path) -> anyhow::Result<()> {
    let numbers = &outcome.numbers;
    let mut log = EventLog::create(tb_dir)?;
    log.scalar("adversarial/clean_accuracy", numbers.clean_accuracy, 0);
    log.scalar("adversarial/adversarial_accuracy", numbers.adversarial_accuracy, 0);
    log.scalar("adversarial/success_rate", numbers.success_rate, 0);
    log.scalar("adversarial/mean_linf", numbers.mean_linf, 0);
    log.scalar("adversarial/mean_l2", numbers.mean_l2, 0);
    if let Some(grid) = &outcome.preview {
        log.image("adversarial/clean_and_adversarial", grid, 0);
    }
    log.flush();
    Ok(())
}
