//! The instrument on data it was not tuned on: grey texture patches, where the class is a texture, not a shape.

mod common;

use common::*;

/// Writes the texture dataset to $SYNTH_TEXTURE_OUT (for trying settings by hand: see the README).
#[test]
#[ignore]
fn write_texture_dataset() {
    let out = std::env::var("SYNTH_TEXTURE_OUT").expect("set SYNTH_TEXTURE_OUT");
    texture_dataset(std::path::Path::new(&out), 64);
}

fn test_accuracy(o: &std::process::Output) -> f64 {
    let text = stdout(o);
    let line = text
        .lines()
        .find(|l| l.starts_with("test accuracy"))
        .expect("a test accuracy line");
    line.split_whitespace().nth(2).unwrap().parse().unwrap()
}

/// 10 texture patches per class: the from-scratch cnn must learn them (it stopped at chance after 3 epochs before
/// phase 1 got a step floor), and VGG16 transfer must keep its accuracy (measured 100% before the change).
#[test]
fn the_cnn_learns_textures_and_vgg16_keeps_its_accuracy() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("textures");
    texture_dataset(&data, 64);
    for (backbone, floor) in [("cnn", 0.70), ("vgg16", 0.90)] {
        let out = dir.path().join(backbone);
        let o = synth(&[
            "classifier",
            "train",
            "--quiet",
            "--dataset",
            data.to_str().unwrap(),
            "--backbone",
            backbone,
            "--per-class",
            "10",
            "--out",
            out.to_str().unwrap(),
            "--tb-dir",
            dir.path().join("tb").to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let accuracy = test_accuracy(&o);
        assert!(accuracy >= floor, "{backbone}: test accuracy {accuracy} < {floor}");
        assert!(!stderr(&o).contains("has not learned"), "{}", stderr(&o));
    }
}

/// Pure noise with random labels: nothing can be learned, and eval-gain says so instead of printing gains.
#[test]
fn eval_gain_refuses_to_read_a_verdict_from_noise() {
    use rand::{RngExt, SeedableRng};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("noise");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    for class in ["a", "b", "c"] {
        for i in 0..40 {
            let pixels: Vec<u8> = (0..64).map(|_| rng.random()).collect();
            let path = data.join(class).join(format!("{i:02}.png"));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            image::GrayImage::from_raw(8, 8, pixels).unwrap().save(&path).unwrap();
        }
    }
    let out = dir.path().join("report");
    let o = synth(&[
        "eval-gain",
        "--quiet",
        "--dataset",
        data.to_str().unwrap(),
        "--backbone",
        "cnn",
        "--per-class",
        "10",
        "--seeds",
        "2",
        "--sources",
        "augment",
        "--shift",
        "none",
        "--eps",
        "0",
        "--out",
        out.to_str().unwrap(),
        "--cache-dir",
        dir.path().join("cache").to_str().unwrap(),
        "--tb-dir",
        dir.path().join("tb").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("NOT LEARNED"), "{}", stderr(&o));
    assert!(stdout(&o).contains("NOT LEARNED"), "the table flags it: {}", stdout(&o));
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("has not learned this task"), "{md}");
    assert!(!md.contains("helps ("), "no gain is read as a finding: {md}");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert!(json["conditions"][0]["seeds_not_learned"].as_u64().unwrap() > 0);
}
