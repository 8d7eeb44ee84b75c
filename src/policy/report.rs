//! The search report: search curves (best validation accuracy so far per child fit, mean over search seeds, per
//! method), each method's final best with its spread, the top policies, and the RL controller's reward and entropy.

use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;
use serde::Serialize;

use super::config::PolicyConfig;
use super::search::Episode;
use crate::error::{IoContext, Result, SynthError};
use crate::report::stats::{Summary, summarise_accuracy};

/// report.json.
#[derive(Clone, Debug, Serialize)]
pub struct SearchReport {
    pub config: PolicyConfig,
    pub synthetic_sets: Vec<String>,
    /// Their folders (given with `--synthetic`, or eval-gain's cache).
    pub synthetic_dirs: Vec<String>,
    /// Per method: the best reward each search seed reached, summarised over seeds.
    pub methods: Vec<MethodResult>,
    /// The method with the highest mean final best (ties and overlapping intervals are said so in report.md).
    pub winner: String,
    pub best: Episode,
    pub episodes: Vec<Episode>,
    pub seconds: f64,
}

/// One method's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct MethodResult {
    pub method: String,
    pub final_best: Summary,
    /// Mean reward of all its child fits (how good its typical proposal is, not only its luckiest).
    pub mean_reward: f64,
    pub fits: usize,
    /// Fewest and most optimiser steps of its child fits (equal under `[child] steps`).
    pub child_steps: [usize; 2],
    /// Fewest and most training images of its child fits.
    pub train_images: [usize; 2],
}

/// Summarises the episodes per method.
pub fn method_results(config: &PolicyConfig, episodes: &[Episode]) -> Vec<MethodResult> {
    config
        .methods
        .iter()
        .map(|m| {
            let mine: Vec<&Episode> = episodes.iter().filter(|e| &e.method == m).collect();
            let finals: Vec<f64> = (0..config.search_seeds as u64)
                .filter_map(|s| {
                    mine.iter()
                        .filter(|e| e.search_seed == s)
                        .map(|e| e.best_so_far)
                        .reduce(f64::max)
                })
                .collect();
            let range = |f: fn(&Episode) -> usize| {
                let values = mine.iter().map(|e| f(e));
                [values.clone().min().unwrap_or(0), values.max().unwrap_or(0)]
            };
            MethodResult {
                method: m.clone(),
                final_best: summarise_accuracy(&finals),
                mean_reward: crate::report::stats::mean(&mine.iter().map(|e| e.reward).collect::<Vec<_>>()),
                fits: mine.len(),
                child_steps: range(|e| e.steps),
                train_images: range(|e| e.train_images),
            }
        })
        .collect()
}

/// report.md.
pub fn markdown(r: &SearchReport) -> String {
    let mut out = String::from("# synth policy search\n\n");
    let c = &r.config;
    let _ = writeln!(
        out,
        "Dataset {}, {} real images per class (subset seed {}); child: {} fitted from scratch for {}, batch {}, \
         rewarded by its best validation accuracy on the real validation split (the test split is never used). \
         Budget: {} child fits per method, over {} search seeds. Synthetic sets available: {}.\n",
        c.dataset,
        c.per_class,
        c.subset_seed,
        c.child.backbone,
        if c.child.steps > 0 {
            format!("exactly {} optimiser steps whatever its amount of data", c.child.steps)
        } else {
            format!("up to {} epochs (patience {})", c.child.head_epochs, c.child.patience)
        },
        c.child.batch_size,
        c.budget,
        c.search_seeds,
        if r.synthetic_sets.is_empty() {
            "none".to_string()
        } else {
            r.synthetic_sets.join(", ")
        }
    );
    out.push_str("| method | child fits | steps per child | train images per child | final best val acc % (mean over seeds [95% CI, clamped to [0, 100]]) | mean reward % |\n|---|---|---|---|---|---|\n");
    let span = |[lo, hi]: [usize; 2]| {
        if lo == hi { lo.to_string() } else { format!("{lo}-{hi}") }
    };
    for m in &r.methods {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.2} [{:.2}, {:.2}] | {:.2} |",
            m.method,
            m.fits,
            span(m.child_steps),
            span(m.train_images),
            100.0 * m.final_best.mean,
            100.0 * m.final_best.ci_low,
            100.0 * m.final_best.ci_high,
            100.0 * m.mean_reward
        );
    }
    let winner = r.methods.iter().find(|m| m.method == r.winner);
    let comparisons: Vec<String> = r
        .methods
        .iter()
        .filter(|m| m.method != r.winner)
        .filter_map(|m| {
            let w = winner?;
            Some(if m.final_best.ci_high >= w.final_best.ci_low {
                format!(
                    "its interval overlaps {}'s, so the two are not distinguishable at this budget",
                    m.method
                )
            } else {
                format!("its interval lies above {}'s", m.method)
            })
        })
        .collect();
    let _ = writeln!(
        out,
        "\nHighest mean final best: **{}**{}{}.\n\n![search curves](curves.png)\n\n## Top policies\n",
        r.winner,
        if comparisons.is_empty() { "" } else { "; " },
        comparisons.join("; ")
    );
    let mut top: Vec<&Episode> = r.episodes.iter().collect();
    top.sort_by(|a, b| b.reward.total_cmp(&a.reward));
    for e in top.iter().take(5) {
        let _ = writeln!(
            out,
            "- {:.2}% ({} seed {} fit {}): {}",
            100.0 * e.reward,
            e.method,
            e.search_seed,
            e.episode,
            e.policy.describe()
        );
    }
    let _ = writeln!(
        out,
        "\nThe best policy is saved as best.toml (`synth augment --policy`, `synth eval-gain --policy`). Its reward is \
         the maximum over many noisy child fits, so it overstates what the policy gives; eval-gain measures it on \
         the test split with fresh seeds. Total time {:.0} s.",
        r.seconds
    );
    out
}

