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

use crate::cli::{ClassifierCommand, Cli, Command, DataArgs};
use crate::dataset::{Dataset, LoadOptions, ResizePolicy, SplitConfig, load_dataset};
use crate::error::SynthError;

/// How a command reports: quiet bars, JSON summary.
#[derive(Clone, Copy, Debug)]
pub struct Ui {
    pub quiet: bool,
    pub json: bool,
    /// Print no summary at all (a command run inside another, such as eval-gain's GAN).
    pub silent: bool,
}

impl Ui {
    /// Prints the run's summary: one JSON object with `--json`, the human text otherwise.
    pub fn summary<S: Serialize>(&self, summary: &S, human: &str) -> anyhow::Result<()> {
        if self.silent {
            return Ok(());
        }
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
        silent: false,
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

/// Applies the shared data flags over a config's dataset, resize and split settings.
pub(crate) fn apply_data_args(args: &DataArgs, dataset: &mut String, resize: &mut String, split: &mut SplitConfig) {
    if let Some(d) = &args.dataset {
        *dataset = d.clone();
    }
    if let Some(r) = &args.resize {
        *resize = r.clone();
    }
    if let Some(v) = args.val {
        split.val = v;
    }
    if let Some(t) = args.test {
        split.test = t;
    }
    if let Some(s) = args.split_seed {
        split.seed = s;
    }
}

/// Checks a run's output folder before any work. When `--out` was not given and the default folder holds an
/// earlier run (a second `synth eval-gain` with the same settings), the one-line error says that it is the default
/// and how to go on, instead of only naming a folder the user never typed.
pub(crate) fn check_out(output: &crate::cli::OutArgs, out: &std::path::Path) -> Result<(), SynthError> {
    let earlier = out.is_dir() && std::fs::read_dir(out).is_ok_and(|mut d| d.next().is_some());
    if output.out.is_none() && !output.force && earlier {
        return Err(SynthError::bad_input(format!(
            "{} (the default --out) holds an earlier run; pass --force to replace it, or --out DIR to keep both",
            out.display()
        )));
    }
    crate::dataset::writer::check_out_dir(out, output.force)
}

/// Parses a resize policy string into a load option.
pub(crate) fn load_options(resize: &str) -> Result<LoadOptions, SynthError> {
    let resize: ResizePolicy = resize
        .parse()
        .map_err(|e: String| SynthError::bad_input(format!("--resize: {e}")))?;
    Ok(LoadOptions { resize })
}

/// Loads the dataset a command names.
pub(crate) fn load(spec: &str, resize: &str) -> Result<Dataset, SynthError> {
    load_dataset(spec, &load_options(resize)?)
}

/// A file-name-safe short name for a dataset spec (its last path component without extensions).
pub fn dataset_slug(spec: &str) -> String {
    let last = std::path::Path::new(spec)
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| spec.into());
    let stem = last.split('.').next().unwrap_or("data");
    stem.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
