//! The f32 max-pool fast path of the vendored burn-flex (vendor/burn-flex, issue 19) against the generic kernels it
//! bypasses. burn-autodiff's backward scatters the gradient through the forward's indices, so the fast path must give
//! the generic path's values, indices (flat offsets into the input plane, same tie-breaking, NaN wins) and input
//! gradients exactly, not within a tolerance: these tests compare bit patterns. They check the kernels directly
//! (`burn_flex::ops::pool`) and the dispatch through burn's `Tensor` API, with and without autodiff, including the
//! geometries that must still fall back to the generic path (padding, dilation, ceil mode).

use burn::prelude::*;
use burn::tensor::module::{max_pool2d, max_pool2d_with_indices};
use burn::tensor::ops::MaxPoolOptions;
use burn::tensor::{DType, TensorData};
use burn_flex::FlexTensor;
use burn_flex::ops::pool;

mod common;
use common::Lcg;

/// A pool geometry: input shape, kernel, stride, padding, dilation, ceil mode.
#[derive(Clone, Copy, Debug)]
struct Case {
    shape: [usize; 4],
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
    ceil_mode: bool,
}

impl Case {
    fn new(shape: [usize; 4], kernel: [usize; 2], stride: [usize; 2]) -> Self {
        Self {
            shape,
            kernel,
            stride,
            padding: [0, 0],
            dilation: [1, 1],
            ceil_mode: false,
        }
    }

    fn padding(self, padding: [usize; 2]) -> Self {
        Self { padding, ..self }
    }

    fn dilation(self, dilation: [usize; 2]) -> Self {
        Self { dilation, ..self }
    }

    fn ceil(self) -> Self {
        Self {
            ceil_mode: true,
            ..self
        }
    }

    /// Whether the fast path takes this pool (every window inside the input), as documented in pool.rs.
    fn is_fast(&self) -> bool {
        self.padding == [0, 0] && self.dilation == [1, 1] && !self.ceil_mode
    }

    fn options(&self) -> MaxPoolOptions<2> {
        MaxPoolOptions::new(self.kernel)
            .with_stride(self.stride)
            .with_padding(self.padding)
            .with_dilation(self.dilation)
            .with_ceil_mode(self.ceil_mode)
    }

    fn flex(&self, x: &[f32]) -> FlexTensor {
        FlexTensor::from_data(TensorData::new(x.to_vec(), self.shape))
    }

    /// The generic kernel's values, indices (as i64) and output shape.
    fn generic(&self, x: &[f32]) -> (Vec<f32>, Vec<i64>, Vec<usize>) {
        let (out, idx) = pool::max_pool2d_with_indices_f32(
            self.flex(x),
            self.kernel,
            self.stride,
            self.padding,
            self.dilation,
            self.ceil_mode,
        );
        let shape = out.layout().shape().to_vec();
        (floats(out.into_data()), ints(idx.into_data()), shape)
    }

    /// The generic backward of `grad` (shaped like the pool's output) through `indices`.
    fn generic_backward(&self, x: &[f32], grad: &[f32], indices: &[i64], out_shape: &[usize]) -> Vec<f32> {
        let grad = FlexTensor::from_data(TensorData::new(grad.to_vec(), out_shape.to_vec()));
        let idx = FlexTensor::from_data(TensorData::new(indices.to_vec(), out_shape.to_vec()));
        floats(pool::max_pool2d_backward_f32(self.flex(x), grad, idx).into_data())
    }
}

fn floats(data: TensorData) -> Vec<f32> {
    data.try_into_vec::<f32>().expect("f32 data")
}

fn ints(data: TensorData) -> Vec<i64> {
    data.iter::<i64>().collect()
}

/// Bit-exact comparison (so NaN == NaN, and -0.0 != 0.0), with the case in the message.
fn assert_bits(what: &str, case: &Case, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length, {case:?}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(
            g.to_bits(),
            w.to_bits(),
            "{what}: element {i} is {g}, generic {w}, {case:?}"
        );
    }
}

/// The shapes the project pools (odd sizes that drop the last row/column, batch 1, many channels, a tensor large
/// enough for the parallel path) and geometries the fast path generalises to or must leave to the generic path.
fn cases() -> Vec<Case> {
    let k2 = |shape| Case::new(shape, [2, 2], [2, 2]);
    vec![
        k2([1, 1, 2, 2]),
        k2([2, 3, 7, 9]),
        k2([1, 64, 16, 16]),
        k2([3, 130, 5, 6]),
        k2([5, 2, 28, 28]),
        k2([4, 64, 32, 32]),
        k2([2, 3, 3, 2]),
        Case::new([2, 3, 9, 11], [3, 3], [2, 2]),
        Case::new([2, 4, 7, 9], [2, 2], [1, 1]),
        Case::new([1, 5, 8, 7], [3, 2], [1, 3]),
        Case::new([2, 3, 7, 9], [2, 2], [2, 2]).padding([1, 1]),
        Case::new([2, 3, 7, 9], [3, 3], [1, 1]).padding([1, 1]),
        Case::new([2, 3, 9, 9], [2, 2], [1, 1]).dilation([2, 2]),
        Case::new([2, 3, 7, 9], [2, 2], [2, 2]).ceil(),
    ]
}

