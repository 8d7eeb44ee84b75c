//! synth change 20: the layout transposes of the convolutions (a matrix
//! `[rows, cols]` into `[cols, rows]`), eight by eight in AVX registers where
//! the elements are 4 bytes wide.
//!
//! The discriminator's weight gradient turns every image's input and output
//! gradient into positions-major rows before its product; moved one element at
//! a time through 16x16 blocks those transposes took ~3.5% of the cDCGAN
//! step's samples, ~3 ns per element. An 8x8 block is eight loads, 24
//! shuffles and eight stores. Transposing only moves bits (no arithmetic), so
//! the results are the same on either path.

/// Elements per side of the blocks the scalar path walks (a cache-sized
/// tile of source rows and destination rows).
const BLOCK: usize = 16;

/// The band of the transpose of `src` (`rows x cols`, row-major) that starts
/// at destination row `c_start`: `dst[(c - c_start) * rows + r] =
/// src[r * cols + c]` for every `r` and the `dst.len() / rows` columns `c`
/// from `c_start`.
pub(crate) fn transpose_band<T: bytemuck::Pod>(
    src: &[T],
    rows: usize,
    cols: usize,
    c_start: usize,
    dst: &mut [T],
) {
    let c_end = c_start + dst.len() / rows.max(1);
    assert!(
        src.len() >= rows * cols && c_end <= cols,
        "a band of the matrix"
    );
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if size_of::<T>() == 4 && align_of::<T>() == 4 && std::arch::is_x86_feature_detected!("avx") {
        // A Pod of 4 bytes is 32 bits with no padding: moved as f32 lanes.
        let src32: &[f32] = bytemuck::cast_slice(src);
        let dst32: &mut [f32] = bytemuck::cast_slice_mut(dst);
        // SAFETY: the CPU has AVX; the band lies inside both slices (checked above).
        unsafe { wide::transpose_band(src32, rows, cols, c_start, c_end, dst32) };
        return;
    }
    scalar_band(src, [rows, cols, c_start], 0..rows, c_start..c_end, dst);
}

/// The elements of the band in source rows `r_range` and columns `c_range`
/// (inside `c_start..`), one at a time in [`BLOCK`] x [`BLOCK`] tiles.
fn scalar_band<T: Copy>(
    src: &[T],
    [rows, cols, c_start]: [usize; 3],
    r_range: core::ops::Range<usize>,
    c_range: core::ops::Range<usize>,
    dst: &mut [T],
) {
    for r0 in r_range.clone().step_by(BLOCK) {
        for c0 in c_range.clone().step_by(BLOCK) {
            for r in r0..(r0 + BLOCK).min(r_range.end) {
                for c in c0..(c0 + BLOCK).min(c_range.end) {
                    dst[(c - c_start) * rows + r] = src[r * cols + c];
                }
            }
        }
    }
}

