//! Connections refused before the app: a slow head's 408, a malformed request's 4xx/5xx, a
//! uwsgi packet dropped, accept(2) out of fds. Each is counted in the worker's scoreboard
//! slot (stats `workers[].rejections`, `rw_rejections_total`) and logged with its peer and
//! reason in the request log's shape (`[pid: N|app: -1|req: -1/-1] PEER rejected: 408 (…)`),
//! at most `log::limit::BURST` lines a second per worker: a client can make these as fast as
//! it can connect, so the rest are summed up in one `N more rejections …` line.
//!
//! uWSGI logs some of these (`invalid HTTP request size (max N)...skip`, uwsgi packet errors)
//! one line each, unlimited, and a head that times out not at all; it counts none of them.

use super::sync::lock;
use crate::log::limit::Limiter;
use crate::stats::scoreboard::{self, WorkerSlot, REJECTION_KEYS};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Mutex;
use std::time::Instant;

/// One worker's rejections (its threads share it).
pub struct Rejections<'a> {
    slot: &'a WorkerSlot,
    pid: u32,
    limiter: Mutex<Limiter>,
}

impl<'a> Rejections<'a> {
    pub fn new(slot: &'a WorkerSlot, pid: u32) -> Rejections<'a> {
        Rejections {
            slot,
            pid,
            limiter: Mutex::new(Limiter::default()),
        }
    }

    /// An HTTP request answered `status` before the app: `rejected: 408 (reason)` and what
    /// `detail` adds.
    pub fn http(&self, peer: &[u8], status: u16, reason: &str, detail: &str) {
        let idx = scoreboard::rejection_index_of_status(status);
        self.count(idx);
        if !self.admit(idx) {
            return;
        }
        let mut line = self.prefix();
        crate::log::sanitize::push_escaped(&mut line, peer);
        line.extend_from_slice(format!(" rejected: {status} ({reason}){detail}\n").as_bytes());
        crate::log::output::request(&line);
    }

    /// A uwsgi packet dropped without an answer; `message` is uWSGI's wording for it.
    pub fn uwsgi(&self, message: std::fmt::Arguments<'_>) {
        self.count(scoreboard::REJECTION_UWSGI);
        if self.admit(scoreboard::REJECTION_UWSGI) {
            eprintln!("{message}");
        }
    }

    /// An accept(2) that failed for lack of fds or memory: counted only, since
    /// `net::accept_backoff` already logs the storm once a second with its count.
    pub fn accept_failed(&self) {
        self.count(scoreboard::REJECTION_ACCEPT);
    }

    /// Writes the summary of a window that is over (the worker calls it from its 1 s sweep,
    /// so a storm's last summary does not wait for the next rejection).
    pub fn flush(&self) {
        let summary = lock(&self.limiter).flush(Instant::now());
        if let Some(s) = summary {
            self.write_summary(&s);
        }
    }

    fn count(&self, idx: usize) {
        self.slot.rejections[idx].fetch_add(1, Relaxed);
    }

    /// Whether this rejection's line is written (a summary that is due goes first).
    fn admit(&self, idx: usize) -> bool {
        let (summary, log) = lock(&self.limiter).admit(Instant::now(), REJECTION_KEYS[idx]);
        if let Some(s) = summary {
            self.write_summary(&s);
        }
        log
    }

    fn write_summary(&self, s: &crate::log::limit::Summary) {
        let mut line = self.prefix();
        line.extend_from_slice(s.line("rejections").as_bytes());
        line.push(b'\n');
        crate::log::output::request(&line);
    }

    fn prefix(&self) -> Vec<u8> {
        format!("[pid: {}|app: -1|req: -1/-1] ", self.pid).into_bytes()
    }
}
