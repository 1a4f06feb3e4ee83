//! The master: one single-threaded poll loop (self-pipe for signals, 1 s tick) that spawns,
//! reaps and respawns workers, enforces harakiri and mercy, and runs reloads and shutdown.

use super::listen::{self, Listener};
use super::settings::Settings;
use super::signals::{self, Action, SelfPipe};
use super::worker::{self, WorkerEnv};
use super::{pidfile, process, reload};
use crate::python;
use crate::stats::scoreboard::Scoreboard;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use polling::{Event, Events, Poller};
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

/// Poller key of the stats socket (0 is the signal pipe).
const STATS_KEY: usize = 1;
/// Poller keys of the listeners, from this one on, while in cheap mode (no worker).
const LISTEN_KEY: usize = 2;

#[derive(Debug)]
struct Slot {
    id: usize,
    pid: Option<Pid>,
    spawned: Instant,
    /// When it was told to stop (recycle, harakiri, reload); mercy counts from here.
    cursed: Option<Instant>,
    /// Do not respawn before this (fork-bomb guard).
    respawn_after: Option<Instant>,
    /// Crashes in a row, each within [`QUICK_CRASH`] of the spawn (the backoff's exponent).
    quick_crashes: u32,
}

/// A worker that crashes sooner than this after its spawn is respawned after a pause.
const QUICK_CRASH: Duration = Duration::from_secs(1);
/// The longest fork-bomb pause.
const MAX_RESPAWN_PAUSE: Duration = Duration::from_secs(30);

/// A worker of the previous generation, still finishing its requests.
struct Old {
    pid: Pid,
    cursed: Option<Instant>,
}

#[derive(Debug, PartialEq, Eq)]
enum State {
    Running,
    Stopping { since: Instant },
}

pub struct Master {
    s: Settings,
    listeners: Vec<Listener>,
    apps: Vec<python::App>,
    scoreboard: Scoreboard,
    slots: Vec<Slot>,
    old: Vec<Old>,
    /// Old workers are told to stop once every new one accepts (or this deadline passes).
    retire_old_at: Option<Instant>,
    pipe: SelfPipe,
    poller: Poller,
    state: State,
    argv: Vec<OsString>,
    reloads: u32,
    start_cwd: PathBuf,
    touch_mtimes: Vec<Option<std::time::SystemTime>>,
    /// systemd has been told READY=1 for this generation.
    ready_notified: bool,
    /// The stats server (`stats = ADDR`), served from this loop.
    stats: Option<crate::stats::server::StatsServer>,
    harakiri: super::harakiri::Watch,
    /// `cheaper` > 0: the adaptive worker count (`server/cheaper.rs`).
    pool: Option<super::cheaper::Pool>,
    /// Cheap mode (`cheap`, or `idle` expired): no worker; the master waits for a connection.
    sleeping: bool,
    idle: Option<super::cheaper::IdleWatch>,
}

