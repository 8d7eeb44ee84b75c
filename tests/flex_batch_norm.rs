//! The vendored burn-flex's fused training-mode batch norm (burn-flex change 13, issue 19) against batch norm
//! decomposed into tensor ops the way burn-backend's default computes it (per-channel mean and biased variance over
//! the batch-and-channel-swapped tensor, then normalise, scale and shift): forward values, batch statistics and,
//! through autodiff, the input, gamma and beta gradients. The cases cover the cDCGAN's shapes, odd sizes, rank 2
//! and rank 3 inputs, one value per channel per image, a non-contiguous input and a non-zero mean; the f64 path is
//! checked against an f64 reference written out here. The fused kernel sums in f64 and in another order than the
//! decomposition, so the two agree to float rounding, not bit for bit.

use burn::prelude::*;
use burn::tensor::TensorData;
use burn::tensor::module::batch_norm_train;
use burn_flex::FlexTensor;
use burn_flex::ops::batch_norm;

mod common;
use common::Lcg;

const EPSILON: f64 = 1e-5;

/// What one batch norm gives: output, mean, variance, and the input, gamma and beta gradients of `sum(out * r)`.
struct BatchNormResult {
    output: Vec<f32>,
    mean: Vec<f32>,
    variance: Vec<f32>,
    x_grad: Vec<f32>,
    gamma_grad: Vec<f32>,
    beta_grad: Vec<f32>,
}

fn floats<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec::<f32>().expect("f32 data")
}

/// Batch norm of `x` (given in `[C, N, ...]` order and swapped to `[N, C, ...]` when `swapped`, a strided view),
/// fused (burn's `batch_norm_train`, which Flex now runs fused) or decomposed into tensor ops.
fn batch_norm_of<const D: usize>(
    shape: [usize; D],
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    r: &[f32],
    swapped: bool,
    fused: bool,
) -> BatchNormResult {
    let device = Device::flex().autodiff();
    let c = shape[1];
    let mut stored = shape;
    if swapped {
        stored.swap(0, 1);
    }
    let xt = Tensor::<D>::from_data(TensorData::new(x.to_vec(), stored), &device).require_grad();
    let input = if swapped {
        xt.clone().swap_dims(0, 1)
    } else {
        xt.clone()
    };
    let gt = Tensor::<1>::from_data(TensorData::new(gamma.to_vec(), [c]), &device).require_grad();
    let bt = Tensor::<1>::from_data(TensorData::new(beta.to_vec(), [c]), &device).require_grad();
    let rt = Tensor::<D>::from_data(TensorData::new(r.to_vec(), shape), &device);

    let (output, mean, variance) = if fused {
        let o = batch_norm_train(input, gt.clone(), bt.clone(), EPSILON);
        (o.output, o.mean, o.variance)
    } else {
        let per_channel = shape.iter().product::<usize>() / c;
        let flat: Tensor<2> = input.clone().swap_dims(0, 1).reshape([c, per_channel]);
        let mean = flat.clone().mean_dim(1);
        let variance = (flat - mean.clone()).powi_scalar(2).mean_dim(1);
        let mut broadcast = [1; D];
        broadcast[1] = c;
        let std = (variance.clone().reshape(broadcast) + EPSILON).sqrt();
        let output = (input - mean.clone().reshape(broadcast)) / std * gt.clone().reshape(broadcast)
            + bt.clone().reshape(broadcast);
        (output, mean.reshape([c]), variance.reshape([c]))
    };
    let grads = (output.clone() * rt).sum().backward();
    let grad = |t: Tensor<1>| floats(t.grad(&grads).expect("a gradient"));
    let x_grad = floats(xt.grad(&grads).expect("an input gradient"));
    BatchNormResult {
        output: floats(output),
        mean: floats(mean.detach()),
        variance: floats(variance.detach()),
        x_grad,
        gamma_grad: grad(gt),
        beta_grad: grad(bt),
    }
}

/// Largest difference relative to the larger of 1 and the reference's largest magnitude.
fn relative_error(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max) / scale
}

