//! The `synth` binary: parse, run, and map failures to exit codes (0 ok, 2 bad input, 1 internal error).

mod cli;
mod commands;

use std::process::ExitCode;

use clap::Parser;
use synth::SynthError;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    // Ctrl-C removes the staging folders and locks of the running command, then exits with 130.
    synth::interrupt::install();
    // On a pool thread, so that each op's split work is stolen rather than handed over (`backend::on_workers`).
    match synth::backend::on_workers(|| commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) if synth::interrupt::interrupted() => ExitCode::from(synth::interrupt::EXIT_INTERRUPTED),
        Err(err) => {
            eprintln!("error: {err:#}");
            let bad_input = err
                .chain()
                .any(|e| e.downcast_ref::<SynthError>().is_some_and(SynthError::is_bad_input));
            ExitCode::from(if bad_input { 2 } else { 1 })
        }
    }
}
