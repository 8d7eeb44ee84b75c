//! The bounds every size, count and number a user controls must respect, checked before anything is allocated.
//! A flag, a config entry, a file header or a label outside them is bad input (exit 2 with one line), never a panic,
//! an overflow or a multi-gigabyte allocation. `--help` quotes these numbers.

use crate::error::{Result, SynthError};

/// Most classes a dataset may have. Labels are class indices, so this also bounds every label read from a CSV, IDX,
/// CIFAR or manifest file (a label of 4e9 would otherwise ask for four billion class folders).
pub const MAX_CLASSES: usize = 1000;

/// Largest image side synth resizes to or optimises at (`--resize`, `--size`, `--dataset-size`, `--input-size`, the
/// sides in a file header). A VGG16 activation of a 2048-pixel image already takes 1 GiB.
pub const MAX_SIDE: usize = 2048;

/// Most pixels (channels x height x width) of one image read from a file.
pub const MAX_IMAGE_VALUES: usize = 3 * MAX_SIDE * MAX_SIDE;

/// Most images one dataset file may declare (MNIST has 70,000; CIFAR-10 60,000).
pub const MAX_IMAGES: usize = 10_000_000;

/// Bound for repetition counts (epochs, steps, iterations, copies, images per class, seeds, budgets): far above any
/// useful run, low enough that no product of two of them overflows.
pub const MAX_COUNT: usize = 1_000_000;

/// Most search seeds (policy) or training seeds (eval-gain): each is a whole repetition of the work.
pub const MAX_SEEDS: usize = 1000;

/// Lanes of a run (`--jobs`): each is a thread pool, so a typo of a few zeros must not start a million threads.
pub const MAX_JOBS: usize = 256;

/// Refuses a count above `max`, naming the setting.
pub fn check_count(name: &str, value: usize, max: usize) -> Result<()> {
    if value > max {
        return Err(SynthError::bad_input(format!(
            "{name} {value} is above the limit of {max}"
        )));
    }
    Ok(())
}

/// Refuses a count that is 0 or above `max`.
pub fn check_positive_count(name: &str, value: usize, max: usize) -> Result<()> {
    if value == 0 {
        return Err(SynthError::bad_input(format!("{name} must be at least 1")));
    }
    check_count(name, value, max)
}

/// Refuses a number that is not finite or lies outside `[lo, hi]`, naming the setting.
pub fn check_range(name: &str, value: f64, lo: f64, hi: f64) -> Result<()> {
    if !value.is_finite() || value < lo || value > hi {
        return Err(SynthError::bad_input(format!(
            "{name} {value} must be a finite number in [{lo}, {hi}]"
        )));
    }
    Ok(())
}

/// Refuses a number that is not finite and strictly positive (learning rates, weights that must act).
pub fn check_positive(name: &str, value: f64) -> Result<()> {
    if !(value.is_finite() && value > 0.0) {
        return Err(SynthError::bad_input(format!(
            "{name} {value} must be a finite number > 0"
        )));
    }
    Ok(())
}

/// Refuses an image side of 0 or above [`MAX_SIDE`].
pub fn check_side(name: &str, value: usize) -> Result<()> {
    check_positive_count(name, value, MAX_SIDE)
}

/// `a * b`, or a bad-input error naming what overflowed (for sizes read from headers).
pub fn checked_product(what: &str, factors: &[usize]) -> Result<usize> {
    factors
        .iter()
        .try_fold(1usize, |acc, &f| acc.checked_mul(f))
        .ok_or_else(|| SynthError::bad_input(format!("{what}: sizes {factors:?} overflow")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_refuse_outside_values_and_accept_inside() {
        assert!(check_count("copies", 5, 10).is_ok());
        assert!(check_count("copies", 11, 10).unwrap_err().is_bad_input());
        assert!(check_positive_count("steps", 0, 10).is_err());
        assert!(check_range("eps", f64::NAN, 0.0, 1.0).is_err());
        assert!(check_range("eps", f64::INFINITY, 0.0, f64::MAX).is_err());
        assert!(check_range("eps", -0.1, 0.0, 1.0).is_err());
        assert!(check_range("eps", 0.5, 0.0, 1.0).is_ok());
        assert!(check_positive("lr", 0.0).is_err());
        assert!(check_side("size", MAX_SIDE + 1).is_err());
        assert_eq!(checked_product("x", &[2, 3, 4]).unwrap(), 24);
        assert!(
            checked_product("x", &[1 << 31, 1 << 31, 1 << 31])
                .unwrap_err()
                .is_bad_input()
        );
    }
}