fn check<const D: usize>(shape: [usize; D], swapped: bool, offset: f32, seed: u64) {
    let mut rng = Lcg(seed);
    let n: usize = shape.iter().product();
    let c = shape[1];
    let x: Vec<f32> = rng.values(n, None).iter().map(|v| v * 2.0 + offset).collect();
    let gamma: Vec<f32> = rng.values(c, None).iter().map(|v| 1.0 + 0.5 * v).collect();
    let beta = rng.values(c, None);
    let r = rng.values(n, None);
    let fused = batch_norm_of(shape, &x, &gamma, &beta, &r, swapped, true);
    let want = batch_norm_of(shape, &x, &gamma, &beta, &r, swapped, false);
    let pairs = [
        ("output", &fused.output, &want.output),
        ("mean", &fused.mean, &want.mean),
        ("variance", &fused.variance, &want.variance),
        ("input gradient", &fused.x_grad, &want.x_grad),
        ("gamma gradient", &fused.gamma_grad, &want.gamma_grad),
        ("beta gradient", &fused.beta_grad, &want.beta_grad),
    ];
    for (what, got, want) in pairs {
        let e = relative_error(got, want);
        assert!(
            e < 2e-5,
            "{what} of {shape:?} (swapped {swapped}, offset {offset}): relative error {e}"
        );
    }
}

#[test]
fn fused_batch_norm_matches_the_decomposed_one_on_the_gans_shapes() {
    // The discriminator's 64->128 layer output and the generator's 64-channel 14x14 layer, at batch 64.
    check([64, 128, 7, 7], false, 0.0, 3);
    check([64, 64, 14, 14], false, 0.0, 5);
}

#[test]
fn fused_batch_norm_matches_the_decomposed_one_on_odd_shapes() {
    check([3, 5, 7, 9], false, 0.0, 7);
    check([5, 3, 1, 1], false, 0.0, 11);
    check([2, 17, 33], false, 0.0, 13);
    check([9, 6], false, 0.0, 17);
    check([4, 6, 5, 5], true, 0.0, 19);
    check([6, 4, 3, 11], false, 3.0, 23);
}

#[test]
fn fused_batch_norm_in_f64_matches_a_reference() {
    let (n, c, s) = (5, 3, 13);
    let mut rng = Lcg(29);
    let f64s = |v: Vec<f32>| v.into_iter().map(f64::from).collect::<Vec<_>>();
    let x = f64s(rng.values(n * c * s, None));
    let gamma = f64s(rng.values(c, None));
    let beta = f64s(rng.values(c, None));
    let dy = f64s(rng.values(n * c * s, None));
    let tensor = |v: &[f64], shape: Vec<usize>| FlexTensor::from_data(TensorData::new(v.to_vec(), shape));
    let values = |t: FlexTensor| t.into_data().try_into_vec::<f64>().expect("f64 data");

    let (out, mean, var) = batch_norm::batch_norm_train(
        tensor(&x, vec![n, c, s]),
        tensor(&gamma, vec![c]),
        tensor(&beta, vec![c]),
        EPSILON,
    );
    let (out, mean, var) = (values(out), values(mean), values(var));
    let (dx, dgamma, dbeta) = batch_norm::batch_norm_train_backward(
        tensor(&x, vec![n, c, s]),
        tensor(&gamma, vec![c]),
        tensor(&mean, vec![c]),
        tensor(&var, vec![c]),
        EPSILON,
        tensor(&dy, vec![n, c, s]),
    );
    let (dx, dgamma, dbeta) = (values(dx), values(dgamma), values(dbeta));

    let m = (n * s) as f64;
    let at = |i: usize, ch: usize, j: usize| (i * c + ch) * s + j;
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * (1.0 + b.abs());
    for ch in 0..c {
        let channel = |v: &[f64]| {
            (0..n)
                .flat_map(|i| (0..s).map(move |j| at(i, ch, j)))
                .map(|k| v[k])
                .collect::<Vec<_>>()
        };
        let (xc, dyc) = (channel(&x), channel(&dy));
        let mu = xc.iter().sum::<f64>() / m;
        let v = xc.iter().map(|a| (a - mu).powi(2)).sum::<f64>() / m;
        let inv_std = 1.0 / (v + EPSILON).sqrt();
        let xhat: Vec<f64> = xc.iter().map(|a| (a - mu) * inv_std).collect();
        let sum_dy: f64 = dyc.iter().sum();
        let sum_dy_xhat: f64 = dyc.iter().zip(&xhat).map(|(g, h)| g * h).sum();
        assert!(close(mean[ch], mu) && close(var[ch], v), "channel {ch} statistics");
        assert!(
            close(dbeta[ch], sum_dy) && close(dgamma[ch], sum_dy_xhat),
            "channel {ch} parameter gradients"
        );
        for (k, (h, g)) in xhat.iter().zip(&dyc).enumerate() {
            let (i, j) = (k / s, k % s);
            let want_out = h * gamma[ch] + beta[ch];
            let want_dx = gamma[ch] * inv_std * (g - sum_dy / m - h * sum_dy_xhat / m);
            assert!(close(out[at(i, ch, j)], want_out), "output at {i},{ch},{j}");
            assert!(close(dx[at(i, ch, j)], want_dx), "input gradient at {i},{ch},{j}");
        }
    }
}
