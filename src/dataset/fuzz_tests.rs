//! Seeded fuzzing of every loader: thousands of small valid files, each mutated (bytes flipped, inserted, removed,
//! truncated, header fields set to extremes), go through the real parsing code. The contract: no panic, no
//! overflow, no huge allocation; every failure is a `SynthError` (the type makes the last part hold).

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Image, LoadOptions, load_dataset, read_cifar_batch, read_csv, read_idx_images, read_idx_labels};

/// One random mutation of `bytes`.
fn mutate(bytes: &mut Vec<u8>, rng: &mut ChaCha8Rng) {
    match rng.random_range(0..6) {
        0 if !bytes.is_empty() => {
            let i = rng.random_range(0..bytes.len());
            bytes[i] = rng.random();
        }
        1 => {
            let i = rng.random_range(0..=bytes.len());
            bytes.insert(i, rng.random());
        }
        2 if !bytes.is_empty() => {
            let i = rng.random_range(0..bytes.len());
            bytes.remove(i);
        }
        3 => {
            let n = rng.random_range(0..=bytes.len());
            bytes.truncate(n);
        }
        4 if bytes.len() >= 8 => {
            // An extreme big-endian u32 where a header field may sit.
            let i = 4 * rng.random_range(0..(bytes.len() / 4).min(4));
            let v: u32 = [0, 1, u32::MAX, 1 << 31, 0xFFFF][rng.random_range(0..5)];
            bytes[i..i + 4].copy_from_slice(&v.to_be_bytes());
        }
        _ => {
            let i = rng.random_range(0..=bytes.len());
            let digits = rng.random_range(0u64..u64::MAX).to_string();
            for (k, b) in digits.bytes().enumerate() {
                bytes.insert(i + k, b);
            }
        }
    }
}

fn mutants(seed: u64, base: &[u8], count: usize) -> impl Iterator<Item = Vec<u8>> + '_ {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..count).map(move |_| {
        let mut bytes = base.to_vec();
        for _ in 0..rng.random_range(1..4) {
            mutate(&mut bytes, &mut rng);
        }
        bytes
    })
}

fn idx_file(magic: u32, dims: &[u32], payload: usize) -> Vec<u8> {
    let mut b = magic.to_be_bytes().to_vec();
    for d in dims {
        b.extend(d.to_be_bytes());
    }
    b.extend((0..payload).map(|i| (i * 37 % 256) as u8));
    b
}

#[test]
fn mutated_idx_files_never_panic() {
    let images = idx_file(0x803, &[3, 4, 4], 48);
    for bytes in mutants(1, &images, 2000) {
        if let Ok(decoded) = read_idx_images(bytes.clone(), "fuzz") {
            assert!(decoded.iter().all(|i| i.data.len() == i.height * i.width));
        }
    }
    let labels = idx_file(0x801, &[3], 3);
    for bytes in mutants(2, &labels, 1000) {
        let _ = read_idx_labels(bytes, "fuzz");
    }
}

#[test]
fn mutated_csv_files_never_panic() {
    let csv = b"0,10,20,255,1\n5,6,7,8,0\n".to_vec();
    for bytes in mutants(3, &csv, 2000) {
        if let Ok((images, labels)) = read_csv(bytes, 255.0, "fuzz") {
            assert_eq!(images.len(), labels.len());
            assert!(labels.iter().all(|&l| l < crate::limits::MAX_CLASSES));
        }
    }
}

#[test]
fn mutated_cifar_batches_never_panic() {
    let mut batch = Vec::new();
    for k in 0..2u8 {
        batch.extend(super::encode_cifar_record(&Image::zeros(3, 32, 32), k));
    }
    for bytes in mutants(4, &batch, 500) {
        let _ = read_cifar_batch(&bytes, "fuzz");
    }
}

#[test]
fn mutated_manifests_and_origins_never_panic_or_escape() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("set");
    for class in ["a", "b"] {
        let path = root.join(class).join("1.png");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, Image::zeros(1, 4, 4).to_png().unwrap()).unwrap();
    }
    let manifest = concat!(
        r#"{"path":"a/1.png","label":0,"class":"a","source":"augment","params":{},"seed":1}"#,
        "\n",
        r#"{"path":"b/1.png","label":1,"class":"b","source":"augment","params":{},"seed":2}"#,
        "\n"
    );
    let origin = r#"{"dataset":"x","classes":["a","b"],"source_split":"train","split_file":"split.json","split_seed":0,"source":"augment","command":[],"config":null,"synth_version":"0"}"#;
    let spec = root.display().to_string();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for bytes in mutants(6, manifest.as_bytes(), 600) {
        std::fs::write(root.join("manifest.jsonl"), &bytes).unwrap();
        if rng.random_bool(0.5) {
            let mut o = origin.as_bytes().to_vec();
            mutate(&mut o, &mut rng);
            std::fs::write(root.join("origin.json"), &o).unwrap();
        } else {
            let _ = std::fs::remove_file(root.join("origin.json"));
        }
        if let Ok(ds) = load_dataset(&spec, &LoadOptions::default()) {
            for name in &ds.classes {
                super::check_class_name(name).unwrap();
            }
            assert!(ds.samples.iter().all(|s| s.label < ds.classes.len()));
        }
    }
}
