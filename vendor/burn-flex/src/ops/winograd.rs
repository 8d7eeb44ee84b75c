//! synth: Winograd F(4x4, 3x3) convolution for f32 3x3 stride-1 padding-1
//! convolutions with many channels: the forward, the input gradient and the
//! weight gradient (see SYNTH_CHANGES.md, change 11).
//!
//! Flex's im2col + gemm convolution does 9 multiply-adds per (output position,
//! input channel, output channel), and its products already run near the FMA
//! peak (synth's `--bench gemm`): on VGG16's 512-channel layers no faster
//! kernel is left. Winograd's minimal filtering (Lavin & Gray 2016) computes a
//! 4x4 output tile from a 6x6 input tile with 36 products instead of 144, so
//! the channel products shrink 4x: for each of the 36 transformed positions
//! `xi`, one matrix product `M_xi[C_out, tiles] = U_xi[C_out, C_in] x
//! V_xi[C_in, tiles]`, with `U = G w G^T` (the transformed weight) and
//! `V = B^T d B` (the transformed input tile), then `Y = A^T M A`.
//!
//! The input gradient of such a convolution is the same convolution of the
//! output gradient with the weight flipped in both spatial axes and its channel
//! axes swapped. The weight gradient uses the same matrices by the
//! transposition principle: for `y = A^T[(G g) . (B^T d)]`, the gradient of
//! `sum(y' . y)` with respect to `g` is `G^T[(A y') . (B^T d)]`, so
//! `dW = G^T (sum over tiles of (A dY A^T) . (B^T d B)) G`, the sum over tiles
//! again one product per `xi`.
//!
//! The products sum in another order than the direct convolution, and the
//! transforms scale values by up to 8 before the inverse brings them back:
//! the results agree with im2col + gemm to float rounding (about 1e-6 of the
//! result's magnitude, checked in synth's `tests/flex_conv.rs`), not bit for bit.
//!
//! synth change 15: the transforms run on 16 kernels, tiles or sums side by
//! side (`Lanes`), each lane computing exactly the scalar expression.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use burn_backend::DType;
use burn_backend::ops::ConvOptions;
use burn_std::{Bytes, Shape};

use crate::{FlexTensor, Layout};

use super::SendMutPtr;
use super::conv::uninit_buffer;
use super::par::for_each_row;
use core::ops::{Add, Div, Mul, Neg, Sub};

/// Transformed positions per tile (6 x 6).
const XI: usize = 36;

/// Output tile side.
const TILE: usize = 4;

/// Input and output channels from which a 3x3 convolution takes the Winograd
/// path (below, the 36 products per tile are too thin to beat one im2col
/// product).
pub const WINOGRAD_MIN_CHANNELS: usize = 64;

/// Tiles (images x 4x4 output tiles each) from which the Winograd path runs:
/// each call transforms the whole weight (36 values per kernel) and, for the
/// weight gradient, transforms 36 sums back, a cost the products must repay.
/// Measured (synth's `cargo bench --bench conv -- winograd`): 512->512 with
/// 64 tiles (4x4 maps, 64 images) 1.6x faster than im2col + gemm, with 16
/// tiles (one 16x16 map) 1.3x slower.
pub const WINOGRAD_MIN_TILES: usize = 64;

/// Bound on one chunk's transformed tiles, in f32 elements per buffer (8 MiB).
const CHUNK_ELEMS: usize = 2 * 1024 * 1024;

/// Input channels whose weight-gradient sums are made and transformed back at
/// a time when one chunk holds every tile: 512 -> 512 sums are 38 MB at once,
/// beyond the 32 MB of the development VM's last-level cache, which sends them
/// to memory and back; 128 channels at a time are 9.4 MB.
const SUM_BLOCK_COLS: usize = 128;

/// Kernels, tiles or sums transformed side by side: one per lane.
const LANES: usize = 16;

/// `LANES` values that every transform step treats alike, lane by lane.
///
/// The transforms were written per kernel or per tile, one scalar at a time,
/// each scattering its 36 values one float at a time; a profile of eval-gain's
/// fits put half of their time in them (SYNTH_CHANGES.md, change 15). Side by
/// side the compiler issues packed operations and every row takes 16-float
/// runs; each lane still computes exactly the scalar expression (the same
/// operations in the same order, no fused multiply-add), so every result is
/// bit for bit the scalar one's.
#[derive(Clone, Copy, Debug, Default)]
struct Lanes([f32; LANES]);

impl Lanes {
    /// Lane `l` of each of `LANES` consecutive elements of `src` from `at`
    /// (fewer at the end of `src`: the missing lanes are zero).
    #[inline(always)]
    fn load(src: &[f32], at: usize) -> Self {
        let mut lanes = [0.0f32; LANES];
        if let Some(full) = src.get(at..at + LANES) {
            // A fixed-size copy: no memcpy call per 16 values.
            lanes.copy_from_slice(full);
            return Lanes(lanes);
        }
        for (lane, value) in lanes.iter_mut().zip(&src[at..]) {
            *lane = *value;
        }
        Lanes(lanes)
    }

    /// Writes the first `width` lanes to `dst`.
    ///
    /// # Safety
    /// `dst` must be valid for `width` writes, `width <= LANES`.
    #[inline(always)]
    unsafe fn store(&self, dst: *mut f32, width: usize) {
        if width == LANES {
            // A fixed-size copy: no memcpy call per 16 values.
            // SAFETY: the caller's contract, with width == LANES.
            unsafe { dst.cast::<[f32; LANES]>().write_unaligned(self.0) };
            return;
        }
        for (lane, value) in self.0.iter().take(width).enumerate() {
            // SAFETY: the caller's contract, lane < width.
            unsafe { *dst.add(lane) = *value };
        }
    }

    #[inline(always)]
    fn zip(self, other: Self, f: impl Fn(f32, f32) -> f32) -> Self {
        let mut out = self.0;
        for (o, b) in out.iter_mut().zip(other.0) {
            *o = f(*o, b);
        }
        Lanes(out)
    }

    #[inline(always)]
    fn map(self, f: impl Fn(f32) -> f32) -> Self {
        let mut out = self.0;
        for o in out.iter_mut() {
            *o = f(*o);
        }
        Lanes(out)
    }
}

impl Add for Lanes {
    type Output = Lanes;
    #[inline(always)]
    fn add(self, other: Lanes) -> Lanes {
        self.zip(other, |a, b| a + b)
    }
}

impl Sub for Lanes {
    type Output = Lanes;
    #[inline(always)]
    fn sub(self, other: Lanes) -> Lanes {
        self.zip(other, |a, b| a - b)
    }
}

impl Neg for Lanes {
    type Output = Lanes;
    #[inline(always)]
    fn neg(self) -> Lanes {
        self.map(|a| -a)
    }
}

impl Mul<Lanes> for f32 {
    type Output = Lanes;
    #[inline(always)]
    fn mul(self, other: Lanes) -> Lanes {
        let k = self;
        other.map(|a| k * a)
    }
}

impl Div<f32> for Lanes {
    type Output = Lanes;
    #[inline(always)]
    fn div(self, k: f32) -> Lanes {
        self.map(|a| a / k)
    }
}

