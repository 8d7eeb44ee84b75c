use crate::augment::{AugmentConfig, AugmentSummary, Pipeline, augment_images};
use crate::cli::AugmentArgs;
use crate::config;
use crate::dataset::writer::check_out_dir;
use crate::dataset::{ExpandedWriter, Origin, SourceKind, Split, SplitName, image_grid};
use crate::error::SynthError;
use crate::telemetry::{EventLog, progress_bar};

use super::Ui;

const PREVIEW: usize = 64;

fn effective_config(args: &AugmentArgs) -> anyhow::Result<AugmentConfig> {
    let mut c: AugmentConfig = config::load(args.config.as_deref())?;
    super::apply_data_args(&args.data, &mut c.dataset, &mut c.resize, &mut c.split);
    if let Some(ops) = &args.ops {
        c.ops = vec![ops.clone()];
    }
    if let Some(copies) = args.copies {
        c.copies = copies;
    }
    if let Some(seed) = args.seed {
        c.seed = seed;
    }
    if let Some(p) = &args.policy {
        c.policy = p.display().to_string();
    }
    if c.copies == 0 {
        return Err(SynthError::bad_input("--copies must be at least 1").into());
    }
    Ok(c)
}

pub fn run(args: AugmentArgs, ui: Ui) -> anyhow::Result<()> {
    let mut config = effective_config(&args)?;
    let pipelines = if config.policy.is_empty() {
        let pipeline = Pipeline::parse(&config.ops)?;
        config.ops = pipeline.to_strings();
        vec![pipeline]
    } else {
        let policy = crate::policy::Policy::load(std::path::Path::new(&config.policy))?;
        config.ops = policy.sub_policies.iter().map(|s| s.join(",")).collect();
        policy.pipelines()?
    };
    config.split.validate()?;
    let out = args.output.out_dir(
        "augment",
        &format!("{}-seed{}", super::dataset_slug(&config.dataset), config.seed),
    );
    check_out_dir(&out, args.output.force)?;
    let dataset = super::load(&config.dataset, &config.resize)?;
    let split = Split::stratified(&dataset, &config.split)?;
    let train = split.indices(&dataset, SplitName::Train)?;

    let mut writer = ExpandedWriter::create(&out, args.output.force, &dataset.classes, SourceKind::Augment)?;
    let bar = progress_bar((train.len() * config.copies) as u64, "augment", ui.quiet);
    let mut kept = Vec::with_capacity(PREVIEW);
    augment_images(
        &dataset,
        &train,
        &pipelines,
        config.copies,
        config.seed,
        &mut writer,
        |image| {
            if kept.len() < PREVIEW {
                kept.push(image.clone());
            }
            bar.inc(1);
        },
    )?;
    bar.finish_and_clear();

    let origin = Origin::describe(
        &dataset,
        &split,
        SplitName::Train,
        SourceKind::Augment,
        config::to_json(&config),
    );
    origin.write_with_split(&split, &writer)?;
    writer.write_file("config.toml", config::to_toml(&config)?.as_bytes())?;
    let grid = image_grid(&kept, 8);
    if let Some(grid) = &grid {
        writer.write_file("preview.png", &grid.to_png()?)?;
    }
    let images = writer.count();
    let out = writer.finish()?;

    let tb_dir = args.output.tb_dir("augment", &out);
    let mut log = EventLog::create(&tb_dir)?;
    log.scalar("augment/images", images as f32, 0);
    if let Some(grid) = &grid {
        log.image("augment/samples", grid, 0);
    }
    log.flush();

    let per_class: Vec<usize> = dataset
        .subset(&train)
        .class_counts()
        .iter()
        .map(|n| n * config.copies)
        .collect();
    let summary = AugmentSummary {
        out: out.display().to_string(),
        images,
        train_images: train.len(),
        copies: config.copies,
        per_class,
        ops: config.ops.clone(),
    };
    let human = format!(
        "wrote {images} augmented images ({} train images x {} copies) to {}\nops: {}\nTensorBoard: {}",
        train.len(),
        config.copies,
        out.display(),
        config.ops.join(" | "),
        tb_dir.display()
    );
    ui.summary(&summary, &human)
}
