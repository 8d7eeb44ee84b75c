//! `synth gan` through the real binary: a tiny run on the bundled 8x8 digits (fast), sampling and interpolation from
//! its checkpoint, reproducibility, Ctrl-C and `--resume`, and every bad input (one line, exit 2, nothing written).
//! The full-size MNIST runs whose numbers the README reports are `#[ignore]`d (see README, "GAN").

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;

/// A tiny training run: digits (8x8), 10 training images per class, batch 16, 2 epochs, 4 images per class written.
const TINY: &[&str] = &[
    "gan",
    "--dataset",
    "digits",
    "--train-per-class",
    "10",
    "--batch-size",
    "16",
    "--epochs",
    "2",
    "--min-steps",
    "0",
    "--per-class",
    "4",
    "--quiet",
    "--json",
];

/// The tiny run's arguments with `extra` appended; a flag in `extra` replaces the tiny run's value for it.
fn tiny_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["gan"];
    let mut base = TINY[1..].iter();
    while let Some(&flag) = base.next() {
        let takes_value = !matches!(flag, "--quiet" | "--json");
        let value = if takes_value { base.next().copied() } else { None };
        if !extra.contains(&flag) {
            args.push(flag);
            args.extend(value);
        }
    }
    args.extend_from_slice(extra);
    args
}

fn gan_into(out: &Path, extra: &[&str]) -> std::process::Output {
    let tb = out.with_extension("tb");
    let (out, tb) = (out.to_str().unwrap(), tb.to_str().unwrap());
    let mut extra = extra.to_vec();
    extra.extend_from_slice(&["--out", out, "--tb-dir", tb]);
    synth(&tiny_args(&extra))
}

fn train_tiny(out: &Path, extra: &[&str]) -> serde_json::Value {
    let o = gan_into(out, extra);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_str(stdout(&o).trim()).unwrap()
}

/// The PNG files of a set, by path relative to its root, with their bytes.
fn pngs(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<(PathBuf, Vec<u8>)> = files_below(root)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "png") && p.parent() != Some(root))
        .map(|p| (p.strip_prefix(root).unwrap().to_path_buf(), std::fs::read(&p).unwrap()))
        .collect();
    files.sort();
    files
}