/// What the 1D transforms compute on: one `f32`, or [`Lanes`] of them.
trait Value:
    Copy + Add<Output = Self> + Sub<Output = Self> + Neg<Output = Self> + Div<f32, Output = Self>
where
    f32: Mul<Self, Output = Self>,
{
}

impl Value for f32 {}
impl Value for Lanes {}

/// `$f(args)`, or where the CPU has AVX2 its twin `wide::$f(args)`, the same
/// code compiled for 256-bit registers. synth builds for the baseline x86-64
/// (SSE2), which splits each 16-lane step of the transforms into four
/// instructions; AVX2 takes two. The arithmetic is the same IEEE operations
/// in the same order (no fused multiply-add), so the results are bit for bit
/// the same on either path.
macro_rules! vectorized {
    ($f:ident $(::<$($g:tt),+>)? ($($arg:expr),* $(,)?)) => {{
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2; `$f`'s own contract is the caller's.
                #[allow(unused_unsafe)]
                unsafe {
                    wide::$f $(::<$($g),+>)? ($($arg),*)
                }
            } else {
                $f $(::<$($g),+>)? ($($arg),*)
            }
        }
        #[cfg(not(all(feature = "std", target_arch = "x86_64")))]
        {
            $f $(::<$($g),+>)? ($($arg),*)
        }
    }};
}

/// The AVX2 twins of the transforms' per-row functions (see [`vectorized`]):
/// each inlines its `#[inline(always)]` original, so that code is compiled
/// with AVX2 enabled. Only code reached by direct calls is: a function value
/// or closure the originals hand to another function (`impl Fn`,
/// `core::array::from_fn`) is compiled out of line for the baseline x86-64,
/// which is why the 1D transforms are types ([`Transform1d`], synth change 22).
#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod wide {
    use super::{Geom, Lanes, SendMutPtr, Transform1d};

    #[target_feature(enable = "avx2")]
    pub(super) fn weight_row(w: &[f32], dims: [usize; 2], row: usize, u_row: &mut [f32]) {
        super::weight_row(w, dims, row, u_row)
    }

    #[target_feature(enable = "avx2")]
    pub(super) fn tile_row<const R: usize, F: Transform1d<R, 6>>(
        data: &[f32],
        g: &Geom,
        channel: [usize; 2],
        chunk: [usize; 2],
        v_row: &mut [f32],
        read: &impl Fn(&[f32], usize, &mut [[Lanes; R]; R], usize),
    ) {
        super::tile_row::<R, F>(data, g, channel, chunk, v_row, read)
    }

    /// # Safety
    /// As for [`super::output_row`].
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn output_row(
        m_row: &[f32],
        g: &Geom,
        chunk: [usize; 2],
        co: usize,
        b: f32,
        out: &SendMutPtr<f32>,
    ) {
        // SAFETY: the caller's contract.
        unsafe { super::output_row(m_row, g, chunk, co, b, out) }
    }

    #[target_feature(enable = "avx2")]
    pub(super) fn kernel_grad_row(s_row: &[f32], block: [usize; 2], dw_row: &mut [f32]) {
        super::kernel_grad_row(s_row, block, dw_row)
    }
}

/// Runs `f(i)` for `i` in `0..n`, over rayon when the feature is on and `n > 1`.
fn par_for(n: usize, f: impl Fn(usize) + Send + Sync) {
    #[cfg(feature = "rayon")]
    if n > 1 {
        use rayon::prelude::*;
        (0..n).into_par_iter().for_each(f);
        return;
    }
    (0..n).for_each(f);
}

/// The convolution's shape: images, channels, map size and tile grid.
#[derive(Clone, Copy, Debug)]
struct Geom {
    n: usize,
    c_in: usize,
    c_out: usize,
    h: usize,
    w: usize,
    tiles_h: usize,
    tiles_w: usize,
}

impl Geom {
    fn tiles(&self) -> usize {
        self.tiles_h * self.tiles_w
    }

    /// Whether `shape` is the convolution's output shape `[n, c_out, h, w]`
    /// (an output gradient's, checked before it is read).
    fn is_output_shape(&self, shape: &Shape) -> bool {
        shape.num_dims() == 4 && shape.to_vec() == [self.n, self.c_out, self.h, self.w]
    }

    /// Tiles per chunk: as many as keep the larger transformed buffer under
    /// [`CHUNK_ELEMS`].
    fn chunk(&self) -> usize {
        let per_tile = XI * self.c_in.max(self.c_out);
        (CHUNK_ELEMS / per_tile).clamp(1, self.n * self.tiles())
    }

    /// Whether one chunk holds every tile. The forward hands back its
    /// transformed tiles exactly then, and the weight gradient, under the same
    /// test, takes them (synth change 23) and makes its sums by blocks of
    /// input channels (change 18).
    fn one_chunk(&self) -> bool {
        self.chunk() == self.n * self.tiles()
    }
}

/// Whether a conv2d of these shapes takes the Winograd forward.
pub(crate) fn takes(x_shape: &Shape, w_shape: &Shape, options: &ConvOptions<2>) -> bool {
    geometry(x_shape, w_shape, options).is_some()
}

/// The geometry the Winograd path takes: f32-sized shapes of a 3x3 kernel,
/// stride 1, padding 1 on every side, dilation 1, groups 1, at least
/// [`WINOGRAD_MIN_CHANNELS`] input and output channels and at least
/// [`WINOGRAD_MIN_TILES`] tiles.
fn geometry(x_shape: &Shape, w_shape: &Shape, options: &ConvOptions<2>) -> Option<Geom> {
    if options.groups != 1 || options.stride != [1, 1] || options.dilation != [1, 1] {
        return None;
    }
    if options.is_asymmetric() || options.padding_begin() != [1, 1] {
        return None;
    }
    if x_shape.num_dims() != 4 || w_shape.num_dims() != 4 {
        return None;
    }
    let (n, c_in, h, w) = (x_shape[0], x_shape[1], x_shape[2], x_shape[3]);
    let c_out = w_shape[0];
    if w_shape[1] != c_in || w_shape[2] != 3 || w_shape[3] != 3 {
        return None;
    }
    if n == 0 || h == 0 || w == 0 || c_in < WINOGRAD_MIN_CHANNELS || c_out < WINOGRAD_MIN_CHANNELS {
        return None;
    }
    let (tiles_h, tiles_w) = (h.div_ceil(TILE), w.div_ceil(TILE));
    if n * tiles_h * tiles_w < WINOGRAD_MIN_TILES {
        return None;
    }
    Some(Geom {
        n,
        c_in,
        c_out,
        h,
        w,
        tiles_h,
        tiles_w,
    })
}

// ---------------------------------------------------------------------------
// The 1D transforms of F(4, 3) (points 0, 1, -1, 2, -2 and infinity), each
// written out without its zero terms. The 2D transforms apply them to the
// rows, then to the columns, of a tile.
// ---------------------------------------------------------------------------

