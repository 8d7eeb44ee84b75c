//! The vendored burn-flex's element-wise passes over both cores (burn-flex change 14, issue 19): on tensors long
//! enough to be split (the cDCGAN's `[64, 64, 14, 14]`) and one too short, every path the change touches gives
//! exactly the values of the element-wise definition, bit for bit: binary ops writing into either operand or into a
//! fresh buffer, scalar and unary ops in place and allocating, `mask_where` in both in-place orientations and out of
//! place, a comparison with a scalar, `select` along dim 0 of a 4-D tensor, and zero-filled tensors. Transcendental
//! functions are checked against the same op applied to one short row at a time (the unsplit path). Binary ops with a
//! transposed or permuted operand (change 25) are checked the same way.

use burn::prelude::*;
use burn::tensor::TensorData;

mod common;
use common::Lcg;

/// The cDCGAN's largest activation (split into pieces) and a short one (not split).
const SHAPES: [[usize; 4]; 2] = [[64, 64, 14, 14], [2, 3, 5, 7]];

fn tensor(values: &[f32], shape: [usize; 4]) -> Tensor<4> {
    Tensor::from_data(TensorData::new(values.to_vec(), shape), &Device::flex())
}

fn floats<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec::<f32>().expect("f32 data")
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn assert_same(what: &str, got: Vec<f32>, want: Vec<f32>) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    if let Some(i) = (0..got.len()).find(|&i| got[i].to_bits() != want[i].to_bits()) {
        panic!("{what}: element {i} is {} where {} was expected", got[i], want[i]);
    }
}

/// Inputs for one shape: two value vectors in [-1, 1) with some exact zeros, for the masks' ties.
fn inputs(shape: [usize; 4], seed: u64) -> (Vec<f32>, Vec<f32>) {
    let n = shape.iter().product();
    let mut rng = Lcg(seed);
    let mut a = rng.values(n, None);
    let b = rng.values(n, None).iter().map(|v| v + 1.25).collect();
    for i in (0..n).step_by(97) {
        a[i] = 0.0;
    }
    (a, b)
}

/// A binary op on tensors, beside its definition on values.
type TensorOp = fn(Tensor<4>, Tensor<4>) -> Tensor<4>;
type ValueOp = fn(f32, f32) -> f32;

/// The four binary ops with a SIMD kernel, on tensors and on values.
const BINARY_OPS: [(&str, TensorOp, ValueOp); 4] = [
    ("add", |x, y| x + y, |x, y| x + y),
    ("sub", |x, y| x - y, |x, y| x - y),
    ("mul", |x, y| x * y, |x, y| x * y),
    ("div", |x, y| x / y, |x, y| x / y),
];

#[test]
fn binary_ops_match_their_definition_whichever_operand_they_write_into() {
    for shape in SHAPES {
        let (a, b) = inputs(shape, 1);
        for (name, op, f) in BINARY_OPS {
            let want: Vec<f32> = a.iter().zip(&b).map(|(&x, &y)| f(x, y)).collect();
            let (ta, tb) = (tensor(&a, shape), tensor(&b, shape));
            // lhs unique: written in place; rhs unique (lhs kept): written into rhs; both kept: a fresh buffer.
            let into_lhs = op(tensor(&a, shape), tb.clone());
            assert_same(&format!("{name} into lhs {shape:?}"), floats(into_lhs), want.clone());
            let into_rhs = op(ta.clone(), tensor(&b, shape));
            assert_same(&format!("{name} into rhs {shape:?}"), floats(into_rhs), want.clone());
            let out = op(ta.clone(), tb.clone());
            assert_same(&format!("{name} fresh {shape:?}"), floats(out), want);
            assert_eq!(bits(&floats(ta)), bits(&a), "{name} left its kept lhs alone");
            assert_eq!(bits(&floats(tb)), bits(&b), "{name} left its kept rhs alone");
        }
    }
}

/// Binary ops where one operand is a transposed or permuted view, as autodiff adds the gradient of a Gram matrix's
/// transposed factor (burn-flex change 25 copies such an operand contiguous first when it is long): every element is
/// its definition's, bit for bit, whichever operand is reordered and written into, long (copied) or short (not).
#[test]
fn binary_ops_with_a_reordered_operand_match_their_definition() {
    // Each case stores b with its NCHW axes in the order `stored_axes` (a 2-D transpose of the last two axes, and
    // NHWC), long and short, and views it back as NCHW.
    let cases = [
        ([1, 1, 64, 2048], [0, 1, 3, 2]),
        ([1, 1, 3, 5], [0, 1, 3, 2]),
        ([8, 64, 14, 14], [0, 2, 3, 1]),
        ([2, 3, 2, 2], [0, 2, 3, 1]),
    ];
    for (dims, stored_axes) in cases {
        let len: usize = dims.iter().product();
        let (a, b) = inputs(dims, 7);
        let stored_shape = stored_axes.map(|axis| dims[axis]);
        let mut back = [0; 4];
        for (k, &axis) in stored_axes.iter().enumerate() {
            back[axis] = k;
        }
        let mut stored = vec![0.0f32; len];
        for (j, &value) in b.iter().enumerate() {
            // The NCHW index of b's element j, and its place in the stored order.
            let mut index = [0; 4];
            let mut rest = j;
            for axis in (0..4).rev() {
                index[axis] = rest % dims[axis];
                rest /= dims[axis];
            }
            let at = stored_axes
                .iter()
                .zip(stored_shape)
                .fold(0, |at, (&axis, size)| at * size + index[axis]);
            stored[at] = value;
        }
        let reordered = || tensor(&stored, stored_shape).permute(back);
        assert_same(&format!("the view of {stored_shape:?}"), floats(reordered()), b.clone());
        for (name, op, f) in BINARY_OPS {
            let want: Vec<f32> = a.iter().zip(&b).map(|(&x, &y)| f(x, y)).collect();
            let got = op(tensor(&a, dims), reordered());
            assert_same(&format!("{name}, reordered rhs, {len} values"), floats(got), want);
            let want: Vec<f32> = a.iter().zip(&b).map(|(&x, &y)| f(y, x)).collect();
            let got = op(reordered(), tensor(&a, dims));
            assert_same(&format!("{name}, reordered lhs, {len} values"), floats(got), want);
        }
    }
}

