//! Conv2d forward + backward on burn Flex, the building block of every network synth trains, and the vendored
//! burn-flex's batched small-map kernels and its input gradient as a forward against the generic paths they replace,
//! in the same binary. Run with `cargo bench --bench conv`; later issues track their own nets against PyTorch 2.15
//! (2 threads) figures.

mod harness;

use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2dConfig;
use burn::prelude::*;
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Distribution, TensorData};
use burn_backend::ops::ModuleOps;
use burn_flex::ops::{conv, conv_backward_generic, winograd};
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

/// The signature the vendored burn-flex's input-gradient kernels share: `None` where they leave the case to the
/// generic path.
type InputGradientKernel = fn(&Shape, &FlexTensor, &FlexTensor, &ConvOptions<2>) -> Option<FlexTensor>;

/// A 3x3, padding-1 conv2d's input gradient on one shape: burn-backend's default (Flex's conv_transpose2d, one
/// product per image) against one of the vendored burn-flex's kernels (`label` names it in the rows), which must take
/// the shape.
fn input_gradient(
    name: &str,
    batch: usize,
    channels: [usize; 2],
    side: usize,
    label: &str,
    kernel: InputGradientKernel,
) {
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
        let fast = harness::time_ms(1, 7, || {
            let shape = x.layout().shape();
            std::hint::black_box(kernel(shape, &w, &gy, &options).expect("the kernel takes this shape"));
        });
        harness::report(&format!("{name} input grad, {label} ({round})"), &fast, None);
    }
}

/// A 3x3, padding-1 conv2d's forward on one shape: Flex's per-image products against the vendored burn-flex's
/// batched kernel.
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

/// The previous dispatch of a 3x3, padding-1 conv2d (before change 11): the batched small-map kernels, the input
/// gradient as a forward on large maps, Flex's im2col forward, burn-backend's default input gradient and the direct
/// im2col weight gradient.
fn im2col_step(x: &FlexTensor, w: &FlexTensor, b: &FlexTensor, gy: &FlexTensor, options: &ConvOptions<2>) {
    let y = conv::conv2d_f32_batched(x, w, Some(b), options)
        .unwrap_or_else(|| conv::conv2d_f32(x.clone(), w.clone(), Some(b.clone()), options));
    let shape = x.layout().shape();
    let gx = conv::conv2d_x_backward_f32_batched(shape, w, gy, options)
        .or_else(|| conv::conv2d_x_backward_f32_as_forward(shape, w, gy, options))
        .unwrap_or_else(|| {
            conv_backward_generic::conv2d_x_backward::<Flex>(x.clone(), w.clone(), gy.clone(), options.clone())
        });
    let gw = conv::conv2d_weight_backward_f32_fast(x, w.layout().shape(), gy, options).expect("direct path");
    std::hint::black_box((y, gx, gw));
}

/// The Winograd F(4x4, 3x3) forward, input gradient and weight gradient (change 11).
fn winograd_step(x: &FlexTensor, w: &FlexTensor, b: &FlexTensor, gy: &FlexTensor, options: &ConvOptions<2>) {
    let y = winograd::conv2d_f32_winograd(x, w, Some(b), options).expect("winograd forward");
    let gx = winograd::conv2d_x_backward_f32_winograd(x.layout().shape(), w, gy, options).expect("winograd input");
    let gw =
        winograd::conv2d_weight_backward_f32_winograd(x, w.layout().shape(), gy, options).expect("winograd weight");
    std::hint::black_box((y, gx, gw));
}

/// A 3x3, padding-1 conv2d's forward, input gradient and weight gradient on one shape: the im2col + gemm paths
/// against Winograd F(4x4, 3x3), alternately in the same binary.
fn winograd_against_im2col(name: &str, batch: usize, channels: [usize; 2], side: usize) {
    let x = random([batch, channels[0], side, side], 1);
    let w = random([channels[1], channels[0], 3, 3], 2);
    let b = FlexTensor::from_data(TensorData::new(vec![0.1f32; channels[1]], [channels[1]]));
    let gy = random([batch, channels[1], side, side], 3);
    let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
    for round in 0..2 {
        let im2col = harness::time_ms(1, 7, || im2col_step(&x, &w, &b, &gy, &options));
        harness::report(&format!("{name} fwd+bwd, im2col ({round})"), &im2col, None);
        let winograd = harness::time_ms(1, 7, || winograd_step(&x, &w, &b, &gy, &options));
        harness::report(&format!("{name} fwd+bwd, winograd ({round})"), &winograd, None);
    }
}

