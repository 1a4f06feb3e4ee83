//! Rate limit for a kind of log line that a client can make as often as it likes (requests
//! refused before the app): the first [`BURST`] lines of a [`WINDOW`] are written, the rest
//! only counted, and once the window is over one summary line says how many were not logged
//! and under which keys. A storm of bad requests costs a few lines a second, and the counts
//! still add up to every event.
//!
//! Pure bookkeeping over `Instant`s: the caller writes the lines, and calls [`Limiter::flush`]
//! now and then so a summary is not held back until the next event.

use std::time::{Duration, Instant};

/// Lines written per window.
pub const BURST: u32 = 10;
/// The window: at most [`BURST`] lines and one summary per window.
pub const WINDOW: Duration = Duration::from_secs(1);

/// Events that were counted but not logged, from `since` to the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub total: u64,
    /// Per key, in the order the keys first came.
    pub by_key: Vec<(&'static str, u64)>,
    pub over: Duration,
}

impl Summary {
    /// `N more <what> in the last S s not logged (k: n, …; at most B lines a second)`.
    pub fn line(&self, what: &str) -> String {
        let keys: Vec<String> = self
            .by_key
            .iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect();
        format!(
            "{} more {what} in the last {:.1} s not logged ({}; at most {BURST} lines a second)",
            self.total,
            self.over.as_secs_f64(),
            keys.join(", ")
        )
    }
}

/// One limiter per kind of line and process.
#[derive(Debug, Default)]
pub struct Limiter {
    window_start: Option<Instant>,
    logged: u32,
    suppressed: Vec<(&'static str, u64)>,
}

impl Limiter {
    /// An event under `key` at `now`: whether to log its line, and the summary of the
    /// window that just ended, to be written first.
    pub fn admit(&mut self, now: Instant, key: &'static str) -> (Option<Summary>, bool) {
        let summary = self.flush(now);
        let start = *self.window_start.get_or_insert(now);
        debug_assert!(now.saturating_duration_since(start) < WINDOW);
        if self.logged < BURST {
            self.logged += 1;
            return (summary, true);
        }
        match self.suppressed.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => *n += 1,
            None => self.suppressed.push((key, 1)),
        }
        (summary, false)
    }

    /// Ends the window if it is over at `now`; returns its summary when events were held back.
    pub fn flush(&mut self, now: Instant) -> Option<Summary> {
        let start = self.window_start?;
        let over = now.saturating_duration_since(start);
        if over < WINDOW {
            return None;
        }
        self.window_start = None;
        self.logged = 0;
        let by_key = std::mem::take(&mut self.suppressed);
        if by_key.is_empty() {
            return None;
        }
        Some(Summary {
            total: by_key.iter().map(|(_, n)| n).sum(),
            by_key,
            over,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_burst_logs_the_first_lines_and_counts_the_rest_into_one_summary() {
        let t0 = Instant::now();
        let mut l = Limiter::default();
        let mut logged = 0;
        for i in 0..200u32 {
            let key = if i % 4 == 0 { "408" } else { "400" };
            let (summary, log) = l.admit(t0 + MS * (i / 10), key);
            assert_eq!(summary, None, "the window is not over yet");
            logged += u32::from(log);
        }
        assert_eq!(logged, BURST);
        assert_eq!(l.flush(t0 + WINDOW - MS), None, "still inside the window");
        let s = l
            .flush(t0 + WINDOW)
            .expect("a summary once the window is over");
        assert_eq!(s.total, 190);
        assert_eq!(s.by_key.iter().map(|(_, n)| n).sum::<u64>(), 190);
        // Keys in the order the suppressed events came (events 0..9 were logged).
        assert_eq!(s.by_key, vec![("400", 143), ("408", 47)]);
        assert!(
            s.line("rejections")
                == "190 more rejections in the last 1.0 s not logged (400: 143, 408: 47; at most 10 lines a second)",
            "{}",
            s.line("rejections")
        );
        assert_eq!(l.flush(t0 + WINDOW * 3), None, "said once");
    }

    #[test]
    fn the_next_event_after_the_window_brings_the_summary_and_is_logged() {
        let t0 = Instant::now();
        let mut l = Limiter::default();
        for _ in 0..BURST + 3 {
            l.admit(t0, "400");
        }
        let (summary, log) = l.admit(t0 + WINDOW + MS, "431");
        assert!(log, "a new window logs again");
        assert_eq!(summary.map(|s| s.total), Some(3));
        // The new window counts from its first event.
        for _ in 1..BURST {
            assert!(l.admit(t0 + WINDOW + MS * 2, "431").1);
        }
        assert!(!l.admit(t0 + WINDOW + MS * 3, "431").1);
    }

    #[test]
    fn a_quiet_window_needs_no_summary() {
        let t0 = Instant::now();
        let mut l = Limiter::default();
        for _ in 0..BURST {
            assert!(l.admit(t0, "408").1);
        }
        assert_eq!(l.flush(t0 + WINDOW * 2), None);
        assert_eq!(l.flush(t0), None, "no window open");
    }
}
