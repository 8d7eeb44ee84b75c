use crate::cli::AugmentArgs;
use synth::augment::{AugmentConfig, Pipeline};
use synth::config;
use synth::dataset::OutDir;
use synth::telemetry::{EventLog, progress_bar};

use super::Ui;

fn effective_config(args: &AugmentArgs) -> anyhow::Result<AugmentConfig> {
    let mut c: AugmentConfig = config::load(args.config.as_deref())?;
    args.apply(&mut c);
    Ok(c)
}

pub fn run(args: AugmentArgs, ui: Ui) -> anyhow::Result<()> {
    let mut config = effective_config(&args)?;
    config.validate()?;
    let policy = match (config.preset.as_str(), config.policy.as_str()) {
        ("trivial", _) => Some(synth::policy::space::trivial_augment()),
        (_, "") => None,
        (_, path) => Some(synth::policy::Policy::load(std::path::Path::new(path))?),
    };
    let pipelines = match policy {
        None => {
            let pipeline = Pipeline::parse(&config.ops)?;
            config.ops = pipeline.to_strings();
            vec![pipeline]
        }
        Some(policy) => {
            config.ops = policy.sub_policies.iter().map(|s| s.join(",")).collect();
            policy.pipelines()?
        }
    };
    let out = args.output.out_dir(
        "augment",
        &format!("{}-seed{}", super::dataset_slug(&config.dataset), config.seed),
    );
    let out = OutDir::claim(&out, args.output.force)?;
    let bar = progress_bar(0, "augment", ui.quiet);
    let outcome = synth::augment::run::run(&config, &pipelines, out, &bar)?;
    bar.finish_and_clear();
    let summary = outcome.summary;

    let tb_dir = args.output.tb_dir("augment", std::path::Path::new(&summary.out));
    let mut log = EventLog::create(&tb_dir)?;
    log.scalar("augment/images", summary.images as f32, 0);
    if let Some(grid) = &outcome.preview {
        log.image("augment/samples", grid, 0);
    }
    log.flush();

    let human = format!(
        "wrote {} augmented images ({} train images x {} copies) to {}\nops: {}\nTensorBoard: {}",
        summary.images,
        summary.train_images,
        summary.copies,
        summary.out,
        config.ops.join(" | "),
        tb_dir.display()
    );
    ui.summary(&summary, &human)
}
