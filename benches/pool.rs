//! 2x2 stride-2 max-pool: burn Flex's `max_pool2d` against the same pool written as a reshape and two `max_dim`s, at
//! the sizes the project's networks pool (the PGD cnn, VGG16 at 64 px batch 64, a 256 px Gatys image), forward and
//! forward + backward to the input. Run with `cargo bench --bench pool`.

mod harness;

use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;

fn reshape_pool(x: Tensor<4>) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, c, h / 2, 2, w / 2, 2])
        .max_dim(5)
        .max_dim(3)
        .reshape([n, c, h / 2, w / 2])
}

fn burn_pool(x: Tensor<4>) -> Tensor<4> {
    max_pool2d(x, MaxPoolOptions::new([2, 2]))
}

/// On a thread of the compute pool, as the binary runs its commands (`synth::backend::on_workers`).
fn main() {
    synth::backend::on_workers(benchmarks);
}

fn benchmarks() {
    let device = synth::backend::device();
    for shape in [[256, 32, 28, 28], [64, 64, 64, 64], [1, 64, 256, 256]] {
        let x = Tensor::<4>::random(shape, Distribution::Default, &device);
        for (name, pool) in [
            ("burn max_pool2d", burn_pool as fn(Tensor<4>) -> Tensor<4>),
            ("reshape max_dim", reshape_pool),
        ] {
            let fwd = harness::time_ms(2, 9, || {
                std::hint::black_box(pool(x.clone()).sum().into_scalar::<f32>());
            });
            harness::report(&format!("{name} fwd {shape:?}"), &fwd, None);
            let both = harness::time_ms(2, 9, || {
                let xg = x.clone().autodiff().require_grad();
                let grads = pool(xg.clone()).sum().backward();
                std::hint::black_box(xg.grad(&grads).expect("grad").sum().into_scalar::<f32>());
            });
            harness::report(&format!("{name} fwd+bwd {shape:?}"), &both, None);
        }
    }
}
