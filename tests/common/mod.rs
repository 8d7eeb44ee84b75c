//! Helpers for the integration tests: driving the real `synth` binary, and a seeded generator for the kernel tests.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Runs `synth` with these arguments from the repository root, with no stdin and progress bars off.
pub fn synth(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_synth"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("the synth binary runs")
}

/// Stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// Stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// Asserts a failure with exit code 2, a one-line message containing `needle`, and no panic.
pub fn assert_bad_input(o: &Output, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "expected exit 2, stderr: {err}");
    assert!(err.contains(needle), "stderr should mention '{needle}': {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
}

/// Every file below `dir` (recursively), or none when it does not exist.
pub fn files_below(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_below(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Writes a grey PNG of `w x h` filled with `v`.
pub fn write_png(path: &Path, w: u32, h: u32, v: u8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::GrayImage::from_pixel(w, h, image::Luma([v])).save(path).unwrap();
}

/// A tiny `synth eval-gain`: the small cnn, 5 images per class, 2 seeds, augment only, 20 robust images, writing to
/// `out` with its TensorBoard log beside it and its sets cached in `cache`; `extra` flags are appended.
pub fn tiny_eval_gain(out: &Path, cache: &Path, extra: &[&str]) -> Output {
    let tb = out.with_extension("tb");
    let mut args = vec![
        "eval-gain",
        "--quiet",
        "--backbone",
        "cnn",
        "--per-class",
        "5",
        "--seeds",
        "2",
        "--sources",
        "augment",
        "--robust-images",
        "20",
        "--out",
        out.to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
        "--tb-dir",
        tb.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    synth(&args)
}

/// A 3-class grey texture dataset built from the bundled CC0 textures (styles/brick.png, grass.png, gravel.png,
/// 512x512): each image cut into non-overlapping `side` x `side` patches, one class per texture, as an ImageFolder
/// tree at `root`. With side 64 that is 64 patches per class (132 train images under the default split).
pub fn texture_dataset(root: &Path, side: u32) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    for class in ["brick", "grass", "gravel"] {
        let texture = image::open(repo.join("styles").join(format!("{class}.png")))
            .unwrap()
            .to_luma8();
        let (w, h) = texture.dimensions();
        let mut k = 0;
        for y in (0..=h - side).step_by(side as usize) {
            for x in (0..=w - side).step_by(side as usize) {
                let patch = image::imageops::crop_imm(&texture, x, y, side, side).to_image();
                let path = root.join(class).join(format!("{k:03}.png"));
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                patch.save(&path).unwrap();
                k += 1;
            }
        }
    }
}

/// A tiny deterministic generator for the vendored kernels' tests, so a failing case can be replayed from its seed.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next_u32(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }

    /// Uniform in [-1, 1), or, with `levels`, one of that many values (0, 1, ...), so that pooling windows hold ties.
    pub fn values(&mut self, n: usize, levels: Option<u32>) -> Vec<f32> {
        (0..n)
            .map(|_| match levels {
                Some(l) => (self.next_u32() % l) as f32,
                None => self.next_u32() as f32 / (1u64 << 31) as f32 - 1.0,
            })
            .collect()
    }
}
