//! The data-efficiency curve (`--per-class 5,10,20,50`): the whole experiment at each per-class size in turn, with
//! the same seeds and the default pipeline's generators retrained per size, then curve.json, curve.md (one table)
//! and curve.png (accuracy and gain against the size, with 95% bands). Synthetic data is said to help most where
//! real data is scarcest; the curve shows whether it does, and where a source stops paying for itself.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::ProgressBar;
use plotters::prelude::*;
use serde::Serialize;

use super::EvalGainConfig;
use super::experiment::ConditionKind;
use super::report::{Report, gain_text, interval};
use super::sources::SetSpec;
use crate::dataset::OutDir;
use crate::error::{IoContext, Result, SynthError};
use crate::report::chart::{FONT, save_rgb_png};
use crate::report::stats::{PairedGain, Summary};

/// One condition at one size.
#[derive(Clone, Debug, Serialize)]
pub struct CurveCell {
    pub condition: String,
    pub kind: ConditionKind,
    pub clean: Summary,
    /// Paired by seed over `real` at the same size (absent for `real`).
    pub gain_clean: Option<PairedGain>,
    /// Paired by seed over `real + augment` at the same size (`real + augment + X` only).
    pub gain_clean_vs_augment: Option<PairedGain>,
}

/// The experiment at one size.
#[derive(Clone, Debug, Serialize)]
pub struct CurvePoint {
    pub per_class: usize,
    /// The size's own report folder, relative to the curve's folder.
    pub report: String,
    pub conditions: Vec<CurveCell>,
    pub seconds: f64,
}

/// curve.json.
#[derive(Clone, Debug, Serialize)]
pub struct Curve {
    pub config: EvalGainConfig,
    pub points: Vec<CurvePoint>,
    pub seconds: f64,
}

/// Runs the experiment at each of `config.curve`'s sizes into `pcN/` folders of `out` (each a complete eval-gain
/// report), then writes the curve beside them; everything appears with one rename. Returns the curve and its folder.
pub fn run(
    config: &EvalGainConfig,
    synthetic: &[SetSpec],
    policy: Option<&Path>,
    out: OutDir,
    progress: &ProgressBar,
) -> Result<(Curve, PathBuf)> {
    let config = &super::run::held_out_config(config, synthetic);
    config.validate()?;
    if config.curve.is_empty() {
        return Err(SynthError::bad_input(
            "a data-efficiency curve needs at least one per-class size (--per-class 5,10,20,50)",
        ));
    }
    let started = Instant::now();
    let final_root = out.root().to_path_buf();
    let mut points = Vec::new();
    for &n in &config.curve {
        let name = format!("pc{n}");
        let dir = out.path().join(&name);
        std::fs::create_dir_all(&dir).at(&dir, "creating")?;
        let at = config.at_size(n);
        let began = Instant::now();
        progress.println(format!("eval-gain curve: {n} per class"));
        // Each size counts its own sets and fits: its elapsed time and ETA start again.
        progress.reset();
        let report = super::run::run_into(&at, synthetic, policy, &dir, &final_root.join(&name), progress)?;
        let path = dir.join("config.toml");
        std::fs::write(&path, crate::config::to_toml(&at)?).at(&path, "writing")?;
        points.push(point_of(n, &name, &report, began.elapsed().as_secs_f64()));
    }
    let curve = Curve {
        config: config.clone(),
        points,
        seconds: started.elapsed().as_secs_f64(),
    };
    write(&curve, out.path())?;
    let path = out.path().join("config.toml");
    std::fs::write(&path, crate::config::to_toml(config)?).at(&path, "writing")?;
    let final_dir = out.commit()?;
    Ok((curve, final_dir))
}

/// The clean numbers of one size's report.
fn point_of(per_class: usize, name: &str, report: &Report, seconds: f64) -> CurvePoint {
    CurvePoint {
        per_class,
        report: name.to_string(),
        conditions: report
            .conditions
            .iter()
            .map(|c| CurveCell {
                condition: c.condition.name.clone(),
                kind: c.condition.kind.clone(),
                clean: c.clean.clone(),
                gain_clean: c.gain_clean.clone(),
                gain_clean_vs_augment: c.gain_clean_vs_augment.clone(),
            })
            .collect(),
        seconds,
    }
}

/// Every condition of the curve in first-seen order (a condition missing at a size leaves a gap).
fn condition_names(curve: &Curve) -> Vec<(String, ConditionKind)> {
    let mut names: Vec<(String, ConditionKind)> = Vec::new();
    for p in &curve.points {
        for c in &p.conditions {
            if !names.iter().any(|(n, _)| n == &c.condition) {
                names.push((c.condition.clone(), c.kind.clone()));
            }
        }
    }
    names
}

