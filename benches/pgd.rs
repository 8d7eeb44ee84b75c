//! One PGD step (forward, loss, backward to the input, sign step, projection) on the small CNN classifier
//! (Conv 32 - MaxPool - Conv 64 - MaxPool - Linear 128 - Linear 10), batch 256 of 28x28, as `synth adversarial` runs
//! it. Reference: PyTorch 2.15 CPU with 2 threads takes 92 ms on the development machine. Run with
//! `cargo bench --bench pgd`.

mod harness;

use burn::module::Module;
use burn::prelude::*;
use burn::tensor::Distribution;
use synth::adversarial::{Goal, Norm, pgd_step};
use synth::classifier::{BackboneKind, ClassifierConfig, build_model};

/// On a thread of the compute pool, as the binary runs its commands (`synth::backend::on_workers`).
fn main() {
    synth::backend::on_workers(benchmarks);
}

fn benchmarks() {
    println!("device: {}", synth::backend::device_name());
    let device = synth::backend::device();
    let config = ClassifierConfig {
        backbone: BackboneKind::Cnn,
        ..Default::default()
    };
    let model = build_model(&config, 10, (1, 28), &device)
        .expect("the small cnn builds")
        .valid();
    let x = Tensor::<4>::random([256, 1, 28, 28], Distribution::Default, &device);
    let labels: Vec<usize> = (0..256).map(|i| i % 10).collect();
    let mut x_adv = x.clone();
    let times = harness::time_ms(2, 9, || {
        x_adv = pgd_step(
            &model,
            x_adv.clone(),
            &x,
            Goal::Untargeted(&labels),
            0.01,
            0.3,
            Norm::Linf,
        )
        .expect("a pgd step runs");
        // Reading one value waits for the step to finish on any backend.
        std::hint::black_box(x_adv.clone().slice([0..1, 0..1, 0..1, 0..1]).into_scalar::<f32>());
    });
    harness::report("pgd step, small cnn b256 28x28 (linf)", &times, Some(92.0));
}
