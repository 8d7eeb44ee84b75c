//! The vendored burn-flex's batched forward over small maps (`conv2d_f32_batched_images`, burn-flex change 12, issue
//! 19) against the path it replaces, Flex's per-image products (the same function on one image at a time), bit for
//! bit: it promises the same sums in the same order, so the default run's GAN set does not move by a bit. The cases
//! cover the cDCGAN's layers (directly and through autodiff, where the generator's transposed layer's input and
//! weight gradients run on it), padding, dilation, bias, several chunks of images, and the shapes it must leave to
//! Flex (where gemm would sum in another order, or Flex runs a path of its own). The transposed convolution's weight
//! gradient without burn-backend's axis swaps (burn-flex change 19) is checked against that default, bit for bit, and
//! the 8x8 AVX transposes of the discriminator's weight gradient (change 20) against one-at-a-time ones.

use burn::prelude::*;
use burn::tensor::TensorData;
use burn::tensor::module::conv_transpose2d;
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn_backend::ops::conv::calculate_conv_transpose_output_size;
use burn_flex::ops::{conv, conv_backward_generic, conv_transpose, transpose};
use burn_flex::{Flex, FlexTensor};

mod common;
use common::Lcg;

fn flex(data: &[f32], shape: [usize; 4]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(data.to_vec(), shape))
}

fn floats(t: FlexTensor) -> Vec<f32> {
    t.into_data().try_into_vec::<f32>().expect("f32 data")
}

/// The gradient of `t` in `grads`, as values.
fn gradient(t: &Tensor<4>, grads: &burn::tensor::Gradients) -> Vec<f32> {
    let g = t.grad(grads).expect("a gradient");
    g.into_data().try_into_vec::<f32>().expect("f32")
}

/// Elements whose bits differ.
fn differing_bits(a: &[f32], b: &[f32]) -> usize {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).filter(|(p, q)| p.to_bits() != q.to_bits()).count()
}

/// Asserts that a kernel's output is `want` bit for bit.
fn assert_same_bits(got: FlexTensor, want: &[f32], case: &str) {
    assert_eq!(differing_bits(&floats(got), want), 0, "{case}");
}

/// A forward case: batch, input channels, output channels, map side, kernel side, stride, padding, dilation.
type Forward = (usize, usize, usize, usize, usize, usize, usize, usize);

/// Flex's per-image forward, image by image (a batch of one is never batched).
fn per_image_forward(
    x: &[f32],
    xs: [usize; 4],
    w: &FlexTensor,
    bias: Option<&FlexTensor>,
    o: &ConvOptions<2>,
) -> Vec<f32> {
    let image = xs[1] * xs[2] * xs[3];
    x.chunks(image)
        .flat_map(|img| {
            floats(conv::conv2d_f32(
                flex(img, [1, xs[1], xs[2], xs[3]]),
                w.clone(),
                bias.cloned(),
                o,
            ))
        })
        .collect()
}

#[test]
fn batched_forward_is_bit_identical_to_per_image_products() {
    let cases: [Forward; 6] = [
        // The discriminator's 64->128 layer (14x14 -> 7x7), and the generator's 128->64 layer's input gradient.
        (8, 64, 128, 14, 4, 2, 1, 1),
        (5, 128, 96, 14, 4, 2, 1, 1),
        // 3x3 stride 1 on 6x6 (36 positions), padding 0 on 9x9 (49), dilation 2, a 2x2 map.
        (3, 64, 128, 6, 3, 1, 1, 1),
        (2, 96, 80, 9, 3, 1, 0, 1),
        (3, 64, 128, 8, 3, 1, 1, 2),
        // 70 images of 64 positions with K = 1,024: two chunks of images.
        (70, 64, 72, 16, 4, 2, 1, 1),
    ];
    let mut rng = Lcg(41);
    for (n, c_in, c_out, side, k, stride, padding, dilation) in cases {
        let xs = [n, c_in, side, side];
        let x = rng.values(xs.iter().product(), None);
        let w = flex(&rng.values(c_out * c_in * k * k, None), [c_out, c_in, k, k]);
        let b = FlexTensor::from_data(TensorData::new(rng.values(c_out, None), [c_out]));
        let o = ConvOptions::new([stride; 2], [padding; 2], [dilation; 2], 1);
        for bias in [None, Some(&b)] {
            let got = conv::conv2d_f32_batched_images(&flex(&x, xs), &w, bias, &o)
                .unwrap_or_else(|| panic!("taken: {xs:?} -> {c_out}"));
            let want = per_image_forward(&x, xs, &w, bias, &o);
            assert_same_bits(got, &want, &format!("{xs:?} -> {c_out}, bias {}", bias.is_some()));
        }
    }
}