#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod wide {
    use core::arch::x86_64::{
        __m256, _mm256_loadu_ps, _mm256_permute2f128_ps, _mm256_shuffle_ps, _mm256_storeu_ps,
        _mm256_unpackhi_ps, _mm256_unpacklo_ps,
    };

    /// [`super::transpose_band`] of 32-bit elements: whole 8x8 blocks through
    /// AVX registers, the rows and columns past the last whole block one at a
    /// time.
    ///
    /// # Safety
    /// The CPU must have AVX; `c_end <= cols`, `src.len() >= rows * cols` and
    /// `dst.len() >= (c_end - c_start) * rows`.
    #[target_feature(enable = "avx")]
    pub(super) unsafe fn transpose_band(
        src: &[f32],
        rows: usize,
        cols: usize,
        c_start: usize,
        c_end: usize,
        dst: &mut [f32],
    ) {
        let whole_rows = rows / 8 * 8;
        let whole_cols = c_start + (c_end - c_start) / 8 * 8;
        for r0 in (0..whole_rows).step_by(8) {
            for c0 in (c_start..whole_cols).step_by(8) {
                // SAFETY: rows r0..r0 + 8 and columns c0..c0 + 8 lie inside the
                // band (whole blocks only), so every load and store is in bounds.
                unsafe {
                    let block: [__m256; 8] = core::array::from_fn(|i| {
                        _mm256_loadu_ps(src.as_ptr().add((r0 + i) * cols + c0))
                    });
                    for (j, column) in transpose_8x8(block).into_iter().enumerate() {
                        _mm256_storeu_ps(
                            dst.as_mut_ptr().add((c0 - c_start + j) * rows + r0),
                            column,
                        );
                    }
                }
            }
        }
        // What the whole blocks left: the last rows (all columns), then the
        // last columns of the other rows.
        let dims = [rows, cols, c_start];
        super::scalar_band(src, dims, whole_rows..rows, c_start..c_end, dst);
        super::scalar_band(src, dims, 0..whole_rows, whole_cols..c_end, dst);
    }

    /// The transpose of the 8x8 block whose rows are `r`: its columns.
    #[target_feature(enable = "avx")]
    #[inline]
    fn transpose_8x8(r: [__m256; 8]) -> [__m256; 8] {
        // Pairs of rows interleaved: (r0 r1) low and high halves, ...
        let t = [
            _mm256_unpacklo_ps(r[0], r[1]),
            _mm256_unpackhi_ps(r[0], r[1]),
            _mm256_unpacklo_ps(r[2], r[3]),
            _mm256_unpackhi_ps(r[2], r[3]),
            _mm256_unpacklo_ps(r[4], r[5]),
            _mm256_unpackhi_ps(r[4], r[5]),
            _mm256_unpacklo_ps(r[6], r[7]),
            _mm256_unpackhi_ps(r[6], r[7]),
        ];
        // Then quadruples: column c of rows 0-3 (and of rows 4-7) in each
        // 128-bit half.
        let q = [
            _mm256_shuffle_ps::<0x44>(t[0], t[2]),
            _mm256_shuffle_ps::<0xEE>(t[0], t[2]),
            _mm256_shuffle_ps::<0x44>(t[1], t[3]),
            _mm256_shuffle_ps::<0xEE>(t[1], t[3]),
            _mm256_shuffle_ps::<0x44>(t[4], t[6]),
            _mm256_shuffle_ps::<0xEE>(t[4], t[6]),
            _mm256_shuffle_ps::<0x44>(t[5], t[7]),
            _mm256_shuffle_ps::<0xEE>(t[5], t[7]),
        ];
        // Then the halves joined: columns 0-3 from the low halves, 4-7 from
        // the high ones.
        [
            _mm256_permute2f128_ps::<0x20>(q[0], q[4]),
            _mm256_permute2f128_ps::<0x20>(q[1], q[5]),
            _mm256_permute2f128_ps::<0x20>(q[2], q[6]),
            _mm256_permute2f128_ps::<0x20>(q[3], q[7]),
            _mm256_permute2f128_ps::<0x31>(q[0], q[4]),
            _mm256_permute2f128_ps::<0x31>(q[1], q[5]),
            _mm256_permute2f128_ps::<0x31>(q[2], q[6]),
            _mm256_permute2f128_ps::<0x31>(q[3], q[7]),
        ]
    }
}

/// Checks [`transpose_band`] against the one-at-a-time transpose on matrices
/// with and without whole 8x8 blocks and on bands of them, bit for bit (NaN
/// payloads and signed zeros included). `Err` names the first difference.
/// Public so that synth's tests run it (the vendored crate's own tests are not
/// built by synth's `cargo test`).
#[doc(hidden)]
pub fn transposes_match_scalar() -> Result<(), alloc::string::String> {
    let mut state = 0x2545_f491u32;
    let mut next = move || {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        state
    };
    for (rows, cols) in [
        (1, 1),
        (8, 8),
        (7, 9),
        (16, 40),
        (64, 196),
        (128, 49),
        (33, 17),
        (196, 64),
    ] {
        let src: alloc::vec::Vec<u32> = (0..rows * cols).map(|_| next()).collect();
        for (c_start, c_end) in [
            (0, cols),
            (cols / 3, cols),
            (0, cols / 2),
            (cols / 4, cols - cols / 5),
        ] {
            let len = (c_end - c_start) * rows;
            let mut got = alloc::vec![0u32; len];
            let mut want = alloc::vec![0u32; len];
            transpose_band(&src, rows, cols, c_start, &mut got);
            scalar_band(
                &src,
                [rows, cols, c_start],
                0..rows,
                c_start..c_end,
                &mut want,
            );
            if let Some(i) = got.iter().zip(&want).position(|(g, w)| g != w) {
                return Err(alloc::format!(
                    "{rows}x{cols} band {c_start}..{c_end}: element {i} is {:#x}, not {:#x}",
                    got[i],
                    want[i]
                ));
            }
        }
        let floats: alloc::vec::Vec<f32> = src.iter().map(|&b| f32::from_bits(b)).collect();
        let mut got = alloc::vec![0.0f32; rows * cols];
        let mut want = alloc::vec![0.0f32; rows * cols];
        transpose_band(&floats, rows, cols, 0, &mut got);
        scalar_band(&floats, [rows, cols, 0], 0..rows, 0..cols, &mut want);
        if got
            .iter()
            .zip(&want)
            .any(|(g, w)| g.to_bits() != w.to_bits())
        {
            return Err(alloc::format!("{rows}x{cols} f32: bits differ"));
        }
    }
    Ok(())
}
