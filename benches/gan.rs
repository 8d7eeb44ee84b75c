//! One training step of the reference class-conditional DCGAN (issue 4) at batch 64 on 28x28 grey images: the
//! discriminator update on real and fake images, then the generator update through it, exactly as `synth gan`
//! trains (the `Trainer::step` it calls). PyTorch 2.15 on this machine's CPU with 2 threads takes 106 ms for the
//! same networks and batch. Run with `cargo bench --bench gan`.

mod harness;

use std::hint::black_box;

use synth::dataset::Image;
use synth::gan::{GanConfig, GanMeta, Trainer};

/// PyTorch 2.15, 2 threads, same step (ms).
const PYTORCH_MS: f64 = 106.0;

fn trainer(ema: bool) -> Trainer {
    let config = GanConfig {
        ema,
        min_steps: 0,
        ..GanConfig::default()
    };
    let meta = GanMeta {
        config,
        classes: (0..10).map(|c| c.to_string()).collect(),
        channels: 1,
        side: 28,
        dataset: "random".into(),
        split_seed: 0,
        train_images: 64,
        diffaugment: Vec::new(),
        real_augment: Vec::new(),
        synth_version: env!("CARGO_PKG_VERSION").into(),
    };
    let mut rng = synth::seed::rng(1);
    let images: Vec<Image> = (0..64)
        .map(|_| {
            let data = synth::gan::sample::latent_from(&mut rng, 28 * 28, 0.0)
                .into_iter()
                .map(|v| (0.5 + 0.25 * v).clamp(0.0, 1.0))
                .collect();
            Image::from_planar(1, 28, 28, data).expect("28x28 values")
        })
        .collect();
    let refs: Vec<&Image> = images.iter().collect();
    let labels = (0..64).map(|i| i % 10).collect();
    Trainer::new(meta, &refs, labels, &synth::backend::autodiff_device()).expect("the reference networks build")
}

/// On a thread of the compute pool, as the binary runs its commands (`synth::backend::on_workers`).
fn main() {
    synth::backend::on_workers(benchmarks);
}

fn benchmarks() {
    println!("device: {}", synth::backend::device_name());
    let batch: Vec<usize> = (0..64).collect();
    for (name, ema) in [
        ("cDCGAN D+G step b64 28x28", false),
        ("cDCGAN D+G step b64 28x28 + EMA", true),
    ] {
        let mut t = trainer(ema);
        let times = harness::time_ms(3, 15, || {
            black_box(t.step(&batch).expect("a finite step"));
        });
        harness::report(name, &times, Some(PYTORCH_MS));
    }
}
