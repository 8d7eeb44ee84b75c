//! Evaluation numbers of a classifier: accuracy, per-class accuracy, confusion matrix (and its picture).

use serde::Serialize;

use crate::dataset::Image;

/// Accuracy and confusion of predictions against labels.
#[derive(Clone, Debug, Serialize)]
pub struct Evaluation {
    pub accuracy: f32,
    pub per_class_accuracy: Vec<f32>,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<usize>>,
    pub images: usize,
}

impl Evaluation {
    /// Tallies predictions for `classes` classes.
    pub fn new(predicted: &[usize], labels: &[usize], classes: usize) -> Evaluation {
        let mut confusion = vec![vec![0; classes]; classes];
        for (&p, &l) in predicted.iter().zip(labels) {
            confusion[l][p.min(classes - 1)] += 1;
        }
        let per_class_accuracy = confusion
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let n: usize = row.iter().sum();
                if n == 0 { 0.0 } else { row[i] as f32 / n as f32 }
            })
            .collect();
        Evaluation {
            accuracy: super::accuracy(predicted, labels),
            per_class_accuracy,
            confusion,
            images: labels.len(),
        }
    }

    /// Chance accuracy: the share of the most frequent true class (1 / classes on balanced data).
    pub fn chance(&self) -> f32 {
        let largest = self
            .confusion
            .iter()
            .map(|row| row.iter().sum::<usize>())
            .max()
            .unwrap_or(0);
        largest as f32 / self.images.max(1) as f32
    }

    /// Why these numbers say the model has not learned, if they do: every prediction is one class, or the accuracy
    /// is within two binomial standard errors of chance. A verdict built on such a model would be reading noise.
    pub fn not_learned(&self) -> Option<String> {
        let predicted: Vec<usize> = (0..self.confusion.len())
            .filter(|&p| self.confusion.iter().any(|row| row[p] > 0))
            .collect();
        if predicted.len() == 1 && self.confusion.len() > 1 {
            return Some(format!(
                "it predicts one class (index {}) for every image",
                predicted[0]
            ));
        }
        let chance = self.chance();
        let noise = 2.0 * (chance * (1.0 - chance) / self.images.max(1) as f32).sqrt();
        (self.accuracy <= chance + noise).then(|| {
            format!(
                "its accuracy {:.4} is within noise of chance ({:.4} + 2 standard errors {:.4} on {} images)",
                self.accuracy, chance, noise, self.images
            )
        })
    }

    /// The confusion matrix as a picture: one 24-pixel cell per (true row, predicted column), white for none and deep
    /// blue for all of a row's images.
    pub fn confusion_image(&self) -> Image {
        let k = self.confusion.len();
        let cell = 24;
        let mut img = Image::zeros(3, k * cell, k * cell);
        for (t, row) in self.confusion.iter().enumerate() {
            let total = row.iter().sum::<usize>().max(1) as f32;
            for (p, &count) in row.iter().enumerate() {
                let share = count as f32 / total;
                let rgb = [1.0 - 0.9 * share, 1.0 - 0.7 * share, 1.0 - 0.2 * share];
                for y in t * cell + 1..(t + 1) * cell {
                    for x in p * cell + 1..(p + 1) * cell {
                        for (c, v) in rgb.iter().enumerate() {
                            img.set(c, y, x, *v);
                        }
                    }
                }
            }
        }
        img
    }

    /// The matrix as aligned text.
    pub fn confusion_text(&self, classes: &[String]) -> String {
        let mut out = format!("{:>10}", "true\\pred");
        for c in classes {
            out += &format!(" {:>5}", truncate(c));
        }
        for (c, row) in classes.iter().zip(&self.confusion) {
            out += &format!("\n{:>10}", truncate(c));
            for n in row {
                out += &format!(" {n:>5}");
            }
        }
        out
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(5).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confusion_counts_and_per_class_accuracy() {
        let e = Evaluation::new(&[0, 1, 1, 2, 0], &[0, 1, 2, 2, 1], 3);
        assert_eq!(e.confusion, vec![vec![1, 0, 0], vec![1, 1, 0], vec![0, 1, 1]]);
        assert_eq!(e.per_class_accuracy, vec![1.0, 0.5, 0.5]);
        assert!((e.accuracy - 0.6).abs() < 1e-6);
        assert_eq!(e.confusion_image().shape(), (3, 72, 72));
    }

    #[test]
    fn constant_and_chance_predictions_are_flagged_and_learned_ones_not() {
        let labels: Vec<usize> = (0..90).map(|i| i % 3).collect();
        let constant = Evaluation::new(&vec![1; 90], &labels, 3);
        assert!(constant.not_learned().unwrap().contains("one class"));
        let unrelated: Vec<usize> = (0..90).map(|i| (i / 3) % 3).collect();
        let near_chance = Evaluation::new(&unrelated, &labels, 3);
        assert!((near_chance.accuracy - 1.0 / 3.0).abs() < 0.01);
        assert!(near_chance.not_learned().unwrap().contains("within noise of chance"));
        let good = Evaluation::new(&labels, &labels, 3);
        assert_eq!(good.not_learned(), None);
    }
}
