//! `synth policy`: flags and config, the child data, the searches (one progress bar), the report.

use crate::cli::PolicyArgs;
use synth::config;
use synth::policy::PolicyConfig;
use synth::policy::search::Episode;

use super::Ui;

fn effective_config(args: &PolicyArgs) -> anyhow::Result<PolicyConfig> {
    let mut c: PolicyConfig = config::load(args.config.as_deref())?;
    args.apply(&mut c);
    c.validate()?;
    Ok(c)
}

pub fn run(args: PolicyArgs, ui: Ui) -> anyhow::Result<()> {
    let config = effective_config(&args)?;
    let out = args
        .output
        .out_dir("policy", &config.out_name(&super::dataset_slug(&config.dataset)));
    let out_dir = super::claim_out(&args.output, &out)?;
    let tb_dir = args.output.tb_dir("policy", &out);
    let report = synth::policy::run::run(&config, &args.synthetic, out_dir, &tb_dir, ui.quiet)?;
    let mut human = String::new();
    for m in &report.methods {
        human.push_str(&format!(
            "{:>7}: final best val acc {:.2}% [{:.2}, {:.2}] over {} seeds, mean reward {:.2}%, {} steps per child\n",
            m.method,
            100.0 * m.final_best.mean,
            100.0 * m.final_best.ci_low,
            100.0 * m.final_best.ci_high,
            m.final_best.n,
            100.0 * m.mean_reward,
            match m.child_steps {
                [lo, hi] if lo == hi => lo.to_string(),
                [lo, hi] => format!("{lo}-{hi}"),
            }
        ));
    }
    human.push_str(&format!(
        "best policy ({:.2}%, {}): {}\nwrote {} (best.toml, report.md, curves.png) in {:.0} s; TensorBoard: {}",
        100.0 * report.best.reward,
        report.best.method,
        report.best.policy.describe(),
        out.display(),
        report.seconds,
        tb_dir.display()
    ));
    #[derive(serde::Serialize)]
    struct Summary<'a> {
        out: String,
        winner: &'a str,
        best: &'a Episode,
        methods: &'a [synth::policy::report::MethodResult],
        seconds: f64,
    }
    let summary = Summary {
        out: out.display().to_string(),
        winner: &report.winner,
        best: &report.best,
        methods: &report.methods,
        seconds: report.seconds,
    };
    ui.summary(&summary, &human)
}