impl Master {
    pub fn new(
        s: Settings,
        listeners: Vec<Listener>,
        apps: Vec<python::App>,
        pipe: SelfPipe,
        argv: Vec<OsString>,
        reloads: u32,
        start_cwd: PathBuf,
    ) -> anyhow::Result<Master> {
        let scoreboard = Scoreboard::new(s.processes, s.threads)?;
        signals::ignore_sigpipe();
        let poller = Poller::new()?;
        // SAFETY: the pipe lives in the Master, as long as the poller.
        unsafe { poller.add(pipe.fd(), Event::readable(0))? };
        let stats = match &s.stats {
            Some(addr) => {
                let st = crate::stats::server::StatsServer::bind(
                    addr,
                    s.stats_http,
                    &std::env::current_dir()?,
                    s.listen,
                )?;
                eprintln!("*** Stats server enabled on {addr} fd: {} ***", st.fd());
                // SAFETY: the stats server lives in the Master, as long as the poller.
                unsafe { poller.add(st.poll_fd(), Event::readable(STATS_KEY))? };
                Some(st)
            }
            None => None,
        };
        let old = std::env::var(reload::OLD_WORKERS_ENV)
            .unwrap_or_default()
            .split(',')
            .filter_map(|p| p.parse().ok())
            .map(|p| Old {
                pid: Pid::from_raw(p),
                cursed: None,
            })
            .collect();
        std::env::remove_var(reload::OLD_WORKERS_ENV);
        let touch_mtimes = s.touch_reload.iter().map(|p| mtime(p)).collect();
        let pool = s.cheaper.clone().map(super::cheaper::Pool::new);
        let s_idle = s.idle;
        let slots = (1..=s.processes)
            .map(|id| Slot {
                id,
                pid: None,
                spawned: Instant::now(),
                cursed: None,
                respawn_after: None,
                quick_crashes: 0,
            })
            .collect();
        Ok(Master {
            s,
            listeners,
            apps,
            scoreboard,
            slots,
            old,
            retire_old_at: None,
            pipe,
            poller,
            state: State::Running,
            argv,
            reloads,
            start_cwd,
            touch_mtimes,
            ready_notified: false,
            stats,
            harakiri: Default::default(),
            pool,
            sleeping: false,
            idle: (s_idle > 0).then(|| super::cheaper::IdleWatch::new(s_idle)),
        })
    }

    pub fn run(mut self) -> anyhow::Result<u8> {
        eprintln!(
            "mapped {} bytes ({} KB) for {} cores",
            self.scoreboard.len(),
            self.scoreboard.len() / 1024,
            self.s.processes * self.s.threads
        );
        eprintln!(
            "*** Operational MODE: {} ***",
            match (self.s.processes > 1, self.s.threads > 1) {
                (true, true) => "preforking+threaded",
                (true, false) => "preforking",
                (false, true) => "threaded",
                (false, false) => "single process",
            }
        );
        if self.reloads > 0 {
            eprintln!(
                "gracefully (RE)spawned rw master process (pid: {})",
                std::process::id()
            );
        } else {
            eprintln!("spawned rw master process (pid: {})", std::process::id());
        }
        for line in self.pool.iter().flat_map(|p| p.banner()) {
            eprintln!("{line}");
        }
        if self.s.cheap {
            self.go_cheap();
        }
        for i in 0..self.slots.len() {
            if self.wanted(i) {
                self.spawn(i);
            } else {
                self.mark_cheap(self.slots[i].id);
            }
        }
        if !self.old.is_empty() {
            self.retire_old_at = Some(Instant::now() + Duration::from_secs(30));
        }
        let mut events = Events::new();
        loop {
            events.clear();
            // Workers say they accept through the scoreboard, which wakes nobody: while a
            // generation is starting, look often, so a reload completes (and old workers
            // retire) within a tick rather than within a second.
            let tick = if self.retire_old_at.is_some() || !self.ready_notified {
                Duration::from_millis(20)
            } else {
                Duration::from_secs(1)
            };
            let _ = self.poller.wait(&mut events, Some(tick));
            let connection_waits = events.iter().any(|e| e.key >= LISTEN_KEY);
            if !events.is_empty() {
                self.poller.modify(
                    // SAFETY: the pipe fd is open for the master's lifetime.
                    unsafe { std::os::fd::BorrowedFd::borrow_raw(self.pipe.fd()) },
                    Event::readable(0),
                )?;
            }
            for sig in self.pipe.drain() {
                if let Some(code) = self.on_signal(sig)? {
                    return Ok(code);
                }
            }
            self.reap();
            // Every turn, not only on its events: it also expires slow stats clients.
            self.serve_stats();
            self.retire_old_generation();
            self.notify_ready();
            if let State::Stopping { since } = self.state {
                if self.alive() == 0 && self.old.is_empty() {
                    return Ok(self.goodbye());
                }
                if since.elapsed() >= self.s.stop_mercy() {
                    self.kill_all(Signal::SIGKILL);
                }
                continue;
            }
            if connection_waits && self.sleeping {
                self.wake_up();
            }
            self.respawn_dead();
            self.check_harakiri();
            self.check_mercy();
            self.run_cheaper();
            self.check_idle();
            if self.touched() {
                eprintln!(
                    "*** touch-reload: a watched file has been touched... grace them all !!! ***"
                );
                self.exec_reload(true)?;
            }
        }
    }

