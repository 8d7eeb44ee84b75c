//! The conv2d kernels of the vendored burn-flex (vendor/burn-flex, issue 19) against the generic paths they replace:
//! the direct weight gradient against burn-backend's default (a conv2d over swapped dimensions), the batched input
//! gradient for small maps with large weights against burn-backend's default (a conv_transpose2d), both kept in
//! `burn_flex::ops::conv_backward_generic`, the batched forward for the same maps against Flex's own conv2d, and that
//! forward (whose data moves synth rewrote) against a plain-loop direct convolution. Each pair sums in different
//! orders, so they agree to float rounding, not bit for bit: the tests allow 1e-4 of the result's largest magnitude.
//! The input gradient of stride-1 convolutions on large maps, computed as a forward convolution with the flipped
//! weight, is checked against the same default, and that default (Flex's conv-transpose, whose col2im synth rewrote
//! as row walks) against a plain-loop input gradient. They check the kernels directly and through burn's autodiff (with
//! the forward values), on odd sizes, padding 0/1/2, stride 1/2/3, dilation 2, and the cases that must fall back
//! (grouped convolutions; for the batched kernels also small weights, asymmetric padding and maps over 16 positions;
//! for the input gradient as a forward, strides over 1, padding beyond the kernel's reach and maps under 4,096
//! positions), and one image large enough for its NHWC copy to be made in bands over rayon.

use burn::prelude::*;
use burn::tensor::TensorData;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn_flex::ops::{conv, conv_backward_generic};
use burn_flex::{Flex, FlexTensor};

mod common;
use common::Lcg;

#[derive(Clone, Copy, Debug)]
struct Case {
    batch: usize,
    c_in: usize,
    c_out: usize,
    hw: [usize; 2],
    kernel: [usize; 2],
    stride: usize,
    padding: usize,
    dilation: usize,
    groups: usize,
}

impl Case {
    fn options(&self) -> ConvOptions<2> {
        ConvOptions::new([self.stride; 2], [self.padding; 2], [self.dilation; 2], self.groups)
    }

    fn x_shape(&self) -> [usize; 4] {
        [self.batch, self.c_in, self.hw[0], self.hw[1]]
    }

    fn w_shape(&self) -> [usize; 4] {
        [self.c_out, self.c_in / self.groups, self.kernel[0], self.kernel[1]]
    }

    fn out_shape(&self) -> [usize; 4] {
        let size = |i: usize, k: usize| (i + 2 * self.padding - self.dilation * (k - 1) - 1) / self.stride + 1;
        [
            self.batch,
            self.c_out,
            size(self.hw[0], self.kernel[0]),
            size(self.hw[1], self.kernel[1]),
        ]
    }
}

