//! How close eval-gain's fine-tuning products are to what this CPU can do: the machine's f32 FMA peak (per core and
//! on both cores), the `gemm` crate (what burn-flex calls) on VGG16 block 5's products at 64 px, and Flex's whole
//! 3x3 conv2d forward on the same layer. Run with `cargo bench --bench gemm`. It answers whether a faster matrix
//! kernel is the next lever for eval-gain's fits (README, "Speed").

mod harness;

use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2dConfig;
use burn::prelude::*;
use burn::tensor::Distribution;

/// Multiply-adds per image of one 512->512 3x3 conv on a 4x4 map: `[512, 4608] x [4608, 16]`.
const BLOCK5: (usize, usize, usize) = (512, 16, 4608);
const BATCH: usize = 64;

fn gflops(flops: f64, ms: f64) -> f64 {
    flops / (ms * 1e-3) / 1e9
}

/// Twelve independent FMA chains of eight lanes: the register-bound upper limit of one core.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn fma_chains(iterations: usize) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm256_set1_ps(0.0); 12];
    let (a, b) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
    for _ in 0..iterations {
        for chain in acc.iter_mut() {
            *chain = _mm256_fmadd_ps(*chain, a, b);
        }
    }
    let mut lanes = [0f32; 8];
    let sum = acc.iter().fold(_mm256_setzero_ps(), |s, &c| _mm256_add_ps(s, c));
    // SAFETY: `lanes` holds the eight floats the unaligned store writes.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), sum) };
    lanes.iter().sum()
}

#[cfg(target_arch = "x86_64")]
fn fma_peak() {
    if !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")) {
        println!("FMA peak: no AVX2 + FMA on this CPU, skipped");
        return;
    }
    let iterations = 50_000_000;
    let flops = (iterations * 12 * 8 * 2) as f64;
    // SAFETY: the features `fma_chains` enables were detected above.
    let run = || std::hint::black_box(unsafe { fma_chains(std::hint::black_box(iterations)) });
    let one = harness::time_ms(1, 5, || {
        run();
    });
    println!("FMA peak, 1 thread: {:.1} GFLOP/s", gflops(flops, one[one.len() / 2]));
    let two = harness::time_ms(1, 5, || {
        std::thread::scope(|s| {
            s.spawn(run);
            s.spawn(run);
        });
    });
    println!(
        "FMA peak, 2 threads: {:.1} GFLOP/s",
        gflops(2.0 * flops, two[two.len() / 2])
    );
}

#[cfg(not(target_arch = "x86_64"))]
fn fma_peak() {
    println!("FMA peak: x86_64 only, skipped");
}

/// Deterministic values in [-0.5, 0.5).
fn values(n: usize, salt: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 7919 + salt) % 1000) as f32 / 1000.0 - 0.5)
        .collect()
}

