//! [`Stripes`]: one copy of some counters per CPU, each on its own cache line, so the
//! statements counted on one core never write a line another core is writing. Readers add
//! the stripes up.
//!
//! A counter every statement bumps, shared by all sessions, moves its cache line between the
//! cores on every bump; on the PostgreSQL path that was several line transfers per
//! transaction. A stripe is chosen by the CPU the thread runs on now (`sched_getcpu`, a read
//! of the kernel's restartable-sequence area): a thread moved between the choice and the
//! write only shares a stripe for a moment, and the counters stay exact (they are atomics or
//! behind a lock).

use crossbeam_utils::CachePadded;

/// One `T` per CPU (up to [`MAX_STRIPES`]), each padded to its own cache line.
#[derive(Debug)]
pub struct Stripes<T> {
    slots: Box<[CachePadded<T>]>,
}

/// At most this many stripes: more CPUs share them.
pub const MAX_STRIPES: usize = 64;

impl<T: Default> Default for Stripes<T> {
    fn default() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        Self::with_stripes(cpus)
    }
}

impl<T: Default> Stripes<T> {
    /// `n` stripes (at least one, at most [`MAX_STRIPES`]).
    pub fn with_stripes(n: usize) -> Self {
        let n = n.clamp(1, MAX_STRIPES);
        Self {
            slots: (0..n).map(|_| CachePadded::new(T::default())).collect(),
        }
    }
}

impl<T> Stripes<T> {
    /// The stripe of the CPU this thread runs on.
    pub fn local(&self) -> &T {
        &self.slots[current_cpu() % self.slots.len()]
    }

    /// Every stripe, for a reader adding them up.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().map(|s| &**s)
    }
}

#[cfg(target_os = "linux")]
fn current_cpu() -> usize {
    nix::sched::sched_getcpu().unwrap_or(0)
}

#[cfg(not(target_os = "linux"))]
fn current_cpu() -> usize {
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    #[test]
    fn counts_from_many_threads_add_up() {
        let stripes: Arc<Stripes<AtomicU64>> = Arc::new(Stripes::with_stripes(4));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let s = stripes.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        s.local().fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let total: u64 = stripes.iter().map(|c| c.load(Ordering::Relaxed)).sum();
        assert_eq!(total, 80_000);
    }

    #[test]
    fn stripe_count_is_bounded() {
        assert_eq!(Stripes::<AtomicU64>::with_stripes(0).iter().count(), 1);
        assert_eq!(
            Stripes::<AtomicU64>::with_stripes(1000).iter().count(),
            MAX_STRIPES
        );
    }
}