/// The layers of VGG16 that the Winograd path takes, at the sizes synth runs them: eval-gain's fine-tuned block 5
/// (64 px input, batch 64), VGG16 features at 64 px (batch 64) and the Gatys iteration's maps (one image, 128 and
/// 256 px).
fn winograd_rows() {
    winograd_against_im2col("3x3 512->512 b64 4x4", 64, [512, 512], 4);
    winograd_against_im2col("3x3 512->512 b64 8x8", 64, [512, 512], 8);
    winograd_against_im2col("3x3 256->256 b64 16x16", 64, [256, 256], 16);
    winograd_against_im2col("3x3 128->128 b64 32x32", 64, [128, 128], 32);
    winograd_against_im2col("3x3 64->64 b64 64x64", 64, [64, 64], 64);
    winograd_against_im2col("3x3 64->64 b1 256x256", 1, [64, 64], 256);
    winograd_against_im2col("3x3 128->128 b1 128x128", 1, [128, 128], 128);
    winograd_against_im2col("3x3 256->256 b1 64x64", 1, [256, 256], 64);
    winograd_against_im2col("3x3 512->512 b1 32x32", 1, [512, 512], 32);
    // One 16x16 map is 16 tiles, below WINOGRAD_MIN_TILES: Winograd leaves it to im2col (measured 1.3x slower there).
}

/// Eval-gain's fine-tuning step, call by call: the Winograd forward, input gradient and weight gradient of VGG16's
/// block 5 (512 -> 512 on 4x4 maps, batch 64), each alone, with a weight changed since the last call (as after an
/// optimizer step: a new storage, so nothing kept applies) or the same weight (as when scoring). Run it on one
/// thread (`RAYON_NUM_THREADS=1`) to see one eval-gain lane: `cargo bench --profile dev --bench conv -- fit-step`.
fn fit_step_rows() {
    // The allocator policy every synth program runs with (set by the first device).
    synth::backend::device();
    let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
    let x = random([64, 512, 4, 4], 1);
    let w = random([512, 512, 3, 3], 2);
    let gy = random([64, 512, 4, 4], 3);
    let changed = |seed: u64| (0..12).map(|i| random([512, 512, 3, 3], seed + i)).collect::<Vec<_>>();
    let mut weights = changed(10);
    let times = harness::time_ms(2, 9, || {
        let w = weights.pop().expect("a weight per run");
        std::hint::black_box(winograd::conv2d_f32_winograd(&x, &w, None, &options));
    });
    harness::report("block 5 forward, changed weight", &times, None);
    let times = harness::time_ms(2, 9, || {
        std::hint::black_box(winograd::conv2d_f32_winograd(&x, &w, None, &options));
    });
    harness::report("block 5 forward, same weight", &times, None);
    let mut weights = changed(30);
    let times = harness::time_ms(2, 9, || {
        let w = weights.pop().expect("a weight per run");
        std::hint::black_box(winograd::conv2d_x_backward_f32_winograd(
            x.layout().shape(),
            &w,
            &gy,
            &options,
        ));
    });
    harness::report("block 5 input grad, changed weight", &times, None);
    let weight_grad = |x: &FlexTensor| {
        std::hint::black_box(winograd::conv2d_weight_backward_f32_winograd(
            x,
            w.layout().shape(),
            &gy,
            &options,
        ));
    };
    let times = harness::time_ms(2, 9, || weight_grad(&x));
    harness::report("block 5 weight grad, after the forward", &times, None);
    // Inputs no forward has seen (change 23 keeps a forward's transformed tiles for the weight gradient).
    let mut unseen = (0..12).map(|_| random([64, 512, 4, 4], 1)).collect::<Vec<_>>();
    let times = harness::time_ms(2, 9, || weight_grad(&unseen.pop().expect("an input per run")));
    harness::report("block 5 weight grad, input unseen", &times, None);
}

/// Times one op on fixed random inputs and prints its row, if the words after `gan` on the command line (none: all)
/// name it (`cargo bench --bench conv -- gan "weight grad"`).
fn op_row(name: &str, mut op: impl FnMut() -> FlexTensor) {
    let words: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-') && a != "gan")
        .collect();
    if !words.is_empty() && !words.iter().any(|w| name.contains(w.as_str())) {
        return;
    }
    let times = harness::time_ms(3, 15, || {
        std::hint::black_box(op());
    });
    harness::report(name, &times, None);
}

