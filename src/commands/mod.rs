//! The thin glue between the command line and the library: one function per command that reads flags and config,
//! calls the capability, and prints a summary.

mod adversarial;
mod augment;
mod classifier;
mod datasets;
mod eval_gain;
mod gan;
mod policy;
mod style;

use serde::Serialize;

use crate::cli::{ClassifierCommand, Cli, Command};

/// How a command reports: quiet bars, JSON summary.
#[derive(Clone, Copy, Debug)]
pub struct Ui {
    pub quiet: bool,
    pub json: bool,
}

impl Ui {
    /// Prints the run's summary: one JSON object with `--json`, the human text otherwise.
    pub fn summary<S: Serialize>(&self, summary: &S, human: &str) -> anyhow::Result<()> {
        if self.json {
            println!("{}", serde_json::to_string(summary)?);
        } else {
            println!("{human}");
        }
        Ok(())
    }
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let ui = Ui {
        quiet: cli.quiet,
        json: cli.json,
    };
    match cli.command {
        Command::Augment(args) => augment::run(args, ui),
        Command::Datasets(args) => datasets::run(args, ui),
        Command::Gan(args) => gan::run(*args, ui),
        Command::Style(args) => style::run(*args, ui),
        Command::Classifier(ClassifierCommand::Train(args)) => classifier::train(args, ui),
        Command::Classifier(ClassifierCommand::Eval(args)) => classifier::eval(args, ui),
        Command::Adversarial(args) => adversarial::run(*args, ui),
        Command::EvalGain(args) => eval_gain::run(*args, ui),
        Command::Policy(args) => policy::run(*args, ui),
    }
}

/// `outputs/<command>/<name>`: the one rule for a run's default output folder.
pub(crate) fn default_out(command: &str, name: &str) -> std::path::PathBuf {
    std::path::Path::new("outputs").join(command).join(name)
}

/// `outputs/tb/<command>/<name of out>`: the one rule for a run's default TensorBoard folder.
pub(crate) fn default_tb_dir(command: &str, out: &std::path::Path) -> std::path::PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "run".into());
    std::path::Path::new("outputs").join("tb").join(command).join(name)
}

pub(crate) use synth::dataset::{dataset_slug, load_named as load};

/// Claims a run's output folder before any work. When `--out` was not given and the default folder holds an
/// earlier run (a second `synth eval-gain` with the same settings), the one-line error says that it is the default
/// and how to go on, instead of only naming a folder the user never typed.
pub(crate) fn claim_out(
    output: &crate::cli::OutArgs,
    out: &std::path::Path,
) -> Result<synth::dataset::OutDir, synth::SynthError> {
    let earlier = out.is_dir() && std::fs::read_dir(out).is_ok_and(|mut d| d.next().is_some());
    if output.out.is_none() && !output.force && earlier {
        return Err(synth::SynthError::bad_input(format!(
            "{} (the default --out) holds an earlier run; pass --force to replace it, or --out DIR to keep both",
            out.display()
        )));
    }
    synth::dataset::OutDir::claim(out, output.force)
}