/// `c = a * b` for row-major `a` (m x k), `b` (k x n), `c` (m x n), on the calling thread or, with
/// `Parallelism::Rayon`, on the pool.
fn product(a: &[f32], b: &[f32], c: &mut [f32], (m, n, k): (usize, usize, usize), parallelism: gemm::Parallelism) {
    assert!(a.len() == m * k && b.len() == k * n && c.len() == m * n);
    // SAFETY: the three slices hold exactly the row-major matrices the strides describe (asserted above).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            1,
            k as isize,
            b.as_ptr(),
            1,
            n as isize,
            0.0f32,
            1.0f32,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Block 5's forward products for a batch, one `[512, 4608] x [4608, 16]` per image as Flex runs them, on one
/// thread and split over two.
fn per_image_products() {
    let (m, n, k) = BLOCK5;
    let weight = values(m * k, 1);
    let columns = values(BATCH * k * n, 2);
    let mut out = vec![0f32; BATCH * m * n];
    let flops = (2 * m * n * k * BATCH) as f64;
    let one = harness::time_ms(1, 7, || {
        for (x, y) in columns.chunks(k * n).zip(out.chunks_mut(m * n)) {
            product(&weight, x, y, BLOCK5, gemm::Parallelism::None);
        }
    });
    harness::report("block-5 products b64, 1 thread", &one, None);
    println!("  = {:.1} GFLOP/s", gflops(flops, one[one.len() / 2]));
    let two = harness::time_ms(1, 7, || {
        let half = BATCH / 2;
        let (x0, x1) = columns.split_at(half * k * n);
        let (y0, y1) = out.split_at_mut(half * m * n);
        std::thread::scope(|s| {
            for (xs, ys) in [(x0, y0), (x1, y1)] {
                let weight = &weight;
                s.spawn(move || {
                    for (x, y) in xs.chunks(k * n).zip(ys.chunks_mut(m * n)) {
                        product(weight, x, y, BLOCK5, gemm::Parallelism::None);
                    }
                });
            }
        });
    });
    harness::report("block-5 products b64, 2 threads", &two, None);
    println!("  = {:.1} GFLOP/s", gflops(flops, two[two.len() / 2]));
}

/// The same batch's whole product as one `[1024, 4608] x [4608, 512]` matrix, on one thread.
fn batched_product() {
    let shape = (BATCH * BLOCK5.1, BLOCK5.0, BLOCK5.2);
    let (a, b) = (values(shape.0 * shape.2, 3), values(shape.2 * shape.1, 4));
    let mut c = vec![0f32; shape.0 * shape.1];
    let times = harness::time_ms(1, 5, || product(&a, &b, &mut c, shape, gemm::Parallelism::None));
    harness::report("one [1024,4608]x[4608,512], 1 thread", &times, None);
    println!(
        "  = {:.1} GFLOP/s",
        gflops((2 * shape.0 * shape.1 * shape.2) as f64, times[times.len() / 2])
    );
}

/// The cDCGAN discriminator's 64->128 4x4 stride-2 layer at batch 64 as one product, `[128, 1024] x [1024, 3136]`
/// (the batched forward's), on both threads: the ceiling for that convolution (PyTorch's whole forward: ~4.3 ms).
fn gan_product() {
    let (m, n, k) = (128, 64 * 49, 1024);
    let (a, b) = (values(m * k, 5), values(k * n, 6));
    let mut c = vec![0f32; m * n];
    let times = harness::time_ms(2, 9, || product(&a, &b, &mut c, (m, n, k), gemm::Parallelism::Rayon(0)));
    harness::report("GAN [128,1024]x[1024,3136], 2 threads", &times, None);
    println!(
        "  = {:.1} GFLOP/s",
        gflops((2 * m * n * k) as f64, times[times.len() / 2])
    );
}

/// Flex's conv2d forward on block 5's layer (both cores), for the overhead around the products.
fn flex_forward() {
    let device = synth::backend::device();
    let conv = Conv2dConfig::new([512, 512], [3, 3])
        .with_padding(PaddingConfig2d::Same)
        .init(&device);
    let x = Tensor::<4>::random([BATCH, 512, 4, 4], Distribution::Default, &device);
    let times = harness::time_ms(2, 9, || {
        std::hint::black_box(conv.forward(x.clone()).sum().into_scalar::<f32>());
    });
    harness::report("Flex conv2d 512->512 4x4 b64 forward", &times, None);
    let (m, n, k) = BLOCK5;
    println!(
        "  = {:.1} GFLOP/s",
        gflops((2 * m * n * k * BATCH) as f64, times[times.len() / 2])
    );
}

/// On a thread of the compute pool, as the binary runs its commands (`synth::backend::on_workers`).
fn main() {
    synth::backend::on_workers(benchmarks);
}

fn benchmarks() {
    println!("device: {}", synth::backend::device_name());
    fma_peak();
    per_image_products();
    batched_product();
    flex_forward();
    gan_product();
}
