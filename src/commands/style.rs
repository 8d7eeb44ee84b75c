use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cli::StyleArgs;
use synth::classifier::checkpoint::bundled_weights;
use synth::classifier::vgg::Vgg16;
use synth::config;
use synth::dataset::{ExpandedWriter, Image, Origin, OutDir, Provenance, SourceKind, Split, SplitName};
use synth::error::{IoContext, SynthError};
use synth::style::run::{StyleSource, load_styles, stylise_dataset};
use synth::style::{StyleConfig, StyleNet, stylise_image};
use synth::telemetry::{EventLog, progress_bar};

use super::Ui;

fn effective_config(args: &StyleArgs) -> anyhow::Result<StyleConfig> {
    let mut c: StyleConfig = config::load(args.config.as_deref())?;
    args.apply(&mut c);
    c.validate()?;
    Ok(c)
}

fn is_image_file(spec: &str) -> bool {
    let p = Path::new(spec);
    p.is_file()
        && p.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "image".into())
}

pub fn run(args: StyleArgs, ui: Ui) -> anyhow::Result<()> {
    let mut config = effective_config(&args)?;
    let styles = load_styles(&args.style)?;
    let vgg = Vgg16::load(&bundled_weights(), &synth::backend::device())?;
    let net = StyleNet::new(vgg, &config)?;
    if is_image_file(&args.content) {
        single(&args, &config, &styles, &net, ui)
    } else {
        config.dataset = args.content.clone();
        dataset_mode(&args, &config, &styles, &net, ui)
    }
}

#[derive(Serialize)]
struct SingleSummary {
    out: String,
    width: usize,
    height: usize,
    evaluations: usize,
    first_loss: f64,
    final_loss: f64,
    loss_ratio: f64,
    seconds: f64,
}

fn single(
    args: &StyleArgs,
    config: &StyleConfig,
    styles: &[StyleSource],
    net: &StyleNet,
    ui: Ui,
) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let content_path = PathBuf::from(&args.content);
    let content = Image::load(&content_path)?;
    let out = args.output.out.clone().unwrap_or_else(|| {
        Path::new("outputs/style").join(format!("{}-{}.png", stem(&content_path), stem(&styles[0].path)))
    });
    if out.is_dir() {
        return Err(SynthError::bad_input(format!(
            "--out {} is a folder; single-image mode writes a .png file (a content dataset writes a folder)",
            out.display()
        ))
        .into());
    }
    if out.exists() && !args.output.force {
        return Err(
            SynthError::bad_input(format!("--out {} exists; pass --force to replace it", out.display())).into(),
        );
    }
    // Claim the output before the optimisation: an unwritable --out is found now, not after minutes of work.
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).at(parent, "creating")?;
    }
    let tmp = out.with_extension("png.partial");
    std::fs::write(&tmp, b"").at(&tmp, "writing")?;
    synth::interrupt::remove_on_interrupt(&tmp);
    let claimed = scopeguard_remove(&tmp);
    let tb_dir = args
        .output
        .tb_dir
        .clone()
        .unwrap_or_else(|| Path::new("outputs/tb/style").join(stem(&out)));
    let mut log = EventLog::create(&tb_dir)?;
    let bar = progress_bar(config.iterations as u64, "style", ui.quiet);
    let mut step = 0;
    let weighted: Vec<(Image, f64)> = styles.iter().map(|s| (s.image.clone(), s.weight)).collect();
    let result = stylise_image(net, &content, &weighted, config, |terms| {
        log.scalar("style/total", terms.total as f32, step);
        log.scalar("style/content", terms.content as f32, step);
        log.scalar("style/style", terms.style as f32, step);
        log.scalar("style/tv", terms.tv as f32, step);
        bar.set_message(format!(
            "loss {:.3e} (content {:.2e} style {:.2e} tv {:.2e})",
            terms.total, terms.content, terms.style, terms.tv
        ));
        bar.inc(1);
        step += 1;
    })?;
    bar.finish_and_clear();
    log.image("style/result", &result.image, step);
    log.flush();
    std::fs::write(&tmp, result.image.to_png()?).at(&tmp, "writing")?;
    std::fs::rename(&tmp, &out).at(&out, "writing")?;
    drop(claimed);
    let first = result.history.first().map_or(f64::NAN, |t| t.total);
    let last = result.history.last().map_or(f64::NAN, |t| t.total);
    let summary = SingleSummary {
        out: out.display().to_string(),
        width: result.image.width,
        height: result.image.height,
        evaluations: result.history.len(),
        first_loss: first,
        final_loss: last,
        loss_ratio: first / last,
        seconds: started.elapsed().as_secs_f64(),
    };
    let human = format!(
        "wrote {} ({}x{}) in {:.0} s; loss {:.3e} -> {:.3e} ({:.1}x lower) over {} evaluations",
        summary.out,
        summary.width,
        summary.height,
        summary.seconds,
        first,
        last,
        summary.loss_ratio,
        summary.evaluations
    );
    ui.summary(&summary, &human)
}