/// `B^T d`: a 6-sample input row into the transformed domain.
#[inline(always)]
fn input_1d<T: Value>(d: [T; 6]) -> [T; 6]
where
    f32: Mul<T, Output = T>,
{
    [
        4.0 * d[0] - 5.0 * d[2] + d[4],
        -4.0 * (d[1] + d[2]) + d[3] + d[4],
        4.0 * (d[1] - d[2]) - d[3] + d[4],
        2.0 * (d[3] - d[1]) - d[2] + d[4],
        2.0 * (d[1] - d[3]) - d[2] + d[4],
        4.0 * d[1] - 5.0 * d[3] + d[5],
    ]
}

/// `G g`: a 3-tap kernel row into the transformed domain.
#[inline(always)]
fn kernel_1d<T: Value>(g: [T; 3]) -> [T; 6]
where
    f32: Mul<T, Output = T>,
{
    let (odd, even) = (g[1], g[0] + g[2]);
    let (a, b) = (g[0] / 24.0 + g[2] / 6.0, g[1] / 12.0);
    [
        g[0] / 4.0,
        -(even + odd) / 6.0,
        -(even - odd) / 6.0,
        a + b,
        a - b,
        g[2],
    ]
}

/// `A^T m`: a transformed row back to 4 outputs.
#[inline(always)]
fn output_1d<T: Value>(m: [T; 6]) -> [T; 4]
where
    f32: Mul<T, Output = T>,
{
    let (s12, d12) = (m[1] + m[2], m[1] - m[2]);
    let (s34, d34) = (m[3] + m[4], m[3] - m[4]);
    [
        m[0] + s12 + s34,
        d12 + 2.0 * d34,
        s12 + 4.0 * s34,
        d12 + 8.0 * d34 + m[5],
    ]
}

/// `A y`: a 4-sample output-gradient row into the transformed domain (the
/// transpose of [`output_1d`]).
#[inline(always)]
fn output_grad_1d<T: Value>(y: [T; 4]) -> [T; 6]
where
    f32: Mul<T, Output = T>,
{
    let (even, odd) = (y[0] + y[2], y[1] + y[3]);
    let (even4, odd8) = (y[0] + 4.0 * y[2], 2.0 * y[1] + 8.0 * y[3]);
    [
        y[0],
        even + odd,
        even - odd,
        even4 + odd8,
        even4 - odd8,
        y[3],
    ]
}

/// `G^T s`: a transformed row back to 3 kernel taps (the transpose of
/// [`kernel_1d`]).
#[inline(always)]
fn kernel_grad_1d<T: Value>(s: [T; 6]) -> [T; 3]
where
    f32: Mul<T, Output = T>,
{
    let (s12, d12) = (s[1] + s[2], s[1] - s[2]);
    let (s34, d34) = (s[3] + s[4], s[3] - s[4]);
    [
        s[0] / 4.0 - s12 / 6.0 + s34 / 24.0,
        -d12 / 6.0 + d34 / 12.0,
        -s12 / 6.0 + s34 / 6.0 + s[5],
    ]
}

/// One of the 1D transforms above, from `I` samples to `O`, named by a type.
///
/// synth change 22: the 2D transforms took them as function values (`impl
/// Fn`), and the compiler called each through an out-of-line `Fn::call` shim
/// compiled for the baseline x86-64, so the AVX2 twins of [`wide`] ran every
/// 1D transform in 128-bit registers behind a call that passed its 16-lane
/// rows through memory. A type's `apply` is a direct call, inlined into its
/// caller and compiled with the caller's AVX2.
trait Transform1d<const I: usize, const O: usize> {
    fn apply<T: Value>(x: [T; I]) -> [T; O]
    where
        f32: Mul<T, Output = T>;
}

/// [`input_1d`].
struct InputT;
/// [`kernel_1d`].
struct KernelT;
/// [`output_1d`].
struct OutputT;
/// [`output_grad_1d`].
struct OutputGradT;
/// [`kernel_grad_1d`].
struct KernelGradT;

macro_rules! transform_1d {
    ($name:ident, $f:ident, $i:literal, $o:literal) => {
        impl Transform1d<$i, $o> for $name {
            #[inline(always)]
            fn apply<T: Value>(x: [T; $i]) -> [T; $o]
            where
                f32: Mul<T, Output = T>,
            {
                $f(x)
            }
        }
    };
}

transform_1d!(InputT, input_1d, 6, 6);
transform_1d!(KernelT, kernel_1d, 3, 6);
transform_1d!(OutputT, output_1d, 6, 4);
transform_1d!(OutputGradT, output_grad_1d, 4, 6);
transform_1d!(KernelGradT, kernel_grad_1d, 6, 3);

/// Applies the 1D transform `F` to every row of an `R x R` tile, then to every
/// column of the result: the 2D transform `T x T^T` of a tile `x`.
#[inline(always)]
fn transform_2d<T, F, const R: usize, const O: usize>(x: &[[T; R]; R]) -> [[T; O]; O]
where
    T: Value + Default,
    f32: Mul<T, Output = T>,
    F: Transform1d<R, O>,
{
    // Rows first: t[r] = F(x[r]), an R x O array.
    let mut t = [[T::default(); O]; R];
    for (row, out) in x.iter().zip(t.iter_mut()) {
        *out = F::apply(*row);
    }
    // Then the columns: y[.][c] = F(t[.][c]).
    let mut y = [[T::default(); O]; O];
    for c in 0..O {
        let mut column = [T::default(); R];
        for r in 0..R {
            column[r] = t[r][c];
        }
        let out = F::apply(column);
        for r in 0..O {
            y[r][c] = out[r];
        }
    }
    y
}

/// The transformed weight `U[rows][xi][cols] = (G w[row, col] G^T)[xi]`, with
/// `w` the `[c_out, c_in, 3, 3]` weight. With `flip` set, rows are the input
/// channels and each kernel is flipped in both axes (`w'[ci, co] = w[co, ci]`
/// mirrored): the weight of the input gradient as a forward convolution.
///
/// `buffer`, when given, is reused for `U` (it must hold `rows * 36 * cols`
/// values; its contents are overwritten).
fn weight_transform(
    w: &[f32],
    c_out: usize,
    c_in: usize,
    flip: bool,
    buffer: Option<Vec<f32>>,
) -> Vec<f32> {
    let (rows, cols) = if flip { (c_in, c_out) } else { (c_out, c_in) };
    let len = rows * XI * cols;
    // SAFETY: every row's 36 x cols block is written below.
    let mut u = match buffer {
        Some(buffer) if buffer.len() == len => buffer,
        _ => unsafe { uninit_buffer::<f32>(len) },
    };
    let mirrored;
    let w = if flip {
        mirrored = mirrored_weight(w, c_out, c_in);
        &mirrored[..]
    } else {
        w
    };
    for_each_row(&mut u, XI * cols, true, |row, u_row| {
        vectorized!(weight_row(w, [rows, cols], row, u_row));
    });
    u
}

/// Input channels per block of [`mirrored_weight`].
const MIRROR_BLOCK: usize = 32;