#[test]
fn fast_kernels_match_the_generic_kernels() {
    let mut rng = Lcg(19);
    for case in cases() {
        for levels in [None, Some(3)] {
            let x = rng.values(case.shape.iter().product(), levels);
            let (want, want_idx, out_shape) = case.generic(&x);
            let grad = rng.values(want.len(), None);
            let want_grad = case.generic_backward(&x, &grad, &want_idx, &out_shape);

            let fast = pool::max_pool2d_f32_fast(
                &case.flex(&x),
                case.kernel,
                case.stride,
                case.padding,
                case.dilation,
                case.ceil_mode,
            );
            assert_eq!(fast.is_some(), case.is_fast(), "fast path taken: {case:?}");
            if let Some(out) = fast {
                assert_eq!(out.layout().shape().to_vec(), out_shape, "{case:?}");
                assert_bits("values-only forward", &case, &floats(out.into_data()), &want);
            }
            for dtype in [DType::I32, DType::I64] {
                let fast = pool::max_pool2d_with_indices_f32_fast(
                    &case.flex(&x),
                    case.kernel,
                    case.stride,
                    case.padding,
                    case.dilation,
                    case.ceil_mode,
                    dtype,
                );
                assert_eq!(fast.is_some(), case.is_fast(), "fast path taken: {case:?}");
                let Some((out, idx)) = fast else { continue };
                assert_eq!(idx.dtype(), dtype);
                assert_bits("forward", &case, &floats(out.into_data()), &want);
                assert_eq!(ints(idx.into_data()), want_idx, "indices ({dtype:?}): {case:?}");
            }
            // The fast backward follows indices, so it takes every geometry, the generic path's indices included.
            for dtype in [DType::I32, DType::I64] {
                let idx =
                    FlexTensor::from_data(TensorData::new(want_idx.clone(), out_shape.clone()).convert_dtype(dtype));
                let g = FlexTensor::from_data(TensorData::new(grad.clone(), out_shape.clone()));
                let got = pool::max_pool2d_backward_f32_fast(&case.flex(&x), &g, &idx).expect("fast backward");
                assert_bits("backward", &case, &floats(got.into_data()), &want_grad);
            }
        }
    }
}

#[test]
fn nan_wins_as_in_the_generic_kernel() {
    // Windows with one NaN, two NaNs, a NaN first and a NaN last, beside plain and tied windows.
    let nan = f32::NAN;
    #[rustfmt::skip]
    let x = vec![
        nan, 1.0, 2.0, 2.0, 5.0, nan,
        3.0, 4.0, 2.0, 2.0, nan, 0.0,
        1.0, 1.0, -nan, 7.0, 0.0, 0.0,
        nan, 1.0, 9.0, nan, 0.0, -1.0,
    ];
    for case in [
        Case::new([1, 1, 4, 6], [2, 2], [2, 2]),
        Case::new([1, 1, 4, 6], [3, 3], [1, 2]),
    ] {
        let (want, want_idx, _) = case.generic(&x);
        let (out, idx) = pool::max_pool2d_with_indices_f32_fast(
            &case.flex(&x),
            case.kernel,
            case.stride,
            case.padding,
            case.dilation,
            case.ceil_mode,
            DType::I64,
        )
        .expect("fast path");
        assert_bits("forward", &case, &floats(out.into_data()), &want);
        assert_eq!(ints(idx.into_data()), want_idx, "{case:?}");
    }
}

#[test]
fn tensor_api_matches_the_generic_kernels_with_and_without_autodiff() {
    let mut rng = Lcg(7);
    let plain = Device::flex();
    let autodiff = Device::flex().autodiff();
    for case in cases() {
        let x = rng.values(case.shape.iter().product(), Some(4));
        let (want, want_idx, out_shape) = case.generic(&x);
        let r = rng.values(want.len(), None);
        let want_grad = case.generic_backward(&x, &r, &want_idx, &out_shape);
        let data = || TensorData::new(x.clone(), case.shape);

        // Inference: the values-only pool, and the pool with indices (in the device's index dtype).
        let y = max_pool2d(Tensor::<4>::from_data(data(), &plain), case.options());
        assert_bits("forward", &case, &floats(y.into_data()), &want);
        let (y, idx) = max_pool2d_with_indices(Tensor::<4>::from_data(data(), &plain), case.options());
        assert_bits("forward with indices", &case, &floats(y.into_data()), &want);
        assert_eq!(ints(idx.into_data()), want_idx, "indices: {case:?}");

        // Training: the gradient of sum(pool(x) * r) with respect to x is r scattered through the indices.
        let xg = Tensor::<4>::from_data(data(), &autodiff).require_grad();
        let y = max_pool2d(xg.clone(), case.options());
        assert_eq!(y.dims().to_vec(), out_shape, "{case:?}");
        let rt = Tensor::<4>::from_data(TensorData::new(r.clone(), out_shape.clone()), &autodiff);
        let grads = (y.clone() * rt).sum().backward();
        assert_bits("autodiff forward", &case, &floats(y.into_data()), &want);
        let gx = xg.grad(&grads).expect("input gradient");
        assert_bits("autodiff input gradient", &case, &floats(gx.into_data()), &want_grad);
    }
}
