//! The statistics of a multi-seed comparison: mean, sample standard deviation and Student-t 95% interval of each
//! condition, and the gain over the baseline paired by seed with its interval and a two-sided paired t-test. With
//! the few seeds a CPU affords (3 by default) the t quantile is large (4.30 for 2 degrees of freedom), which is the
//! honest width of what three runs can show.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

/// Mean, spread and 95% t-interval of one condition's values over seeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub n: usize,
    pub mean: f64,
    /// Sample standard deviation (n - 1); 0 for one value.
    pub std: f64,
    /// 95% Student-t interval of the mean; the mean itself when n < 2 (no spread can be estimated).
    pub ci_low: f64,
    pub ci_high: f64,
}

/// The paired gain of a condition over the baseline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairedGain {
    /// Per-seed differences summarised (condition minus baseline).
    pub gain: Summary,
    /// Paired t statistic (NaN when every difference is equal: no spread to test against, see `p_value`).
    pub t: f64,
    /// Two-sided p-value of the paired t-test; 1 when all differences are 0, 0 when they are equal and non-zero.
    pub p_value: f64,
    /// Whether the 95% interval of the gain excludes 0.
    pub significant: bool,
    /// Half the width of the gain's 95% interval (0 for fewer than two seeds): the run's resolution for this gain,
    /// so a reader sees at once whether "no gain" means "none" or "none these seeds could see".
    pub half_width: f64,
}

/// The smallest paired gain a run would resolve: a two-sided paired t-test at alpha 0.05 with 80% power, at the
/// run's seeds and observed spread of the per-seed differences. A verdict of "no gain" means only "no gain larger
/// than this"; the effects synthetic data typically brings (1-2 pp) need an MDE below them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MinimumDetectableEffect {
    /// The effect, in the metric's unit (a fraction for accuracies).
    pub effect: f64,
    /// s_d: root-mean-square of the standard deviations of the paired differences it pools.
    pub spread: f64,
    /// Seeds (pairs) per gain.
    pub n: usize,
    /// Gains pooled into the spread.
    pub gains: usize,
}

/// Arithmetic mean (0 for no values).
pub fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.iter().sum::<f64>() / values.len() as f64
}

/// Sample standard deviation with n - 1 in the denominator (0 for fewer than two values).
pub fn sample_std(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    let m = mean(values);
    (values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (values.len() - 1) as f64).sqrt()
}

/// The two-sided `level` quantile of Student's t with `df` degrees of freedom (e.g. 4.303 for 0.95 and df 2).
pub fn t_quantile(level: f64, df: f64) -> f64 {
    StudentsT::new(0.0, 1.0, df).map_or(f64::NAN, |t| t.inverse_cdf(0.5 + level / 2.0))
}

/// The `p` quantile of Student's t with `df` degrees of freedom (one-sided: 0.80 gives 1.061 for df 2).
pub fn t_inverse_cdf(p: f64, df: f64) -> f64 {
    StudentsT::new(0.0, 1.0, df).map_or(f64::NAN, |t| t.inverse_cdf(p))
}

/// The minimum detectable effect of paired gains at `n` seeds whose differences have the standard deviations
/// `stds` (one per gain): (t_{0.975, n-1} + t_{0.80, n-1}) * s_d / sqrt(n), with s_d their root-mean-square (the
/// spread of a typical gain: the variances are averaged, as a pooled estimate would). None for fewer than two seeds
/// (no spread can be estimated) or no gains.
pub fn minimum_detectable_effect(stds: &[f64], n: usize) -> Option<MinimumDetectableEffect> {
    if n < 2 || stds.is_empty() {
        return None;
    }
    let spread = (stds.iter().map(|s| s * s).sum::<f64>() / stds.len() as f64).sqrt();
    let df = (n - 1) as f64;
    let effect = (t_inverse_cdf(0.975, df) + t_inverse_cdf(0.80, df)) * spread / (n as f64).sqrt();
    Some(MinimumDetectableEffect {
        effect,
        spread,
        n,
        gains: stds.len(),
    })
}

