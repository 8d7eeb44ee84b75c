//! The vendored burn-flex's Winograd F(4x4, 3x3) convolution (vendor/burn-flex, change 11, issue 19) against the
//! paths it replaces: its forward against Flex's im2col forward, its input gradient against burn-backend's default (a
//! conv_transpose2d), its weight gradient against burn-backend's default (a conv2d over swapped dimensions), directly
//! and through burn's autodiff. Winograd sums other products in another order (its transforms scale values by up to
//! 8 before the inverse brings them back), so the paths agree to float rounding: the tests allow 1e-4 of the result's
//! largest magnitude, and report the largest error seen. The shapes: VGG16's block 5 at 64 px (one tile per image),
//! maps whose 4x4 tile grid overhangs them (5x7, 9x4, 1x1; at least 64 tiles in all), channels that are no multiple of
//! the 16 kernels, tiles or sums its transforms take side by side (change 15), and a batch over the kernel's chunk bound, whose chunks
//! split an image's tiles; and the shapes it must leave to the other paths. Its kept transforms (change 16) serve
//! only the weights they came from, and its kept input tiles (change 23) only the input they came from.

use burn::prelude::*;
use burn::tensor::TensorData;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn_flex::ops::{conv, conv_backward_generic, winograd};
use burn_flex::{Flex, FlexTensor};

mod common;
use common::Lcg;

/// `[batch, c_in, c_out, height, width]` of a 3x3, stride-1, padding-1 convolution the Winograd path takes.
const TAKEN: [[usize; 5]; 8] = [
    [64, 512, 512, 4, 4],
    // One chunk of 70 tiles whose weight gradient is summed and transformed back in two blocks of input channels
    // (change 18: 128 + 8).
    [70, 136, 200, 4, 4],
    // Channels that are no multiple of the 16 kernels or sums the transforms take side by side.
    [16, 70, 75, 6, 6],
    [17, 64, 96, 5, 7],
    [22, 96, 64, 9, 4],
    [64, 64, 64, 1, 1],
    [1, 64, 64, 64, 64],
    // 2 x 225 tiles of 256 channels: chunks of 227 tiles (2 Mi elements / (36 x 256)), the first ending inside the
    // second image.
    [2, 256, 64, 60, 60],
];

fn padding_one() -> ConvOptions<2> {
    ConvOptions::new([1, 1], [1, 1], [1, 1], 1)
}

fn flex(data: &[f32], shape: [usize; 4]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(data.to_vec(), shape))
}

fn floats(t: FlexTensor) -> Vec<f32> {
    t.into_data().try_into_vec::<f32>().expect("f32 data")
}

/// The largest difference over the larger side's largest magnitude; fails above 1e-4.
fn assert_close(what: &str, shape: [usize; 5], got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len(), "{what}: length, {shape:?}");
    let scale = want.iter().chain(got).fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
    let worst = got.iter().zip(want).fold(0f32, |m, (g, w)| m.max((g - w).abs())) / scale;
    assert!(worst <= 1e-4, "{what}: relative error {worst:e}, {shape:?}");
    worst
}

/// The input, weight and output shapes of a `[batch, c_in, c_out, height, width]` convolution with 3x3 kernels.
fn shapes([n, c_in, c_out, h, w]: [usize; 5]) -> [[usize; 4]; 3] {
    [[n, c_in, h, w], [c_out, c_in, 3, 3], [n, c_out, h, w]]
}

/// An input, weight, bias and output gradient for one shape.
fn draw(rng: &mut Lcg, [n, c_in, c_out, h, w]: [usize; 5]) -> [Vec<f32>; 4] {
    [
        rng.values(n * c_in * h * w, None),
        rng.values(c_out * c_in * 9, None),
        rng.values(c_out, None),
        rng.values(n * c_out * h * w, None),
    ]
}