fn cases() -> Vec<Case> {
    let c = |batch, c_in, c_out, hw, kernel, stride, padding| Case {
        batch,
        c_in,
        c_out,
        hw,
        kernel,
        stride,
        padding,
        dilation: 1,
        groups: 1,
    };
    vec![
        c(2, 3, 4, [7, 9], [3, 3], 1, 1),
        c(2, 3, 4, [7, 9], [3, 3], 1, 0),
        c(3, 5, 2, [7, 9], [3, 3], 2, 1),
        c(3, 5, 2, [8, 8], [3, 3], 2, 0),
        c(1, 1, 32, [28, 28], [3, 3], 1, 1),
        c(4, 16, 8, [5, 6], [2, 2], 2, 0),
        c(2, 4, 6, [9, 7], [4, 3], 3, 2),
        c(1, 8, 8, [4, 4], [3, 3], 1, 1),
        c(70, 4, 8, [16, 16], [3, 3], 1, 1),
        c(2, 64, 32, [20, 20], [3, 3], 1, 1),
        // Over the kernel's 4 Mi-element unfolding bound: chunks of 2, 2 and 1 images.
        c(5, 128, 16, [40, 40], [3, 3], 1, 1),
        c(2, 3, 4, [6, 6], [1, 1], 1, 0),
        // From 8 input channels up the kernel unfolds an NHWC copy; below, plane by plane.
        c(2, 16, 8, [9, 7], [3, 3], 2, 1),
        c(3, 8, 5, [6, 9], [2, 3], 1, 0),
        Case {
            dilation: 2,
            ..c(2, 12, 4, [9, 11], [3, 3], 2, 1)
        },
        Case {
            dilation: 2,
            ..c(2, 3, 4, [9, 11], [3, 3], 1, 2)
        },
        Case {
            groups: 2,
            ..c(2, 4, 6, [7, 9], [3, 3], 1, 1)
        },
        // VGG16's block 5 at 64 px input: the batched input gradient; 70 images are over its unfolding bound (two
        // chunks of 35).
        c(70, 512, 256, [4, 4], [3, 3], 1, 1),
        c(3, 256, 512, [7, 7], [3, 3], 2, 1),
        c(2, 512, 256, [5, 7], [3, 3], 1, 0),
        c(2, 384, 256, [8, 9], [4, 3], 3, 2),
        Case {
            dilation: 2,
            ..c(2, 512, 256, [4, 4], [3, 3], 1, 2)
        },
        // 25 output positions: over the batched input gradient's bound.
        c(2, 512, 256, [5, 5], [3, 3], 1, 1),
        // From 4,096 output positions a stride-1 input gradient runs as a forward convolution: padding 1 and 0 (the
        // flipped kernel's padding 1 and 2), dilation 2, a 4x3 kernel; stride 2, groups 2 and a 1x1 kernel with
        // padding (beyond its reach) stay on the generic path.
        c(2, 8, 16, [64, 64], [3, 3], 1, 1),
        c(1, 3, 5, [70, 66], [3, 3], 1, 0),
        c(1, 6, 4, [65, 67], [4, 3], 1, 2),
        Case {
            dilation: 2,
            ..c(1, 4, 6, [66, 66], [3, 3], 1, 2)
        },
        c(1, 4, 6, [130, 130], [3, 3], 2, 1),
        Case {
            groups: 2,
            ..c(1, 4, 6, [64, 64], [3, 3], 1, 1)
        },
        c(1, 2, 3, [64, 64], [1, 1], 1, 1),
        // One image of at least 2^18 elements: its NHWC copy is made in bands of positions over rayon (the last band
        // short: 3,843 positions).
        c(1, 70, 8, [61, 63], [3, 3], 1, 1),
    ]
}

/// Whether the batched input gradient takes a case (the rest run burn-backend's default).
fn batched(case: &Case) -> bool {
    let out = case.out_shape();
    let weight: usize = case.w_shape().iter().product();
    case.groups == 1
        && weight >= conv::BATCHED_X_GRAD_MIN_WEIGHT
        && out[2] * out[3] <= conv::BATCHED_X_GRAD_MAX_POSITIONS
}

fn flex(data: &[f32], shape: [usize; 4]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(data.to_vec(), shape))
}

fn flex1(data: &[f32]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(data.to_vec(), [data.len()]))
}

fn floats(data: TensorData) -> Vec<f32> {
    data.try_into_vec::<f32>().expect("f32 data")
}

/// Agreement to 1e-4 of the larger side's largest magnitude: the two paths sum the same products in different orders.
fn assert_close(what: &str, case: &Case, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length, {case:?}");
    let scale = want.iter().chain(got).fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-4 * scale,
            "{what}: element {i} is {g}, generic {w} (scale {scale}), {case:?}"
        );
    }
}

/// A case's input, weight and output gradient drawn from `rng`, and the generic path's weight gradient for them.
fn draw_with_generic_weight_gradient(rng: &mut Lcg, case: &Case) -> [Vec<f32>; 4] {
    let x = rng.values(case.x_shape().iter().product(), None);
    let w = rng.values(case.w_shape().iter().product(), None);
    let gy = rng.values(case.out_shape().iter().product(), None);
    let want = floats(
        conv_backward_generic::conv2d_weight_backward::<Flex>(
            flex(&x, case.x_shape()),
            flex(&w, case.w_shape()),
            flex(&gy, case.out_shape()),
            case.options(),
        )
        .into_data(),
    );
    [x, w, gy, want]
}

#[test]
fn direct_weight_gradient_matches_the_generic_path() {
    let mut rng = Lcg(19);
    for case in cases() {
        let [x, w, gy, want] = draw_with_generic_weight_gradient(&mut rng, &case);
        let fast = conv::conv2d_weight_backward_f32_fast(
            &flex(&x, case.x_shape()),
            flex(&w, case.w_shape()).layout().shape(),
            &flex(&gy, case.out_shape()),
            &case.options(),
        );
        assert_eq!(fast.is_some(), case.groups == 1, "fast path taken: {case:?}");
        if let Some(fast) = fast {
            assert_eq!(fast.layout().shape().to_vec(), case.w_shape().to_vec(), "{case:?}");
            assert_close("weight gradient", &case, &floats(fast.into_data()), &want);
        }
    }
}