/// The `[c_in, c_out, 3, 3]` weight `w'[ci, co] = w[co, ci]` mirrored in both
/// axes, of the `[c_out, c_in, 3, 3]` weight `w`.
///
/// synth change 24: the flipped transform read `w[co, ci]` for every `co` of
/// one `ci` at a time, kernels `c_in * 9` floats apart: on block 5's 512 -> 512
/// weight each row of `U` touched 512 pages (`--bench conv -- fit-step`: the
/// input gradient's transform about 4 ms slower than the forward's). Now the
/// weight is reordered first, by blocks of [`MIRROR_BLOCK`] input channels
/// (for each output channel one contiguous run of kernels read), and the
/// forward's transform reads the result in order; the same taps reach the
/// same lanes, so `U` is the same to the bit.
fn mirrored_weight(w: &[f32], c_out: usize, c_in: usize) -> Vec<f32> {
    // SAFETY: every (ci, co) kernel of every block is written below.
    let mut mirrored = unsafe { uninit_buffer::<f32>(c_in * c_out * 9) };
    for_each_row(
        &mut mirrored,
        MIRROR_BLOCK * c_out * 9,
        true,
        |block, rows| {
            let ci0 = block * MIRROR_BLOCK;
            let count = rows.len() / (c_out * 9);
            for co in 0..c_out {
                let kernels = &w[(co * c_in + ci0) * 9..][..count * 9];
                for (i, k) in kernels.chunks_exact(9).enumerate() {
                    let out = &mut rows[(i * c_out + co) * 9..][..9];
                    for (tap, value) in out.iter_mut().zip(k.iter().rev()) {
                        *tap = *value;
                    }
                }
            }
        },
    );
    mirrored
}

/// Row `row` of [`weight_transform`]'s `U` (`[36][cols]`) into `u_row`, from
/// the `[rows, cols, 3, 3]` weight `w` (the mirrored one for a flipped `U`).
#[inline(always)]
fn weight_row(w: &[f32], [rows, cols]: [usize; 2], row: usize, u_row: &mut [f32]) {
    assert!(row < rows && u_row.len() >= XI * cols, "room for the row");
    // LANES kernels (consecutive cols) at a time; lanes past cols stay zero.
    for col in (0..cols).step_by(LANES) {
        let width = LANES.min(cols - col);
        let mut g = [[Lanes::default(); 3]; 3];
        for lane in 0..width {
            let k = &w[(row * cols + col + lane) * 9..][..9];
            for (ky, taps) in g.iter_mut().enumerate() {
                for (kx, tap) in taps.iter_mut().enumerate() {
                    tap.0[lane] = k[ky * 3 + kx];
                }
            }
        }
        let t = transform_2d::<_, KernelT, 3, 6>(&g);
        for (xi, v) in t.iter().flatten().enumerate() {
            // SAFETY: (xi, col..col + width) lies inside u_row (checked above).
            unsafe { v.store(u_row.as_mut_ptr().add(xi * cols + col), width) };
        }
    }
}

/// Writes the 6x6 input tile of tile `tile` (row-major over the tile grid)
/// from one `h x w` plane into lane `lane` of `d`, leaving the lane's zeros
/// outside the plane (the padding and the grid's overhang).
///
/// synth change 22: the tile's values go straight into their lanes; they went
/// through a zeroed 6x6 array per tile first, copied lane by lane after.
#[inline(always)]
fn input_tile(plane: &[f32], g: &Geom, tile: usize, d: &mut [[Lanes; 6]; 6], lane: usize) {
    let (ty, tx) = (tile / g.tiles_w, tile % g.tiles_w);
    let (y0, x0) = ((ty * TILE) as isize - 1, (tx * TILE) as isize - 1);
    let inside = y0 >= 0 && x0 >= 0 && y0 as usize + 6 <= g.h && x0 as usize + 6 <= g.w;
    if inside {
        for (r, row) in d.iter_mut().enumerate() {
            let start = (y0 as usize + r) * g.w + x0 as usize;
            for (value, x) in row.iter_mut().zip(&plane[start..start + 6]) {
                value.0[lane] = *x;
            }
        }
        return;
    }
    // The rows and columns of the tile inside the map (every tile of a 4x4
    // map, VGG16's block 5 at 64 px, comes here): copied without a test per
    // value.
    let rows = (-y0).max(0) as usize..(g.h as isize - y0).clamp(0, 6) as usize;
    let cols = (-x0).max(0) as usize..(g.w as isize - x0).clamp(0, 6) as usize;
    for r in rows {
        let start = (y0 + r as isize) as usize * g.w;
        for c in cols.clone() {
            d[r][c].0[lane] = plane[start + (x0 + c as isize) as usize];
        }
    }
}

/// Writes the 4x4 output-gradient tile of tile `tile` from one plane into lane
/// `lane` of `d`, leaving the lane's zeros where the grid overhangs the map.
#[inline(always)]
fn output_grad_tile(plane: &[f32], g: &Geom, tile: usize, d: &mut [[Lanes; 4]; 4], lane: usize) {
    let (ty, tx) = (tile / g.tiles_w, tile % g.tiles_w);
    let (y0, x0) = (ty * TILE, tx * TILE);
    for (r, row) in d.iter_mut().enumerate() {
        if y0 + r >= g.h {
            break;
        }
        for (c, v) in row.iter_mut().enumerate() {
            if x0 + c < g.w {
                v.0[lane] = plane[(y0 + r) * g.w + x0 + c];
            }
        }
    }
}

/// Transforms the tiles `t0..t0 + pc` (global tile indices, image-major) of
/// every `channels`-channel plane of `data` into `v[channel][xi][p]`: `read`
/// writes one tile of one plane (an `R x R` tile) into one lane of zeroed
/// [`Lanes`], and `F` is the 1D transform
/// applied to its rows, then its columns. [`LANES`] tiles are transformed side
/// by side.
fn transform_tiles<const R: usize, F: Transform1d<R, 6>>(
    data: &[f32],
    g: &Geom,
    channels: usize,
    [t0, pc]: [usize; 2],
    v: &mut [f32],
    read: impl Fn(&[f32], usize, &mut [[Lanes; R]; R], usize) + Send + Sync,
) {
    let len = XI * pc;
    for_each_row(&mut v[..channels * len], len, true, |c, v_row| {
        vectorized!(tile_row::<R, F>(
            data,
            g,
            [channels, c],
            [t0, pc],
            v_row,
            &read
        ));
    });
}

/// Channel `c` of [`transform_tiles`] into `v_row` (`[36][pc]`).
#[inline(always)]
fn tile_row<const R: usize, F: Transform1d<R, 6>>(
    data: &[f32],
    g: &Geom,
    [channels, c]: [usize; 2],
    [t0, pc]: [usize; 2],
    v_row: &mut [f32],
    read: &impl Fn(&[f32], usize, &mut [[Lanes; R]; R], usize),
) {
    let (hw, tiles) = (g.h * g.w, g.tiles());
    assert!(v_row.len() >= XI * pc, "room for the channel's tiles");
    for p in (0..pc).step_by(LANES) {
        let width = LANES.min(pc - p);
        let mut d = [[Lanes::default(); R]; R];
        for lane in 0..width {
            let (image, tile) = ((t0 + p + lane) / tiles, (t0 + p + lane) % tiles);
            let plane = &data[(image * channels + c) * hw..][..hw];
            read(plane, tile, &mut d, lane);
        }
        let t = transform_2d::<_, F, R, 6>(&d);
        for (xi, value) in t.iter().flatten().enumerate() {
            // SAFETY: (xi, p..p + width) lies inside v_row (checked above).
            unsafe { value.store(v_row.as_mut_ptr().add(xi * pc + p), width) };
        }
    }
}