#[test]
fn batched_forward_leaves_other_shapes_to_flex() {
    let mut rng = Lcg(43);
    let mut taken = |xs: [usize; 4], ws: [usize; 4], o: ConvOptions<2>| {
        let x = flex(&rng.values(xs.iter().product(), None), xs);
        let w = flex(&rng.values(ws.iter().product(), None), ws);
        conv::conv2d_f32_batched_images(&x, &w, None, &o).is_some()
    };
    let s2 = ConvOptions::new([2, 2], [1, 1], [1, 1], 1);
    assert!(taken([4, 64, 14, 14], [128, 64, 4, 4], s2.clone()), "the GAN's layer");
    assert!(!taken([1, 64, 14, 14], [128, 64, 4, 4], s2.clone()), "one image");
    assert!(
        !taken([4, 64, 14, 14], [64, 64, 4, 4], s2.clone()),
        "64 output channels: gemm's small products"
    );
    assert!(!taken([4, 64, 18, 18], [128, 64, 4, 4], s2.clone()), "81 positions");
    assert!(
        !taken([4, 64, 2, 2], [128, 64, 4, 4], s2.clone()),
        "one position: a matrix-vector product"
    );
    assert!(!taken([4, 8, 14, 14], [96, 8, 4, 4], s2.clone()), "a small weight");
    assert!(
        !taken([4, 256, 14, 14], [128, 256, 1, 4], s2.clone()),
        "a one-row kernel"
    );
    let grouped = ConvOptions::new([2, 2], [1, 1], [1, 1], 2);
    assert!(!taken([4, 64, 14, 14], [128, 32, 4, 4], grouped), "groups");
    let asymmetric = ConvOptions {
        padding: [(1, 2), (0, 1)],
        ..s2.clone()
    };
    assert!(
        !taken([4, 64, 14, 14], [128, 64, 4, 4], asymmetric),
        "asymmetric padding"
    );
    let x64 = FlexTensor::from_data(TensorData::new(vec![0.5f64; 4 * 64 * 14 * 14], [4, 64, 14, 14]));
    let w = flex(&rng.values(128 * 64 * 16, None), [128, 64, 4, 4]);
    assert!(conv::conv2d_f32_batched_images(&x64, &w, None, &s2).is_none(), "f64");
}