#[test]
fn autodiff_gradients_match_the_generic_path() {
    let mut rng = Lcg(7);
    let device = Device::flex().autodiff();
    for case in cases() {
        let [x, w, r, want_w] = draw_with_generic_weight_gradient(&mut rng, &case);
        let xt = Tensor::<4>::from_data(TensorData::new(x.clone(), case.x_shape()), &device).require_grad();
        let wt = Tensor::<4>::from_data(TensorData::new(w.clone(), case.w_shape()), &device).require_grad();
        let y = conv2d(xt.clone(), wt.clone(), None, case.options());
        assert_eq!(y.dims(), case.out_shape(), "{case:?}");
        let rt = Tensor::<4>::from_data(TensorData::new(r.clone(), case.out_shape()), &device);
        let y_values = y.clone().inner();
        let grads = (y * rt).sum().backward();
        let gw = wt.grad(&grads).expect("weight gradient");
        assert_close("autodiff weight gradient", &case, &floats(gw.into_data()), &want_w);
        let want_y = generic_forward(&case, &x, &w);
        assert_close("autodiff forward", &case, &floats(y_values.into_data()), &want_y);
        let gx = xt.grad(&grads).expect("input gradient");
        let want_x = generic_input_gradient(&case, &x, &w, &r);
        assert_close("autodiff input gradient", &case, &floats(gx.into_data()), &want_x);
    }
}

/// Flex's own conv2d (one product per image) for a case, without bias.
fn generic_forward(case: &Case, x: &[f32], w: &[f32]) -> Vec<f32> {
    floats(conv::conv2d_f32(flex(x, case.x_shape()), flex(w, case.w_shape()), None, &case.options()).into_data())
}

/// burn-backend's default input gradient (a conv_transpose2d) for a case.
fn generic_input_gradient(case: &Case, x: &[f32], w: &[f32], gy: &[f32]) -> Vec<f32> {
    floats(
        conv_backward_generic::conv2d_x_backward::<Flex>(
            flex(x, case.x_shape()),
            flex(w, case.w_shape()),
            flex(gy, case.out_shape()),
            case.options(),
        )
        .into_data(),
    )
}

/// Whether the input gradient runs as a forward convolution: stride 1, groups 1, padding within the kernel's reach,
/// at least 4,096 output positions.
fn x_grad_as_forward(case: &Case) -> bool {
    let out = case.out_shape();
    let reach = case.kernel.map(|k| case.dilation * (k - 1));
    case.stride == 1
        && case.groups == 1
        && reach.iter().all(|&r| case.padding <= r)
        && out[2] * out[3] >= conv::X_GRAD_AS_FORWARD_MIN_POSITIONS
}

#[test]
fn input_gradient_as_forward_matches_the_generic_path() {
    let mut rng = Lcg(29);
    let mut taken = 0;
    for case in cases() {
        let x = rng.values(case.x_shape().iter().product(), None);
        let w = rng.values(case.w_shape().iter().product(), None);
        let gy = rng.values(case.out_shape().iter().product(), None);
        let gx = conv::conv2d_x_backward_f32_as_forward(
            flex(&x, case.x_shape()).layout().shape(),
            &flex(&w, case.w_shape()),
            &flex(&gy, case.out_shape()),
            &case.options(),
        );
        assert_eq!(
            gx.is_some(),
            x_grad_as_forward(&case),
            "input gradient as a forward taken: {case:?}"
        );
        if let Some(gx) = gx {
            assert_eq!(gx.layout().shape().to_vec(), case.x_shape().to_vec(), "{case:?}");
            let want = generic_input_gradient(&case, &x, &w, &gy);
            assert_close("input gradient as a forward", &case, &floats(gx.into_data()), &want);
            taken += 1;
        }
    }
    assert_eq!(taken, 4, "the four stride-1 cases on maps of at least 4,096 positions");
}

