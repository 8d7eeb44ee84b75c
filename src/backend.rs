//! The one place that picks where tensors live. No capability chooses its own device: they all take a `&Device`
//! from here, so switching the whole tool to CUDA is one cargo feature.

use std::sync::Mutex;

use burn::prelude::Device;

/// Held while the device's generator is seeded and drawn from, so draws of two threads cannot interleave.
static SEEDED_DRAWS: Mutex<()> = Mutex::new(());

/// The inference device: CUDA device 0 with the `cuda` feature, burn's Flex CPU backend otherwise (measured 30-170x
/// faster than NdArray on this project's conv nets; see README).
///
/// burn draws random tensors, initial weights among them, from one process-wide generator per backend. Each
/// capability seeds it and builds its models inside [`seeded`], so a seed fixes the weights even when other
/// threads (parallel tests, a library user's own threads) build models at the same time. The first call also sets
/// the allocator's policy for tensor buffers ([`crate::keep_freed_memory`]).
pub fn device() -> Device {
    crate::keep_freed_memory();
    #[cfg(feature = "cuda")]
    {
        Device::cuda(0)
    }
    #[cfg(not(feature = "cuda"))]
    {
        Device::flex()
    }
}

/// The same device with autodiff, for training and for gradients with respect to inputs.
pub fn autodiff_device() -> Device {
    device().autodiff()
}

/// Seeds `device`'s generator and runs `draw` (building models, drawing random tensors) while no other thread can
/// seed or draw through [`seeded`]: without it, two threads building models at once interleave their draws and a
/// seed no longer fixes the weights (seen as a policy test that failed on one machine and passed on another).
/// `draw` must not call `seeded` itself.
pub fn seeded<T>(device: &Device, seed: u64, draw: impl FnOnce() -> T) -> T {
    // A panic inside another thread's draw leaves nothing to repair: the generator is reseeded here anyway.
    let _guard = SEEDED_DRAWS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    device.seed(seed);
    draw()
}

/// A short human name for summaries and reports.
pub fn device_name() -> &'static str {
    if cfg!(feature = "cuda") {
        "cuda:0 (burn-cuda)"
    } else {
        "cpu (burn Flex)"
    }
}
