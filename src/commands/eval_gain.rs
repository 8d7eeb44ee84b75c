//! `synth eval-gain`: flags and config in, [`synth::eval::run::run`], the table and TensorBoard out.

use crate::cli::EvalGainArgs;
use synth::config;
use synth::eval::{EvalGainConfig, Report};
use synth::telemetry::{EventLog, progress_bar};

use super::Ui;

fn effective_config(args: &EvalGainArgs) -> anyhow::Result<EvalGainConfig> {
    let mut c: EvalGainConfig = config::load(args.config.as_deref())?;
    args.apply(&mut c);
    c.validate()?;
    Ok(c)
}

pub fn run(args: EvalGainArgs, ui: Ui) -> anyhow::Result<()> {
    let config = effective_config(&args)?;
    let slug = super::dataset_slug(&config.dataset);
    let out = args.output.out_dir("eval-gain", &config.out_name(&slug));
    let out_dir = super::claim_out(&args.output, &out)?;
    let bar = progress_bar(0, "eval-gain", ui.quiet);
    if !config.curve.is_empty() {
        let (curve, out) = synth::eval::curve::run(&config, &args.synthetic, args.policy.as_deref(), out_dir, &bar)?;
        bar.finish_and_clear();
        let human = format!(
            "{}\ncurve: {} (curve.md, curve.json, curve.png; a report per size in pcN/) in {:.0} s",
            synth::eval::curve::table(&curve),
            out.display(),
            curve.seconds
        );
        return ui.summary(&curve, &human);
    }
    let (report, out) = synth::eval::run::run(&config, &args.synthetic, args.policy.as_deref(), out_dir, &bar)?;
    bar.finish_and_clear();

    let tb_dir = args.output.tb_dir("eval-gain", &out);
    log_accuracies(&report, &tb_dir)?;
    let human = format!(
        "{}\n{}\nreport: {} (report.md, report.json, gain.png) in {:.0} s; TensorBoard: {}",
        synth::eval::report::table(&report),
        synth::eval::report::mde_line(&report),
        out.display(),
        report.seconds,
        tb_dir.display()
    );
    for warning in synth::eval::report::warnings(&report) {
        eprintln!("warning: {warning}");
    }
    ui.summary(&report, &human)
}

/// Every seed's clean, robust and per-shift accuracy per condition, as TensorBoard scalars.
fn log_accuracies(report: &Report, tb_dir: &std::path::Path) -> anyhow::Result<()> {
    let mut log = EventLog::create(tb_dir)?;
    for c in &report.conditions {
        let tag = c.condition.name.replace(' ', "");
        for s in &c.seeds {
            let step = s.seed as usize;
            log.scalar(&format!("eval_gain/clean/{tag}"), s.clean as f32, step);
            if let Some(r) = s.robust {
                log.scalar(&format!("eval_gain/robust/{tag}"), r as f32, step);
            }
            for (shift, r) in &s.shifted {
                log.scalar(&format!("eval_gain/shifted/{shift}/{tag}"), *r as f32, step);
            }
        }
    }
    log.flush();
    Ok(())
}
