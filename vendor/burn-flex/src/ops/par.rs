//! synth: element-wise passes over both cores (change 14).
//!
//! Flex ran every element-wise op (binary, scalar, unary, `mask_where`,
//! zero-filled allocations) on the calling thread. On the cDCGAN's training
//! step those passes over `[64, 64, 14, 14]` and `[64, 128, 7, 7]` tensors
//! left the second core idle for about a quarter of the step, where PyTorch
//! runs the same ops on all its threads. These helpers split a pass into
//! pieces for rayon when it is long enough to pay for the fan-out and run it
//! in place otherwise. Each output element is still computed from the same
//! input elements by the same function, so the results are bit-identical
//! whatever the split.

use alloc::vec::Vec;
use core::mem::MaybeUninit;

/// Passes shorter than this stay on the calling thread (a rayon fan-out costs
/// a few microseconds; 64 Ki f32 take tens of them).
#[cfg(feature = "rayon")]
const MIN_PARALLEL: usize = crate::ops::PARALLEL_THRESHOLD / 4;

/// Whether a pass of `n` elements is worth splitting over the threads.
pub(crate) fn long_enough(n: usize) -> bool {
    #[cfg(feature = "rayon")]
    {
        n >= MIN_PARALLEL && rayon::current_num_threads() >= 2
    }
    #[cfg(not(feature = "rayon"))]
    {
        let _ = n;
        false
    }
}

/// The piece length for a pass of `n` elements: two pieces per thread, at
/// least half of [`MIN_PARALLEL`], a multiple of 64 so SIMD kernels keep whole
/// vectors; `None` when the pass should not be split.
fn piece(n: usize) -> Option<usize> {
    #[cfg(feature = "rayon")]
    if long_enough(n) {
        let len = n
            .div_ceil(2 * rayon::current_num_threads())
            .max(MIN_PARALLEL / 2);
        return Some(len.next_multiple_of(64));
    }
    let _ = n;
    None
}

/// Runs `f(row_index, row)` over the `row_len`-long rows of `data`, on rayon when asked.
pub(crate) fn for_each_row<T: Send>(
    data: &mut [T],
    row_len: usize,
    parallel: bool,
    f: impl Fn(usize, &mut [T]) + Send + Sync,
) {
    #[cfg(feature = "rayon")]
    if parallel {
        use rayon::prelude::*;
        data.par_chunks_mut(row_len)
            .enumerate()
            .for_each(|(r, row)| f(r, row));
        return;
    }
    let _ = parallel;
    data.chunks_mut(row_len)
        .enumerate()
        .for_each(|(r, row)| f(r, row));
}

/// Runs `f(index, item)` on every item, on rayon when asked.
pub(crate) fn for_each_item<T: Send>(
    items: Vec<T>,
    parallel: bool,
    f: impl Fn(usize, T) + Send + Sync,
) {
    #[cfg(feature = "rayon")]
    if parallel {
        use rayon::prelude::*;
        items
            .into_par_iter()
            .enumerate()
            .for_each(|(i, item)| f(i, item));
        return;
    }
    let _ = parallel;
    items
        .into_iter()
        .enumerate()
        .for_each(|(i, item)| f(i, item));
}

/// Runs `f(start, piece)` on the pieces of `dst` (`start`: the piece's first
/// index), split over the threads when the pass is long.
pub(crate) fn for_each_piece_mut<T, F>(dst: &mut [T], f: F)
where
    T: Send,
    F: Fn(usize, &mut [T]) + Sync + Send,
{
    match piece(dst.len()) {
        Some(len) => for_each_row(dst, len, true, |i, p| f(i * len, p)),
        None => f(0, dst),
    }
}

/// Runs `f` on `dst`, split into pieces over the threads when it is long.
pub(crate) fn for_each_mut<T, F>(dst: &mut [T], f: F)
where
    T: Send,
    F: Fn(&mut [T]) + Sync + Send,
{
    for_each_piece_mut(dst, |_, d| f(d))
}

/// Runs `f` on matching pieces of `dst` and `src` (of equal length).
pub(crate) fn zip_mut<T, U, F>(dst: &mut [T], src: &[U], f: F)
where
    T: Send,
    U: Sync,
    F: Fn(&mut [T], &[U]) + Sync + Send,
{
    debug_assert_eq!(dst.len(), src.len());
    for_each_piece_mut(dst, |start, d| f(d, &src[start..start + d.len()]))
}

/// Runs `f` on matching pieces of `dst`, `a` and `b` (of equal length).
pub(crate) fn zip2_mut<T, U, V, F>(dst: &mut [T], a: &[U], b: &[V], f: F)
where
    T: Send,
    U: Sync,
    V: Sync,
    F: Fn(&mut [T], &[U], &[V]) + Sync + Send,
{
    debug_assert!(dst.len() == a.len() && dst.len() == b.len());
    for_each_piece_mut(dst, |start, d| {
        let r = start..start + d.len();
        f(d, &a[r.clone()], &b[r])
    })
}

/// A fresh vector of `n` elements, each piece written by `fill(start, piece)`
/// (`start` is the piece's first index); `fill` must write every element of
/// its piece.
pub(crate) fn build<R, F>(n: usize, fill: F) -> Vec<R>
where
    R: Send,
    F: Fn(usize, &mut [MaybeUninit<R>]) + Sync + Send,
{
    let mut out = Vec::with_capacity(n);
    for_each_piece_mut(&mut out.spare_capacity_mut()[..n], fill);
    // SAFETY: `fill` wrote every element of every piece, and the pieces cover
    // `0..n` of the capacity.
    unsafe { out.set_len(n) };
    out
}

/// `op` of every element of `src`, as a fresh vector.
pub(crate) fn map<T, R, F>(src: &[T], op: F) -> Vec<R>
where
    T: Copy + Sync,
    R: Send,
    F: Fn(T) -> R + Sync + Send,
{
    build(src.len(), |start, piece| {
        for (o, &x) in piece.iter_mut().zip(&src[start..]) {
            o.write(op(x));
        }
    })
}

/// `op` of the matching elements of `a` and `b` (of equal length), as a fresh
/// vector.
pub(crate) fn map2<T, U, R, F>(a: &[T], b: &[U], op: F) -> Vec<R>
where
    T: Copy + Sync,
    U: Copy + Sync,
    R: Send,
    F: Fn(T, U) -> R + Sync + Send,
{
    debug_assert_eq!(a.len(), b.len());
    build(a.len(), |start, piece| {
        for ((o, &x), &y) in piece.iter_mut().zip(&a[start..]).zip(&b[start..]) {
            o.write(op(x, y));
        }
    })
}

/// `n` copies of `value` (zeros for a fresh tensor or accumulator), written
/// over the threads when long: a fresh allocation's page faults and clearing
/// then happen on both cores.
pub(crate) fn filled<T: Copy + Send + Sync>(n: usize, value: T) -> Vec<T> {
    build(n, |_, piece| {
        for x in piece.iter_mut() {
            x.write(value);
        }
    })
}
