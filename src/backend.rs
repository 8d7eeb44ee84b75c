//! The one place that picks where tensors live. No capability chooses its own device: they all take a `&Device`
//! from here, so switching the whole tool to CUDA is one cargo feature.

use burn::prelude::Device;

/// The inference device: CUDA device 0 with the `cuda` feature, burn's Flex CPU backend otherwise (measured 30-170x
/// faster than NdArray on this project's conv nets; see README).
///
/// burn draws random tensors, initial weights among them, from one process-wide generator per backend. Each
/// capability seeds it just before it builds its models and the library builds them on one thread, so a seed fixes
/// the weights; models built on several threads at once would interleave their draws. The first call also sets the
/// allocator's policy for tensor buffers ([`crate::keep_freed_memory`]).
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

/// A short human name for summaries and reports.
pub fn device_name() -> &'static str {
    if cfg!(feature = "cuda") {
        "cuda:0 (burn-cuda)"
    } else {
        "cpu (burn Flex)"
    }
}
