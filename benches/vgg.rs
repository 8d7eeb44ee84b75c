//! VGG16 feature extraction throughput (inference, all five blocks) at the classifier's input sizes, and one Gatys
//! style-transfer iteration (five style taps + content tap, forward + backward to the image, Adam step) at 128 and
//! 256 px. Run with `cargo bench --bench vgg` (`-- gatys` for the Gatys iterations alone).

mod harness;

use burn::module::Param;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::Distribution;
use synth::classifier::checkpoint::bundled_weights;
use synth::classifier::vgg::{Vgg16, preprocess};
use synth::style::transfer::{Canvas, Targets};
use synth::style::{StyleConfig, StyleNet};

fn feature_extraction(vgg: &Vgg16, side: usize, batch: usize) {
    let name = format!("vgg16 features {side}px batch {batch}");
    if !harness::wanted(&name) {
        return;
    }
    let device = synth::backend::device();
    let x = Tensor::<4>::random([batch, 3, side, side], Distribution::Uniform(0.0, 1.0), &device);
    let times = harness::time_ms(1, 5, || {
        let f = vgg.forward_blocks(preprocess(x.clone()), 0, 5);
        std::hint::black_box(f.sum().into_scalar::<f32>());
    });
    harness::report(&name, &times, None);
    let median = times[times.len() / 2];
    println!("{:<40} {:.0} images/s", "", batch as f64 / (median / 1e3));
}

fn gatys_iteration(side: usize, reference_ms: f64) {
    let name = format!("gatys iteration {side}px");
    if !harness::wanted(&name) {
        return;
    }
    let device = synth::backend::device();
    let config = StyleConfig::default();
    let vgg = Vgg16::load(&bundled_weights(), &device).expect("bundled weights");
    let net = StyleNet::new(vgg, &config).expect("taps");
    let content = Tensor::<4>::random([1, 3, side, side], Distribution::Uniform(0.0, 1.0), &device);
    let style = Tensor::<4>::random([1, 3, side, side], Distribution::Uniform(0.0, 1.0), &device);
    let targets = Targets {
        content: net.content(content.clone()),
        grams: net.grams(style),
    };
    let mut canvas = Canvas {
        pixels: Param::from_tensor(content.autodiff().require_grad()),
    };
    let mut optim = AdamConfig::new().init();
    let times = harness::time_ms(1, 5, || {
        let (loss, _) = net.loss(canvas.pixels.val(), &targets, &config).expect("loss");
        let grads = GradientsParams::from_grads(loss.backward(), &canvas);
        canvas = optim.step(0.02, canvas.clone(), grads);
    });
    harness::report(&name, &times, Some(reference_ms));
}

/// On a thread of the compute pool, as the binary runs its commands (`synth::backend::on_workers`).
fn main() {
    synth::backend::on_workers(benchmarks);
}

fn benchmarks() {
    println!("device: {}", synth::backend::device_name());
    let vgg = Vgg16::load(&bundled_weights(), &synth::backend::device()).expect("bundled weights");
    feature_extraction(&vgg, 32, 64);
    feature_extraction(&vgg, 64, 64);
    gatys_iteration(128, 139.0);
    gatys_iteration(256, 441.0);
}