    /// Whether slot `idx` is to have a worker (always, unless the cheaper keeps it cheap or
    /// the instance is in cheap mode).
    fn wanted(&self, idx: usize) -> bool {
        !self.sleeping
            && self
                .pool
                .as_ref()
                .is_none_or(|p| p.wanted(self.slots[idx].id))
    }

    /// `idle`: no request finished for that long and none running: every worker stops
    /// gracefully and the master waits for a connection (uWSGI stops them with SIGINT and
    /// SIGKILL after 3 s; they are idle, so rw lets them finish), or shuts down (`die-on-idle`).
    fn check_idle(&mut self) {
        if self.sleeping || self.retire_old_at.is_some() {
            return;
        }
        let total = self.scoreboard.header().total_requests.load(Relaxed);
        let busy = self.slots.iter().any(|s| {
            s.pid.is_some()
                && (0..self.s.threads)
                    .any(|c| self.scoreboard.core(s.id, c).in_request.load(Relaxed) != 0)
        });
        let Some(w) = self.idle.as_mut() else { return };
        if !w.expired(total, busy, Instant::now()) {
            return;
        }
        eprintln!(
            "workers have been inactive for more than {} seconds",
            w.limit_secs()
        );
        if self.s.die_on_idle {
            self.begin_shutdown("die-on-idle");
            return;
        }
        self.go_cheap();
        for slot in &mut self.slots {
            if let Some(pid) = slot.pid {
                slot.cursed.get_or_insert_with(Instant::now);
                let _ = kill(pid, Signal::SIGHUP);
            }
        }
    }

    /// Cheap mode: the listeners go into the master's poller; the first connection wakes it.
    fn go_cheap(&mut self) {
        self.sleeping = true;
        for (i, l) in self.listeners.iter().enumerate() {
            // SAFETY: the listeners live in the Master, as long as the poller; they are
            // deleted from it on wake-up.
            if let Err(e) = unsafe { self.poller.add(l.raw(), Event::readable(LISTEN_KEY + i)) } {
                eprintln!("cannot watch {} for connections: {e}", l.name);
            }
        }
        for slot in &self.slots {
            if slot.pid.is_none() {
                self.mark_cheap(slot.id);
            }
        }
        eprintln!("cheap mode enabled: waiting for socket connection...");
    }

    /// A connection waits: spawn `cheaper` workers (all of them without cheaper), which take
    /// it from the listen queue.
    fn wake_up(&mut self) {
        self.sleeping = false;
        for l in &self.listeners {
            // SAFETY: the listener fd is open for the master's lifetime.
            let _ = self
                .poller
                .delete(unsafe { std::os::fd::BorrowedFd::borrow_raw(l.raw()) });
        }
        let n = match self.pool.as_mut() {
            Some(p) => {
                let min = p.params().min;
                p.reset_to(min);
                min
            }
            None => self.slots.len(),
        };
        if let Some(w) = self.idle.as_mut() {
            w.reset(Instant::now());
        }
        eprintln!("a connection is waiting: leaving cheap mode, spawning {n} worker(s)");
    }

    /// Shows slot `id` as `cheap` in the stats (it has no process, by the cheaper's choice).
    fn mark_cheap(&self, id: usize) {
        self.scoreboard
            .worker(id)
            .status
            .store(crate::stats::scoreboard::Status::Cheap as u32, Relaxed);
    }

    /// Every worker this generation is to run accepts.
    fn all_accepting(&self) -> bool {
        (0..self.slots.len()).all(|i| {
            !self.wanted(i)
                || self
                    .scoreboard
                    .worker(self.slots[i].id)
                    .accepting
                    .load(Relaxed)
                    == 1
        })
    }

