//! A worker's stop state, its one representation: the moment it began to stop (or none).
//! Set from a signal handler (SIGHUP) or when a request finds the worker's work done
//! (`max-requests`, `reload-on-rss`); read by every thread.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

pub struct Stop {
    /// CLOCK_MONOTONIC nanoseconds when the stop began; 0 while serving.
    since_ns: AtomicU64,
}

impl Default for Stop {
    fn default() -> Self {
        Stop::new()
    }
}

impl Stop {
    pub const fn new() -> Stop {
        Stop {
            since_ns: AtomicU64::new(0),
        }
    }

    /// Begins the stop now. True when this call began it (false when already stopping).
    /// Async-signal-safe: clock_gettime(2) and an atomic exchange.
    pub fn begin(&self) -> bool {
        let now = (crate::sys::clock::monotonic_us() * 1000).max(1);
        self.since_ns
            .compare_exchange(0, now, Relaxed, Relaxed)
            .is_ok()
    }

    pub fn is_set(&self) -> bool {
        self.since_ns.load(Relaxed) != 0
    }

    /// How long ago the stop began; `None` while serving.
    pub fn elapsed(&self) -> Option<Duration> {
        match self.since_ns.load(Relaxed) {
            0 => None,
            t => Some(Duration::from_nanos(
                (crate::sys::clock::monotonic_us() * 1000).saturating_sub(t),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn begins_once() {
        let s = Stop::new();
        assert!(!s.is_set());
        assert_eq!(s.elapsed(), None);
        assert!(s.begin());
        assert!(!s.begin(), "already stopping");
        assert!(s.is_set());
        assert!(s.elapsed().is_some_and(|d| d < Duration::from_secs(60)));
    }
}
