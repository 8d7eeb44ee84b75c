//! Conv2d forward + backward on burn Flex, the building block of every network synth trains, and the vendored
//! burn-flex's batched small-map kernels and its input gradient as a forward against the generic paths they replace,
//! in the same binary. Run with `cargo bench --bench conv`; later issues track their own nets against PyTorch 2.15
//! (2 threads) figures.

mod harness;

use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2dConfig;
use burn::prelude::*;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Distribution, TensorData};
use burn_flex::ops::{conv, conv_backward_generic};
use burn_flex::{Flex, FlexTensor};

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

fn random(shape: [usize; 4], seed: u64) -> FlexTensor {
    let n: usize = shape.iter().product();
    let mut state = seed;
    let values: Vec<f32> = (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect();
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// A 3x3, padding-1 conv2d's input gradient on one shape: burn-backend's default (Flex's conv_transpose2d, one
/// product per image) against the vendored burn-flex's batched kernel.
fn input_gradient(name: &str, batch: usize, channels: [usize; 2], side: usize) {
    let x = random([batch, channels[0], side, side], 1);
    let w = random([channels[1], channels[0], 3, 3], 2);
    let gy = random([batch, channels[1], side, side], 3);
    let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
    for round in 0..2 {
        let generic = harness::time_ms(1, 7, || {
            std::hint::black_box(conv_backward_generic::conv2d_x_backward::<Flex>(
                x.clone(),
                w.clone(),
                gy.clone(),
                options.clone(),
            ));
        });
        harness::report(&format!("{name} input grad, generic ({round})"), &generic, None);
        let batched = harness::time_ms(1, 7, || {
            let shape = x.layout().shape();
            std::hint::black_box(conv::conv2d_x_backward_f32_batched(shape, &w, &gy, &options).expect("batched"));
        });
        harness::report(&format!("{name} input grad, batched ({round})"), &batched, None);
    }
}

/// A 3x3, padding-1 conv2d's forward on one shape: Flex's per-image products against the vendored burn-flex's
/// batched kernel.
/// burn-backend's conv-transpose input gradient against the vendored burn-flex's forward convolution with the
/// flipped weight (stride 1, maps of at least 4,096 positions: the Gatys iteration's first blocks).
fn input_gradient_as_forward(name: &str, batch: usize, channels: [usize; 2], side: usize) {
    let x = random([batch, channels[0], side, side], 1);
    let w = random([channels[1], channels[0], 3, 3], 2);
    let gy = random([batch, channels[1], side, side], 3);
    let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
    for round in 0..2 {
        let generic = harness::time_ms(1, 7, || {
            std::hint::black_box(conv_backward_generic::conv2d_x_backward::<Flex>(
                x.clone(),
                w.clone(),
                gy.clone(),
                options.clone(),
            ));
        });
        harness::report(&format!("{name} input grad, generic ({round})"), &generic, None);
        let as_forward = harness::time_ms(1, 7, || {
            let shape = x.layout().shape();
            std::hint::black_box(
                conv::conv2d_x_backward_f32_as_forward(shape, &w, &gy, &options).expect("taken as a forward"),
            );
        });
        harness::report(&format!("{name} input grad, as forward ({round})"), &as_forward, None);
    }
}

fn forward(name: &str, batch: usize, channels: [usize; 2], side: usize) {
    let x = random([batch, channels[0], side, side], 1);
    let w = random([channels[1], channels[0], 3, 3], 2);
    let b = FlexTensor::from_data(TensorData::new(vec![0.1f32; channels[1]], [channels[1]]));
    let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
    for round in 0..2 {
        let generic = harness::time_ms(1, 7, || {
            std::hint::black_box(conv::conv2d_f32(x.clone(), w.clone(), Some(b.clone()), &options));
        });
        harness::report(&format!("{name} forward, generic ({round})"), &generic, None);
        let batched = harness::time_ms(1, 7, || {
            std::hint::black_box(conv::conv2d_f32_batched(&x, &w, Some(&b), &options).expect("batched"));
        });
        harness::report(&format!("{name} forward, batched ({round})"), &batched, None);
    }
}

fn main() {
    println!("device: {}", synth::backend::device_name());
    bench("conv3x3 64->64 b8 64x64 fwd+bwd", 8, [64, 64], 64);
    bench("conv3x3 1->32 b256 28x28 fwd+bwd", 256, [1, 32], 28);
    bench("conv3x3 3->64 b4 128x128 fwd+bwd", 4, [3, 64], 128);
    bench("conv3x3 512->512 b64 4x4 fwd+bwd", 64, [512, 512], 4);
    input_gradient("3x3 512->512 b64 4x4", 64, [512, 512], 4);
    forward("3x3 512->512 b64 4x4", 64, [512, 512], 4);
    input_gradient_as_forward("3x3 64->64 b1 128x128", 1, [64, 64], 128);
    input_gradient_as_forward("3x3 128->128 b1 64x64", 1, [128, 128], 64);
    input_gradient_as_forward("3x3 64->64 b8 64x64", 8, [64, 64], 64);
}