#[test]
fn train_writes_a_labelled_set_and_sample_reproduces_it() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let summary = train_tiny(&run, &["--metrics", "false", "--diffaugment", "auto"]);
    assert_eq!(summary["images"], 40);
    assert_eq!(summary["train_images"], 100);
    assert_eq!(
        summary["diffaugment"],
        serde_json::json!(["color", "translation", "cutout"]),
        "auto: small set"
    );
    for f in [
        "checkpoint/generator.bpk",
        "checkpoint/ema.bpk",
        "checkpoint/discriminator.bpk",
        "checkpoint/optim_g.bpk",
        "checkpoint/optim_d.bpk",
        "checkpoint/state.json",
        "config.toml",
        "split.json",
        "samples-grid.png",
        "grids/epoch-002.png",
        "samples/origin.json",
        "samples/split.json",
        "samples/preview.png",
    ] {
        assert!(run.join(f).is_file(), "{f}");
    }
    let manifest: Vec<serde_json::Value> = std::fs::read_to_string(run.join("samples/manifest.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(manifest.len(), 40);
    let first = &manifest[0];
    assert_eq!(first["source"], "gan");
    assert_eq!(first["params"]["class"], first["class"]);
    assert_eq!(first["params"]["truncation"], 0.0);
    assert_eq!(first["params"]["weights"], "ema");
    assert!(first["params"]["checkpoint"].as_str().unwrap().ends_with("checkpoint"));
    assert_eq!(first["params"]["latent_seed"], first["seed"]);
    let origin: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("samples/origin.json")).unwrap()).unwrap();
    assert_eq!(
        (origin["source"].as_str(), origin["source_split"].as_str()),
        (Some("gan"), Some("train"))
    );
    // The set loads as a dataset with 4 images of each of the 10 classes.
    let o = synth(&["datasets", run.join("samples").to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));

    // Sampling again with the run's seed and truncation gives the same bytes; another seed does not.
    let again = dir.path().join("again");
    let o = synth(&[
        "gan",
        "sample",
        "--checkpoint",
        run.to_str().unwrap(),
        "--per-class",
        "4",
        "--metrics",
        "false",
        "--out",
        again.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(pngs(&again), pngs(&run.join("samples")));
    let other = dir.path().join("other");
    let o = synth(&[
        "gan",
        "sample",
        "--checkpoint",
        run.join("checkpoint").to_str().unwrap(),
        "--per-class",
        "4",
        "--seed",
        "9",
        "--truncation",
        "1.5",
        "--metrics",
        "false",
        "--out",
        other.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_ne!(pngs(&other), pngs(&run.join("samples")));
    let line = std::fs::read_to_string(other.join("manifest.jsonl")).unwrap();
    assert!(line.contains("\"truncation\":1.5"), "{line}");

    // Interpolation: a row per class (10), --steps columns of 8x8 tiles with 1-pixel gutters.
    let png = dir.path().join("lerp.png");
    let o = synth(&[
        "gan",
        "interpolate",
        "--checkpoint",
        run.to_str().unwrap(),
        "--steps",
        "5",
        "--out",
        png.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let img = image::open(&png).unwrap();
    assert_eq!((img.width(), img.height()), (5 * 9 + 1, 10 * 9 + 1));
}

#[test]
fn same_seed_same_bytes_and_another_seed_differs() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("c"));
    train_tiny(&a, &["--metrics", "false", "--seed", "5"]);
    train_tiny(&b, &["--metrics", "false", "--seed", "5"]);
    train_tiny(&c, &["--metrics", "false", "--seed", "6"]);
    let (sa, sb) = (pngs(&a.join("samples")), pngs(&b.join("samples")));
    assert_eq!(sa.len(), 40);
    assert_eq!(sa, sb, "the same seed writes the same sample bytes");
    assert_eq!(
        std::fs::read(a.join("samples-grid.png")).unwrap(),
        std::fs::read(b.join("samples-grid.png")).unwrap()
    );
    assert_ne!(sa, pngs(&c.join("samples")));
}

#[test]
fn metrics_are_measured_and_saved() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let cfg = dir.path().join("quick.toml");
    std::fs::write(&cfg, "metric_epochs = 1\n").unwrap();
    let summary = train_tiny(&run, &["--config", cfg.to_str().unwrap()]);
    let q = &summary["quality"];
    let cas = q["cas"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&cas), "{q}");
    assert!(q["fid"].as_f64().unwrap() >= 0.0 && q["fid_real_train_vs_test"].as_f64().unwrap() >= 0.0);
    assert_eq!(q["cas_train_images"], 40);
    assert!(
        q["real_test_images"].as_u64().unwrap() > 250,
        "15% of each digits class: {q}"
    );
    assert!(
        q["fid_features"]
            .as_str()
            .unwrap()
            .contains("trained on the real train split")
    );
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(&saved, q);
    assert!(run.join("fid-classifier/model.bpk").is_file());
}

/// Ctrl-C during training saves a checkpoint and says how to resume; the resumed run ends with exactly the samples
/// an uninterrupted run of the same length writes.
#[test]
fn ctrl_c_saves_a_checkpoint_and_resume_matches_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let tb = dir.path().join("tb");
    let args = tiny_args(&[
        "--metrics",
        "false",
        "--epochs",
        "1000000",
        "--out",
        run.to_str().unwrap(),
        "--tb-dir",
        tb.to_str().unwrap(),
    ]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_synth"))
        .args(&args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first snapshot (after 50 steps) shows training is under way.
    let state = run.join("checkpoint/state.json");
    let start = std::time::Instant::now();
    while !state.is_file() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before its first checkpoint"
        );
        assert!(start.elapsed().as_secs() < 120, "no checkpoint appeared");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("interrupted") && err.contains("--resume"), "{err}");
    assert!(!run.join("samples").exists(), "no samples from an interrupted run");

    let saved: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let epoch = saved["state"]["epoch"].as_u64().unwrap();
    let epochs = (epoch + 2).to_string();
    let o = synth(&[
        "gan",
        "--resume",
        "--out",
        run.to_str().unwrap(),
        "--epochs",
        &epochs,
        "--tb-dir",
        tb.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let straight = dir.path().join("straight");
    train_tiny(&straight, &["--metrics", "false", "--epochs", &epochs]);
    assert_eq!(pngs(&run.join("samples")), pngs(&straight.join("samples")));
}

#[test]
fn one_class_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for i in 0..20 {
        write_png(&data.join(format!("only/{i}.png")), 8, 8, (i * 10) as u8);
    }
    let out = dir.path().join("out");
    let o = gan_into(&out, &["--dataset", data.to_str().unwrap(), "--train-per-class", "0"]);
    assert_bad_input(&o, "at least 2");
    assert!(!out.exists() && !out.with_extension("tb").exists());
}

#[test]
fn fewer_images_than_a_batch_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = gan_into(&out, &["--train-per-class", "2", "--batch-size", "64"]);
    assert_bad_input(&o, "fewer than one batch of 64");
    assert!(!out.exists());
}

