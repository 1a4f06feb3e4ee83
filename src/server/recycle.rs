//! Recycling policy as uWSGI 2.0 defines it (core/master_checks.c, core/utils.c, core/init.c):
//! which limits retire a worker, who decides, and the master's side of it.
//!
//! - The worker retires itself after a request (`context::finish_request`): `max-requests`,
//!   `reload-on-rss`, `reload-on-as`, each held back until the worker has run
//!   `min-worker-lifetime` seconds (uWSGI's default: 10).
//! - The master retires a worker (`Watch::check`, every tick): `max-worker-lifetime` (+
//!   `(id - 1) × max-worker-lifetime-delta`), and `evil-reload-on-rss` / `evil-reload-on-as`
//!   from its own memory samples, taken every `mem-collector-freq` seconds.
//!
//! Every recycle takes the one graceful path a max-requests recycle takes (the worker stops
//! accepting, answers what it holds with `Connection: close`, exits; the master respawns it at
//! once), so none loses a request. uWSGI SIGKILLs a worker over an evil limit at once; rw
//! stops it gracefully like the others, and `worker-reload-mercy` kills one that does not exit.

use crate::config::resolve::Config;
use crate::stats::recycles::Cause;
use crate::stats::scoreboard::Scoreboard;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

/// uWSGI's `mem-collector-freq` when evil reloads are on and it is unset (or 0).
const DEFAULT_COLLECTOR_FREQ: u64 = 3;

/// The recycling limits of one instance (sizes in bytes, 0 = off).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// `max-worker-lifetime`, seconds.
    pub max_lifetime: u64,
    /// `max-worker-lifetime-delta`, seconds per worker id above 1.
    pub lifetime_delta: u64,
    /// `min-worker-lifetime`.
    pub min_lifetime: Duration,
    /// `reload-on-as`.
    pub reload_on_as: u64,
    /// `evil-reload-on-rss`.
    pub evil_rss: u64,
    /// `evil-reload-on-as`.
    pub evil_as: u64,
    /// `mem-collector-freq`.
    pub collector_every: Duration,
}

impl Policy {
    pub fn from_config(c: &Config) -> Policy {
        let freq = match c.uint("mem-collector-freq") {
            0 => DEFAULT_COLLECTOR_FREQ,
            n => n,
        };
        Policy {
            max_lifetime: c.uint("max-worker-lifetime"),
            lifetime_delta: c.uint("max-worker-lifetime-delta"),
            min_lifetime: Duration::from_secs(c.uint("min-worker-lifetime")),
            reload_on_as: c.uint("reload-on-as") << 20,
            evil_rss: c.uint("evil-reload-on-rss") << 20,
            evil_as: c.uint("evil-reload-on-as") << 20,
            collector_every: Duration::from_secs(freq),
        }
    }

    /// Whether a worker that has run `lived` may retire itself (max-requests, reload-on-rss,
    /// reload-on-as): uWSGI holds those back for `min-worker-lifetime`.
    pub fn may_retire(&self, lived: Duration) -> bool {
        lived >= self.min_lifetime
    }

    /// The lifetime of worker `id` in seconds, `None` without `max-worker-lifetime`.
    pub fn lifetime_of(&self, id: usize) -> Option<u64> {
        (self.max_lifetime > 0)
            .then(|| self.max_lifetime + (id as u64).saturating_sub(1) * self.lifetime_delta)
    }

    /// Worker `id` has run past its lifetime: the whole seconds it ran. uWSGI compares whole
    /// seconds with `>`, so a lifetime of 2 retires a worker in its fourth second.
    pub fn lifetime_over(&self, id: usize, lived: Duration) -> Option<u64> {
        let limit = self.lifetime_of(id)?;
        let secs = lived.as_secs();
        (secs > limit).then_some(secs)
    }

    /// The master samples worker memory (evil reloads).
    pub fn collects(&self) -> bool {
        self.evil_rss > 0 || self.evil_as > 0
    }

    /// The evil limit a worker of this size passes, address space first as uWSGI checks.
    pub fn evil(&self, rss: u64, vsz: u64) -> Option<(Cause, u64)> {
        if self.evil_as > 0 && vsz >= self.evil_as {
            Some((Cause::EvilReloadOnAs, vsz))
        } else if self.evil_rss > 0 && rss >= self.evil_rss {
            Some((Cause::EvilReloadOnRss, rss))
        } else {
            None
        }
    }
}