/// `dst_xi[m, n] (+)= lhs_xi[m, k] x rhs_xi[k, n]` for each of the 36
/// positions, over rayon; each matrix is given by its base pointer, its offset
/// per `xi` and its row and column strides (`accumulate` adds to `dst`).
///
/// # Safety
/// Every pointer must cover its matrices at those strides and offsets, and
/// `dst` must not overlap the operands.
unsafe fn products(
    [m, n, k]: [usize; 3],
    dst: (SendMutPtr<f32>, usize, isize),
    lhs: (*const f32, usize, [isize; 2]),
    rhs: (*const f32, usize, [isize; 2]),
    accumulate: bool,
) {
    let (dst_ptr, dst_step, dst_rs) = dst;
    let lhs_at = SendMutPtr::new(lhs.0 as *mut f32);
    let rhs_at = SendMutPtr::new(rhs.0 as *mut f32);
    let (lhs_step, [lhs_rs, lhs_cs]) = (lhs.1, lhs.2);
    let (rhs_step, [rhs_rs, rhs_cs]) = (rhs.1, rhs.2);
    par_for(XI, |xi| {
        // SAFETY: the caller's contract; each xi writes its own elements of dst.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                dst_ptr.ptr_add(xi * dst_step),
                1,
                dst_rs,
                accumulate,
                lhs_at.ptr_add(xi * lhs_step) as *const f32,
                lhs_cs,
                lhs_rs,
                rhs_at.ptr_add(xi * rhs_step) as *const f32,
                rhs_cs,
                rhs_rs,
                if accumulate { 1.0 } else { 0.0 },
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    });
}

/// synth change 16: transformed weights kept for the weights they came from,
/// so calls with the same weights transform them once: inference
/// over many batches (eval-gain's scoring, VGG16 feature extraction) and every
/// iteration of Gatys's frozen VGG16, forward and input gradient. On block 5's
/// 512 channels a transform writes 38 MB, as long as the batch's products.
///
/// An entry is found by the identity of the weight's storage (`Arc`), never by
/// its address alone: it holds a `Weak` to that storage, which keeps the
/// allocation from being reused and its bytes from being changed in place
/// (`Arc::get_mut` fails and `Arc::make_mut` moves the bytes out while a
/// `Weak` exists), so a live storage with the entry's pointer has the entry's
/// bytes. One store serves every thread, so any thread's miss drops the
/// entries of dropped weights (a training step's), one of which lends its
/// buffer to that transform; beyond [`kept::KEPT_BYTES`] the least recently
/// used go.
///
/// synth change 23: the store also keeps a forward's transformed input tiles
/// ([`kept::keep_tiles`]) for the weight gradient of the same input, which
/// follows it in a training step; see [`conv2d_weight_backward_f32_winograd`].
#[cfg(feature = "std")]
mod kept {
    use super::{FlexTensor, Geom, Source, weight_transform};
    use alloc::sync::{Arc, Weak};
    use alloc::vec::Vec;
    use burn_std::Bytes;
    use std::sync::Mutex;

    /// Bytes of transformed weights kept, all threads together: VGG16's
    /// forward transforms at 64 px (13 layers, 235 MB) fit, and so do
    /// eval-gain's two lanes fine-tuning block 5 (three 38 MB transforms each).
    pub(super) const KEPT_BYTES: usize = 320 << 20;

    struct Entry {
        source: Weak<Bytes>,
        dims: Source,
        u: Arc<Vec<f32>>,
        used: u64,
    }

    impl Entry {
        /// Whether this is the transform of `source` read as `dims` (see the
        /// module's doc for why the pointer identifies the bytes).
        fn is_of(&self, source: &Arc<Bytes>, dims: Source) -> bool {
            self.dims == dims && core::ptr::eq(self.source.as_ptr(), Arc::as_ptr(source))
        }
    }

    struct Kept {
        entries: Vec<Entry>,
        clock: u64,
    }

    static KEPT: Mutex<Kept> = Mutex::new(Kept {
        entries: Vec::new(),
        clock: 0,
    });

    /// Runs `f` on the store. A panic elsewhere while it was held leaves
    /// nothing half-updated that a lookup could misread, so a poisoned lock is
    /// taken as it is.
    fn with_kept<R>(f: impl FnOnce(&mut Kept) -> R) -> R {
        let mut kept = KEPT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut kept)
    }

    /// `weight_transform` of the contiguous `weight`, kept or computed.
    pub(super) fn transformed(
        weight: &FlexTensor,
        c_out: usize,
        c_in: usize,
        flip: bool,
    ) -> Arc<Vec<f32>> {
        let source = weight.data_arc();
        let dims = Source::Weight { c_out, c_in, flip };
        let len = c_out * c_in * super::XI;
        // The lock is not held across the transform: its rayon loop may run
        // another convolution on this thread while it waits.
        let spare = match with_kept(|kept| kept.find(&source, dims, len)) {
            Ok(u) => return u,
            Err(spare) => spare,
        };
        let u = Arc::new(weight_transform(weight.storage(), c_out, c_in, flip, spare));
        if len * size_of::<f32>() <= KEPT_BYTES {
            with_kept(|kept| kept.insert(&source, dims, Arc::clone(&u)));
        }
        u
    }

    /// Keeps `v`, the transformed tiles of the whole contiguous input `x` of
    /// the convolution `g`, for [`tiles`]. The tiles of inputs gone are
    /// dropped first; the weight transforms of weights gone stay, as spare
    /// buffers for the next weight transforms.
    pub(super) fn keep_tiles(x: &FlexTensor, g: &Geom, v: Vec<f32>) {
        if v.len() * size_of::<f32>() > KEPT_BYTES {
            return;
        }
        with_kept(|kept| {
            kept.entries
                .retain(|e| !matches!(e.dims, Source::Tiles { .. }) || e.source.strong_count() > 0);
            kept.insert(&x.data_arc(), Source::tiles(g), Arc::new(v));
        });
    }

    /// The transformed tiles of the contiguous input `x` that [`keep_tiles`]
    /// kept for the convolution `g`, if it did.
    pub(super) fn tiles(x: &FlexTensor, g: &Geom) -> Option<Arc<Vec<f32>>> {
        with_kept(|kept| kept.lookup(&x.data_arc(), Source::tiles(g)))
    }

    impl Kept {
        /// The kept transform of `source`, or a spare buffer of `len` values
        /// from an entry whose weights are gone (dropping the other such entries).
        fn find(
            &mut self,
            source: &Arc<Bytes>,
            dims: Source,
            len: usize,
        ) -> Result<Arc<Vec<f32>>, Option<Vec<f32>>> {
            if let Some(u) = self.lookup(source, dims) {
                return Ok(u);
            }
            let mut spare = None;
            self.entries.retain_mut(|e| {
                if e.source.strong_count() > 0 {
                    return true;
                }
                if spare.is_none() && e.u.len() == len {
                    let u = core::mem::replace(&mut e.u, Arc::new(Vec::new()));
                    spare = Arc::try_unwrap(u).ok();
                }
                false
            });
            Err(spare)
        }

        /// The kept transform of `source`, marked as used now.
        fn lookup(&mut self, source: &Arc<Bytes>, dims: Source) -> Option<Arc<Vec<f32>>> {
            self.clock += 1;
            let clock = self.clock;
            let entry = self.entries.iter_mut().find(|e| e.is_of(source, dims))?;
            entry.used = clock;
            Some(Arc::clone(&entry.u))
        }

        fn insert(&mut self, source: &Arc<Bytes>, dims: Source, u: Arc<Vec<f32>>) {
            // Another thread may have transformed the same weights meanwhile.
            if self.entries.iter().any(|e| e.is_of(source, dims)) {
                return;
            }
            self.entries.push(Entry {
                source: Arc::downgrade(source),
                dims,
                u,
                used: self.clock,
            });
            let bytes = |entries: &[Entry]| {
                entries
                    .iter()
                    .map(|e| e.u.len() * size_of::<f32>())
                    .sum::<usize>()
            };
            while bytes(&self.entries) > KEPT_BYTES {
                let oldest = self
                    .entries
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, e)| e.used)
                    .map(|(i, _)| i);
                match oldest {
                    Some(i) => drop(self.entries.swap_remove(i)),
                    None => break,
                }
            }
        }
    }
}