/// Through burn's autodiff (the vendored `ModuleOps` dispatch), on the generator's 128 -> 64 transposed layer (7x7
/// -> 14x14, stride 2, padding 1): its input gradient (the strided convolution of the output gradient) and its weight
/// gradient (burn-backend's default: a conv2d of the output gradient read as [C_out images, N channels] with x read as
/// a [C_in, N, 7, 7] kernel, dilation 2), both of which the batched forward now takes, are Flex's per-image
/// products' to the bit.
#[test]
fn autodiff_through_the_generators_layer_matches_per_image_products() {
    let (n, c_in, c_out, side, k, out) = (8, 128, 64, 7, 4, 14);
    let mut rng = Lcg(59);
    let x = rng.values(n * c_in * side * side, None);
    let w = rng.values(c_in * c_out * k * k, None);
    let r = rng.values(n * c_out * out * out, None);
    let device = Device::flex().autodiff();
    let xt = Tensor::<4>::from_data(TensorData::new(x.clone(), [n, c_in, side, side]), &device).require_grad();
    let wt = Tensor::<4>::from_data(TensorData::new(w.clone(), [c_in, c_out, k, k]), &device).require_grad();
    let rt = Tensor::<4>::from_data(TensorData::new(r.clone(), [n, c_out, out, out]), &device);
    let o = ConvTransposeOptions::new([2, 2], [1, 1], [0, 0], [1, 1], 1);
    let grads = (conv_transpose2d(xt.clone(), wt.clone(), None, o) * rt)
        .sum()
        .backward();

    let gx = gradient(&xt, &grads);
    let strided = ConvOptions::new([2, 2], [1, 1], [1, 1], 1);
    let want_x = per_image_forward(&r, [n, c_out, out, out], &flex(&w, [c_in, c_out, k, k]), None, &strided);
    assert_eq!(differing_bits(&gx, &want_x), 0, "input gradient");

    let gw = gradient(&wt, &grads);
    // [B, A, HW] -> [A, B, HW], given [A, B, HW]: output pair j = (j / B, j % B) reads input pair (j % B, j / B).
    let swap = |v: &[f32], [a, b, hw]: [usize; 3]| -> Vec<f32> {
        (0..a * b * hw)
            .map(|i| v[((i / hw) % b * a + i / hw / b) * hw + i % hw])
            .collect()
    };
    let r_swapped = swap(&r, [c_out, n, out * out]);
    let x_swapped = flex(&swap(&x, [c_in, n, side * side]), [c_in, n, side, side]);
    let dilated = ConvOptions::new([1, 1], [1, 1], [2, 2], 1);
    let per_channel = per_image_forward(&r_swapped, [c_out, n, out, out], &x_swapped, None, &dilated);
    let want_w = swap(&per_channel, [c_in, c_out, k * k]);
    assert_eq!(differing_bits(&gw, &want_w), 0, "weight gradient");
}

/// A transposed case: batch, input channels, output channels, map height and width, kernel side, stride, padding,
/// output padding, dilation.
type Transposed = (usize, usize, usize, [usize; 2], usize, usize, usize, usize, usize);

/// The batched transposed convolution (burn-flex change 17) against Flex's own path one image at a time (a batch of
/// one is never batched), bit for bit: the generator's 128 -> 64 layer (which is also the discriminator's 64 -> 128
/// layer's input gradient), other maps it doubles (change 20's one-pass col2im rows, one of them one position
/// wide), batches that leave a partial product of images, stride 1, output padding, dilation, a non-square map and
/// one position per image.
#[test]
fn batched_transposed_convolution_is_bit_identical_to_per_image_calls() {
    let cases: [Transposed; 9] = [
        (64, 128, 64, [7, 7], 4, 2, 1, 0, 1),
        // Doubling maps of other sizes, one of them one position wide (change 20's col2im rows).
        (5, 32, 20, [3, 5], 4, 2, 1, 0, 1),
        (4, 16, 8, [2, 1], 4, 2, 1, 0, 1),
        (3, 128, 64, [7, 7], 4, 2, 1, 0, 1),
        (17, 96, 40, [8, 8], 3, 1, 1, 0, 1),
        (9, 64, 33, [5, 7], 4, 2, 1, 1, 1),
        (4, 32, 24, [6, 6], 3, 2, 0, 1, 2),
        (10, 48, 16, [1, 1], 4, 1, 0, 0, 1),
        (2, 16, 8, [8, 8], 2, 2, 0, 0, 1),
    ];
    let mut rng = Lcg(61);
    for (n, c_in, c_out, [h, w], k, stride, padding, padding_out, dilation) in cases {
        let xs = [n, c_in, h, w];
        let x = rng.values(xs.iter().product(), None);
        let weight = flex(&rng.values(c_in * c_out * k * k, None), [c_in, c_out, k, k]);
        let b = FlexTensor::from_data(TensorData::new(rng.values(c_out, None), [c_out]));
        let o = ConvTransposeOptions::new([stride; 2], [padding; 2], [padding_out; 2], [dilation; 2], 1);
        for bias in [None, Some(&b)] {
            let got = conv_transpose::conv_transpose2d_f32_batched(&flex(&x, xs), &weight, bias, &o)
                .unwrap_or_else(|| panic!("taken: {xs:?} -> {c_out}"));
            let image = c_in * h * w;
            let want: Vec<f32> = x
                .chunks(image)
                .flat_map(|img| {
                    floats(conv_transpose::conv_transpose2d_f32(
                        flex(img, [1, c_in, h, w]),
                        weight.clone(),
                        bias.cloned(),
                        &o,
                    ))
                })
                .collect();
            assert_same_bits(got, &want, &format!("{xs:?} -> {c_out}, bias {}", bias.is_some()));
        }
    }
}

