//! synth's APGD-CE and APGD-T held to torchattacks 3.5.1 on the same weights and images: the fixture cnn
//! (tests/fixtures/apgd_cnn, trained and exported by synth) and what torchattacks computed on it
//! (tests/fixtures/apgd_reference.json, made by tests/fixtures/make_apgd_reference.py).

use std::path::{Path, PathBuf};

use serde_json::Value;
use synth::adversarial::{AttackConfig, AttackKind, AttackOptions, Norm, attack_set};
use synth::classifier::{Checkpoint, Classifier, PreparedSet};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The fixture model (loaded through the PyTorch-named export, as PyTorch loaded it), the reference, and the
/// reference's images.
fn fixture() -> (Classifier, Value, PreparedSet, Vec<u64>) {
    let run = fixtures().join("apgd_cnn");
    let meta: Checkpoint =
        serde_json::from_str(&std::fs::read_to_string(run.join("classifier.json")).unwrap()).unwrap();
    let device = synth::backend::device();
    let model = meta.load_export(&run.join("model.safetensors"), &device).unwrap();
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("apgd_reference.json")).unwrap()).unwrap();
    let mnist = synth::dataset::load_dataset("mnist", &Default::default()).unwrap();
    let rows: Vec<usize> = reference["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().parse().unwrap())
        .collect();
    let images: Vec<_> = rows.iter().map(|&i| &mnist.samples[i].image).collect();
    let labels = rows.iter().map(|&i| mnist.samples[i].label).collect();
    let set = PreparedSet::new(&images, labels, None, &device).unwrap();
    (model, reference, set, rows.iter().map(|&i| i as u64).collect())
}

fn mean(values: &Value) -> f64 {
    let v: Vec<f64> = values.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    v.iter().sum::<f64>() / v.len() as f64
}

#[test]
fn the_fixture_model_computes_what_pytorch_computed() {
    let (model, reference, set, _) = fixture();
    let logits = synth::dataset::tensor::tensor_values(model.forward(set.images.clone().slice(0..4))).unwrap();
    let expected: Vec<f64> = reference["logits_first_4"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()))
        .collect();
    assert_eq!(logits.len(), expected.len());
    for (a, b) in logits.iter().zip(&expected) {
        assert!((*a as f64 - b).abs() < 1e-4, "synth {a} vs PyTorch {b}");
    }
}

/// Robust accuracy within 2 points of torchattacks' mean over its seeds (synth's own mean over as many seeds, so the
/// comparison is of the attacks, not of one draw of their random starts).
#[test]
fn apgd_ce_and_apgd_t_match_torchattacks_within_two_points() {
    let (model, reference, set, keys) = fixture();
    let seeds = reference["apgd_ce"].as_array().unwrap().len() as u64;
    for (attack, key) in [(AttackKind::ApgdCe, "apgd_ce"), (AttackKind::ApgdT, "apgd_t")] {
        let config = AttackConfig {
            attack,
            norm: Norm::Linf,
            eps: reference["eps"].as_f64().unwrap(),
            steps: reference["steps"].as_u64().unwrap() as usize,
            restarts: 1,
            ..Default::default()
        };
        let mut ours = Vec::new();
        let mut clean = 0.0;
        for seed in 0..seeds {
            let options = AttackOptions {
                batch_size: 256,
                seed,
                quantize: false,
            };
            let summary = attack_set(&model, &set, &keys, 10, &config, options, |_| {})
                .unwrap()
                .summary();
            clean = summary.clean_accuracy as f64;
            ours.push(summary.adversarial_accuracy as f64);
        }
        let synth_mean = ours.iter().sum::<f64>() / ours.len() as f64;
        let torch_mean = mean(&reference[key]);
        eprintln!(
            "{attack}: synth {ours:?} (mean {synth_mean:.4}), torchattacks {} (mean {torch_mean:.4})",
            reference[key]
        );
        assert!(
            (clean - reference["clean_accuracy"].as_f64().unwrap()).abs() < 1e-9,
            "same clean accuracy"
        );
        assert!(
            (synth_mean - torch_mean).abs() <= 0.02,
            "{attack}: synth {synth_mean:.4} vs torchattacks {torch_mean:.4}"
        );
    }
}
