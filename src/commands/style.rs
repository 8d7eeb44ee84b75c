//! `synth style`: flags and config in, [`synth::style::run::run_single`] (a content image) or
//! [`synth::style::run::run_dataset`] (a content dataset), the summary and TensorBoard out.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cli::StyleArgs;
use synth::classifier::checkpoint::bundled_weights;
use synth::classifier::vgg::Vgg16;
use synth::config;
use synth::dataset::{OutDir, OutFile};
use synth::style::run::{StyleSource, load_styles};
use synth::style::{StyleConfig, StyleNet};
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
    let content = PathBuf::from(&args.content);
    let name = format!("{}-{}.png", stem(&content), stem(&styles[0].path));
    let out = args
        .output
        .out
        .clone()
        .unwrap_or_else(|| super::default_out("style", &name));
    // Claimed before the optimisation: an unwritable --out is found now, not after minutes of work.
    let what = "single-image mode writes a .png file (a content dataset writes a folder)";
    let out = OutFile::claim(&out, args.output.force, what)?;
    let tb_dir = args.output.tb_dir("style", &out.path().with_extension(""));
    let mut log = EventLog::create(&tb_dir)?;
    let bar = progress_bar(config.iterations as u64, "style", ui.quiet);
    let mut step = 0;
    let styled = synth::style::run::run_single(net, &content, styles, config, out, |terms| {
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
    log.image("style/result", &styled.image, step);
    log.flush();
    let first = styled.history.first().map_or(f64::NAN, |t| t.total);
    let last = styled.history.last().map_or(f64::NAN, |t| t.total);
    let summary = SingleSummary {
        out: styled.out.display().to_string(),
        width: styled.image.width,
        height: styled.image.height,
        evaluations: styled.history.len(),
        first_loss: first,
        final_loss: last,
        loss_ratio: first / last,
        seconds: started.elapsed().as_secs_f64(),
    };
    let human = format!(
        "wrote {} ({}x{}) in {:.0} s; loss {first:.3e} -> {last:.3e} ({:.1}x lower) over {} evaluations",
        summary.out, summary.width, summary.height, summary.seconds, summary.loss_ratio, summary.evaluations
    );
    ui.summary(&summary, &human)
}

#[derive(Serialize)]
struct DatasetSummary {
    out: String,
    images: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    label_agreement: Option<f64>,
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
    let name = format!("{}-seed{}", super::dataset_slug(&config.dataset), config.seed);
    let out = OutDir::claim(&args.output.out_dir("style", &name), args.output.force)?;
    let bar = progress_bar(0, "style", ui.quiet);
    let outcome = synth::style::run::run_dataset(net, styles, config, out, &bar)?;
    bar.finish_and_clear();
    if let Some(grid) = &outcome.preview {
        let mut log = EventLog::create(&args.output.tb_dir("style", &outcome.out))?;
        log.image("style/samples", grid, 0);
        log.scalar("style/images", outcome.images as f32, 0);
        log.flush();
    }
    let summary = DatasetSummary {
        out: outcome.out.display().to_string(),
        images: outcome.images,
        label_agreement: outcome.agreement.map(|a| a.share()),
        styles: styles.iter().map(|s| s.path.display().to_string()).collect(),
        seconds: started.elapsed().as_secs_f64(),
    };
    let mut human = format!(
        "wrote {} stylised images to {} in {:.0} s",
        summary.images, summary.out, summary.seconds
    );
    if let Some(a) = outcome.agreement {
        human += &format!(
            "\nlabel agreement {:.4}: the judge still labels {} of {} stylised images correctly",
            a.share(),
            a.agreed,
            a.images
        );
    }
    ui.summary(&summary, &human)
}