#[test]
fn batched_input_gradient_matches_the_generic_path() {
    let mut rng = Lcg(23);
    let mut taken = 0;
    for case in cases() {
        let x = rng.values(case.x_shape().iter().product(), None);
        let w = rng.values(case.w_shape().iter().product(), None);
        let gy = rng.values(case.out_shape().iter().product(), None);
        let want = generic_input_gradient(&case, &x, &w, &gy);
        let gx = conv::conv2d_x_backward_f32_batched(
            flex(&x, case.x_shape()).layout().shape(),
            &flex(&w, case.w_shape()),
            &flex(&gy, case.out_shape()),
            &case.options(),
        );
        assert_eq!(gx.is_some(), batched(&case), "batched input gradient taken: {case:?}");
        if let Some(gx) = gx {
            assert_eq!(gx.layout().shape().to_vec(), case.x_shape().to_vec(), "{case:?}");
            assert_close("input gradient", &case, &floats(gx.into_data()), &want);
            taken += 1;
        }
    }
    assert_eq!(taken, 5, "the five large-weight small-map cases");
}

/// Visits every term of a convolution in plain loops (NCHW, with groups), in the order of the direct sum: `f(x_index,
/// w_index, y_index)` for each input element, weight and output position that meet inside the padded input.
fn for_each_term(case: &Case, mut f: impl FnMut(usize, usize, usize)) {
    let [n, c_in, h, wd] = case.x_shape();
    let [_, c_out, oh, ow] = case.out_shape();
    let [_, cpg, kh, kw] = case.w_shape();
    let out_per_group = c_out / case.groups;
    for b in 0..n {
        for co in 0..c_out {
            let g = co / out_per_group;
            for oy in 0..oh {
                for ox in 0..ow {
                    let y_index = ((b * c_out + co) * oh + oy) * ow + ox;
                    for cj in 0..cpg {
                        let ci = g * cpg + cj;
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy = (oy * case.stride + ky * case.dilation) as isize - case.padding as isize;
                                let ix = (ox * case.stride + kx * case.dilation) as isize - case.padding as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                    continue;
                                }
                                let x_index = ((b * c_in + ci) * h + iy as usize) * wd + ix as usize;
                                f(x_index, ((co * cpg + cj) * kh + ky) * kw + kx, y_index);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A direct convolution with bias, the reference for Flex's own im2col forward.
fn reference_forward(case: &Case, x: &[f32], w: &[f32], bias: &[f32]) -> Vec<f32> {
    let [n, c_out, oh, ow] = case.out_shape();
    let mut y: Vec<f32> = (0..n * c_out * oh * ow)
        .map(|i| bias[(i / (oh * ow)) % c_out])
        .collect();
    for_each_term(case, |xi, wi, yi| y[yi] += x[xi] * w[wi]);
    y
}

/// The input gradient of a convolution: every output gradient flows back to the input positions its window read.
/// The reference for Flex's conv-transpose, whose col2im synth rewrote as row walks.
fn reference_input_gradient(case: &Case, w: &[f32], gy: &[f32]) -> Vec<f32> {
    let mut gx = vec![0.0f32; case.x_shape().iter().product()];
    for_each_term(case, |xi, wi, yi| gx[xi] += gy[yi] * w[wi]);
    gx
}

/// burn-backend's default input gradient, Flex's conv-transpose with its col2im (stride 1 a contiguous row walk,
/// larger strides a strided one), against the plain-loop reference on every case.
#[test]
fn generic_input_gradient_matches_a_direct_computation() {
    let mut rng = Lcg(43);
    for case in cases() {
        let x = rng.values(case.x_shape().iter().product(), None);
        let w = rng.values(case.w_shape().iter().product(), None);
        let gy = rng.values(case.out_shape().iter().product(), None);
        assert_close(
            "input gradient",
            &case,
            &generic_input_gradient(&case, &x, &w, &gy),
            &reference_input_gradient(&case, &w, &gy),
        );
    }
}

/// Flex's own forward (whose im2col, NHWC copy and output scatter synth rewrote as plain data moves) against the
/// direct reference, with bias, on every case.
#[test]
fn flex_forward_matches_a_direct_convolution() {
    let mut rng = Lcg(41);
    for case in cases() {
        let x = rng.values(case.x_shape().iter().product(), None);
        let w = rng.values(case.w_shape().iter().product(), None);
        let bias = rng.values(case.c_out, None);
        let y = conv::conv2d_f32(
            flex(&x, case.x_shape()),
            flex(&w, case.w_shape()),
            Some(flex1(&bias)),
            &case.options(),
        );
        assert_eq!(y.layout().shape().to_vec(), case.out_shape().to_vec(), "{case:?}");
        assert_close(
            "forward",
            &case,
            &floats(y.into_data()),
            &reference_forward(&case, &x, &w, &bias),
        );
    }
}

#[test]
fn batched_forward_matches_flex_forward() {
    let mut rng = Lcg(31);
    let mut taken = 0;
    for case in cases() {
        let x = flex(&rng.values(case.x_shape().iter().product(), None), case.x_shape());
        let w = flex(&rng.values(case.w_shape().iter().product(), None), case.w_shape());
        let bias = flex1(&rng.values(case.c_out, None));
        let want = conv::conv2d_f32(x.clone(), w.clone(), Some(bias.clone()), &case.options());
        let y = conv::conv2d_f32_batched(&x, &w, Some(&bias), &case.options());
        assert_eq!(y.is_some(), batched(&case), "batched forward taken: {case:?}");
        if let Some(y) = y {
            assert_eq!(y.layout().shape().to_vec(), case.out_shape().to_vec(), "{case:?}");
            assert_close("forward", &case, &floats(y.into_data()), &floats(want.into_data()));
            let no_bias = conv::conv2d_f32_batched(&x, &w, None, &case.options()).expect("same geometry");
            let want = conv::conv2d_f32(x.clone(), w.clone(), None, &case.options());
            assert_close(
                "forward without bias",
                &case,
                &floats(no_bias.into_data()),
                &floats(want.into_data()),
            );
            taken += 1;
        }
    }
    assert_eq!(taken, 5, "the five large-weight small-map cases");
}

/// A bias of the wrong length, another dtype or asymmetric padding is not the batched forward's to take.
#[test]
fn batched_forward_leaves_odd_inputs_to_flex() {
    let case = cases().into_iter().rfind(batched).expect("a batched case");
    let x = flex(&Lcg(3).values(case.x_shape().iter().product(), None), case.x_shape());
    let w = flex(&Lcg(4).values(case.w_shape().iter().product(), None), case.w_shape());
    let short_bias = flex1(&Lcg(5).values(case.c_out - 1, None));
    assert!(conv::conv2d_f32_batched(&x, &w, Some(&short_bias), &case.options()).is_none());
    let asymmetric = ConvOptions {
        padding: [(1, 2), (0, 1)],
        ..case.options()
    };
    assert!(conv::conv2d_f32_batched(&x, &w, None, &asymmetric).is_none());
    let x64 = FlexTensor::from_data(TensorData::new(
        vec![0.5f64; case.x_shape().iter().product()],
        case.x_shape(),
    ));
    assert!(conv::conv2d_f32_batched(&x64, &w, None, &case.options()).is_none());
}

/// Asymmetric padding is not the batched input gradient's to take.
#[test]
fn batched_input_gradient_leaves_asymmetric_padding_to_the_generic_path() {
    let case = cases().into_iter().rfind(batched).expect("a batched case");
    let options = ConvOptions {
        padding: [(1, 2), (0, 1)],
        ..case.options()
    };
    let x = flex(&Lcg(3).values(case.x_shape().iter().product(), None), case.x_shape());
    let w = flex(&Lcg(4).values(case.w_shape().iter().product(), None), case.w_shape());
    let gy = flex(&Lcg(5).values(2 * 256 * 3, None), [2, 256, 3, 1]);
    assert!(conv::conv2d_x_backward_f32_batched(x.layout().shape(), &w, &gy, &options).is_none());
}

/// Asymmetric padding is not the input gradient as a forward's to take either.
#[test]
fn input_gradient_as_forward_leaves_asymmetric_padding_to_the_generic_path() {
    let case = cases()
        .into_iter()
        .find(x_grad_as_forward)
        .expect("a case taken as a forward");
    let options = ConvOptions {
        padding: [(1, 2), (0, 1)],
        ..case.options()
    };
    let [n, c_out, oh, ow] = case.out_shape();
    let x = flex(&Lcg(3).values(case.x_shape().iter().product(), None), case.x_shape());
    let w = flex(&Lcg(4).values(case.w_shape().iter().product(), None), case.w_shape());
    let gy = flex(&Lcg(5).values(n * c_out * (oh + 1) * ow, None), [n, c_out, oh + 1, ow]);
    assert!(conv::conv2d_x_backward_f32_as_forward(x.layout().shape(), &w, &gy, &options).is_none());
}