    /// One cheaper cycle (at most one a second; not while a reload is being completed):
    /// spawns what it asks for, and stops the worker it picks gracefully (SIGHUP: the worker
    /// answers what it accepted, keep-alive requests on their way included, then exits).
    fn run_cheaper(&mut self) {
        if self.retire_old_at.is_some() || self.sleeping {
            return;
        }
        let Some(pool) = self.pool.as_mut() else {
            return;
        };
        let live: Vec<super::cheaper::Live> = self
            .slots
            .iter()
            .map(|s| super::cheaper::Live {
                id: s.id,
                pid: s.pid.map(Pid::as_raw),
                spawned: s.spawned,
                stopping: s.cursed.is_some(),
            })
            .collect();
        match pool.cycle(&live, &self.scoreboard, &self.listeners) {
            crate::cheaper::Plan::Hold => {}
            crate::cheaper::Plan::Spawn(ids) => {
                for id in ids {
                    self.spawn(id - 1);
                }
            }
            crate::cheaper::Plan::Stop(id) => {
                let slot = &mut self.slots[id - 1];
                if let Some(pid) = slot.pid {
                    eprintln!("cheaper: stopping worker {id} (pid: {pid}) gracefully...");
                    slot.cursed = Some(Instant::now());
                    let _ = kill(pid, Signal::SIGHUP);
                }
            }
        }
    }

    fn alive(&self) -> usize {
        self.slots.iter().filter(|s| s.pid.is_some()).count()
    }

    fn on_signal(&mut self, sig: Signal) -> anyhow::Result<Option<u8>> {
        match signals::action(sig, self.s.die_on_term) {
            Some(Action::GracefulReload) if self.state == State::Running => {
                eprintln!("...gracefully killing workers...");
                self.exec_reload(true)?;
            }
            Some(Action::BrutalReload) if self.state == State::Running => {
                eprintln!("...brutally killing workers...");
                self.exec_reload(false)?;
            }
            Some(Action::Shutdown) => {
                if self.state == State::Running {
                    self.begin_shutdown(&format!("{sig} received"));
                } else {
                    eprintln!("{sig} received again...killing workers now");
                    self.kill_all(Signal::SIGKILL);
                }
            }
            Some(Action::Stats) => self.log_stats(),
            _ => {}
        }
        Ok(None)
    }

    /// A graceful stop of the whole instance (SIGINT, SIGQUIT, `rw stop`, die-on-idle).
    fn begin_shutdown(&mut self, why: &str) {
        eprintln!("{why}...stopping workers (they finish in-flight requests)...");
        self.state = State::Stopping {
            since: Instant::now(),
        };
        self.kill_all(Signal::SIGHUP);
        super::systemd::notify("STOPPING=1\nSTATUS=stopping");
        // Refuse new connections at once (every process shares these sockets), so nginx
        // moves them to another instance instead of waiting on our backlog.
        for l in &self.listeners {
            // SAFETY: shutdown(2) on a listening socket we own.
            unsafe { libc::shutdown(l.raw(), libc::SHUT_RDWR) };
        }
    }

    fn kill_all(&mut self, sig: Signal) {
        for slot in &mut self.slots {
            if let Some(pid) = slot.pid {
                slot.cursed.get_or_insert_with(Instant::now);
                let _ = kill(pid, sig);
            }
        }
        for o in &mut self.old {
            o.cursed.get_or_insert_with(Instant::now);
            let _ = kill(o.pid, sig);
        }
    }

