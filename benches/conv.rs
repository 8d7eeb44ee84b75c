//! Conv2d forward + backward on burn Flex, the building block of every network synth trains. Run with
//! `cargo bench --bench conv`; later issues track their own nets against PyTorch 2.15 (2 threads) figures.

mod harness;

use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2dConfig;
use burn::prelude::*;
use burn::tensor::Distribution;

fn bench(name: &str, batch: usize, channels: [usize; 2], side: usize) {
    let device = synth::backend::autodiff_device();
    let conv = Conv2dConfig::new(channels, [3, 3])
        .with_padding(PaddingConfig2d::Same)
        .init(&device);
    let x = Tensor::<4>::random([batch, channels[0], side, side], Distribution::Default, &device).require_grad();
    let times = harness::time_ms(2, 9, || {
        let loss = conv.forward(x.clone()).sum();
        let grads = loss.backward();
        let gx = x.grad(&grads).expect("input gradient");
        std::hint::black_box(gx.sum().into_scalar::<f32>());
    });
    harness::report(name, &times, None);
}

fn main() {
    println!("device: {}", synth::backend::device_name());
    bench("conv3x3 64->64 b8 64x64 fwd+bwd", 8, [64, 64], 64);
    bench("conv3x3 1->32 b256 28x28 fwd+bwd", 256, [1, 32], 28);
    bench("conv3x3 3->64 b4 128x128 fwd+bwd", 4, [3, 64], 128);
}