/// Mean, standard deviation and 95% t-interval of `values`.
pub fn summarise(values: &[f64]) -> Summary {
    let n = values.len();
    let (m, s) = (mean(values), sample_std(values));
    let half = if n >= 2 {
        t_quantile(0.95, (n - 1) as f64) * s / (n as f64).sqrt()
    } else {
        0.0
    };
    Summary {
        n,
        mean: m,
        std: s,
        ci_low: m - half,
        ci_high: m + half,
    }
}

/// [`summarise`] for accuracies (fractions in [0, 1]): the interval is clamped to [0, 1], since a t-interval of few
/// seeds can reach past what an accuracy can be (two seeds once gave [76.16%, 101.57%]). Gains are differences and
/// are never clamped.
pub fn summarise_accuracy(values: &[f64]) -> Summary {
    let s = summarise(values);
    Summary {
        ci_low: s.ci_low.clamp(0.0, 1.0),
        ci_high: s.ci_high.clamp(0.0, 1.0),
        ..s
    }
}

/// Two-sided p-value of a t statistic with `df` degrees of freedom.
pub fn two_sided_p(t: f64, df: f64) -> f64 {
    StudentsT::new(0.0, 1.0, df).map_or(f64::NAN, |dist| 2.0 * (1.0 - dist.cdf(t.abs())))
}

