//! SIGUSR2 in a worker: one line per core saying which request it serves and since when, as
//! uWSGI's `what_i_am_doing`. A thread of its own takes the signal (sigwait) and reads the
//! scoreboard, so a worker whose every thread is stuck in a request still answers.

use crate::stats::scoreboard::Scoreboard;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use std::sync::atomic::Ordering::Relaxed;

/// Starts the thread that answers SIGUSR2 for worker `id` (it lives as long as the process),
/// unless the app installed a handler of its own (rw runs PyOS_AfterFork_Child, so Python
/// handlers work in workers): the signal is then the app's. Called by the worker's main
/// thread before it starts its other threads, which inherit the blocked SIGUSR2.
pub fn start(id: usize, scoreboard: &Scoreboard, cores: usize) {
    if !super::signals::has_master_handler(Signal::SIGUSR2) {
        return;
    }
    let _ = nix::sys::signal::pthread_sigmask(
        SigmaskHow::SIG_BLOCK,
        Some(&SigSet::from(Signal::SIGUSR2)),
        None,
    );
    let sb = scoreboard.clone();
    let r = std::thread::Builder::new()
        .name(format!("rw-w{id}-usr2"))
        .spawn(move || loop {
            if SigSet::from(Signal::SIGUSR2).wait().is_ok() {
                for line in lines(id, &sb, cores) {
                    eprintln!("{line}");
                }
            }
        });
    if let Err(e) = r {
        eprintln!("worker {id}: no SIGUSR2 thread ({e}): SIGUSR2 will log nothing");
    }
}

/// What each core of worker `id` is doing, in uWSGI's words (`core N` only with threads).
pub fn lines(id: usize, sb: &Scoreboard, cores: usize) -> Vec<String> {
    let pid = std::process::id();
    let mut out = Vec::new();
    for core in 0..cores {
        let c = sb.core(id, core);
        let start_us = c.request_start_us.load(Relaxed);
        if c.in_request.load(Relaxed) == 0 || start_us == 0 {
            continue;
        }
        // Recorded only with stats or harakiri set (the cost of copying every request's vars).
        let uri = c
            .var(b"REQUEST_URI")
            .map(|u| crate::log::sanitize::escaped(&u))
            .unwrap_or_else(|| "-".into());
        let since = crate::log::date::ctime((start_us / 1_000_000) as i64);
        let who = if cores > 1 {
            format!("rw worker {id} core {core} (pid: {pid})")
        } else {
            format!("rw worker {id} (pid: {pid})")
        };
        out.push(format!(
            "SIGUSR2: --- {who} is managing request {uri} since {since} ---"
        ));
    }
    if out.is_empty() {
        // uWSGI logs nothing for an idle worker; a line says the signal was seen.
        out.push(format!(
            "SIGUSR2: --- rw worker {id} (pid: {pid}) is managing no request ---"
        ));
    }
    out
}