/// A live worker the master may retire.
pub struct Live {
    pub id: usize,
    pub pid: Pid,
    pub spawned: Instant,
}

/// The master's side: when it last sampled memory.
#[derive(Default)]
pub struct Watch {
    sampled: Option<Instant>,
}

impl Watch {
    /// Retires, gracefully (SIGHUP, the path every stop takes), each of `live` over a
    /// master-side limit, logging it as uWSGI does and counting it by cause. Returns the ids
    /// told to stop (the master starts their mercy).
    pub fn check(&mut self, p: &Policy, sb: &Scoreboard, live: &[Live]) -> Vec<usize> {
        let mut retired = Vec::new();
        let sample = p.collects()
            && self
                .sampled
                .is_none_or(|t| t.elapsed() >= p.collector_every);
        if sample {
            self.sampled = Some(Instant::now());
        }
        for w in live {
            let why = sample
                .then(|| self.evil_of(p, sb, w))
                .flatten()
                .or_else(|| {
                    p.lifetime_over(w.id, w.spawned.elapsed()).map(|secs| {
                        eprintln!(
                            "worker {} lifetime reached, it was running for {secs} second(s)",
                            w.id
                        );
                        Cause::MaxWorkerLifetime
                    })
                });
            if let Some(cause) = why {
                sb.header().count_recycle(cause);
                let _ = kill(w.pid, Signal::SIGHUP);
                retired.push(w.id);
            }
        }
        retired
    }

    /// Samples worker `w`'s memory into the scoreboard (the stats show it) and says which
    /// evil limit it passes, logged in uWSGI's words.
    fn evil_of(&self, p: &Policy, sb: &Scoreboard, w: &Live) -> Option<Cause> {
        let (rss, vsz) = crate::sys::proc::memory_of(w.pid.as_raw())?;
        let slot = sb.worker(w.id);
        slot.rss.store(rss, Relaxed);
        slot.vsz.store(vsz, Relaxed);
        let (cause, size) = p.evil(rss, vsz)?;
        let what = match cause {
            Cause::EvilReloadOnAs => "ADDRESS SPACE",
            _ => "RSS",
        };
        eprintln!(
            "*** EVIL RELOAD ON WORKER {} {what}: {size} (pid: {}) ***",
            w.id, w.pid
        );
        Some(cause)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            max_lifetime: 2,
            lifetime_delta: 3,
            min_lifetime: Duration::from_secs(10),
            collector_every: Duration::from_secs(3),
            ..Policy::default()
        }
    }

    #[test]
    fn lifetime_grows_by_the_delta_per_worker_and_is_exceeded_strictly() {
        let p = policy();
        assert_eq!(p.lifetime_of(1), Some(2));
        assert_eq!(p.lifetime_of(3), Some(8));
        assert_eq!(p.lifetime_over(1, Duration::from_millis(2999)), None);
        assert_eq!(p.lifetime_over(1, Duration::from_millis(3000)), Some(3));
        assert_eq!(p.lifetime_over(2, Duration::from_secs(5)), None);
        assert_eq!(p.lifetime_over(2, Duration::from_secs(6)), Some(6));
        let off = Policy::default();
        assert_eq!(off.lifetime_of(1), None);
        assert_eq!(off.lifetime_over(1, Duration::from_secs(1 << 40)), None);
    }

    #[test]
    fn self_recycles_wait_for_the_minimum_lifetime() {
        let p = policy();
        assert!(!p.may_retire(Duration::from_millis(9999)));
        assert!(p.may_retire(Duration::from_secs(10)));
        assert!(Policy::default().may_retire(Duration::ZERO));
    }

    #[test]
    fn evil_limits_address_space_first() {
        let p = Policy {
            evil_rss: 100 << 20,
            evil_as: 1000 << 20,
            ..Policy::default()
        };
        assert!(p.collects());
        assert_eq!(p.evil(99 << 20, 999 << 20), None);
        assert_eq!(
            p.evil(100 << 20, 999 << 20),
            Some((Cause::EvilReloadOnRss, 100 << 20))
        );
        assert_eq!(
            p.evil(200 << 20, 1000 << 20),
            Some((Cause::EvilReloadOnAs, 1000 << 20))
        );
        assert!(!Policy::default().collects());
        assert_eq!(Policy::default().evil(u64::MAX, u64::MAX), None);
    }
}