/// Without `std` every call transforms.
#[cfg(not(feature = "std"))]
mod kept {
    use super::{FlexTensor, Geom, weight_transform};
    use alloc::sync::Arc;
    use alloc::vec::Vec;

    pub(super) fn transformed(
        weight: &FlexTensor,
        c_out: usize,
        c_in: usize,
        flip: bool,
    ) -> Arc<Vec<f32>> {
        Arc::new(weight_transform(weight.storage(), c_out, c_in, flip, None))
    }

    pub(super) fn keep_tiles(_x: &FlexTensor, _g: &Geom, _v: Vec<f32>) {}

    pub(super) fn tiles(_x: &FlexTensor, _g: &Geom) -> Option<Arc<Vec<f32>>> {
        None
    }
}

/// What a kept buffer is the transform of, besides the storage it was read
/// from: a weight `[c_out, c_in, 3, 3]`, flipped or not, or the input `[n,
/// c_in, h, w]` of a convolution whose tiles it holds.
#[cfg_attr(not(feature = "std"), allow(dead_code))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Weight {
        c_out: usize,
        c_in: usize,
        flip: bool,
    },
    Tiles {
        n: usize,
        c_in: usize,
        h: usize,
        w: usize,
    },
}

impl Source {
    fn tiles(g: &Geom) -> Self {
        Source::Tiles {
            n: g.n,
            c_in: g.c_in,
            h: g.h,
            w: g.w,
        }
    }
}

/// The convolution `out = conv(input, w) + bias` by F(4x4, 3x3), with `u` the
/// transformed weight `[c_out][xi][c_in]` of [`weight_transform`]; `g.c_in` and
/// `g.c_out` are the input's and the output's channels. Where one chunk held
/// every tile, also the input's transformed tiles `[c_in][xi][tiles]`.
fn convolve(
    input: &[f32],
    u: &[f32],
    bias: Option<&[f32]>,
    g: &Geom,
) -> (Vec<f32>, Option<Vec<f32>>) {
    let (c_in, c_out, hw) = (g.c_in, g.c_out, g.h * g.w);
    let total = g.n * g.tiles();
    let chunk = g.chunk();
    // SAFETY: every output element lies in exactly one tile, and each tile's
    // 4x4 block (cropped to the map) is written by the output transform; each
    // chunk writes its rows of v and m before reading them.
    let (mut out, mut v, mut m) = unsafe {
        (
            uninit_buffer::<f32>(g.n * c_out * hw),
            uninit_buffer::<f32>(c_in * XI * chunk),
            uninit_buffer::<f32>(c_out * XI * chunk),
        )
    };
    let out_at = SendMutPtr::new(out.as_mut_ptr());
    for t0 in (0..total).step_by(chunk) {
        let pc = chunk.min(total - t0);
        let v = &mut v[..c_in * XI * pc];
        transform_tiles::<6, InputT>(input, g, c_in, [t0, pc], v, |plane, tile, d, lane| {
            input_tile(plane, g, tile, d, lane)
        });
        let m = &mut m[..c_out * XI * pc];
        let step = (XI * pc) as isize;
        // SAFETY: m is c_out x 36 x pc, u c_out x 36 x c_in, v c_in x 36 x pc.
        unsafe {
            products(
                [c_out, pc, c_in],
                (SendMutPtr::new(m.as_mut_ptr()), pc, step),
                (u.as_ptr(), c_in, [(XI * c_in) as isize, 1]),
                (v.as_ptr(), pc, [step, 1]),
                false,
            );
        }
        let m = &*m;
        par_for(c_out, |co| {
            let b = bias.map_or(0.0, |b| b[co]);
            let m_row = &m[co * XI * pc..][..XI * pc];
            // SAFETY: this task writes only output channel co.
            unsafe { vectorized!(output_row(m_row, g, [t0, pc], co, b, &out_at)) };
        });
    }
    let all_tiles = g.one_chunk().then_some(v);
    (out, all_tiles)
}

/// Output channel `co` of [`convolve`]'s chunk `t0..t0 + pc`: the products
/// `m_row` (`[36][pc]`) transformed back, plus `b`, into the output at `out`.
///
/// # Safety
/// `out` must hold the `[n, c_out, h, w]` output, and no other thread may
/// write channel `co` of it meanwhile.
#[inline(always)]
unsafe fn output_row(
    m_row: &[f32],
    g: &Geom,
    [t0, pc]: [usize; 2],
    co: usize,
    b: f32,
    out: &SendMutPtr<f32>,
) {
    let (hw, tiles) = (g.h * g.w, g.tiles());
    for p in (0..pc).step_by(LANES) {
        let width = LANES.min(pc - p);
        let mut t = [[Lanes::default(); 6]; 6];
        for (xi, value) in t.iter_mut().flatten().enumerate() {
            *value = Lanes::load(&m_row[xi * pc..][..pc], p);
        }
        let y = transform_2d::<_, OutputT, 6, 4>(&t);
        for lane in 0..width {
            let (image, tile) = ((t0 + p + lane) / tiles, (t0 + p + lane) % tiles);
            let (y0, x0) = ((tile / g.tiles_w) * TILE, (tile % g.tiles_w) * TILE);
            let plane = (image * g.c_out + co) * hw;
            for (r, row) in y.iter().enumerate().take(g.h - y0) {
                for (c, value) in row.iter().enumerate().take(g.w - x0) {
                    // SAFETY: (image, co, y0 + r, x0 + c) lies inside out (the
                    // caller's contract), in channel co.
                    unsafe { *out.ptr_add(plane + (y0 + r) * g.w + x0 + c) = value.0[lane] + b };
                }
            }
        }
    }
}

