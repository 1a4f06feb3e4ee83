//! Harakiri without collateral damage. The master finds a request running past `harakiri`
//! seconds in the scoreboard (per core) and asks its worker to interrupt that one thread: the
//! worker's watchdog thread raises `uwsgi.HarakiriTimeout` in it (its client gets a 504, the
//! log its traceback) and sends it a signal that breaks a blocking call with EINTR. The worker
//! is SIGKILLed only when the thread has not returned within `harakiri-graceful-timeout`; the
//! requests of its other threads are never touched before that.

use super::settings::Settings;
use crate::stats::scoreboard::{CoreSlot, Scoreboard};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::time::{Duration, Instant};

/// Master → worker: "a core of yours has an `interrupt_us` set". Blocked in every thread of
/// the worker and taken by the watchdog's sigwait.
pub fn interrupt_signal() -> libc::c_int {
    libc::SIGRTMIN() + 1
}

/// Watchdog → stuck thread: a no-op handler installed without SA_RESTART, so that a blocking
/// call that gives up on EINTR returns to Python, where the exception is waiting.
fn kick_signal() -> libc::c_int {
    libc::SIGRTMIN() + 2
}

/// How long an interrupted request has to return before its worker is killed:
/// `harakiri-graceful-timeout`, at least one master tick.
pub fn grace(s: &Settings) -> Duration {
    Duration::from_secs(s.harakiri_graceful_timeout.max(1))
}

/// A request harakiri fired on, as the master tracks it.
struct Overdue {
    pid: Pid,
    /// The request's start stamp: another request on the same core is not this one.
    start_us: u64,
    since: Instant,
    killed: bool,
}

/// The master's view of overdue requests, keyed by (worker id, core).
#[derive(Default)]
pub struct Watch {
    overdue: HashMap<(usize, usize), Overdue>,
}

impl Watch {
    /// One pass, every master tick. `workers`: (id, pid) of the live workers.
    pub fn check(&mut self, s: &Settings, sb: &Scoreboard, workers: &[(usize, Pid)]) {
        if s.harakiri == 0 {
            return;
        }
        let now = crate::sys::clock::unix_us();
        let limit = s.harakiri * 1_000_000;
        let grace = grace(s);
        // Entries of workers that are gone (killed, respawned) end here.
        self.overdue
            .retain(|(id, _), o| workers.iter().any(|&(w, p)| w == *id && p == o.pid));
        for &(id, pid) in workers {
            let mut newly = Vec::new();
            let mut stuck = false;
            for core in 0..s.threads {
                let c = sb.core(id, core);
                let start = c.request_start_us.load(Relaxed);
                let busy = c.in_request.load(Relaxed) != 0 && start != 0;
                if let Some(o) = self.overdue.get(&(id, core)) {
                    if busy && start == o.start_us {
                        if !o.killed && o.since.elapsed() >= grace {
                            stuck = true;
                        }
                        continue;
                    }
                    if !o.killed {
                        eprintln!(
                            "HARAKIRI: worker {id} core {core} returned {:.1} s after the interrupt; worker {id} (pid: {pid}) lives on",
                            o.since.elapsed().as_secs_f64()
                        );
                    }
                    self.overdue.remove(&(id, core));
                }
                if busy && now.saturating_sub(start) >= limit {
                    newly.push((core, start));
                }
            }
            for &(core, start) in &newly {
                let c = sb.core(id, core);
                log_overdue(s, id, pid, core, c, start);
                sb.worker(id).harakiri_count.fetch_add(1, Relaxed);
                c.interrupt_us.store(start, Relaxed);
                self.overdue.insert(
                    (id, core),
                    Overdue {
                        pid,
                        start_us: start,
                        since: Instant::now(),
                        killed: false,
                    },
                );
            }
            if !newly.is_empty() {
                eprintln!(
                    "HARAKIRI: interrupting the stuck thread(s) of worker {id}; it is killed if they have not returned in {} s (harakiri-graceful-timeout)",
                    grace.as_secs()
                );
                // SAFETY: kill(2) with a valid signal number to our own child.
                unsafe { libc::kill(pid.as_raw(), interrupt_signal()) };
                if let Some(sig) = s.harakiri_graceful_signal {
                    eprintln!(
                        "HARAKIRI: graceful termination attempt on worker {id} with signal {sig}"
                    );
                    // SAFETY: as above; `sig` is a standard signal (1-31) the config allowed.
                    unsafe { libc::kill(pid.as_raw(), sig) };
                }
            }
            if stuck {
                eprintln!("*** HARAKIRI ON WORKER {id} (pid: {pid}, try: 2) ***");
                let mut mine: Vec<(&usize, &mut Overdue)> = self
                    .overdue
                    .iter_mut()
                    .filter(|((w, _), _)| *w == id)
                    .map(|((_, c), o)| (c, o))
                    .collect();
                mine.sort_by_key(|(c, _)| **c);
                for (core, o) in mine {
                    eprintln!(
                        "HARAKIRI: worker {id} core {core} has not returned {:.1} s after the interrupt (harakiri-graceful-timeout = {}): killing worker {id} (pid: {pid})",
                        o.since.elapsed().as_secs_f64(),
                        grace.as_secs()
                    );
                    o.killed = true;
                }
                let _ = kill(pid, Signal::SIGKILL);
            }
        }
    }
}