#[test]
fn winograd_matches_im2col_and_the_generic_gradients() {
    let mut rng = Lcg(47);
    let mut worst = 0f32;
    for shape in TAKEN {
        let [xs, ws, ys] = shapes(shape);
        let [x, wt, bias, gy] = draw(&mut rng, shape);
        let (x, wt, gy) = (flex(&x, xs), flex(&wt, ws), flex(&gy, ys));
        let bias = FlexTensor::from_data(TensorData::new(bias, [ws[0]]));

        let y = winograd::conv2d_f32_winograd(&x, &wt, Some(&bias), &padding_one()).expect("taken");
        assert_eq!(y.layout().shape().to_vec(), ys.to_vec());
        let want = conv::conv2d_f32(x.clone(), wt.clone(), Some(bias.clone()), &padding_one());
        worst = worst.max(assert_close("forward", shape, &floats(y), &floats(want)));

        let gx = winograd::conv2d_x_backward_f32_winograd(x.layout().shape(), &wt, &gy, &padding_one()).expect("taken");
        assert_eq!(gx.layout().shape().to_vec(), xs.to_vec());
        let want = conv_backward_generic::conv2d_x_backward::<Flex>(x.clone(), wt.clone(), gy.clone(), padding_one());
        worst = worst.max(assert_close("input gradient", shape, &floats(gx), &floats(want)));

        let gw =
            winograd::conv2d_weight_backward_f32_winograd(&x, wt.layout().shape(), &gy, &padding_one()).expect("taken");
        assert_eq!(gw.layout().shape().to_vec(), ws.to_vec());
        let want = conv_backward_generic::conv2d_weight_backward::<Flex>(x, wt, gy, padding_one());
        worst = worst.max(assert_close("weight gradient", shape, &floats(gw), &floats(want)));
    }
    println!("largest relative error: {worst:e}");
}

/// Change 15 transforms 16 kernels, tiles or sums side by side; each lane must compute exactly the scalar transform
/// (the same operations in the same order), so every convolution is bit for bit what the one-at-a-time transforms
/// gave. The vendored crate's check runs here because synth's `cargo test` does not build burn-flex's own tests.
#[test]
fn side_by_side_transforms_are_the_scalar_ones_bit_for_bit() {
    assert_eq!(winograd::lanes_match_scalars(), Ok(()));
}

/// Change 24 reorders the weight (input channels first, kernels mirrored) before the input gradient's transform, by
/// blocks of 32 input channels: every transformed value must still be the scalar transform of its mirrored kernel,
/// on channel counts inside one block, across a partial last block, and with output channels past a 16-lane group.
#[test]
fn flipped_weight_transform_is_the_mirrored_kernels_bit_for_bit() {
    for (c_out, c_in) in [(16, 5), (70, 37), (33, 96)] {
        assert_eq!(
            winograd::flipped_transform_matches_scalars(c_out, c_in),
            Ok(()),
            "{c_out} x {c_in}"
        );
    }
}

/// Through burn's autodiff (the dispatch in the vendored `ModuleOps`): the forward and both gradients of a
/// block-5-like layer against Flex's forward and burn-backend's default gradients.
#[test]
fn autodiff_takes_winograd_and_matches() {
    let shape = [16, 64, 128, 6, 5];
    let [xs, ws, ys] = shapes(shape);
    let [x, wt, _, r] = draw(&mut Lcg(53), shape);
    let device = Device::flex().autodiff();
    let xt = Tensor::<4>::from_data(TensorData::new(x.clone(), xs), &device).require_grad();
    let wtt = Tensor::<4>::from_data(TensorData::new(wt.clone(), ws), &device).require_grad();
    let y = conv2d(xt.clone(), wtt.clone(), None, padding_one());
    let rt = Tensor::<4>::from_data(TensorData::new(r.clone(), ys), &device);
    let y_values = y.clone().inner().into_data().try_into_vec::<f32>().expect("f32");
    let grads = (y * rt).sum().backward();
    let (fx, fw, fr) = (flex(&x, xs), flex(&wt, ws), flex(&r, ys));
    let want_y = conv::conv2d_f32(fx.clone(), fw.clone(), None, &padding_one());
    assert_close("forward", shape, &y_values, &floats(want_y));
    let gx = xt
        .grad(&grads)
        .expect("input gradient")
        .into_data()
        .try_into_vec::<f32>()
        .expect("f32");
    let want_x = conv_backward_generic::conv2d_x_backward::<Flex>(fx.clone(), fw.clone(), fr.clone(), padding_one());
    assert_close("input gradient", shape, &gx, &floats(want_x));
    let gw = wtt
        .grad(&grads)
        .expect("weight gradient")
        .into_data()
        .try_into_vec::<f32>()
        .expect("f32");
    let want_w = conv_backward_generic::conv2d_weight_backward::<Flex>(fx, fw, fr, padding_one());
    assert_close("weight gradient", shape, &gw, &floats(want_w));
}

