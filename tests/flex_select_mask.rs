//! The vendored burn-flex's branch-free `mask_where` and row-wise `select_add` (vendor/burn-flex, SYNTH_CHANGES.md
//! change 4, issue 19) against plain-Rust references of what the ops mean. Both rewrites keep the exact values (a
//! select moves values; the row-wise add accumulates repeated indices in the same order as the per-element loop it
//! replaced), so these tests compare bit patterns: through burn's `Tensor` API on the Flex device, on the in-place
//! paths (a unique operand), the copying path (both operands shared), non-contiguous operands and broadcast masks,
//! and through burn-autodiff (whose backward of `select` is `select_add`, and of `mask_where` two `mask_where`s).

use burn::prelude::*;
use burn::tensor::{IndexingUpdateOp, TensorData};

mod common;
use common::Lcg;

fn bits(t: Tensor<4>) -> Vec<u32> {
    t.into_data()
        .try_to_vec::<f32>()
        .expect("f32 data")
        .iter()
        .map(|v| v.to_bits())
        .collect()
}

fn tensor(values: Vec<f32>, shape: [usize; 4]) -> Tensor<4> {
    Tensor::from_data(TensorData::new(values, shape), &synth::backend::device())
}

/// The flat index of `(a, b, c, d)` in a contiguous tensor of `shape`.
fn at(shape: [usize; 4], [a, b, c, d]: [usize; 4]) -> usize {
    ((a * shape[1] + b) * shape[2] + c) * shape[3] + d
}

/// Every index of `shape` in row-major order.
fn indices(shape: [usize; 4]) -> impl Iterator<Item = [usize; 4]> {
    (0..shape[0]).flat_map(move |a| {
        (0..shape[1]).flat_map(move |b| (0..shape[2]).flat_map(move |c| (0..shape[3]).map(move |d| [a, b, c, d])))
    })
}

#[test]
fn mask_where_selects_exactly_on_every_path() {
    let mut rng = Lcg(7);
    for shape in [[2, 3, 5, 7], [64, 64, 14, 14], [1, 1, 1, 1], [3, 1, 9, 2]] {
        let n: usize = shape.iter().product();
        let (t, v) = (rng.values(n, None), rng.values(n, None));
        let expected: Vec<u32> = t
            .iter()
            .zip(&v)
            .map(|(t, v)| if *t > 0.0 { v } else { t }.to_bits())
            .collect();
        let mask = || tensor(t.clone(), shape).greater_elem(0.0);
        // The tensor unique (in place into it), the value unique (in place into it), both shared (a new buffer).
        assert_eq!(
            bits(tensor(t.clone(), shape).mask_where(mask(), tensor(v.clone(), shape))),
            expected
        );
        let kept = tensor(t.clone(), shape);
        assert_eq!(
            bits(kept.clone().mask_where(mask(), tensor(v.clone(), shape))),
            expected
        );
        let value = tensor(v.clone(), shape);
        assert_eq!(bits(kept.clone().mask_where(mask(), value.clone())), expected);
        drop((kept, value));
        // A non-contiguous tensor (a transposed view of its own transpose) and a broadcast mask.
        let transposed = tensor(t.clone(), shape).swap_dims(2, 3).swap_dims(2, 3);
        assert_eq!(bits(transposed.mask_where(mask(), tensor(v.clone(), shape))), expected);
        let first_plane = tensor(t.clone(), shape).narrow(0, 0, 1).greater_elem(0.0);
        let broadcast: Vec<u32> = indices(shape)
            .map(|[a, b, c, d]| {
                let i = at(shape, [a, b, c, d]);
                if t[at(shape, [0, b, c, d])] > 0.0 { v[i] } else { t[i] }.to_bits()
            })
            .collect();
        let masked = tensor(t.clone(), shape).mask_where(first_plane.expand(shape), tensor(v.clone(), shape));
        assert_eq!(bits(masked), broadcast, "{shape:?} broadcast");
    }
}

/// `select_assign` with `Add` along every dimension of 4-D tensors, repeated indices included, in place (a unique
/// target) and into a copy (a shared one).
#[test]
fn select_add_accumulates_rows_in_order_along_every_dimension() {
    let mut rng = Lcg(11);
    let shape = [4, 6, 5, 3];
    for dim in 0..4 {
        let picks: Vec<usize> = (0..2 * shape[dim] + 1)
            .map(|_| rng.next_u32() as usize % shape[dim])
            .collect();
        let mut value_shape = shape;
        value_shape[dim] = picks.len();
        let target = rng.values(shape.iter().product(), None);
        let values = rng.values(value_shape.iter().product(), None);
        let mut expected = target.clone();
        for index in indices(value_shape) {
            let mut dst = index;
            dst[dim] = picks[index[dim]];
            expected[at(shape, dst)] += values[at(value_shape, index)];
        }
        let expected: Vec<u32> = expected.iter().map(|v| v.to_bits()).collect();
        let device = synth::backend::device();
        let ids = || {
            Tensor::<1, Int>::from_data(
                TensorData::new(picks.iter().map(|&p| p as i64).collect::<Vec<_>>(), [picks.len()]),
                &device,
            )
        };
        let add =
            |t: Tensor<4>| t.select_assign(dim, ids(), tensor(values.clone(), value_shape), IndexingUpdateOp::Add);
        assert_eq!(bits(add(tensor(target.clone(), shape))), expected, "dim {dim} in place");
        let shared = tensor(target.clone(), shape);
        assert_eq!(bits(add(shared.clone())), expected, "dim {dim} copied");
        assert_eq!(bits(shared), target.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
    }
}

/// Through autodiff: the gradient of `select(0, labels)` (the discriminator's label patterns) sums each label's
/// rows, and leaky ReLU's gradient is the slope where the input is negative, 1 elsewhere.
#[test]
fn autodiff_backward_of_select_and_leaky_relu() {
    let device = synth::backend::autodiff_device();
    let shape = [10, 4, 3, 3];
    let mut rng = Lcg(3);
    let patterns = rng.values(shape.iter().product(), None);
    let labels: Vec<usize> = (0..25).map(|_| rng.next_u32() as usize % 10).collect();
    let x = Tensor::<4>::from_data(TensorData::new(patterns.clone(), shape), &device).require_grad();
    let ids = Tensor::<1, Int>::from_data(
        TensorData::new(labels.iter().map(|&l| l as i64).collect::<Vec<_>>(), [labels.len()]),
        &device,
    );
    let picked = x.clone().select(0, ids);
    let y = burn::tensor::activation::leaky_relu(picked, 0.2);
    let grads = y.sum().backward();
    let grad: Vec<f32> = x
        .grad(&grads)
        .expect("a gradient")
        .into_data()
        .try_to_vec()
        .expect("f32");
    let per_row: usize = shape[1..].iter().product();
    let mut expected = vec![0.0f32; patterns.len()];
    for &label in &labels {
        for j in 0..per_row {
            let i = label * per_row + j;
            expected[i] += if patterns[i] > 0.0 { 1.0 } else { 0.2 };
        }
    }
    assert_eq!(grad, expected);
}
