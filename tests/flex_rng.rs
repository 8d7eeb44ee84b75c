//! The random generator of the vendored burn-flex (vendor/burn-flex, change 10): one per thread, so a thread that
//! seeds and then draws (a fit's initial weights and dropout masks, a GAN's) gets the same numbers whatever other
//! threads seed and draw meanwhile. eval-gain runs its fits and its GAN side by side on that guarantee.

use std::sync::Barrier;

use burn::prelude::*;
use burn::tensor::Distribution;

/// Seeds the calling thread's generator and draws three tensors, waiting at `barrier` (when given) before each draw
/// so that two threads' seeds and draws interleave.
fn seeded_draws(seed: u64, barrier: Option<&Barrier>) -> Vec<Vec<f32>> {
    let device = synth::backend::device();
    device.seed(seed);
    (0..3)
        .map(|_| {
            if let Some(b) = barrier {
                b.wait();
            }
            Tensor::<2>::random([4, 5], Distribution::Default, &device)
                .into_data()
                .try_to_vec::<f32>()
                .expect("f32 values")
        })
        .collect()
}

#[test]
fn each_thread_draws_from_its_own_seeded_generator() {
    let (alone_7, alone_8) = (seeded_draws(7, None), seeded_draws(8, None));
    assert_ne!(alone_7, alone_8, "two seeds, two sequences");
    let barrier = Barrier::new(2);
    let (beside_7, beside_8) = std::thread::scope(|scope| {
        let a = scope.spawn(|| seeded_draws(7, Some(&barrier)));
        let b = scope.spawn(|| seeded_draws(8, Some(&barrier)));
        (a.join().expect("thread 7"), b.join().expect("thread 8"))
    });
    assert_eq!(beside_7, alone_7, "seed 7's draws beside another thread's");
    assert_eq!(beside_8, alone_8, "seed 8's draws beside another thread's");
    // A thread's seed does not reach another thread: this one still continues its own sequence.
    let device = synth::backend::device();
    device.seed(7);
    let first = Tensor::<2>::random([4, 5], Distribution::Default, &device);
    std::thread::scope(|scope| {
        scope.spawn(|| seeded_draws(8, None));
    });
    let second = Tensor::<2>::random([4, 5], Distribution::Default, &device);
    let values = |t: Tensor<2>| t.into_data().try_to_vec::<f32>().expect("f32 values");
    assert_eq!(vec![values(first), values(second)], alone_7[..2].to_vec());
}