/// Change 16 keeps transformed weights for the weights they came from. A kept transform must serve
/// only those bytes: the same weights give the same bits on every call, and weights changed in place after a call,
/// or dropped and replaced by others (which may take the freed memory), give exactly what a fresh copy of their
/// values gives (a storage the cache has never seen), forward and input gradient.
#[test]
fn kept_transforms_serve_only_their_own_weights() {
    let shape = [64, 64, 64, 4, 4];
    let [xs, ws, ys] = shapes(shape);
    let [x, wt, _, gy] = draw(&mut Lcg(61), shape);
    let (x, gy) = (flex(&x, xs), flex(&gy, ys));
    let forward =
        |weight: &FlexTensor| floats(winograd::conv2d_f32_winograd(&x, weight, None, &padding_one()).expect("taken"));
    let backward = |weight: &FlexTensor| {
        floats(winograd::conv2d_x_backward_f32_winograd(&xs.into(), weight, &gy, &padding_one()).expect("taken"))
    };
    let mut weight = flex(&wt, ws);
    let (first, first_gx) = (forward(&weight), backward(&weight));
    assert_eq!(forward(&weight), first, "the same weights, called again");
    assert_eq!(backward(&weight), first_gx, "the same weights, called again");

    // In place: the only strong owner writes to its storage.
    weight.storage_mut::<f32>()[5] += 1.0;
    let changed = weight.clone().into_data().try_into_vec::<f32>().expect("f32");
    let (y, gx) = (forward(&weight), backward(&weight));
    assert_ne!(y, first, "a changed weight must not get the old transform");
    assert_eq!(y, forward(&flex(&changed, ws)));
    assert_eq!(gx, backward(&flex(&changed, ws)));

    // Dropped and replaced, many times over.
    let mut rng = Lcg(67);
    for round in 0..12 {
        drop(weight);
        let values = rng.values(ws.iter().product(), None);
        weight = flex(&values, ws);
        assert_eq!(forward(&weight), forward(&flex(&values, ws)), "round {round}");
        assert_eq!(backward(&weight), backward(&flex(&values, ws)), "round {round}");
    }
}