/// What the batched transposed convolution leaves to Flex: one image, maps of more than 64 positions (the
/// generator's 14x14 -> 28x28 layer), groups, f64.
#[test]
fn batched_transposed_convolution_leaves_other_shapes_to_flex() {
    let mut rng = Lcg(67);
    let mut taken = |xs: [usize; 4], ws: [usize; 4], o: &ConvTransposeOptions<2>| {
        let x = flex(&rng.values(xs.iter().product(), None), xs);
        let w = flex(&rng.values(ws.iter().product(), None), ws);
        conv_transpose::conv_transpose2d_f32_batched(&x, &w, None, o).is_some()
    };
    let s2 = ConvTransposeOptions::new([2, 2], [1, 1], [0, 0], [1, 1], 1);
    assert!(taken([4, 128, 7, 7], [128, 64, 4, 4], &s2), "the GAN's layer");
    assert!(!taken([1, 128, 7, 7], [128, 64, 4, 4], &s2), "one image");
    assert!(!taken([4, 64, 14, 14], [64, 1, 4, 4], &s2), "196 positions");
    let grouped = ConvTransposeOptions::new([2, 2], [1, 1], [0, 0], [1, 1], 2);
    assert!(!taken([4, 128, 7, 7], [128, 32, 4, 4], &grouped), "groups");
    let x64 = FlexTensor::from_data(TensorData::new(vec![0.5f64; 4 * 128 * 49], [4, 128, 7, 7]));
    let w = flex(&rng.values(128 * 64 * 16, None), [128, 64, 4, 4]);
    assert!(
        conv_transpose::conv_transpose2d_f32_batched(&x64, &w, None, &s2).is_none(),
        "f64"
    );
}

/// The output (and output-gradient) shape of a transposed convolution of an `xs` input by a `ws` weight.
fn output_grad_shape(xs: [usize; 4], ws: [usize; 4], o: &ConvTransposeOptions<2>) -> [usize; 4] {
    let side = |axis: usize| {
        calculate_conv_transpose_output_size(
            ws[2 + axis],
            o.stride[axis],
            o.padding[axis],
            o.padding_out[axis],
            o.dilation[axis],
            xs[2 + axis],
        )
    };
    [xs[0], ws[1] * o.groups, side(0), side(1)]
}

