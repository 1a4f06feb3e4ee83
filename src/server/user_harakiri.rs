//! `uwsgi.set_user_harakiri(secs)` (and uwsgidecorators' `@harakiri`), the master side: a
//! worker whose deadline in its scoreboard slot has passed is killed, as uWSGI's master does
//! (`trigger_harakiri`), and respawned like any dead worker.

use crate::stats::scoreboard::Scoreboard;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::sync::atomic::Ordering::Relaxed;

/// One pass, every master tick. `workers`: (id, pid) of the live workers.
pub fn check(sb: &Scoreboard, workers: &[(usize, Pid)], now_unix: u64) {
    for &(id, pid) in workers {
        let w = sb.worker(id);
        let at = w.user_harakiri.load(Relaxed);
        if at == 0 || at >= now_unix {
            continue;
        }
        w.user_harakiri.store(0, Relaxed);
        w.harakiri_count.fetch_add(1, Relaxed);
        eprintln!("*** HARAKIRI ON WORKER {id} (pid: {pid}, try: 1): user harakiri (uwsgi.set_user_harakiri) expired ***");
        let _ = kill(pid, Signal::SIGKILL);
    }
}