    fn spawn(&mut self, idx: usize) {
        let id = self.slots[idx].id;
        let master = nix::unistd::getpid();
        // Signals stay blocked across fork: a signal meant for the new worker must not run the
        // master's handler copy in the child (it would write into the master's self-pipe and be
        // lost for the worker). The child unblocks once its own handlers are in place.
        let all = nix::sys::signal::SigSet::all();
        let mut saved = nix::sys::signal::SigSet::empty();
        let _ = nix::sys::signal::pthread_sigmask(
            nix::sys::signal::SigmaskHow::SIG_BLOCK,
            Some(&all),
            Some(&mut saved),
        );
        // The slot is reset before the fork, never after: the child sets `accepting` (and may
        // set `status`) as soon as it runs, and a reset after fork could overwrite that, leaving
        // a reload waiting on a worker that already serves.
        self.scoreboard
            .worker(id)
            .on_spawn(0, process::now_us() / 1_000_000);
        // SAFETY: the master is single-threaded (no thread is ever started in it), so the child
        // may run arbitrary code; Python's fork hooks run with the GIL held.
        let r = python::fork_with_gil(|| unsafe { nix::unistd::fork() });
        match r {
            Ok(nix::unistd::ForkResult::Child) => {
                let env = WorkerEnv {
                    id,
                    settings: &self.s,
                    listeners: &self.listeners,
                    scoreboard: &self.scoreboard,
                    apps: &self.apps,
                    master,
                };
                if let Some(st) = self.stats.take() {
                    st.close_in_child();
                }
                worker::run(env);
            }
            Ok(nix::unistd::ForkResult::Parent { child }) => {
                let _ = nix::sys::signal::pthread_sigmask(
                    nix::sys::signal::SigmaskHow::SIG_SETMASK,
                    Some(&saved),
                    None,
                );
                let slot = &mut self.slots[idx];
                slot.pid = Some(child);
                slot.spawned = Instant::now();
                slot.cursed = None;
                slot.respawn_after = None;
                self.scoreboard
                    .worker(id)
                    .pid
                    .store(child.as_raw(), Relaxed);
                eprintln!(
                    "spawned rw worker {id} (pid: {child}, cores: {})",
                    self.s.threads
                );
            }
            Err(e) => {
                let _ = nix::sys::signal::pthread_sigmask(
                    nix::sys::signal::SigmaskHow::SIG_SETMASK,
                    Some(&saved),
                    None,
                );
                eprintln!("fork() failed for worker {id}: {e}; retrying in 1 second");
                self.slots[idx].respawn_after = Some(Instant::now() + Duration::from_secs(1));
            }
        }
    }