#[test]
fn scalar_and_unary_ops_match_their_definition() {
    for shape in SHAPES {
        let (a, _) = inputs(shape, 2);
        let want: Vec<f32> = a.iter().map(|x| x * 0.2).collect();
        assert_same(
            "mul_scalar in place",
            floats(tensor(&a, shape).mul_scalar(0.2)),
            want.clone(),
        );
        let kept = tensor(&a, shape);
        assert_same("mul_scalar fresh", floats(kept.clone().mul_scalar(0.2)), want);
        let want: Vec<f32> = a.iter().map(|x| x + 0.75).collect();
        assert_same("add_scalar", floats(kept.clone().add_scalar(0.75)), want);
        let want: Vec<f32> = a.iter().map(|&x| if x < 0.0 { 0.0 } else { x }).collect();
        assert_same("relu", floats(burn::tensor::activation::relu(kept.clone())), want);
        // Transcendentals: the whole tensor against one short row at a time.
        let [n0, n1, n2, n3] = shape;
        let row = n2 * n3;
        let rows = tensor(&a, shape).reshape([n0 * n1, row]);
        for (name, f) in [
            ("tanh", (|t: Tensor<2>| t.tanh()) as fn(Tensor<2>) -> Tensor<2>),
            ("exp", |t: Tensor<2>| t.exp()),
        ] {
            let whole = floats(f(rows.clone()));
            let by_row: Vec<f32> = (0..n0 * n1)
                .flat_map(|r| {
                    floats(f(Tensor::<2>::from_data(
                        TensorData::new(a[r * row..(r + 1) * row].to_vec(), [1, row]),
                        &Device::flex(),
                    )))
                })
                .collect();
            assert_same(&format!("{name} {shape:?}"), whole, by_row);
        }
        assert_eq!(bits(&floats(kept)), bits(&a), "the kept tensor is unchanged");
    }
}

#[test]
fn mask_where_and_comparisons_match_their_definition() {
    for shape in SHAPES {
        let (a, b) = inputs(shape, 3);
        let mask_of = |t: Tensor<4>| t.lower_elem(0.0);
        let want_mask: Vec<bool> = a.iter().map(|&x| x < 0.0).collect();
        let got_mask = mask_of(tensor(&a, shape))
            .into_data()
            .try_to_vec::<bool>()
            .expect("bools");
        assert_eq!(got_mask, want_mask, "lower_elem {shape:?}");
        let want: Vec<f32> = a.iter().zip(&b).map(|(&x, &y)| if x < 0.0 { y } else { x }).collect();
        let (ta, tb) = (tensor(&a, shape), tensor(&b, shape));
        let mask = mask_of(ta.clone());
        // `ta` kept: written into the unique `value`; then into the unique `tensor`; then both kept: out of place.
        assert_same(
            "mask_where into value",
            floats(ta.clone().mask_where(mask.clone(), tensor(&b, shape))),
            want.clone(),
        );
        assert_same(
            "mask_where into tensor",
            floats(tensor(&a, shape).mask_where(mask.clone(), tb.clone())),
            want.clone(),
        );
        assert_same(
            "mask_where fresh",
            floats(ta.clone().mask_where(mask, tb.clone())),
            want,
        );
        assert_eq!(bits(&floats(ta)), bits(&a));
        assert_eq!(bits(&floats(tb)), bits(&b));
    }
}

#[test]
fn select_along_the_first_dim_and_zeros_match_their_definition() {
    for shape in SHAPES {
        let (a, _) = inputs(shape, 4);
        let row: usize = shape[1..].iter().product();
        let picks: Vec<i64> = (0..2 * shape[0] as i64 + 3)
            .map(|i| (i * 7 + 3) % shape[0] as i64)
            .collect();
        let indices = Tensor::<1, Int>::from_data(TensorData::new(picks.clone(), [picks.len()]), &Device::flex());
        let got = floats(tensor(&a, shape).select(0, indices));
        let want: Vec<f32> = picks
            .iter()
            .flat_map(|&p| a[p as usize * row..(p as usize + 1) * row].to_vec())
            .collect();
        assert_same(&format!("select {shape:?}"), got, want);
        let zeros = floats(Tensor::<4>::zeros(shape, &Device::flex()));
        assert!(zeros.iter().all(|z| z.to_bits() == 0), "zeros {shape:?}");
    }
}