fn cell<'a>(point: &'a CurvePoint, condition: &str) -> Option<&'a CurveCell> {
    point.conditions.iter().find(|c| c.condition == condition)
}

/// Writes curve.json, curve.md and curve.png into `dir`.
pub fn write(curve: &Curve, dir: &Path) -> Result<()> {
    let path = dir.join("curve.json");
    std::fs::write(&path, crate::config::pretty_json(curve)?).at(&path, "writing")?;
    curve_chart(curve, &dir.join("curve.png"))?;
    let path = dir.join("curve.md");
    std::fs::write(&path, markdown(curve)).at(&path, "writing")
}

/// The curve's one table: per condition and size, clean accuracy (%, mean [95% CI]) and its paired gain over
/// `real` (and over `real + augment` for `real + augment + X`), significant gains in bold.
pub fn table(curve: &Curve) -> String {
    let mut out = String::from("| condition |");
    for p in &curve.points {
        let _ = write!(out, " {} per class: clean acc % | gain vs real (pp) |", p.per_class);
    }
    out.push_str("\n|---|");
    out.push_str(&"---|---|".repeat(curve.points.len()));
    out.push('\n');
    for (name, _) in condition_names(curve) {
        let _ = write!(out, "| {name} |");
        for p in &curve.points {
            match cell(p, &name) {
                Some(c) => {
                    let mut gain = gain_text(&c.gain_clean);
                    if c.gain_clean_vs_augment.is_some() {
                        gain = format!("{gain}; vs real + augment {}", gain_text(&c.gain_clean_vs_augment));
                    }
                    let _ = write!(out, " {} | {} |", interval(&c.clean), gain);
                }
                None => out.push_str(" | |"),
            }
        }
        out.push('\n');
    }
    out
}

/// curve.md: the table, the wall time per size and links to each size's report.
pub fn markdown(curve: &Curve) -> String {
    let mut out = format!(
        "# Data-efficiency curve: {} on {}, {} seeds\n\n",
        curve
            .points
            .iter()
            .map(|p| p.per_class.to_string())
            .collect::<Vec<_>>()
            .join(", ")
            + " images per class",
        curve.config.dataset,
        curve.config.seeds
    );
    out.push_str(&table(curve));
    out.push_str("\n![curve](curve.png)\n\n");
    for p in &curve.points {
        let _ = writeln!(
            out,
            "- {} per class: [report]({}/report.md), {:.0} s",
            p.per_class, p.report, p.seconds
        );
    }
    let _ = writeln!(out, "\nTotal {:.0} s.", curve.seconds);
    out
}

/// One condition's line with its 95% band on a panel whose x is the index of the size.
type Line = (String, Vec<(f64, f64, f64, f64)>);

/// Per condition, (x, mean, low, high) in percent at each size where `value` gives a summary.
fn lines(curve: &Curve, value: impl Fn(&CurveCell) -> Option<&Summary>) -> Vec<Line> {
    condition_names(curve)
        .into_iter()
        .map(|(name, _)| {
            let points = curve
                .points
                .iter()
                .enumerate()
                .filter_map(|(i, p)| {
                    let s = value(cell(p, &name)?)?;
                    Some((i as f64, 100.0 * s.mean, 100.0 * s.ci_low, 100.0 * s.ci_high))
                })
                .collect();
            (name, points)
        })
        .filter(|(_, points): &Line| !points.is_empty())
        .collect()
}

/// curve.png: clean accuracy against images per class (left) and the clean gain over `real` (right), a line per
/// condition with its 95% band.
pub fn curve_chart(curve: &Curve, path: &Path) -> Result<()> {
    let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    let panels = [
        ("clean accuracy (%)", lines(curve, |c| Some(&c.clean)), false),
        (
            "clean gain over real (pp)",
            lines(curve, |c| c.gain_clean.as_ref().map(|g| &g.gain)),
            true,
        ),
    ];
    let (w, h) = (1200u32, 520u32);
    let mut buffer = vec![255u8; (w * h * 3) as usize];
    let draw_err = |e: String| SynthError::internal(format!("drawing {}: {e}", path.display()));
    let sizes: Vec<usize> = curve.points.iter().map(|p| p.per_class).collect();
    let names: Vec<String> = condition_names(curve).into_iter().map(|(n, _)| n).collect();
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (w, h)).into_drawing_area();
        let areas = root.split_evenly((1, 2));
        for (area, (title, data, zero_line)) in areas.iter().zip(&panels) {
            draw_panel(area, title, data, *zero_line, &sizes, &names).map_err(draw_err)?;
        }
        root.present().map_err(|e| draw_err(e.to_string()))?;
    }
    save_rgb_png(buffer, (w, h), path)
}