#[derive(Serialize)]
struct DatasetSummary {
    out: String,
    images: usize,
    styles: Vec<String>,
    seconds: f64,
}

fn dataset_mode(
    args: &StyleArgs,
    config: &StyleConfig,
    styles: &[StyleSource],
    net: &StyleNet,
    ui: Ui,
) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let out = args.output.out.clone().unwrap_or_else(|| {
        Path::new("outputs/style").join(format!("{}-seed{}", super::dataset_slug(&config.dataset), config.seed))
    });
    let out = OutDir::claim(&out, args.output.force)?;
    let dataset = super::load(&config.dataset, &config.resize)?;
    let split = Split::stratified(&dataset, &config.split)?;
    let mut train = split.indices(&dataset, SplitName::Train)?;
    if config.max_images > 0 {
        train = synth::classifier::run::per_class_subset(
            &dataset,
            &train,
            config.max_images.div_ceil(dataset.classes.len()),
            config.seed,
        );
        train.truncate(config.max_images);
    }
    let mut writer = ExpandedWriter::new(out, &dataset.classes, SourceKind::Style)?;
    let bar = progress_bar((train.len() * config.per_image) as u64, "style", ui.quiet);
    stylise_dataset(net, &dataset, &train, styles, config, &mut writer, |n| {
        bar.inc(n as u64)
    })?;
    bar.finish_and_clear();
    let origin = Origin::describe(
        &dataset,
        &split,
        SplitName::Train,
        SourceKind::Style,
        config::to_json(config),
    );
    let preview = writer.preview_from_disk(64)?;
    let images = writer.count();
    let out = writer.finish(Provenance {
        origin: &origin,
        split: &split,
        config_toml: Some(config::to_toml(config)?),
        preview: preview.clone(),
    })?;
    if let Some(grid) = &preview {
        let tb_dir = args
            .output
            .tb_dir
            .clone()
            .unwrap_or_else(|| Path::new("outputs/tb/style").join(stem(&out)));
        let mut log = EventLog::create(&tb_dir)?;
        log.image("style/samples", grid, 0);
        log.scalar("style/images", images as f32, 0);
        log.flush();
    }
    let summary = DatasetSummary {
        out: out.display().to_string(),
        images,
        styles: styles.iter().map(|s| s.path.display().to_string()).collect(),
        seconds: started.elapsed().as_secs_f64(),
    };
    let human = format!(
        "wrote {images} stylised images to {} in {:.0} s",
        summary.out, summary.seconds
    );
    ui.summary(&summary, &human)
}

/// Removes a claimed temporary file when dropped (an error before the final rename), and forgets it for Ctrl-C.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        synth::interrupt::forget(&self.0);
    }
}

fn scopeguard_remove(path: &Path) -> RemoveOnDrop {
    RemoveOnDrop(path.to_path_buf())
}