    fn reap(&mut self) {
        loop {
            let status = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(s) => s,
            };
            let Some(pid) = status.pid() else { continue };
            if let Some(pos) = self.old.iter().position(|o| o.pid == pid) {
                self.old.remove(pos);
                eprintln!("old worker (pid: {pid}) buried");
                continue;
            }
            let Some(slot) = self.slots.iter_mut().find(|s| s.pid == Some(pid)) else {
                continue;
            };
            let id = slot.id;
            let lived = slot.spawned.elapsed();
            let was_cursed = slot.cursed.is_some();
            slot.pid = None;
            slot.cursed = None;
            self.scoreboard.worker(id).pid.store(0, Relaxed);
            self.scoreboard.worker(id).accepting.store(0, Relaxed);
            let graceful =
                matches!(status, WaitStatus::Exited(_, c) if c == worker::EXIT_GRACEFUL || c == 0);
            for core in 0..self.s.threads {
                let c = self.scoreboard.core(id, core);
                if !graceful && c.in_request.load(Relaxed) != 0 {
                    self.log_lost_request(id, pid, core, &status);
                }
                c.in_request.store(0, Relaxed);
                c.request_start_us.store(0, Relaxed);
            }
            if let State::Stopping { since } = self.state {
                eprintln!(
                    "worker {id} buried after {} seconds",
                    since.elapsed().as_secs()
                );
                continue;
            }
            match status {
                WaitStatus::Exited(_, code) if code == worker::EXIT_NO_APP && self.s.need_app => {
                    eprintln!("OOPS ! failed loading app in worker {id} (pid {pid})");
                    eprintln!("need-app requested, destroying the instance...");
                    self.state = State::Stopping {
                        since: Instant::now(),
                    };
                    self.kill_all(Signal::SIGHUP);
                    continue;
                }
                WaitStatus::Exited(_, worker::EXIT_GRACEFUL) | WaitStatus::Exited(_, 0) => {
                    if was_cursed {
                        eprintln!("worker {id} killed successfully (pid: {pid})");
                    } else {
                        eprintln!("worker {id} (pid: {pid}) recycled itself");
                    }
                }
                WaitStatus::Signaled(_, sig, _) => {
                    eprintln!("DAMN ! worker {id} (pid: {pid}) died, killed by signal {} :( trying respawn ...", sig as i32);
                }
                WaitStatus::Exited(_, code) => {
                    eprintln!("DAMN ! worker {id} (pid: {pid}) died, exit code {code} :( trying respawn ...");
                }
                _ => {}
            }
            if !self.wanted(id - 1) {
                eprintln!("rw worker {id} cheaped.");
                self.mark_cheap(id);
                continue;
            }
            // Fork-bomb guard, for startup crashes only: a worker that retired itself or was
            // told to stop (max-requests, reload-on-rss, mercy) is replaced at once, however
            // short its life. One that keeps crashing right after its spawn, before serving a
            // request, waits 1, 2, 4… s.
            let Some(slot) = self.slots.iter_mut().find(|s| s.id == id) else {
                continue;
            };
            // A worker that served requests before it crashed is not a startup loop (a request
            // that crashes it is that request's failure): replaced at once too.
            let served = self.scoreboard.worker(id).delta_requests.load(Relaxed) > 0;
            if was_cursed || graceful || served || lived >= QUICK_CRASH {
                slot.quick_crashes = 0;
                continue;
            }
            slot.quick_crashes += 1;
            let pause =
                Duration::from_secs(1u64 << (slot.quick_crashes - 1).min(5)).min(MAX_RESPAWN_PAUSE);
            slot.respawn_after = Some(Instant::now() + pause);
            eprintln!(
                "worker {id} crashed {} time{} in a row within {} s of its start, before serving a request: respawning in {} s (fork-bomb guard)",
                slot.quick_crashes,
                if slot.quick_crashes == 1 { "" } else { "s" },
                QUICK_CRASH.as_secs(),
                pause.as_secs()
            );
        }
    }

    /// The request line of a request that died with its worker: the client got no response,
    /// and the access log must still show the request (the worker could not write it).
    fn log_lost_request(&self, id: usize, pid: Pid, core: usize, status: &WaitStatus) {
        let c = self.scoreboard.core(id, core);
        let var = |k: &[u8]| {
            c.var(k)
                .map_or_else(|| "-".to_string(), |v| crate::log::sanitize::escaped(&v))
        };
        let start = c.request_start_us.load(Relaxed);
        let ms = process::now_us().saturating_sub(start) / 1000;
        let how = match status {
            WaitStatus::Signaled(_, sig, _) => format!("killed by signal {}", *sig as i32),
            WaitStatus::Exited(_, code) => format!("exited with code {code}"),
            _ => "died".to_string(),
        };
        eprintln!(
            "[pid: {pid}|app: -|req: -/-] {} () [{}] {} {} => no response: worker {id} {how} after {} msecs (core {core})",
            var(b"REMOTE_ADDR"),
            crate::log::request_line::ctime_now(),
            var(b"REQUEST_METHOD"),
            var(b"REQUEST_URI"),
            if start == 0 { 0 } else { ms },
        );
    }

    fn respawn_dead(&mut self) {
        for i in 0..self.slots.len() {
            let slot = &self.slots[i];
            if slot.pid.is_none()
                && self.wanted(i)
                && slot.respawn_after.is_none_or(|t| Instant::now() >= t)
            {
                self.spawn(i);
                if let Some(pid) = self.slots[i].pid {
                    eprintln!("Respawned rw worker {} (new pid: {pid})", self.slots[i].id);
                }
            }
        }
    }

    /// Requests running longer than `harakiri` seconds: interrupted, then their worker killed
    /// if they do not return (see `server/harakiri.rs`).
    fn check_harakiri(&mut self) {
        let live: Vec<(usize, Pid)> = self
            .slots
            .iter()
            .filter_map(|s| Some((s.id, s.pid?)))
            .collect();
        self.harakiri.check(&self.s, &self.scoreboard, &live);
    }

    /// Workers told to stop that take longer than `worker-reload-mercy` are SIGKILLed.
    fn check_mercy(&mut self) {
        let mercy = self.s.worker_reload_mercy;
        for slot in &self.slots {
            if let (Some(pid), Some(t)) = (slot.pid, slot.cursed) {
                if t.elapsed() >= mercy {
                    eprintln!(
                        "worker {} (pid: {pid}) is taking too much time to die...NO MERCY !!!",
                        slot.id
                    );
                    let _ = kill(pid, Signal::SIGKILL);
                }
            }
        }
        for o in &self.old {
            if o.cursed.is_some_and(|t| t.elapsed() >= mercy) {
                let _ = kill(o.pid, Signal::SIGKILL);
            }
        }
        // Workers recycle themselves (max-requests, reload-on-rss): mark them so mercy applies.
        for slot in &mut self.slots {
            if slot.pid.is_some()
                && slot.cursed.is_none()
                && self.scoreboard.worker(slot.id).status.load(Relaxed)
                    == crate::stats::scoreboard::Status::Cursed as u32
            {
                slot.cursed = Some(Instant::now());
            }
        }
    }

    /// After an exec-reload: once every new worker accepts, the old generation stops gracefully.
    fn retire_old_generation(&mut self) {
        let Some(deadline) = self.retire_old_at else {
            return;
        };
        let ready = self.all_accepting();
        if ready || Instant::now() >= deadline {
            reload::status_ok();
            for o in &mut self.old {
                if o.cursed.is_none() {
                    eprintln!("Gracefully killing old worker (pid: {})...", o.pid);
                    let _ = kill(o.pid, Signal::SIGHUP);
                    o.cursed = Some(Instant::now());
                }
            }
            self.retire_old_at = None;
        }
    }

    /// Tells systemd (Type=notify) once every worker of this generation accepts.
    fn notify_ready(&mut self) {
        if self.ready_notified || self.state != State::Running {
            return;
        }
        if self.all_accepting() {
            self.ready_notified = true;
            super::systemd::notify(&format!(
                "READY=1\nMAINPID={}\nSTATUS=serving with {} workers",
                std::process::id(),
                self.pool.as_ref().map_or(self.s.processes, |p| p.target())
            ));
        }
    }

    fn touched(&mut self) -> bool {
        let mut changed = false;
        for (i, p) in self.s.touch_reload.iter().enumerate() {
            let now = mtime(p);
            if now != self.touch_mtimes[i] {
                self.touch_mtimes[i] = now;
                changed = true;
            }
        }
        changed
    }

    /// Replaces the master image with a fresh one (same pid, same argv) that re-imports the
    /// app. Listeners stay open across exec, so no connection is refused; the current workers
    /// keep serving until the new ones accept (graceful) or are killed first (brutal). A
    /// configuration the new image would refuse is found here first: the reload is refused, the
    /// current generation keeps serving, and the error goes to the log and to `rw reload`.
    fn exec_reload(&mut self, graceful: bool) -> anyhow::Result<()> {
        reload::status_reloading();
        let _ = std::env::set_current_dir(&self.start_cwd);
        if let Err(why) = reload::check_new_image(&self.argv) {
            for line in why.lines() {
                eprintln!("reload refused: {line}");
            }
            eprintln!("the current generation keeps serving; fix the problem and reload again");
            reload::status_failed(&why);
            self.restore_cwd();
            return Ok(());
        }
        super::systemd::notify_reloading();
        let mut pids: Vec<Pid> = self.slots.iter().filter_map(|s| s.pid).collect();
        pids.extend(self.old.iter().map(|o| o.pid));
        if !graceful {
            for p in &pids {
                let _ = kill(*p, Signal::SIGTERM);
            }
        }
        let err = reload::exec_image(&reload::Handover {
            argv: &self.argv,
            listeners: self
                .listeners
                .iter()
                .map(|l| (l.raw(), listen::inherit_entry(l)))
                .collect(),
            old_workers: pids,
            reloads: self.reloads,
            cwd: &self.start_cwd,
            die_on_term: self.s.die_on_term,
        });
        // exec failed: carry on with the current generation.
        eprintln!("{err}; reload aborted");
        reload::status_failed(&err.to_string());
        self.restore_cwd();
        Ok(())
    }

    fn restore_cwd(&self) {
        if let Some(dir) = &self.s.chdir {
            let _ = std::env::set_current_dir(dir);
        }
    }

    /// Advances the stats clients (never waiting on one), then re-arms the stats server's fd.
    fn serve_stats(&self) {
        use crate::stats::snapshot::{AppInfo, MasterView, SocketInfo};
        let Some(st) = &self.stats else { return };
        let mut apps: Vec<AppInfo> = self
            .apps
            .iter()
            .map(|a| AppInfo {
                id: a.id() as u64,
                mountpoint: a.mountpoint().to_string(),
                startup_time: 0,
            })
            .collect();
        if apps.is_empty() && self.s.lazy_apps {
            apps.push(AppInfo {
                id: 0,
                mountpoint: String::new(),
                startup_time: 0,
            });
        }
        let view = MasterView {
            scoreboard: &self.scoreboard,
            sockets: self
                .listeners
                .iter()
                .map(|l| SocketInfo {
                    name: l.name.clone(),
                    proto: l.proto.name(),
                    fd: l.raw(),
                    is_unix: !matches!(l.addr, listen::Addr::Tcp(_)),
                    backlog: l.backlog,
                })
                .collect(),
            master_pid: std::process::id(),
            processes: self.s.processes,
            threads: self.s.threads,
            apps,
            memory_sampling: self.s.memory_report || self.s.reload_on_rss > 0,
            cheaper: self.pool.as_ref().map(super::cheaper::Pool::stats),
        };
        st.serve_ready(&view);
        // SAFETY: the stats server's fd is open for the master's lifetime.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(st.poll_fd()) };
        let _ = self.poller.modify(fd, Event::readable(STATS_KEY));
    }

    fn log_stats(&self) {
        let total: u64 = (1..=self.s.processes)
            .map(|id| self.scoreboard.worker(id).requests.load(Relaxed))
            .sum();
        eprintln!("\n\tworkers total requests: {total}\n-----------------");
        for id in 1..=self.s.processes {
            let w = self.scoreboard.worker(id);
            eprintln!(
                "\tworker {id} app 0 [] requests: {} exceptions: {}\n-----------------",
                w.requests.load(Relaxed),
                w.exceptions.load(Relaxed)
            );
        }
    }

    /// Final words and vacuum.
    fn goodbye(&self) -> u8 {
        eprintln!("goodbye to rw.");
        if self.s.vacuum {
            if let Some(p) = &self.s.pidfile {
                if pidfile::remove_if_ours(p) {
                    eprintln!("VACUUM: pidfile removed.");
                    reload::remove_status(p);
                }
            }
            if let Some(st) = &self.stats {
                if st.vacuum() {
                    eprintln!("VACUUM: stats socket removed.");
                }
            }
            for l in self.listeners.iter().filter(|l| !l.activated) {
                if let Some(p) = l.unix_path() {
                    if std::fs::remove_file(p).is_ok() {
                        eprintln!("VACUUM: unix socket {} removed.", p.display());
                    }
                }
            }
        }
        0
    }
}

fn mtime(p: &std::path::Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}