/// The gain of `condition` over `baseline`, paired by position (seed). Both must have the same length.
pub fn paired_gain(condition: &[f64], baseline: &[f64]) -> PairedGain {
    let diffs: Vec<f64> = condition.iter().zip(baseline).map(|(c, b)| c - b).collect();
    let gain = summarise(&diffs);
    let n = diffs.len();
    let (t, p_value) = if n < 2 {
        (f64::NAN, f64::NAN)
    } else if gain.std == 0.0 {
        // No spread: the test is degenerate; equal non-zero differences are as certain as data can be.
        (f64::NAN, if gain.mean == 0.0 { 1.0 } else { 0.0 })
    } else {
        let t = gain.mean / (gain.std / (n as f64).sqrt());
        (t, two_sided_p(t, (n - 1) as f64))
    };
    let significant = n >= 2 && (gain.ci_low > 0.0 || gain.ci_high < 0.0);
    PairedGain {
        half_width: (gain.ci_high - gain.ci_low) / 2.0,
        gain,
        t,
        p_value,
        significant,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() < tol, "{a} vs {b}");
    }

    /// Student-t quantiles from the standard tables.
    #[test]
    fn t_quantiles_match_the_tables() {
        close(t_quantile(0.95, 2.0), 4.302_653, 1e-5);
        close(t_quantile(0.95, 4.0), 2.776_445, 1e-5);
        close(t_quantile(0.95, 9.0), 2.262_157, 1e-5);
    }

    /// [1, 2, 3]: mean 2, sd 1, interval 2 +- 4.3027 / sqrt(3) (as scipy.stats.t.interval gives).
    #[test]
    fn interval_of_a_known_sample() {
        let s = summarise(&[1.0, 2.0, 3.0]);
        close(s.mean, 2.0, 1e-12);
        close(s.std, 1.0, 1e-12);
        close(s.ci_low, 2.0 - 2.484_138, 1e-5);
        close(s.ci_high, 2.0 + 2.484_138, 1e-5);
        let one = summarise(&[0.7]);
        assert_eq!((one.std, one.ci_low, one.ci_high), (0.0, 0.7, 0.7));
    }

    /// scipy.stats.ttest_rel([0.92, 0.95, 0.91, 0.94], [0.90, 0.91, 0.90, 0.92]): t = 3.5762, p = 0.03739.
    #[test]
    fn paired_t_test_matches_scipy() {
        let g = paired_gain(&[0.92, 0.95, 0.91, 0.94], &[0.90, 0.91, 0.90, 0.92]);
        close(g.gain.mean, 0.0225, 1e-12);
        close(g.t, 3.576_237, 1e-5);
        close(g.p_value, 0.037_386, 1e-5);
        assert!(g.significant);
        // ttest_rel([1, 2, 3], [1.5, 1.5, 3.2]): t = -0.2250, p = 0.8429; the interval straddles 0.
        let h = paired_gain(&[1.0, 2.0, 3.0], &[1.5, 1.5, 3.2]);
        close(h.t, -0.225_018, 1e-5);
        close(h.p_value, 0.842_865, 1e-5);
        assert!(!h.significant);
    }

    /// An accuracy interval stays inside [0, 1]; the same values' gain interval is not clamped.
    #[test]
    fn accuracy_intervals_are_clamped_gains_are_not() {
        let values = [0.95, 0.99];
        let raw = summarise(&values);
        assert!(raw.ci_high > 1.0 && raw.ci_low < 0.95, "{raw:?}");
        let acc = summarise_accuracy(&values);
        assert_eq!((acc.mean, acc.std, acc.ci_high), (raw.mean, raw.std, 1.0));
        assert_eq!(acc.ci_low, raw.ci_low.max(0.0));
        let low = summarise_accuracy(&[0.0, 0.04]);
        assert_eq!(low.ci_low, 0.0);
        let gain = paired_gain(&[0.95, 0.99], &[0.0, 0.0]);
        assert!(
            gain.gain.ci_high > 1.0,
            "gains are differences and are not clamped: {gain:?}"
        );
    }

    /// One-sided quantiles (scipy.stats.t.ppf): t_{0.975,2} = 4.302653, t_{0.80,2} = 1.060660, t_{0.975,4} =
    /// 2.776445, t_{0.80,4} = 0.940965.
    #[test]
    fn one_sided_t_quantiles() {
        close(t_inverse_cdf(0.975, 2.0), 4.302_653, 1e-5);
        close(t_inverse_cdf(0.80, 2.0), 1.060_660, 1e-5);
        close(t_inverse_cdf(0.975, 4.0), 2.776_445, 1e-5);
        close(t_inverse_cdf(0.80, 4.0), 0.940_965, 1e-5);
    }

    /// The MDE by hand. Three seeds, differences with sds 0.01 and 0.02: s_d = sqrt((0.0001 + 0.0004) / 2) =
    /// 0.0158114; MDE = (4.302653 + 1.060660) * 0.0158114 / sqrt(3) = 5.363313 * 0.0091287 = 0.0489600. Five seeds,
    /// one sd 0.01: (2.776445 + 0.940965) * 0.01 / sqrt(5) = 3.717410 * 0.0044721 = 0.0166248. Five seeds shrink it
    /// by 0.34 at the same spread (t falls and sqrt(n) grows).
    #[test]
    fn minimum_detectable_effect_by_hand() {
        let three = minimum_detectable_effect(&[0.01, 0.02], 3).unwrap();
        close(three.spread, 0.015_811_4, 1e-7);
        close(three.effect, 0.048_960_0, 1e-6);
        assert_eq!((three.n, three.gains), (3, 2));
        let five = minimum_detectable_effect(&[0.01], 5).unwrap();
        close(five.spread, 0.01, 1e-12);
        close(five.effect, 0.016_624_8, 1e-6);
        assert!(
            minimum_detectable_effect(&[0.01], 1).is_none(),
            "one seed has no spread"
        );
        assert!(minimum_detectable_effect(&[], 3).is_none(), "no gains, no spread");
    }

    /// The half-width is the interval's: t_{0.975,2} * sd / sqrt(3) for three pairs, 0 for one.
    #[test]
    fn half_width_of_a_gain() {
        let g = paired_gain(&[1.0, 2.0, 3.0], &[0.0, 0.0, 0.0]);
        close(g.half_width, 2.484_138, 1e-5);
        close(g.gain.ci_high - g.gain.mean, g.half_width, 1e-12);
        assert_eq!(paired_gain(&[0.9], &[0.8]).half_width, 0.0);
    }

    #[test]
    fn degenerate_differences() {
        let same = paired_gain(&[0.5, 0.6], &[0.5, 0.6]);
        assert_eq!((same.p_value, same.significant), (1.0, false));
        let shifted = paired_gain(&[0.6, 0.7], &[0.5, 0.6]);
        assert_eq!(shifted.p_value, 0.0);
        assert!(shifted.significant);
    }
}