/// The transposed convolution's weight gradient read in place (burn-flex change 19) against burn-backend's default
/// (axis swaps, then Flex's conv2d, which takes the batched forward on these shapes), bit for bit: the generator's
/// 128 -> 64 layer at batch 64, a batch of 8, several chunks of output channels, dilation, stride 1 on a non-square
/// map.
#[test]
fn transposed_weight_gradient_is_bit_identical_to_the_default() {
    let cases: [Transposed; 5] = [
        (64, 128, 64, [7, 7], 4, 2, 1, 0, 1),
        (8, 128, 64, [8, 8], 4, 2, 1, 0, 1),
        (64, 128, 100, [7, 7], 4, 2, 1, 0, 1),
        (16, 96, 80, [7, 7], 3, 2, 1, 0, 2),
        (32, 80, 24, [5, 9], 3, 1, 1, 0, 1),
    ];
    let mut rng = Lcg(71);
    for (n, c_in, c_out, [h, w], k, stride, padding, padding_out, dilation) in cases {
        let o = ConvTransposeOptions::new([stride; 2], [padding; 2], [padding_out; 2], [dilation; 2], 1);
        let xs = [n, c_in, h, w];
        let ws = [c_in, c_out, k, k];
        let gs = output_grad_shape(xs, ws, &o);
        let x = flex(&rng.values(xs.iter().product(), None), xs);
        let weight = flex(&rng.values(ws.iter().product(), None), ws);
        let gy = flex(&rng.values(gs.iter().product(), None), gs);
        let got = conv::conv_transpose2d_weight_backward_f32_batched(&x, &ws.into(), &gy, &o)
            .unwrap_or_else(|| panic!("taken: {xs:?} -> {c_out}"));
        let want = floats(conv_backward_generic::conv_transpose2d_weight_backward::<Flex>(
            x, weight, gy, o,
        ));
        assert_eq!(got.layout().shape().to_vec(), ws.to_vec(), "{xs:?} -> {c_out}");
        assert_same_bits(got, &want, &format!("{xs:?} -> {c_out}"));
    }
}

/// What that weight gradient leaves to the default: the generator's last layer (one output channel), output
/// padding, groups, a product too small for the batched forward, f64.
#[test]
fn transposed_weight_gradient_leaves_other_shapes_to_the_default() {
    let mut rng = Lcg(73);
    let mut taken = |xs: [usize; 4], ws: [usize; 4], o: &ConvTransposeOptions<2>| {
        let gs = output_grad_shape(xs, ws, o);
        let x = flex(&rng.values(xs.iter().product(), None), xs);
        let gy = flex(&rng.values(gs.iter().product(), None), gs);
        conv::conv_transpose2d_weight_backward_f32_batched(&x, &ws.into(), &gy, o).is_some()
    };
    let s2 = ConvTransposeOptions::new([2, 2], [1, 1], [0, 0], [1, 1], 1);
    assert!(taken([64, 128, 7, 7], [128, 64, 4, 4], &s2), "the GAN's layer");
    assert!(!taken([64, 64, 14, 14], [64, 1, 4, 4], &s2), "one output channel");
    let padded = ConvTransposeOptions::new([2, 2], [1, 1], [1, 1], [1, 1], 1);
    assert!(!taken([64, 128, 7, 7], [128, 64, 4, 4], &padded), "output padding");
    let grouped = ConvTransposeOptions::new([2, 2], [1, 1], [0, 0], [1, 1], 2);
    assert!(!taken([64, 128, 7, 7], [128, 32, 4, 4], &grouped), "groups");
    assert!(!taken([2, 128, 7, 7], [128, 64, 4, 4], &s2), "a small product");
    let x64 = FlexTensor::from_data(TensorData::new(vec![0.5f64; 64 * 128 * 49], [64, 128, 7, 7]));
    let gy = flex(&rng.values(64 * 64 * 196, None), [64, 64, 14, 14]);
    assert!(
        conv::conv_transpose2d_weight_backward_f32_batched(&x64, &[128, 64, 4, 4].into(), &gy, &s2).is_none(),
        "f64"
    );
}

/// The layout transposes (8x8 blocks in AVX registers where the CPU has AVX) move every element where the
/// one-at-a-time transpose puts it, bit for bit, on matrices with and without whole blocks and on bands of them.
#[test]
fn block_transposes_are_the_one_at_a_time_ones() {
    assert_eq!(transpose::transposes_match_scalar(), Ok(()));
}