/// curves.png: best-so-far validation accuracy per child fit, mean over search seeds, one line per method.
pub fn curves(r: &SearchReport, path: &Path) -> Result<()> {
    let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, crate::report::chart::FONT);
    let (w, h) = (720u32, 420u32);
    let mut buffer = vec![255u8; (w * h * 3) as usize];
    let fail = |e: String| SynthError::internal(format!("drawing {}: {e}", path.display()));
    let per_seed = r.config.budget / r.config.search_seeds;
    let lines: Vec<(String, Vec<(f64, f64)>)> = r
        .config
        .methods
        .iter()
        .map(|m| {
            let pts = (0..per_seed)
                .filter_map(|e| {
                    let v: Vec<f64> = r
                        .episodes
                        .iter()
                        .filter(|x| &x.method == m && x.episode == e)
                        .map(|x| x.best_so_far)
                        .collect();
                    (!v.is_empty()).then(|| ((e + 1) as f64, 100.0 * crate::report::stats::mean(&v)))
                })
                .collect();
            (m.clone(), pts)
        })
        .collect();
    let lo = lines
        .iter()
        .flat_map(|(_, p)| p.iter().map(|x| x.1))
        .fold(100.0, f64::min);
    let hi = lines
        .iter()
        .flat_map(|(_, p)| p.iter().map(|x| x.1))
        .fold(0.0, f64::max);
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (w, h)).into_drawing_area();
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "best validation accuracy so far (mean over search seeds)",
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(50)
            .build_cartesian_2d(1f64..per_seed.max(2) as f64, (lo - 1.0).floor()..(hi + 1.0).ceil())
            .map_err(|e| fail(e.to_string()))?;
        chart
            .configure_mesh()
            .x_desc("child fits per search")
            .y_desc("val accuracy %")
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(|e| fail(e.to_string()))?;
        let colours = [
            RGBColor(200, 60, 60),
            RGBColor(60, 120, 200),
            RGBColor(60, 160, 80),
            RGBColor(150, 90, 180),
        ];
        for (k, (name, pts)) in lines.iter().enumerate() {
            let colour = colours[k % colours.len()];
            chart
                .draw_series(std::iter::once(PathElement::new(pts.clone(), colour.stroke_width(2))))
                .map_err(|e| fail(e.to_string()))?
                .label(name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.filled())
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .map_err(|e| fail(e.to_string()))?;
        root.present().map_err(|e| fail(e.to_string()))?;
    }
    crate::report::chart::save_rgb_png(buffer, (w, h), path)
}

/// Writes report.json, report.md, curves.png and best.toml into `dir`.
pub fn write(r: &SearchReport, dir: &Path) -> Result<()> {
    let path = dir.join("report.json");
    std::fs::write(&path, crate::config::pretty_json(r)?).at(&path, "writing")?;
    curves(r, &dir.join("curves.png"))?;
    let path = dir.join("report.md");
    std::fs::write(&path, markdown(r)).at(&path, "writing")?;
    let path = dir.join("best.toml");
    let text = format!(
        "# synth policy: the best policy found ({:.2}% validation accuracy, {} search seed {} fit {}).\n{}",
        100.0 * r.best.reward,
        r.best.method,
        r.best.search_seed,
        r.best.episode,
        r.best.policy.to_toml()?
    );
    std::fs::write(&path, text).at(&path, "writing")
}
