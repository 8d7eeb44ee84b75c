//! The frozen-feature bank of an experiment: every image that any fit, test or shift evaluation needs goes through
//! the frozen backbone prefix exactly once per run, and every fit reads its rows from here. With the VGG16 prefix
//! frozen (its weights never change), this is what makes dozens of fits on one CPU affordable.

use std::collections::HashMap;

use burn::prelude::*;

use crate::classifier::{Classifier, PreparedSet, frozen_prefix_features};
use crate::error::{Result, SynthError};

/// A named group of images' features after the cache layer, with their labels and a key per image.
pub struct Group {
    pub features: Tensor<4>,
    pub labels: Vec<usize>,
    /// Row of each image key.
    pub rows: HashMap<String, usize>,
}

/// Features computed once per image, by group.
pub struct FeatureBank {
    model: Classifier,
    layer: usize,
    batch: usize,
    groups: HashMap<String, Group>,
    /// How many times each image key went through the frozen prefix (the leak-free caching promise: always 1).
    passes: HashMap<String, usize>,
}

impl FeatureBank {
    /// A bank over the frozen prefix, layers `0..layer`, of `model` (its inference copy).
    pub fn new(model: &Classifier, layer: usize, batch: usize) -> FeatureBank {
        FeatureBank {
            model: model.valid(),
            layer,
            batch,
            groups: HashMap::new(),
            passes: HashMap::new(),
        }
    }

    /// The layer the features are taken after.
    pub fn layer(&self) -> usize {
        self.layer
    }

    /// Computes and stores a group: `keys` name the images (a key already in the bank is an error, so no image is
    /// computed twice).
    pub fn add(&mut self, name: &str, keys: Vec<String>, set: &PreparedSet) -> Result<()> {
        if keys.len() != set.len() {
            return Err(SynthError::internal("one key per image is needed"));
        }
        if let Some(k) = keys.iter().find(|k| self.passes.contains_key(*k)) {
            return Err(SynthError::internal(format!(
                "image {k} is already in the feature bank"
            )));
        }
        let features = frozen_prefix_features(&self.model, &set.images, self.layer, self.batch);
        let mut rows = HashMap::with_capacity(keys.len());
        for (row, key) in keys.into_iter().enumerate() {
            *self.passes.entry(key.clone()).or_default() += 1;
            rows.insert(key, row);
        }
        self.groups.insert(
            name.to_string(),
            Group {
                features,
                labels: set.labels.clone(),
                rows,
            },
        );
        Ok(())
    }

    /// A stored group.
    pub fn group(&self, name: &str) -> Result<&Group> {
        self.groups
            .get(name)
            .ok_or_else(|| SynthError::internal(format!("feature group {name} was never computed")))
    }

    /// Features and labels of the given rows of several groups, stacked in order.
    pub fn gather(&self, parts: &[(&str, &[usize])]) -> Result<(Tensor<4>, Vec<usize>)> {
        let mut tensors = Vec::new();
        let mut labels = Vec::new();
        for (name, rows) in parts {
            if rows.is_empty() {
                continue;
            }
            let g = self.group(name)?;
            let device = g.features.device();
            let idx = Tensor::<1, Int>::from_data(
                TensorData::new(rows.iter().map(|&r| r as i64).collect::<Vec<_>>(), [rows.len()]),
                &device,
            );
            tensors.push(g.features.clone().select(0, idx));
            labels.extend(rows.iter().map(|&r| g.labels[r]));
        }
        if tensors.is_empty() {
            return Err(SynthError::internal("a fit needs at least one training image"));
        }
        Ok((Tensor::cat(tensors, 0), labels))
    }

    /// Images passed through the frozen prefix, and the largest number of passes of any one image.
    pub fn pass_counts(&self) -> (usize, usize) {
        (
            self.passes.values().sum(),
            self.passes.values().copied().max().unwrap_or(0),
        )
    }
}