#[test]
fn an_unsupported_image_size_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for class in ["a", "b"] {
        for i in 0..20 {
            write_png(&data.join(format!("{class}/{i}.png")), 30, 30, (i * 10) as u8);
        }
    }
    let out = dir.path().join("out");
    let o = gan_into(&out, &["--dataset", data.to_str().unwrap(), "--train-per-class", "0"]);
    assert_bad_input(&o, "cannot make 30x30");
    assert!(!out.exists());
}

#[test]
fn corrupt_checkpoints_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train_tiny(&run, &["--metrics", "false"]);
    let sample = |out: &Path| {
        synth(&[
            "gan",
            "sample",
            "--checkpoint",
            run.to_str().unwrap(),
            "--metrics",
            "false",
            "--out",
            out.to_str().unwrap(),
        ])
    };
    let ema = run.join("checkpoint/ema.bpk");
    let bytes = std::fs::read(&ema).unwrap();
    std::fs::write(&ema, &bytes[..bytes.len() / 2]).unwrap();
    let out = dir.path().join("s1");
    assert_bad_input(&sample(&out), "ema.bpk");
    assert!(!out.exists());
    std::fs::write(&ema, b"not a burn record").unwrap();
    assert_bad_input(&sample(&out), "ema.bpk");
    std::fs::write(&ema, &bytes).unwrap();
    std::fs::write(run.join("checkpoint/state.json"), "{\"meta\": 3}").unwrap();
    assert_bad_input(&sample(&out), "state.json");
    let o = synth(&[
        "gan",
        "sample",
        "--checkpoint",
        dir.path().join("nothing").to_str().unwrap(),
    ]);
    assert_bad_input(&o, "state.json");
    let o = gan_into(&run, &["--resume"]);
    assert_bad_input(&o, "state.json");
    assert!(!out.exists());
}

#[test]
fn out_and_resume_misuse_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train_tiny(&run, &["--metrics", "false"]);
    assert_bad_input(&gan_into(&run, &["--metrics", "false"]), "--resume");
    let o = gan_into(&run, &["--resume", "--batch-size", "8"]);
    assert_bad_input(&o, "cannot change batch_size");
    let empty = dir.path().join("empty");
    assert_bad_input(&gan_into(&empty, &["--resume"]), "no GAN checkpoint");
    let o = synth(&["gan", "--epochs", "3", "sample", "--checkpoint", "x"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "flags of bare `synth gan` conflict with a subcommand"
    );
}

/// The check: `synth gan --dataset mnist` with the default config (CAS >= 0.9 on the real test split, within
/// 15 minutes on the 2-core development machine). About 15 minutes; run with `cargo test --test gan_cli -- --ignored
/// mnist_default`.
#[test]
#[ignore]
fn mnist_default_reaches_cas_90() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mnist");
    let start = std::time::Instant::now();
    let o = synth(&[
        "gan",
        "--dataset",
        "mnist",
        "--out",
        out.to_str().unwrap(),
        "--json",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let cas = summary["quality"]["cas"].as_f64().unwrap();
    println!("{summary}\nwall time {:.0} s", start.elapsed().as_secs_f64());
    assert!(cas >= 0.9, "CAS {cas}");
}
