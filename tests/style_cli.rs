//! `synth style` through the real binary: dataset mode on bundled MNIST (tiny settings) and every bad input.

mod common;

use common::*;

#[test]
fn dataset_mode_keeps_labels_and_records_the_style() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("styled");
    let o = synth(&[
        "style",
        "--content",
        "mnist",
        "--style",
        "styles/starry_night.jpg:0.7",
        "--style",
        "styles/brick.png:0.3",
        "--max-images",
        "20",
        "--dataset-size",
        "32",
        "--dataset-iterations",
        "3",
        "--batch-size",
        "10",
        "--out",
        out.to_str().unwrap(),
        "--tb-dir",
        dir.path().join("tb").to_str().unwrap(),
        "--json",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let manifest = std::fs::read_to_string(out.join("manifest.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = manifest.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 20);
    let parents: std::collections::HashMap<String, u64> = {
        let o = synth(&["datasets", "mnist", "--json"]);
        assert!(o.status.success());
        // Labels of the bundled set are sorted in blocks of 500: id n has label n / 500.
        lines
            .iter()
            .map(|l| {
                (
                    l["parent"].as_str().unwrap().to_string(),
                    l["parent"].as_str().unwrap().parse::<u64>().unwrap() / 500,
                )
            })
            .collect()
    };
    let mut textured = 0;
    for line in &lines {
        assert_eq!(line["source"], "style");
        assert_eq!(line["params"]["init"], "texture", "the default dataset start");
        assert_eq!(
            line["label"].as_u64().unwrap(),
            parents[line["parent"].as_str().unwrap()],
            "label kept"
        );
        assert!(line["params"]["style"].as_str().unwrap().contains("styles/"));
        assert_eq!(line["params"]["steps"], 3);
        let img = image::open(out.join(line["path"].as_str().unwrap())).unwrap();
        assert_eq!(
            (img.width(), img.height(), img.color().channel_count()),
            (28, 28, 1),
            "same size and channels as MNIST"
        );
        // MNIST's top row is black; a texture start puts the style's texture there.
        let top: u32 = img.to_luma8().rows().next().unwrap().map(|p| u32::from(p.0[0])).sum();
        textured += usize::from(top > 28);
    }
    assert!(textured >= 15, "{textured} of 20 images have a textured background");
}

#[test]
fn bad_style_inputs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.png");
    let photo = "data/images/camera.png";
    let broken = dir.path().join("broken.jpg");
    std::fs::write(&broken, b"not a jpeg").unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    for (style, extra, needle) in [
        (broken.to_str().unwrap(), vec![], "broken.jpg"),
        (empty.to_str().unwrap(), vec![], "no PNG or JPEG"),
        ("styles/brick.png:0", vec![], "sum to 0"),
        ("styles/brick.png", vec!["--size", "16"], "too small"),
        ("styles/nope.jpg", vec![], "nope.jpg"),
    ] {
        let mut args = vec![
            "style",
            "--content",
            photo,
            "--style",
            style,
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ];
        args.extend(extra);
        assert_bad_input(&synth(&args), needle);
    }
    let o = synth(&[
        "style",
        "--content",
        "no/such.png",
        "--style",
        "styles/brick.png",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_bad_input(&o, "no such file or folder");
    assert!(!out.exists());
}