/// The f32 forward convolution by F(4x4, 3x3), or `None` where another path
/// must run (see [`geometry`]).
pub fn conv2d_f32_winograd(
    x: &FlexTensor,
    weight: &FlexTensor,
    bias: Option<&FlexTensor>,
    options: &ConvOptions<2>,
) -> Option<FlexTensor> {
    if x.dtype() != DType::F32 || weight.dtype() != DType::F32 {
        return None;
    }
    let g = geometry(x.layout().shape(), weight.layout().shape(), options)?;
    let bias = match bias {
        Some(b) => {
            let bs = b.layout().shape();
            if b.dtype() != DType::F32 || bs.num_dims() != 1 || bs[0] != g.c_out {
                return None;
            }
            Some(b.to_contiguous())
        }
        None => None,
    };
    let (x, weight) = (x.to_contiguous(), weight.to_contiguous());
    let u = kept::transformed(&weight, g.c_out, g.c_in, false);
    let (out, tiles) = convolve(x.storage(), &u, bias.as_ref().map(|b| b.storage()), &g);
    if let Some(v) = tiles {
        kept::keep_tiles(&x, &g, v);
    }
    Some(FlexTensor::new(
        Bytes::from_elems(out),
        Layout::contiguous(Shape::from(vec![g.n, g.c_out, g.h, g.w])),
        DType::F32,
    ))
}

/// The f32 input gradient by F(4x4, 3x3) (the forward convolution of the
/// output gradient with the flipped, channel-swapped weight), or `None` where
/// another path must run.
pub fn conv2d_x_backward_f32_winograd(
    x_shape: &Shape,
    weight: &FlexTensor,
    output_grad: &FlexTensor,
    options: &ConvOptions<2>,
) -> Option<FlexTensor> {
    if weight.dtype() != DType::F32 || output_grad.dtype() != DType::F32 {
        return None;
    }
    let g = geometry(x_shape, weight.layout().shape(), options)?;
    if !g.is_output_shape(output_grad.layout().shape()) {
        return None;
    }
    let (weight, gy) = (weight.to_contiguous(), output_grad.to_contiguous());
    let u = kept::transformed(&weight, g.c_out, g.c_in, true);
    let swapped = Geom {
        c_in: g.c_out,
        c_out: g.c_in,
        ..g
    };
    let (dx, _) = convolve(gy.storage(), &u, None, &swapped);
    Some(FlexTensor::new(
        Bytes::from_elems(dx),
        Layout::contiguous(x_shape.clone()),
        DType::F32,
    ))
}

/// Transforms the sums `s[co][xi][ci - ci0]` of input channels `ci0..ci0 +
/// width` back to their kernels' taps in `dw`, the `[c_out, c_in, 3, 3]`
/// weight gradient.
fn kernel_grads(s: &[f32], [c_out, c_in]: [usize; 2], [ci0, width]: [usize; 2], dw: &mut [f32]) {
    for_each_row(&mut dw[..c_out * c_in * 9], c_in * 9, true, |co, dw_row| {
        let s_row = &s[co * XI * width..][..XI * width];
        vectorized!(kernel_grad_row(s_row, [ci0, width], dw_row));
    });
}

/// One output channel of [`kernel_grads`]: its sums `s_row` (`[36][width]`)
/// back to the taps of its kernels `ci0..ci0 + width` in `dw_row`.
#[inline(always)]
fn kernel_grad_row(s_row: &[f32], [ci0, width]: [usize; 2], dw_row: &mut [f32]) {
    for ci in (0..width).step_by(LANES) {
        let lanes = LANES.min(width - ci);
        let mut t = [[Lanes::default(); 6]; 6];
        for (xi, value) in t.iter_mut().flatten().enumerate() {
            *value = Lanes::load(&s_row[xi * width..][..width], ci);
        }
        let k = transform_2d::<_, KernelGradT, 6, 3>(&t);
        for lane in 0..lanes {
            let taps = &mut dw_row[(ci0 + ci + lane) * 9..][..9];
            for (tap, value) in taps.iter_mut().zip(k.iter().flatten()) {
                *tap = value.0[lane];
            }
        }
    }
}

/// The f32 weight gradient by F(4x4, 3x3), or `None` where another path must
/// run.
pub fn conv2d_weight_backward_f32_winograd(
    x: &FlexTensor,
    w_shape: &Shape,
    output_grad: &FlexTensor,
    options: &ConvOptions<2>,
) -> Option<FlexTensor> {
    if x.dtype() != DType::F32 || output_grad.dtype() != DType::F32 {
        return None;
    }
    let g = geometry(x.layout().shape(), w_shape, options)?;
    if !g.is_output_shape(output_grad.layout().shape()) {
        return None;
    }
    let (x, gy) = (x.to_contiguous(), output_grad.to_contiguous());
    let (x_data, gy_data): (&[f32], &[f32]) = (x.storage(), gy.storage());
    let (c_in, c_out) = (g.c_in, g.c_out);
    let total = g.n * g.tiles();
    let chunk = g.chunk();
    // synth change 23: the forward's transformed tiles of this very input, the
    // same values this call would compute (one chunk, the same transform).
    let forward_tiles = if g.one_chunk() {
        kept::tiles(&x, &g).filter(|v| v.len() == c_in * XI * total)
    } else {
        None
    };
    // With one chunk its transformed tiles serve every block of input
    // channels: the sums are made and transformed back a block at a time.
    let cols = if g.one_chunk() {
        SUM_BLOCK_COLS.min(c_in)
    } else {
        c_in
    };
    let v_len = if forward_tiles.is_some() {
        0
    } else {
        c_in * XI * chunk
    };
    // SAFETY: each block's first chunk writes all of its s (no accumulation);
    // each chunk writes its rows of v and dy before reading them; every
    // (co, ci) kernel's 9 taps of dw are written by its block's back transform.
    let (mut s, mut v, mut dy, mut dw) = unsafe {
        (
            uninit_buffer::<f32>(c_out * XI * cols),
            uninit_buffer::<f32>(v_len),
            uninit_buffer::<f32>(c_out * XI * chunk),
            uninit_buffer::<f32>(c_out * c_in * 9),
        )
    };
    for ci0 in (0..c_in).step_by(cols) {
        let width = cols.min(c_in - ci0);
        let s = &mut s[..c_out * XI * width];
        for t0 in (0..total).step_by(chunk) {
            let pc = chunk.min(total - t0);
            let dy = &mut dy[..c_out * XI * pc];
            let v: &[f32] = match &forward_tiles {
                Some(kept) => kept,
                None => {
                    let v = &mut v[..c_in * XI * pc];
                    if ci0 == 0 {
                        transform_tiles::<6, InputT>(
                            x_data,
                            &g,
                            c_in,
                            [t0, pc],
                            v,
                            |plane, tile, d, lane| input_tile(plane, &g, tile, d, lane),
                        );
                    }
                    v
                }
            };
            if ci0 == 0 {
                transform_tiles::<4, OutputGradT>(
                    gy_data,
                    &g,
                    c_out,
                    [t0, pc],
                    dy,
                    |plane, tile, d, lane| output_grad_tile(plane, &g, tile, d, lane),
                );
            }
            let step = (XI * pc) as isize;
            // s_xi[co, ci - ci0] (+)= dy_xi[co, p] x v_xi[ci, p]^T
            // SAFETY: s is c_out x 36 x width, dy c_out x 36 x pc, v c_in x 36
            // x pc (read transposed, from channel ci0 on).
            unsafe {
                products(
                    [c_out, width, pc],
                    (
                        SendMutPtr::new(s.as_mut_ptr()),
                        width,
                        (XI * width) as isize,
                    ),
                    (dy.as_ptr(), pc, [step, 1]),
                    (v.as_ptr().add(ci0 * XI * pc), pc, [1, step]),
                    t0 > 0,
                );
            }
        }
        kernel_grads(s, [c_out, c_in], [ci0, width], &mut dw);
    }
    Some(FlexTensor::new(
        Bytes::from_elems(dw),
        Layout::contiguous(w_shape.clone()),
        DType::F32,
    ))
}