/// uWSGI's harakiri lines (operators grep for them), one set per overdue core; with
/// `harakiri-verbose`, the thread's current syscall and wait channel too.
fn log_overdue(s: &Settings, id: usize, pid: Pid, core: usize, c: &CoreSlot, start: u64) {
    let esc = |k: &[u8]| crate::log::sanitize::escaped(&c.var(k).unwrap_or_default());
    eprintln!("*** HARAKIRI ON WORKER {id} (pid: {pid}, try: 1) ***");
    eprintln!(
        "HARAKIRI [core {core}] {} - {} {} since {}",
        esc(b"REMOTE_ADDR"),
        esc(b"REQUEST_METHOD"),
        esc(b"REQUEST_URI"),
        start / 1_000_000
    );
    if s.harakiri_verbose {
        let tid = c.tid.load(Relaxed);
        for what in ["syscall", "wchan"] {
            let p = format!("/proc/{pid}/task/{tid}/{what}");
            if let Ok(v) = std::fs::read_to_string(&p) {
                eprintln!("HARAKIRI: -- {what}> {}", v.trim_end());
            }
        }
    }
    eprintln!("HARAKIRI triggered by worker {id} core {core} !!!");
}

/// Worker side: the signals the watchdog needs, set before any thread of the worker starts
/// (every thread inherits them).
pub fn prepare_worker_signals(mask: &mut libc::sigset_t) {
    // SAFETY: sigaddset on a sigset we own; a no-op handler is async-signal-safe.
    unsafe {
        libc::sigaddset(mask, interrupt_signal());
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = kick_handler as *const () as usize;
        act.sa_flags = 0; // no SA_RESTART: the point is EINTR
        libc::sigemptyset(&mut act.sa_mask);
        libc::sigaction(kick_signal(), &act, std::ptr::null_mut());
    }
}

extern "C" fn kick_handler(_: libc::c_int) {}

/// The worker's harakiri thread: waits for the master's signal and interrupts the threads
/// whose request the master found overdue.
#[derive(Default)]
pub struct Watchdog {
    exit: AtomicBool,
    thread: AtomicU64,
}

impl Watchdog {
    /// Runs until [`Watchdog::stop`]. `core_threads[core]`: the thread id serving that core.
    pub fn run(&self, sb: &Scoreboard, id: usize, core_threads: &[AtomicU64], verbose: bool) {
        // SeqCst with `stop`: either it sees the thread, or this sees `exit`.
        self.thread
            .store(crate::python::current_thread_id(), SeqCst);
        // SAFETY: a sigset we own, filled by sigemptyset/sigaddset.
        let set = unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, interrupt_signal());
            set
        };
        while !self.exit.load(SeqCst) {
            let mut sig = 0;
            // SAFETY: waits for a signal of `set`, blocked in every thread of the worker.
            unsafe { libc::sigwait(&set, &mut sig) };
            if self.exit.load(Relaxed) {
                return;
            }
            for (core, t) in core_threads.iter().enumerate() {
                let c = sb.core(id, core);
                let want = c.interrupt_us.swap(0, Relaxed);
                let thread = t.load(Relaxed);
                if want == 0 || thread == 0 {
                    continue;
                }
                let label = format!("worker {id} core {core}");
                let same_request =
                    || c.in_request.load(Relaxed) != 0 && c.request_start_us.load(Relaxed) == want;
                if crate::python::interrupt_thread(thread, &label, verbose, same_request) {
                    eprintln!("HARAKIRI: raised uwsgi.HarakiriTimeout in {label}");
                    // SAFETY: the thread serves this worker's core (alive for the worker's life);
                    // its handler for the kick signal is a no-op.
                    unsafe { libc::pthread_kill(thread as libc::pthread_t, kick_signal()) };
                }
            }
        }
    }

    /// Makes [`Watchdog::run`] return (from another thread).
    pub fn stop(&self) {
        self.exit.store(true, SeqCst);
        let t = self.thread.load(SeqCst);
        if t != 0 {
            // SAFETY: the watchdog thread is alive until `run` returns, which needs this signal.
            unsafe { libc::pthread_kill(t as libc::pthread_t, interrupt_signal()) };
        }
    }
}