/// One panel of curve.png; colours follow the condition's position in `names`, so both panels agree.
fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    data: &[Line],
    zero_line: bool,
    sizes: &[usize],
    names: &[String],
) -> std::result::Result<(), String> {
    let values = data
        .iter()
        .flat_map(|(_, p)| p.iter().flat_map(|&(_, m, l, h)| [m, l, h]));
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let (lo, hi) = if zero_line {
        (lo.min(0.0), hi.max(0.0))
    } else {
        (lo, hi.min(100.0))
    };
    let pad = ((hi - lo) * 0.05).max(0.5);
    let last = sizes.len().saturating_sub(1) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(-0.2..last + 0.2, (lo - pad)..(hi + pad))
        .map_err(|e| e.to_string())?;
    let size_label = |x: &f64| {
        let i = x.round();
        if (x - i).abs() < 1e-6 && i >= 0.0 {
            sizes.get(i as usize).map_or(String::new(), |n| n.to_string())
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .x_labels(10 * sizes.len().max(1) + 1)
        .x_label_formatter(&size_label)
        .x_desc("real images per class")
        .disable_x_mesh()
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(|e| e.to_string())?;
    if zero_line {
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(-0.2, 0.0), (last + 0.2, 0.0)],
                BLACK.stroke_width(1),
            )))
            .map_err(|e| e.to_string())?;
    }
    for (name, points) in data {
        let colour = Palette99::pick(names.iter().position(|n| n == name).unwrap_or(0)).to_rgba();
        let band: Vec<(f64, f64)> = points
            .iter()
            .map(|&(x, _, l, _)| (x, l))
            .chain(points.iter().rev().map(|&(x, _, _, h)| (x, h)))
            .collect();
        chart
            .draw_series(std::iter::once(Polygon::new(band, colour.mix(0.15).filled())))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                points.iter().map(|&(x, m, _, _)| (x, m)).collect::<Vec<_>>(),
                colour.stroke_width(2),
            )))
            .map_err(|e| e.to_string())?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 12))
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(mean: f64, half: f64) -> Summary {
        Summary {
            n: 3,
            mean,
            std: half,
            ci_low: mean - half,
            ci_high: mean + half,
        }
    }

    fn gain(mean: f64) -> PairedGain {
        PairedGain {
            gain: summary(mean, 0.01),
            t: 3.0,
            p_value: 0.04,
            significant: true,
            half_width: 0.01,
        }
    }

    fn curve() -> Curve {
        let point = |n: usize, real: f64, aug: f64| CurvePoint {
            per_class: n,
            report: format!("pc{n}"),
            conditions: vec![
                CurveCell {
                    condition: "real".into(),
                    kind: ConditionKind::Real,
                    clean: summary(real, 0.02),
                    gain_clean: None,
                    gain_clean_vs_augment: None,
                },
                CurveCell {
                    condition: "real + augment".into(),
                    kind: ConditionKind::RealPlus,
                    clean: summary(aug, 0.02),
                    gain_clean: Some(gain(aug - real)),
                    gain_clean_vs_augment: None,
                },
            ],
            seconds: 1.0,
        };
        Curve {
            config: EvalGainConfig {
                curve: vec![5, 20],
                ..EvalGainConfig::default()
            },
            points: vec![point(5, 0.6, 0.7), point(20, 0.88, 0.9)],
            seconds: 2.0,
        }
    }

    /// The table has a column pair per size and a row per condition, with each size's numbers in its own column.
    #[test]
    fn the_table_puts_each_size_in_its_own_columns() {
        let text = table(&curve());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(
            lines[0].contains("5 per class") && lines[0].contains("20 per class"),
            "{text}"
        );
        assert!(
            lines[2].starts_with("| real | 60.00 [58.00, 62.00] |  | 88.00"),
            "{text}"
        );
        assert!(lines[3].contains("**+10.00"), "{text}");
        assert!(lines[3].contains("**+2.00"), "{text}");
    }

    /// curve.png is a real image of the chart's size, and curve.md links every size's report.
    #[test]
    fn write_draws_the_chart_and_links_each_report() {
        let dir = tempfile::tempdir().unwrap();
        write(&curve(), dir.path()).unwrap();
        let png = image::open(dir.path().join("curve.png")).unwrap();
        assert_eq!((png.width(), png.height()), (1200, 520));
        let md = std::fs::read_to_string(dir.path().join("curve.md")).unwrap();
        assert!(
            md.contains("(pc5/report.md)") && md.contains("(pc20/report.md)"),
            "{md}"
        );
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("curve.json")).unwrap()).unwrap();
        assert_eq!(json["points"][1]["per_class"], 20);
    }
}