/// Each convolution of the cDCGAN step (`--bench gan`) alone, at batch 64: the discriminator's 4x4 stride-2
/// convolutions and the generator's 4x4 stride-2 transposed convolutions, forward and both gradients, through the
/// same dispatch autodiff calls (`ModuleOps`). `benches/pytorch_reference.py gan-ops` times the same calls.
fn gan_rows() {
    type Ops = Flex;
    // The allocator policy every synth program runs with (set by the first device).
    synth::backend::device();
    let strided = ConvOptions::new([2, 2], [1, 1], [1, 1], 1);
    let transposed = ConvTransposeOptions::new([2, 2], [1, 1], [0, 0], [1, 1], 1);
    // The discriminator's convolutions: 64 -> 128 channels, 14x14 -> 7x7, then the first one (the image channel),
    // 1 -> 64, 28x28 -> 14x14.
    for (label, cin, cout, side) in [
        ("D conv 64->128 14->7", 64, 128, 14),
        ("D conv 1->64 28->14", 1, 64, 28),
    ] {
        let x = random([64, cin, side, side], 1);
        let w = random([cout, cin, 4, 4], 2);
        let gy = random([64, cout, side / 2, side / 2], 3);
        op_row(&format!("{label} forward"), || {
            Ops::conv2d(x.clone(), w.clone(), None, strided.clone())
        });
        op_row(&format!("{label} forward, Flex per image"), || {
            conv::conv2d_f32(x.clone(), w.clone(), None, &strided)
        });
        op_row(&format!("{label} input grad"), || {
            Ops::conv2d_x_backward(x.clone(), w.clone(), gy.clone(), strided.clone())
        });
        op_row(&format!("{label} weight grad"), || {
            Ops::conv2d_weight_backward(x.clone(), w.clone(), gy.clone(), strided.clone())
        });
    }
    // The generator's transposed convolutions: 128 -> 64, 7x7 -> 14x14, then 64 -> 1, 14x14 -> 28x28.
    for (label, cin, cout, side) in [
        ("G convT 128->64 7->14", 128, 64, 7),
        ("G convT 64->1 14->28", 64, 1, 14),
    ] {
        let x = random([64, cin, side, side], 7);
        let w = random([cin, cout, 4, 4], 8);
        let gy = random([64, cout, 2 * side, 2 * side], 9);
        op_row(&format!("{label} forward"), || {
            Ops::conv_transpose2d(x.clone(), w.clone(), None, transposed.clone())
        });
        op_row(&format!("{label} input grad"), || {
            Ops::conv_transpose2d_x_backward(w.clone(), gy.clone(), transposed.clone())
        });
        op_row(&format!("{label} weight grad"), || {
            Ops::conv_transpose2d_weight_backward(x.clone(), w.clone(), gy.clone(), transposed.clone())
        });
    }
}

/// On a thread of the compute pool, as the binary runs its commands (`synth::backend::on_workers`).
fn main() {
    synth::backend::on_workers(benchmarks);
}

fn benchmarks() {
    println!("device: {}", synth::backend::device_name());
    if std::env::args().any(|a| a == "winograd") {
        winograd_rows();
        return;
    }
    if std::env::args().any(|a| a == "fit-step") {
        fit_step_rows();
        return;
    }
    if std::env::args().any(|a| a == "gan") {
        gan_rows();
        return;
    }
    bench("conv3x3 64->64 b8 64x64 fwd+bwd", 8, [64, 64], 64);
    bench("conv3x3 1->32 b256 28x28 fwd+bwd", 256, [1, 32], 28);
    bench("conv3x3 3->64 b4 128x128 fwd+bwd", 4, [3, 64], 128);
    bench("conv3x3 512->512 b64 4x4 fwd+bwd", 64, [512, 512], 4);
    let batched: InputGradientKernel = conv::conv2d_x_backward_f32_batched;
    input_gradient("3x3 512->512 b64 4x4", 64, [512, 512], 4, "batched", batched);
    forward("3x3 512->512 b64 4x4", 64, [512, 512], 4);
    // Stride 1 on maps of at least 4,096 positions: the Gatys iteration's first blocks.
    let as_forward: InputGradientKernel = conv::conv2d_x_backward_f32_as_forward;
    input_gradient("3x3 64->64 b1 128x128", 1, [64, 64], 128, "as forward", as_forward);
    input_gradient("3x3 128->128 b1 64x64", 1, [128, 128], 64, "as forward", as_forward);
    input_gradient("3x3 64->64 b8 64x64", 8, [64, 64], 64, "as forward", as_forward);
    winograd_rows();
}