/// Whether a forward kept its transformed tiles of `x` for the weight
/// gradient of the convolution with weights of `w_shape` (synth change 23).
/// Public so that synth's `tests/flex_winograd.rs` sees which path ran.
#[doc(hidden)]
pub fn keeps_tiles_of(x: &FlexTensor, w_shape: &Shape, options: &ConvOptions<2>) -> bool {
    geometry(x.layout().shape(), w_shape, options)
        .is_some_and(|g| kept::tiles(&x.to_contiguous(), &g).is_some())
}

/// synth's check of [`Lanes`]: each lane of the side-by-side 2D transforms
/// (all five 1D transforms) is the scalar transform of that lane's values, bit
/// for bit, on values of mixed sign and magnitude. `Err` names the first
/// difference. Public so that synth's `tests/flex_winograd.rs` runs it (the
/// vendored crate's own tests are not built by synth's `cargo test`).
#[doc(hidden)]
pub fn lanes_match_scalars() -> Result<(), String> {
    let mut next = check_values(12345, 7.3);
    let mut tile = [[Lanes::default(); 6]; 6];
    for v in tile.iter_mut().flatten() {
        for x in v.0.iter_mut() {
            *x = next();
        }
    }
    lanes_match::<6, 6, InputT>("input", &tile)?;
    lanes_match::<6, 4, OutputT>("output", &tile)?;
    lanes_match::<6, 3, KernelGradT>("kernel_grad", &tile)?;
    lanes_match::<3, 6, KernelT>("kernel", &tile)?;
    lanes_match::<4, 6, OutputGradT>("output_grad", &tile)
}

/// synth's check of the flipped weight transform (change 24): for weights of
/// `c_out x c_in` kernels, every value of `U'[ci][xi][co]` is, bit for bit,
/// the scalar transform of kernel `w[co, ci]` mirrored in both axes. `Err`
/// names the first difference. Public for synth's `tests/flex_winograd.rs`.
#[doc(hidden)]
pub fn flipped_transform_matches_scalars(c_out: usize, c_in: usize) -> Result<(), String> {
    let mut next = check_values(777, 3.1);
    let w: Vec<f32> = (0..c_out * c_in * 9).map(|_| next()).collect();
    let u = weight_transform(&w, c_out, c_in, true, None);
    for ci in 0..c_in {
        for co in 0..c_out {
            let k = &w[(co * c_in + ci) * 9..][..9];
            let g: [[f32; 3]; 3] =
                core::array::from_fn(|ky| core::array::from_fn(|kx| k[(2 - ky) * 3 + (2 - kx)]));
            let want = transform_2d::<f32, KernelT, 3, 6>(&g);
            for (xi, w) in want.as_flattened().iter().enumerate() {
                let got = u[(ci * XI + xi) * c_out + co];
                if got.to_bits() != w.to_bits() {
                    return Err(format!("U'[{ci}][{xi}][{co}]: {got} against {w}"));
                }
            }
        }
    }
    Ok(())
}

/// Values in `[-scale / 2, scale / 2)` of mixed magnitude and sign, some not
/// exactly representable after a division, from a small linear congruential
/// sequence seeded with `seed`: the inputs of synth's checks above.
fn check_values(seed: u32, scale: f32) -> impl FnMut() -> f32 {
    let mut state = seed;
    move || {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        ((state >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * scale
    }
}

/// Checks every lane of the 2D transform by `F` of the top-left `R x R` of
/// `tile` against the 2D transform by `F` of that lane's values as scalars.
fn lanes_match<const R: usize, const O: usize, F: Transform1d<R, O>>(
    name: &str,
    tile: &[[Lanes; 6]; 6],
) -> Result<(), String> {
    let sub: [[Lanes; R]; R] = core::array::from_fn(|r| core::array::from_fn(|c| tile[r][c]));
    let got = transform_2d::<Lanes, F, R, O>(&sub);
    for lane in 0..LANES {
        let scalars = sub.map(|row| row.map(|v| v.0[lane]));
        let want = transform_2d::<f32, F, R, O>(&scalars);
        let pairs = got.as_flattened().iter().zip(want.as_flattened());
        for (i, (g, w)) in pairs.enumerate() {
            if g.0[lane].to_bits() != w.to_bits() {
                return Err(format!(
                    "{name}[{i}] lane {lane}: {} against {w}",
                    g.0[lane]
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each lane of the side-by-side transforms is the scalar transform of
    /// that lane's values, bit for bit.
    #[test]
    fn lanes_transform_as_scalars_bit_for_bit() {
        assert_eq!(lanes_match_scalars(), Ok(()));
    }

    /// The 1D transforms compute a 3-tap correlation of 6 samples, and the
    /// two gradient transforms are its gradients.
    #[test]
    fn one_dimensional_transforms_correlate() {
        let d = [0.3f32, -1.2, 0.7, 2.1, -0.4, 1.5];
        let k = [0.9f32, -0.6, 0.25];
        let (vd, uk) = (input_1d(d), kernel_1d(k));
        let mut prod = [0.0f32; 6];
        for i in 0..6 {
            prod[i] = vd[i] * uk[i];
        }
        let y = output_1d(prod);
        for (i, got) in y.iter().enumerate() {
            let want: f32 = (0..3).map(|j| k[j] * d[i + j]).sum();
            assert!((got - want).abs() < 1e-5, "y[{i}] {got} against {want}");
        }
        // dk_j = sum_i dy_i d_{i+j}
        let dy = [0.5f32, -1.0, 0.75, 0.2];
        let ay = output_grad_1d(dy);
        let mut s = [0.0f32; 6];
        for i in 0..6 {
            s[i] = ay[i] * vd[i];
        }
        let dk = kernel_grad_1d(s);
        for (j, got) in dk.iter().enumerate() {
            let want: f32 = (0..4).map(|i| dy[i] * d[i + j]).sum();
            assert!((got - want).abs() < 1e-5, "dk[{j}] {got} against {want}");
        }
    }
}
