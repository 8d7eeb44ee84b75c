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

/// Lanes of a long run: jobs that run side by side (eval-gain's fits, beside each other and beside its GAN), each
/// on its own thread pool. On 2 cores one job on both threads used about 1.7 of them (a fit) or 1.4 (a GAN step):
/// the rest of the time one thread waits on the other between small ops. Two one-thread jobs keep both busy
/// (README, "Speed"). A job's numbers do not depend on its lane: every kernel sums in the same order whatever its
/// thread count, and each thread draws from its own seeded generator (burn-flex change 10), so a fit run alone,
/// on two threads or beside another gives the same model.
pub struct Lanes {
    pools: Vec<rayon::ThreadPool>,
}

impl Lanes {
    /// `jobs` lanes (0 = one per core; always one with CUDA, whose device runs the work), the cores shared
    /// between them.
    pub fn new(jobs: usize) -> crate::error::Result<Lanes> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let count = match jobs {
            _ if cfg!(feature = "cuda") => 1,
            0 => cores,
            n => n,
        }
        .min(crate::limits::MAX_JOBS);
        let threads = (cores / count).max(1);
        let pools = (0..count)
            .map(|lane| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .thread_name(move |i| format!("synth-lane{lane}-{i}"))
                    .build()
                    .map_err(|e| crate::error::SynthError::internal(format!("starting lane {lane}'s threads: {e}")))
            })
            .collect::<crate::error::Result<_>>()?;
        Ok(Lanes { pools })
    }

    /// How many lanes there are (at least one).
    pub fn count(&self) -> usize {
        self.pools.len()
    }

    /// Lane `i`'s pool (lane 0 when there is no lane `i`): [`rayon::ThreadPool::install`] runs a job on it.
    pub fn pool(&self, i: usize) -> &rayon::ThreadPool {
        self.pools.get(i).unwrap_or(&self.pools[0])
    }

    /// Every lane's pool.
    pub fn pools(&self) -> &[rayon::ThreadPool] {
        &self.pools
    }
}

/// Runs `job` on a thread of the process's compute pool (every core, or `RAYON_NUM_THREADS`), or right here when
/// this thread already belongs to a pool (an eval-gain lane). Flex splits each op's work with rayon: from a thread
/// outside the pool every split is injected into it and the caller sleeps on a lock until the pool wakes it, a
/// sleep and a wake-up per op; on a pool thread the split goes to its own queue and the other thread steals it.
/// A GAN step is some 200 ops: 97 -> 88 ms on two threads (README, "Speed"). The binary runs every command
/// through here; a library user's long work gains the same by doing so. Where no pool can be started (threads
/// refused), `job` runs here, as before.
pub fn on_workers<R: Send>(job: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        return job();
    }
    match compute_pool() {
        Some(pool) => pool.install(job),
        None => job(),
    }
}

/// The process's compute pool, started on first use: rayon's default size, and threads with the main thread's
/// 8 MiB of stack (a worker's default is 2 MiB) since whole commands run on them.
fn compute_pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: std::sync::OnceLock<Option<rayon::ThreadPool>> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("synth-worker-{i}"))
            .stack_size(8 << 20)
            .build()
            .ok()
    })
    .as_ref()
}

/// A short human name for summaries and reports.
pub fn device_name() -> &'static str {
    if cfg!(feature = "cuda") {
        "cuda:0 (burn-cuda)"
    } else {
        "cpu (burn Flex)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_workers_runs_a_job_on_a_pool_thread_and_a_lanes_job_where_it_is() {
        assert_eq!(rayon::current_thread_index(), None, "a test starts outside any pool");
        let name = on_workers(|| std::thread::current().name().map(String::from));
        assert!(
            name.is_some_and(|n| n.starts_with("synth-worker-")),
            "the job ran on the compute pool"
        );
        let lanes = Lanes::new(1).expect("a lane");
        let (outer, inner) = lanes.pool(0).install(|| {
            let outer = std::thread::current().id();
            (outer, on_workers(|| std::thread::current().id()))
        });
        assert_eq!(outer, inner, "inside a lane the job stays on the lane's thread");
        assert_eq!(on_workers(|| 6 * 7), 42, "the job's value comes back");
    }
}
