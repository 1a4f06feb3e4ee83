//! What a listener does when accept(2) fails for lack of resources.
//!
//! `EMFILE`, `ENFILE`, `ENOBUFS` and `ENOMEM` do not go away by retrying: the connection stays in
//! the kernel's queue, the listener stays readable, and a poller wakes at once again. Retrying
//! spun every worker at 100 % CPU without a word. Instead the listener is paused (taken out of
//! the poller) for a delay that doubles while the failures go on (from 10 ms to 1 s), and the
//! condition is logged at most once a second with the number of failures since the last line.
//! Connections already accepted keep being served meanwhile, and closing them is what frees fds.
//!
//! Pure bookkeeping over `Instant`s: the caller owns the poller and the log.

use std::time::{Duration, Instant};

/// First pause after a resource failure.
pub const MIN_PAUSE: Duration = Duration::from_millis(10);
/// Longest pause: a listener comes back at least once a second to try again.
pub const MAX_PAUSE: Duration = Duration::from_secs(1);
/// At most one log line per this interval.
pub const LOG_INTERVAL: Duration = Duration::from_secs(1);

/// Whether an accept(2) errno is a resource limit (pause) rather than a per-connection failure
/// (`ECONNABORTED`, `EPROTO`, `EPERM`…: try the next one) or an empty queue (`EAGAIN`).
pub fn is_resource_limit(errno: i32) -> bool {
    matches!(
        errno,
        libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM
    )
}

/// Pause state of one listener (or of a group of listeners sharing a process's fd table).
#[derive(Debug)]
pub struct AcceptBackoff {
    paused_until: Option<Instant>,
    pause: Duration,
    failures_unlogged: u64,
    last_log: Option<Instant>,
}

impl Default for AcceptBackoff {
    fn default() -> Self {
        AcceptBackoff {
            paused_until: None,
            pause: MIN_PAUSE,
            failures_unlogged: 0,
            last_log: None,
        }
    }
}

impl AcceptBackoff {
    /// Records a resource failure at `now` and pauses. Returns the log line when one is due:
    /// the first failure, then at most one per [`LOG_INTERVAL`], counting what was not logged.
    pub fn fail(&mut self, now: Instant, err: &std::io::Error, listener: &str) -> Option<String> {
        let pause = self.pause;
        self.paused_until = Some(now + pause);
        self.pause = (self.pause * 2).min(MAX_PAUSE);
        self.failures_unlogged += 1;
        let due = self
            .last_log
            .is_none_or(|t| now.duration_since(t) >= LOG_INTERVAL);
        if !due {
            return None;
        }
        let n = std::mem::take(&mut self.failures_unlogged);
        self.last_log = Some(now);
        Some(format!(
            "accept() on {listener}: {err}: not accepting for {} ms ({n} failure{} since the last message); open connections are still served",
            pause.as_millis(),
            if n == 1 { "" } else { "s" }
        ))
    }

    /// A connection was accepted: the next failure starts from the shortest pause again.
    pub fn succeeded(&mut self) {
        self.pause = MIN_PAUSE;
    }

    /// Whether the listener is paused at `now`.
    pub fn is_paused(&self, now: Instant) -> bool {
        self.paused_until.is_some_and(|t| now < t)
    }

    /// Whether the listener was paused and the pause is over at `now`: the caller puts it back
    /// into its poller (once: the pause is cleared).
    pub fn resume_due(&mut self, now: Instant) -> bool {
        match self.paused_until {
            Some(t) if now >= t => {
                self.paused_until = None;
                true
            }
            _ => false,
        }
    }

    /// How long a poller may wait at `now` without missing the end of the pause.
    pub fn wait_at_most(&self, now: Instant, default: Duration) -> Duration {
        match self.paused_until {
            Some(t) => t.saturating_duration_since(now).min(default),
            None => default,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emfile() -> std::io::Error {
        std::io::Error::from_raw_os_error(libc::EMFILE)
    }

    #[test]
    fn pauses_double_up_to_a_second_and_reset_on_success() {
        let mut b = AcceptBackoff::default();
        let t0 = Instant::now();
        let mut now = t0;
        let mut pauses = Vec::new();
        for _ in 0..10 {
            b.fail(now, &emfile(), "l");
            assert!(b.is_paused(now));
            let wait = b.wait_at_most(now, Duration::from_secs(5));
            pauses.push(wait.as_millis());
            assert!(!b.resume_due(now + wait - Duration::from_millis(1)));
            now += wait;
            assert!(b.resume_due(now));
            assert!(!b.resume_due(now), "resumes once");
            assert!(!b.is_paused(now));
        }
        assert_eq!(
            pauses,
            [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000],
            "{pauses:?}"
        );
        b.succeeded();
        b.fail(now, &emfile(), "l");
        assert_eq!(b.wait_at_most(now, Duration::from_secs(5)).as_millis(), 10);
    }

    #[test]
    fn logs_at_most_once_a_second_with_the_count() {
        let mut b = AcceptBackoff::default();
        let t0 = Instant::now();
        let first = b.fail(t0, &emfile(), "127.0.0.1:8000").unwrap();
        assert!(first.contains("127.0.0.1:8000"), "{first}");
        assert!(first.contains("Too many open files"), "{first}");
        assert!(first.contains("(1 failure since"), "{first}");
        for ms in [10, 100, 500, 999] {
            assert_eq!(b.fail(t0 + Duration::from_millis(ms), &emfile(), "x"), None);
        }
        let next = b.fail(t0 + Duration::from_secs(1), &emfile(), "x").unwrap();
        assert!(next.contains("(5 failures since"), "{next}");
    }

    #[test]
    fn only_resource_limits_pause() {
        for e in [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM] {
            assert!(is_resource_limit(e));
        }
        for e in [libc::EAGAIN, libc::ECONNABORTED, libc::EPROTO, libc::EINTR] {
            assert!(!is_resource_limit(e));
        }
    }
}
