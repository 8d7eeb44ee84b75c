//! synth: expand small image datasets with synthetic data (classic augmentation, GANs, style transfer and
//! adversarial examples) and measure, honestly, whether that data helps.
//!
//! The one currency between commands is the [`dataset`] module's [`dataset::Dataset`] and the expanded dataset it
//! writes (ImageFolder tree + manifest.jsonl + origin.json).

pub mod adversarial;
pub mod attack;
pub mod augment;
pub mod backend;
pub mod classifier;
pub mod config;
pub mod dataset;
pub mod error;
pub mod eval;
pub mod gan;
pub mod interrupt;
pub mod limits;
pub mod optim;
pub mod policy;
pub mod report;
pub mod seed;
pub mod style;
pub mod telemetry;

pub use error::{Result, SynthError};

/// mimalloc instead of the system allocator, for every program that links synth (the binary, tests, benchmarks).
/// burn's CPU backend allocates and frees a large buffer for nearly every tensor op; glibc serves those with
/// mmap/munmap, and each munmap costs page faults and TLB shoot-downs across the worker threads. Measured on the
/// PGD-step benchmark: 165 ms with glibc, 120 ms with glibc told to keep freed memory; see the README's speed section.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in the `mi_option_t` enum of mimalloc 3.3, the version libmimalloc-sys 0.1.49 builds
/// (checked by a test against `mi_version`).
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

// mimalloc's C API; libmimalloc-sys declares these only behind its `extended` feature, whose `cty` dependency this
// offline build cannot fetch, so synth declares the one it calls (and the test below the two it reads); they are in
// the static library either way.
unsafe extern "C" {
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// Tells mimalloc to keep the pages it frees instead of returning them to the OS after its purge delay (1 s by
/// default). A fit allocates and frees the same large tensor buffers every step, and each purged buffer comes back as
/// fresh pages the kernel must zero: 6-9% of an eval-gain fit's profile was `clear_page_erms` and `memset`. The
/// price is that the process keeps its peak memory until it exits, which a command-line run does anyway. A
/// `MIMALLOC_PURGE_DELAY` in the environment (mimalloc's own setting) wins. Called once, by [`backend::device`].
pub(crate) fn keep_freed_memory() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            // SAFETY: mi_option_set only stores the value in mimalloc's option table; the index is a valid option of
            // the linked mimalloc (see the test below).
            unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
        }
    });
}

#[cfg(test)]
mod allocator_tests {
    unsafe extern "C" {
        fn mi_option_get(option: std::ffi::c_int) -> std::ffi::c_long;
        fn mi_version() -> std::ffi::c_int;
    }

    #[test]
    fn the_purge_delay_index_is_the_linked_mimallocs() {
        // SAFETY: both only read mimalloc's constants and option table.
        let version = unsafe { mi_version() };
        assert_eq!(
            version / 100,
            303,
            "mimalloc {version}: re-check MI_OPTION_PURGE_DELAY in its mimalloc.h"
        );
        super::keep_freed_memory();
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(unsafe { mi_option_get(super::MI_OPTION_PURGE_DELAY) }, -1);
        }
    }
}
