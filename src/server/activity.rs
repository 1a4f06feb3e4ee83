//! SIGUSR2 and SIGUSR1 sent to a worker: SIGUSR2 logs one line per core saying which request
//! it serves and since when (uWSGI's `what_i_am_doing`), SIGUSR1 the worker's counters
//! (uWSGI's `stats` in a worker). A thread of its own takes them (sigwait) and reads the
//! scoreboard, so a worker whose every thread is stuck in a request still answers.

use crate::stats::scoreboard::Scoreboard;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use std::sync::atomic::Ordering::Relaxed;

/// Starts the thread that answers SIGUSR1/SIGUSR2 for worker `id` (it lives as long as the
/// process). A signal the app gave a handler of its own (rw runs PyOS_AfterFork_Child, so
/// Python handlers work in workers) stays the app's. Called by the worker's main thread
/// before it starts its other threads, which inherit the blocked signals.
pub fn start(id: usize, scoreboard: &Scoreboard, cores: usize) {
    let mut set = SigSet::empty();
    for sig in [Signal::SIGUSR1, Signal::SIGUSR2] {
        if super::signals::has_master_handler(sig) {
            set.add(sig);
        }
    }
    if set.iter().next().is_none() {
        return;
    }
    let _ = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None);
    let sb = scoreboard.clone();
    let r = std::thread::Builder::new()
        .name(format!("rw-w{id}-signals"))
        .spawn(move || loop {
            let lines = match set.wait() {
                Ok(Signal::SIGUSR2) => lines(id, &sb, cores),
                Ok(Signal::SIGUSR1) => counters(id, &sb),
                _ => continue,
            };
            for line in lines {
                eprintln!("{line}");
            }
        });
    if let Err(e) = r {
        eprintln!("worker {id}: no signal thread ({e}): SIGUSR1/SIGUSR2 will log nothing");
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

/// uWSGI's SIGUSR1 lines in a worker (its own count, where uWSGI prints the instance's).
pub fn counters(id: usize, sb: &Scoreboard) -> Vec<String> {
    let w = sb.worker(id);
    vec![
        format!("worker {id} total requests: {}", w.requests.load(Relaxed)),
        format!(
            "\tapp 0 [] requests: {} exceptions: {}",
            w.app_requests.load(Relaxed),
            w.exceptions.load(Relaxed)
        ),
        "-----------------\n".to_string(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_name_the_busy_cores_and_only_them() {
        let sb = Scoreboard::new(2, 2).unwrap();
        assert_eq!(lines(1, &sb, 2).len(), 1);
        assert!(lines(1, &sb, 2)[0].ends_with("is managing no request ---"));
        let vars: Vec<crate::proto::Var> = vec![(
            std::borrow::Cow::Borrowed(&b"REQUEST_URI"[..]),
            std::borrow::Cow::Borrowed(&b"/x?\x1b"[..]),
        )];
        sb.core(1, 1).begin(1_700_000_000_000_000, &vars);
        let l = lines(1, &sb, 2);
        assert_eq!(l.len(), 1, "{l:?}");
        assert!(
            l[0].starts_with("SIGUSR2: --- rw worker 1 core 1 (pid: "),
            "{}",
            l[0]
        );
        assert!(
            l[0].contains("is managing request /x?\\x1b since "),
            "{}",
            l[0]
        );
        assert!(l[0].contains(" 2023 ---"), "{}", l[0]);
        // Another worker's slots are not this worker's.
        assert!(lines(2, &sb, 2)[0].ends_with("no request ---"));
        sb.worker(1).requests.store(7, Relaxed);
        assert_eq!(counters(1, &sb)[0], "worker 1 total requests: 7");
    }
}