/// Change 23 keeps a forward's transformed input tiles (where one chunk holds them all) for the weight gradient of the
/// same input. With them the weight gradient must be bit for bit what it is without (a fresh copy of the input, a
/// storage no forward has seen), and an input changed in place after its forward must not get the old tiles.
#[test]
fn kept_tiles_serve_only_their_own_input() {
    let mut rng = Lcg(71);
    // One chunk summed in two blocks of input channels (128 + 8), and a map whose tile grid overhangs it.
    for shape in [[70, 136, 200, 4, 4], [17, 64, 96, 5, 7]] {
        let [xs, ws, ys] = shapes(shape);
        let [x, wt, _, gy] = draw(&mut rng, shape);
        let (wt, gy) = (flex(&wt, ws), flex(&gy, ys));
        let w_shape = wt.layout().shape().clone();
        let weight_grad = |x: &FlexTensor| {
            floats(winograd::conv2d_weight_backward_f32_winograd(x, &w_shape, &gy, &padding_one()).expect("taken"))
        };
        let fresh = weight_grad(&flex(&x, xs));
        let mut input = flex(&x, xs);
        assert!(!winograd::keeps_tiles_of(&input, &w_shape, &padding_one()), "{shape:?}");
        let y = winograd::conv2d_f32_winograd(&input, &wt, None, &padding_one()).expect("taken");
        assert!(winograd::keeps_tiles_of(&input, &w_shape, &padding_one()), "{shape:?}");
        assert_eq!(weight_grad(&input), fresh, "with the forward's tiles, {shape:?}");
        drop(y);

        input.storage_mut::<f32>()[3] += 1.0;
        assert!(!winograd::keeps_tiles_of(&input, &w_shape, &padding_one()), "{shape:?}");
        let changed = floats(input.clone());
        let got = weight_grad(&input);
        assert_ne!(got, fresh, "a changed input must not get the old tiles, {shape:?}");
        assert_eq!(got, weight_grad(&flex(&changed, xs)), "{shape:?}");
    }
}

/// Strides, padding other than 1, dilation, groups, other kernels, few channels, few tiles, asymmetric padding and
/// other dtypes stay on the other paths.
#[test]
fn winograd_leaves_other_convolutions_alone() {
    let x = flex(&Lcg(3).values(4 * 64 * 16 * 16, None), [4, 64, 16, 16]);
    let w = flex(&Lcg(4).values(64 * 64 * 9, None), [64, 64, 3, 3]);
    assert!(winograd::conv2d_f32_winograd(&x, &w, None, &padding_one()).is_some());
    // 3 images of 16x16: 48 tiles.
    let x3 = flex(&Lcg(9).values(3 * 64 * 16 * 16, None), [3, 64, 16, 16]);
    assert!(winograd::conv2d_f32_winograd(&x3, &w, None, &padding_one()).is_none());
    let others = [
        ConvOptions::new([2, 2], [1, 1], [1, 1], 1),
        ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
        ConvOptions::new([1, 1], [2, 2], [1, 1], 1),
        ConvOptions::new([1, 1], [1, 1], [2, 2], 1),
        ConvOptions {
            padding: [(1, 2), (1, 1)],
            ..padding_one()
        },
    ];
    for options in others {
        assert!(
            winograd::conv2d_f32_winograd(&x, &w, None, &options).is_none(),
            "{options:?}"
        );
    }
    let grouped = flex(&Lcg(5).values(64 * 32 * 9, None), [64, 32, 3, 3]);
    let grouped_options = ConvOptions::new([1, 1], [1, 1], [1, 1], 2);
    assert!(winograd::conv2d_f32_winograd(&x, &grouped, None, &grouped_options).is_none());
    let five = flex(&Lcg(6).values(64 * 64 * 25, None), [64, 64, 5, 5]);
    assert!(winograd::conv2d_f32_winograd(&x, &five, None, &padding_one()).is_none());
    let few = flex(&Lcg(7).values(4 * 32 * 16 * 16, None), [4, 32, 16, 16]);
    let few_w = flex(&Lcg(8).values(64 * 32 * 9, None), [64, 32, 3, 3]);
    assert!(winograd::conv2d_f32_winograd(&few, &few_w, None, &padding_one()).is_none());
    assert!(winograd::conv2d_weight_backward_f32_winograd(&few, few_w.layout().shape(), &x, &padding_one()).is_none());
    let x64 = FlexTensor::from_data(TensorData::new(vec![0.5f64; 4 * 64 * 16 * 16], [4, 64, 16, 16]));
    assert!(winograd::conv2d_f32_winograd(&x64, &w, None, &padding_one()).is_none());
    const { assert!(winograd::WINOGRAD_MIN_CHANNELS > 32 && winograd::WINOGRAD_MIN_TILES > 48) };
}
