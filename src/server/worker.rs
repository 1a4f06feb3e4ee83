//! A worker process: N threads sharing one poller that holds the listeners and every idle
//! connection (oneshot). A free thread takes the next ready event and serves that connection to
//! the end; idle keep-alive connections never hold a thread.
//!
//! This file is the event side: the poller, the parked connections, who waits in the poller
//! (the leader) and the queue of what it found, the wake pipe and the stop. What a request
//! needs lives in the request [`Context`]; `request::serve` answers a connection and returns a
//! [`Verdict`] that this side acts on.

use super::body_wait::BodyLimits;
use super::conn::{Conn, Expiry, Origin};
use super::context::{self, Context, ContextEnv, Recycle, Verdict};
use super::request;
use super::settings::Settings;
use super::stop::Stop;
use super::sync::lock;
use crate::config::hooks::Phase;
use crate::net::accept_backoff::{self, AcceptBackoff};
use crate::net::epoll::{Events, Mode, Poller};
use crate::net::listen::{Listener, Proto};
use crate::net::socket::Socket;
use crate::python;
use crate::stats::scoreboard::{Scoreboard, Status};
use nix::sys::signal::Signal;
use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

/// Exit status of a worker that stopped gracefully (uWSGI's "reload" code).
pub const EXIT_GRACEFUL: i32 = 17;
/// Exit status when the app could not be loaded in a lazy-apps worker with need-app.
pub const EXIT_NO_APP: i32 = 22;
/// Exit status of a worker whose setup failed (privileges, chdir2, poller, static roots)
/// before it served anything: rw's own code, so the master can tell a start-up failure,
/// which no respawn can fix, from a crash.
pub const EXIT_SETUP_FAILED: i32 = 23;

/// The worker's stop (one per process: the signal handler sets it).
static STOP: Stop = Stop::new();
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_graceful(_: libc::c_int) {
    STOP.begin();
    let fd = WAKE_FD.load(Relaxed);
    if fd >= 0 {
        // Keeps errno: the handler may interrupt a thread between a failed call and its check.
        super::signals::write_byte_from_handler(fd, 1);
    }
}

extern "C" fn on_brutal(_: libc::c_int) {
    // SAFETY: _exit is async-signal-safe; uWSGI workers exit 30 on SIGINT/SIGTERM.
    unsafe { libc::_exit(30) };
}

/// What a worker inherits from the master at fork.
pub struct WorkerEnv<'a> {
    pub id: usize,
    pub settings: &'a Settings,
    pub listeners: &'a [Listener],
    pub scoreboard: &'a Scoreboard,
    pub apps: &'a [python::App],
    pub master: nix::unistd::Pid,
    /// The slot's first worker of this image (hook-accepting-once).
    pub first_spawn: bool,
}

enum Work {
    Event(usize),
    New(Conn),
    /// A listener passed over for lack of a free thread, taking its turn (see `accept`).
    Turn(usize),
}

/// The event side of a worker, shared by its threads.
struct Shared<'a> {
    ctx: Context<'a>,
    settings: &'a Settings,
    id: usize,
    scoreboard: &'a Scoreboard,
    listeners: &'a [Listener],
    poller: Poller,
    /// How sockets are registered: [`Mode::Level`] for a lone thread (registered once, never
    /// re-armed), [`Mode::Oneshot`] when threads share the poller.
    mode: Mode,
    parked: Mutex<HashMap<usize, Conn>>,
    queue: Mutex<VecDeque<Work>>,
    leader: Mutex<(Events, Instant)>,
    next_key: AtomicUsize,
    stop: &'static Stop,
    /// The stop's effects (listeners out of the poller, the scoreboard told) are done.
    listeners_out: Once,
    wake: (OwnedFd, OwnedFd),
    /// Threads serving a connection now: a thread accepts only as many connections as there
    /// are threads free to serve them (see `accept`).
    busy: AtomicUsize,
    /// The last wait in the poller filled every event slot (see `accept`).
    last_wait_full: AtomicBool,
    /// Listeners paused after accept(2) ran out of fds (or memory); see `net::accept_backoff`.
    backoff: Mutex<AcceptBackoff>,
    /// `backoff` holds a failure not yet cleared by a successful accept (a lock-free check on the
    /// accept path).
    backoff_dirty: AtomicBool,
    /// The thread serving each core (Python's thread id), for harakiri's interrupt.
    core_threads: Vec<AtomicU64>,
    watchdog: super::harakiri::Watchdog,
}

/// Stops counting a connection as busy when its serving ends, even if the request unwinds.
struct BusyGuard<'a>(&'a AtomicUsize);

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

/// How long a stopping worker keeps an idle keep-alive connection open for one more request
/// (answered with `Connection: close`). Closing at once would race with a request the client is
/// sending on it, which then fails with no response at all.
const STOP_IDLE_GRACE: Duration = Duration::from_secs(1);

/// Connections a worker accepts at a wakeup when no sibling can be idle (see `accept`): each
/// one is served in turn after the work already queued.
const ACCEPT_BURST: usize = 64;

const WAKE_KEY: usize = usize::MAX - 1;
/// Poller keys of the uWSGI signal channels ("any worker", then this worker's own).
const SIGNAL_KEYS: [usize; 2] = [usize::MAX - 3, usize::MAX - 2];

fn is_signal_key(k: usize) -> bool {
    SIGNAL_KEYS.contains(&k)
}

/// Runs a worker until it is told to stop; never returns.
pub fn run(env: WorkerEnv) -> ! {
    super::process::die_with_parent(env.master);
    let s = env.settings;
    let as_root = nix::unistd::getuid().is_root();
    if s.compat.master_as_root {
        hook_phase(env.id, &s.hooks, Phase::AsRoot, true);
    }
    if s.compat.master_as_root && (s.uid.is_some() || s.gid.is_some()) {
        // master-as-root: the master stayed root; each worker drops right after fork.
        if let Err(e) = super::process::drop_privileges(s.uid.as_deref(), s.gid.as_deref()) {
            eprintln!("worker {} failed to drop privileges: {e:#}", env.id);
            std::process::exit(EXIT_SETUP_FAILED);
        }
    }
    if s.compat.master_as_root {
        hook_phase(env.id, &s.hooks, Phase::AsUser, !as_root);
    }
    // SIGUSR1, SIGUSR2 and SIGTSTP keep the master's handler (a no-op in a worker) until the
    // worker decides, once its app is loaded, whether the app took them (activity.rs).
    let reset: Vec<_> = super::signals::MASTER_SIGNALS
        .iter()
        .copied()
        .filter(|s| !matches!(s, Signal::SIGUSR1 | Signal::SIGUSR2 | Signal::SIGTSTP))
        .collect();
    super::signals::reset_to_default(&reset);
    reset_hooked_signals();
    install_handlers();
    // The master forked with every signal blocked; ours are installed now. Harakiri's signal
    // stays blocked in every thread: the watchdog takes it with sigwait.
    // SAFETY: a sigset we own, filled before use; pthread_sigmask on the calling thread.
    unsafe {
        let mut mask: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut mask);
        super::harakiri::prepare_worker_signals(&mut mask);
        libc::pthread_sigmask(libc::SIG_SETMASK, &mask, std::ptr::null_mut());
    }
    super::process::set_title(&env.settings.worker_title(env.id));
    let code = match setup_and_serve(&env) {
        Ok(code) => code,
        // Only setup returns errors: the serving loop handles its own.
        Err(e) => {
            eprintln!("worker {} failed to start: {e:#}", env.id);
            EXIT_SETUP_FAILED
        }
    };
    python::run_exit_hooks();
    let _ = std::io::stderr().flush();
    std::process::exit(code)
}

fn setup_and_serve(env: &WorkerEnv) -> anyhow::Result<i32> {
    // Request bodies and their Python bytes are tens of KiB, allocated and freed per request:
    // with glibc's default 128 KiB trim threshold that is a brk() shrink and regrow (and page
    // faults) every request. Keep up to 32 MiB of freed heap instead; setting it turns off
    // glibc's sliding mmap threshold, so pin that too (blocks above 4 MiB still use mmap).
    // SAFETY: mallopt with integer parameters, before any thread of this worker starts.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
    }
    let s = env.settings;
    super::hooks::run(&s.hooks, Phase::PostFork)?;
    let lazy_apps;
    let apps: Vec<&python::App> = if s.lazy_apps {
        super::hooks::run(&s.hooks, Phase::PreApp)?;
        lazy_apps = super::apps::load_apps(s);
        if lazy_apps.is_empty() && s.need_app {
            return Ok(EXIT_NO_APP);
        }
        super::hooks::run(&s.hooks, Phase::PostApp)?;
        lazy_apps.iter().collect()
    } else {
        env.apps.iter().collect()
    };
    python::run_post_fork_hooks(env.id as u32);
    if let Some(dir) = &s.compat.chdir2 {
        // uWSGI: in each worker, once its apps are loaded.
        std::env::set_current_dir(dir)
            .map_err(|e| anyhow::anyhow!("chdir() to {}: {e}", dir.display()))?;
        eprintln!("chdir() to {}", dir.display());
    }
    let (wr, ww) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC)?;
    WAKE_FD.store(ww.as_raw_fd(), Relaxed);
    if STOP.is_set() {
        return Ok(EXIT_GRACEFUL); // told to stop while starting
    }
    let poller = Poller::new()?;
    // One thread: every socket stays armed (level-triggered) and each wakeup accepts one
    // connection, so a connection costs epoll_wait + accept4, with no re-arm and no accept4
    // that ends in EAGAIN, and a keep-alive connection is registered once. Several threads
    // share the poller in oneshot mode instead, so that a ready socket wakes one thread, not
    // all of them.
    let mode = if s.threads == 1 {
        Mode::Level
    } else {
        Mode::Oneshot
    };
    for (i, l) in env.listeners.iter().enumerate() {
        poller.add(l.raw(), i, mode)?;
    }
    poller.add(wr.as_raw_fd(), WAKE_KEY, mode)?;
    // uWSGI signals run in whichever thread of this worker takes them from the poller, between
    // two of its requests (never inside one).
    let signal_fds = super::uwsgi_signals::worker_fds(env.id);
    for (fd, key) in signal_fds.iter().zip(SIGNAL_KEYS) {
        poller.add(*fd, key, mode)?;
    }
    super::uwsgi_signals::set_worker_slot(env.scoreboard.clone(), env.id);
    let ctx = Context::new(ContextEnv {
        settings: s,
        worker_id: env.id,
        scoreboard: env.scoreboard,
        apps,
        listener_ports: env
            .listeners
            .iter()
            .map(|l| l.port.clone().into_bytes())
            .collect(),
        stop: &STOP,
    })?;
    let shared = Shared {
        ctx,
        settings: s,
        id: env.id,
        scoreboard: env.scoreboard,
        listeners: env.listeners,
        poller,
        mode,
        parked: Mutex::new(HashMap::new()),
        queue: Mutex::new(VecDeque::new()),
        leader: Mutex::new((Events::with_capacity(256), Instant::now())),
        next_key: AtomicUsize::new(env.listeners.len() + 1),
        stop: &STOP,
        listeners_out: Once::new(),
        wake: (wr, ww),
        busy: AtomicUsize::new(0),
        last_wait_full: AtomicBool::new(false),
        backoff: Mutex::new(AcceptBackoff::default()),
        backoff_dirty: AtomicBool::new(false),
        core_threads: (0..s.threads).map(|_| AtomicU64::new(0)).collect(),
        watchdog: Default::default(),
    };
    // uWSGI runs them right after marking the worker accepting; here right before, so that a
    // failure is a start-up error (the master counts a generation started once all accept).
    super::hooks::run(&s.hooks, Phase::Accepting)?;
    if env.first_spawn {
        super::hooks::run(&s.hooks, Phase::AcceptingOnce)?;
    }
    if env.id == 1 {
        super::hooks::run(&s.hooks, Phase::Accepting1)?;
        if env.first_spawn {
            super::hooks::run(&s.hooks, Phase::Accepting1Once)?;
        }
    }
    super::activity::start(env.id, env.scoreboard, s.threads);
    ignore_tstp();
    let slot = env.scoreboard.worker(env.id);
    slot.accepting.store(1, Relaxed);
    std::thread::scope(|scope| {
        let shared = &shared;
        if s.harakiri > 0 {
            std::thread::Builder::new()
                .name(format!("rw-w{}-harakiri", env.id))
                .spawn_scoped(scope, move || {
                    shared.watchdog.run(
                        shared.scoreboard,
                        shared.id,
                        &shared.core_threads,
                        s.harakiri_verbose,
                    )
                })
                .expect("spawning the harakiri thread");
        }
        let cores: Vec<_> = (1..s.threads)
            .map(|core| {
                std::thread::Builder::new()
                    .name(format!("rw-w{}-c{core}", env.id))
                    .spawn_scoped(scope, move || shared.thread_loop(core))
                    .expect("spawning a worker thread")
            })
            .collect();
        shared.thread_loop(0);
        for c in cores {
            let _ = c.join();
        }
        shared.watchdog.stop();
    });
    Ok(EXIT_GRACEFUL)
}

/// The as-root/as-user steps of a master-as-root worker; `skip`: not started as root.
fn hook_phase(id: usize, plan: &crate::config::hooks::Plan, phase: Phase, skip: bool) {
    let r = if skip {
        super::hooks::run_as_root_phase(plan, phase)
    } else {
        super::hooks::run(plan, phase)
    };
    if let Err(e) = r {
        eprintln!("worker {id} failed to start: {e:#}");
        std::process::exit(EXIT_SETUP_FAILED);
    }
}

/// Signals a unix_signal hook gave the master a meaning: a worker must not write them into
/// the master's pipe (its copy of the handler would).
fn reset_hooked_signals() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let dfl = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    for n in super::hooks::signals_with_actions() {
        if let Ok(sig) = Signal::try_from(n) {
            // SAFETY: installing SIG_DFL has no handler code to be unsafe.
            let _ = unsafe { sigaction(sig, &dfl) };
        }
    }
}

/// uWSGI's workers only wake up on SIGTSTP (the master pauses them); never stop on it, unless
/// the app gave it a handler of its own.
fn ignore_tstp() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    if super::signals::has_master_handler(Signal::SIGTSTP) {
        let ign = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
        // SAFETY: SIG_IGN installs no code.
        let _ = unsafe { sigaction(Signal::SIGTSTP, &ign) };
    }
}

fn install_handlers() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let graceful = SigAction::new(
        SigHandler::Handler(on_graceful),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    let brutal = SigAction::new(
        SigHandler::Handler(on_brutal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: both handlers are async-signal-safe (an atomic store and write/_exit).
    unsafe {
        let _ = sigaction(Signal::SIGHUP, &graceful);
        let _ = sigaction(Signal::SIGINT, &brutal);
        let _ = sigaction(Signal::SIGTERM, &brutal);
        let _ = sigaction(Signal::SIGQUIT, &brutal);
    }
    super::signals::ignore_sigpipe();
}

impl Shared<'_> {
    fn stopping(&self) -> bool {
        self.stop.is_set()
    }

    /// Stops taking connections once [`STOP`] is set (by the signal handler, which can do no
    /// more, or by a recycle verdict), once. Connections already accepted are still answered
    /// (with `Connection: close`); idle keep-alive ones get [`STOP_IDLE_GRACE`] to send one
    /// more request (see `sweep`), and the worker exits once none is left.
    fn stop_taking_connections(&self) {
        self.listeners_out.call_once(|| {
            let slot = self.scoreboard.worker(self.id);
            slot.status.store(Status::Cursed as u32, Relaxed);
            slot.accepting.store(0, Relaxed);
            for l in self.listeners {
                let _ = self.poller.delete(l.raw());
            }
            // Wakes the thread waiting in the poller, which may be another one.
            let _ = nix::unistd::write(&self.wake.1, &[1]);
        });
    }

    /// One uWSGI signal from a channel: its handler runs on this thread, which serves no
    /// request now. One per wakeup, so a burst of signals interleaves with requests.
    fn on_signal(&self, key: usize) {
        let fds = super::uwsgi_signals::worker_fds(self.id);
        let Some(&fd) = SIGNAL_KEYS
            .iter()
            .position(|k| *k == key)
            .and_then(|i| fds.get(i))
        else {
            return;
        };
        super::uwsgi_signals::handle_one(fd);
        if self.mode == Mode::Oneshot {
            let _ = self.poller.rearm(fd, key);
        }
    }

    /// A request found this worker's work done.
    fn recycle(&self, why: Recycle) {
        if !self.stop.begin() {
            return; // already stopping: said once
        }
        self.scoreboard.header().count_recycle(why.cause());
        let pid = self.ctx.pid;
        match why {
            Recycle::MaxRequests => eprintln!("...The work of process {pid} is done. Seeya!"),
            Recycle::Rss(rss) => eprintln!(
                "...The work of process {pid} is done (RSS {} MB). Seeya!",
                rss >> 20
            ),
            Recycle::As(vsz) => eprintln!(
                "...The work of process {pid} is done (address space {} MB). Seeya!",
                vsz >> 20
            ),
        }
        self.stop_taking_connections();
    }

    fn thread_loop(&self, core: usize) {
        self.core_threads[core].store(python::current_thread_id(), Relaxed);
        // SAFETY: gettid has no preconditions.
        self.ctx
            .core(core)
            .tid
            .store(unsafe { libc::gettid() }, Relaxed);
        loop {
            if self.stopping() {
                self.stop_taking_connections();
            }
            let Some(work) = self.next_work() else { return };
            match work {
                Work::Event(key) if key < self.listeners.len() => self.accept(key, false),
                Work::Turn(idx) => self.accept(idx, true),
                Work::Event(key) if is_signal_key(key) => self.on_signal(key),
                Work::Event(WAKE_KEY) => {
                    let mut b = [0u8; 64];
                    while nix::unistd::read(&self.wake.0, &mut b).is_ok_and(|n| n > 0) {}
                    if !self.stopping() && self.mode == Mode::Oneshot {
                        let _ = self.poller.rearm(self.wake.0.as_raw_fd(), WAKE_KEY);
                    }
                }
                Work::Event(key) => {
                    let conn = {
                        let mut parked = lock(&self.parked);
                        let c = parked.remove(&key);
                        self.count_parked(parked.len());
                        c
                    };
                    if let Some(mut conn) = conn {
                        if conn.lingering() {
                            if conn.linger_more() {
                                self.park(conn, key);
                            } else {
                                self.close(conn);
                            }
                            continue;
                        }
                        self.busy.fetch_add(1, Relaxed);
                        self.serve(conn, key, core);
                    }
                }
                Work::New(conn) => {
                    // Registered in the poller only if it ever has to wait (see `serve`): a
                    // short-lived connection costs no epoll_ctl at all.
                    let key = self.next_key.fetch_add(1, Relaxed);
                    self.serve(conn, key, core);
                }
            }
        }
    }

    /// The next piece of work: queued first; otherwise this thread becomes the one waiting in
    /// the poller (polling allows a single waiter) and queues what it does not take itself.
    fn next_work(&self) -> Option<Work> {
        loop {
            if let Some(w) = lock(&self.queue).pop_front() {
                return Some(w);
            }
            if self.drained() {
                return None;
            }
            let mut leader = lock(&self.leader);
            if let Some(w) = lock(&self.queue).pop_front() {
                return Some(w);
            }
            if self.drained() {
                return None;
            }
            let (events, last_sweep) = &mut *leader;
            // The 1 s tick serves the sweep of parked connections; a paused listener may need
            // to come back sooner.
            let tick = if self.backoff_dirty.load(Relaxed) {
                self.resume_accepting()
            } else {
                Duration::from_secs(1)
            };
            let _ = self.poller.wait(events, Some(tick));
            if last_sweep.elapsed() >= Duration::from_secs(1) {
                *last_sweep = Instant::now();
                self.sweep();
            }
            self.last_wait_full.store(events.is_full(), Relaxed);
            let mut q = lock(&self.queue);
            q.extend(events.keys().map(Work::Event));
            if let Some(w) = q.pop_front() {
                return Some(w);
            }
        }
    }

    /// Stopping and nothing left to serve.
    fn drained(&self) -> bool {
        self.stopping() && lock(&self.parked).is_empty()
    }

    /// `turn`: the listener was passed over and its turn came (see below).
    fn accept(&self, idx: usize, turn: bool) {
        let l = &self.listeners[idx];
        let level = self.mode == Mode::Level;
        let mut accepted = Vec::new();
        // Only as many connections as threads free to serve them now (this one included, minus
        // work already queued): one more would wait inside this worker while an idle sibling
        // process could serve it, so it waits in the kernel's queue instead, where any worker
        // can take it.
        let free = || {
            self.settings
                .threads
                .saturating_sub(self.busy.load(Relaxed))
        };
        let want = if self.settings.processes == 1 {
            // No sibling to leave a connection to: whatever waits is taken (up to a bound),
            // each queued behind the work before it. Holding it back in the kernel's queue
            // only made it wait longer: 64 keep-alive clients on 8 threads that sleep 20 ms
            // were let in one per round, and the last waited over a second.
            ACCEPT_BURST
        } else if turn {
            // The work queued before it is taken: as many as threads are free now (this one
            // at least). Never more: a round can be shorter than a sibling's wakeup, so what
            // is still there does not prove that no sibling has an idle thread. A turn
            // that comes after the stop began takes nothing.
            if self.stopping() {
                0
            } else {
                free()
            }
        } else if level {
            // One per wakeup, so that with several one-thread workers an idle sibling takes
            // the next. A worker whose last wait filled every event slot has hundreds of
            // ready sockets, among which the listener is reported once every few waits: one
            // accept per report took 1,000 connections seconds to let in.
            if self.last_wait_full.load(Relaxed) {
                ACCEPT_BURST
            } else {
                1
            }
        } else {
            // Queued parked connections will take threads too; accepted ones are counted busy.
            let queued_conns = lock(&self.queue)
                .iter()
                .filter(
                    |w| matches!(w, Work::Event(k) if *k >= self.listeners.len() && *k != WAKE_KEY && !is_signal_key(*k)),
                )
                .count();
            let want = free().saturating_sub(queued_conns);
            if want == 0 && !self.stopping() {
                // Every free thread has queued work: the listener takes its turn behind it
                // instead of going back to the poller, where the connections already accepted
                // would always be reported first (keep-alive clients outnumbering threads kept
                // a new connection waiting for as long as they went on: 0.5 s on Django). It
                // is not armed meanwhile, so a sibling with an idle thread still takes the
                // connection (then the turn finds none, and re-arms); its turn accepts as
                // many as threads are free then.
                lock(&self.queue).push_back(Work::Turn(idx));
                return;
            }
            want
        };
        for _ in 0..want {
            // SAFETY: sockaddr_storage is plain data; all-zero is a valid value.
            let mut sa: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
            let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            // SAFETY: accept4 writes at most `len` bytes of address into `sa`; the peer comes
            // with the connection, so no getpeername(2) per connection.
            let fd = unsafe {
                libc::accept4(
                    l.raw(),
                    (&mut sa as *mut libc::sockaddr_storage).cast(),
                    &mut len,
                    libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                )
            };
            if fd < 0 {
                let err = std::io::Error::last_os_error();
                let errno = err.raw_os_error().unwrap_or(0);
                if accept_backoff::is_resource_limit(errno) {
                    self.pause_accepting(&err, l);
                    break;
                }
                if errno == libc::ECONNABORTED || errno == libc::EINTR {
                    continue; // that connection is gone; the next may be there
                }
                break;
            }
            if self.backoff_dirty.load(Relaxed) {
                lock(&self.backoff).succeeded();
                self.backoff_dirty.store(false, Relaxed);
            }
            // Counted busy from now, before the listener is re-armed: a thread woken by it must
            // not count a thread as free that is about to serve this connection.
            self.busy.fetch_add(1, Relaxed);
            // SAFETY: accept4 returned a new fd that nothing else owns.
            let owned = unsafe { OwnedFd::from_raw_fd(fd) };
            accepted.push(self.new_conn(owned, idx, l.proto, peer_of(&sa)));
        }
        if !self.stopping() && !level && !self.accepting_paused() {
            let _ = self.poller.rearm(l.raw(), idx);
        }
        let extra = accepted.len() > 1;
        if !accepted.is_empty() {
            lock(&self.queue).extend(accepted.into_iter().map(Work::New));
        }
        if extra && !level {
            // This thread serves one; a free sibling may be the one waiting in the poller,
            // where it would not see the queue until its next event or tick. (A lone thread
            // has no sibling: it takes the rest from the queue itself.)
            let _ = nix::unistd::write(&self.wake.1, &[1]);
        }
    }

    /// accept(2) ran out of fds or memory: every listener leaves the poller for a while, so
    /// no thread spins on a queue it cannot take from (the connections served now are what
    /// frees fds); the leader puts them back (`resume_accepting`).
    fn pause_accepting(&self, err: &std::io::Error, l: &Listener) {
        let line = {
            let mut b = lock(&self.backoff);
            self.backoff_dirty.store(true, Relaxed);
            b.fail(Instant::now(), err, &l.name)
        };
        self.ctx.rejections.accept_failed();
        for l in self.listeners {
            let _ = self.poller.delete(l.raw());
        }
        if let Some(line) = line {
            eprintln!("{line}");
        }
        // The leader may be waiting with a 1 s timeout: wake it to wait for the pause instead.
        let _ = nix::unistd::write(&self.wake.1, &[1]);
    }

    fn accepting_paused(&self) -> bool {
        self.backoff_dirty.load(Relaxed) && lock(&self.backoff).is_paused(Instant::now())
    }

    /// Puts paused listeners back once their pause is over; returns how long the leader may
    /// wait in the poller.
    fn resume_accepting(&self) -> Duration {
        let now = Instant::now();
        let mut b = lock(&self.backoff);
        if b.resume_due(now) && !self.stopping() {
            for (i, l) in self.listeners.iter().enumerate() {
                let _ = self.poller.add(l.raw(), i, self.mode);
            }
        }
        b.wait_at_most(now, Duration::from_secs(1))
    }

    fn new_conn(
        &self,
        fd: OwnedFd,
        listener: usize,
        proto: Proto,
        peer: (Vec<u8>, Vec<u8>),
    ) -> Conn {
        // TCP_NODELAY is set on the listening socket; accepted sockets inherit it.
        let (peer_addr, peer_port) = peer;
        let l = &self.listeners[listener];
        let timeout = l.timeout.unwrap_or(self.settings.socket_timeout);
        let origin = Origin {
            proto,
            listener,
            peer_addr,
            peer_port,
            proxy_protocol: l.proxy_protocol,
        };
        let sock = Socket::new(fd, timeout, context::wait_for_peer);
        Conn::new(sock, origin, self.ctx.take_buf())
    }

    fn serve(&self, mut conn: Conn, key: usize, core: usize) {
        let slot = self.scoreboard.worker(self.id);
        slot.status.store(Status::Busy as u32, Relaxed);
        let verdict = {
            // Counted busy by whoever handed the connection over (accept, or the parked event).
            let _busy = BusyGuard(&self.busy);
            loop {
                match request::serve(&mut conn, &self.ctx, core) {
                    Verdict::Recycle { keep, why } => {
                        self.recycle(why);
                        if !keep {
                            break Verdict::Close;
                        }
                        // Serve on what the client sent meanwhile (now with `close`), or park.
                    }
                    v => break v,
                }
            }
        };
        if !self.stopping() {
            slot.status.store(Status::Idle as u32, Relaxed);
        }
        match verdict {
            // Also when stopping: the last response promised keep-alive (the stop came while
            // it ran), so the client may send one more request, answered with `close`.
            Verdict::Keep => self.park(conn, key),
            _ => self.finish(conn, key),
        }
    }

    /// Closes a connection, lingering first when client input would be left unread (see
    /// server/linger.rs): it then waits parked, holding no thread.
    fn finish(&self, mut conn: Conn, key: usize) {
        if conn.must_linger() && conn.start_linger() {
            self.park(conn, key);
        } else {
            self.close(conn);
        }
    }

    fn park(&self, mut conn: Conn, key: usize) {
        let first_wait = conn.park();
        let fd = conn.raw();
        let mut parked = lock(&self.parked);
        parked.insert(key, conn);
        self.count_parked(parked.len());
        // Armed after insertion: an event firing at once finds the connection. The socket is
        // deleted from the poller before it is closed (`close`), so the registration never
        // outlives the fd.
        if first_wait {
            if self.poller.add(fd, key, self.mode).is_err() {
                if let Some(c) = parked.remove(&key) {
                    drop(parked);
                    self.close(c);
                }
            }
        } else if self.mode == Mode::Oneshot {
            let _ = self.poller.rearm(fd, key);
        }
    }

    /// Publishes how many connections wait parked (the master's cheaper reads it).
    fn count_parked(&self, n: usize) {
        self.scoreboard
            .worker(self.id)
            .parked
            .store(n as u32, Relaxed);
    }

    fn close(&self, conn: Conn) {
        if conn.registered() {
            let _ = self.poller.delete(conn.raw());
        }
        self.ctx.recycle_buf(conn.close());
    }

    /// Closes idle keep-alive connections and slow heads past `socket-timeout` (408); when
    /// stopping, idle connections after [`STOP_IDLE_GRACE`].
    fn sweep(&self) {
        let stopping = self.stop.elapsed();
        let expired: Vec<(usize, Conn, Expiry)> = {
            let mut parked = lock(&self.parked);
            let keys: Vec<(usize, Expiry)> = parked
                .iter()
                .map(|(k, c)| {
                    let limits = BodyLimits::of(self.settings, c.timeout());
                    (*k, c.expiry(stopping, STOP_IDLE_GRACE, &limits))
                })
                .filter(|(_, e)| *e != Expiry::Alive)
                .collect();
            let expired = keys
                .into_iter()
                .filter_map(|(k, e)| parked.remove(&k).map(|c| (k, c, e)))
                .collect();
            self.count_parked(parked.len());
            expired
        };
        for (key, c, why) in expired {
            if let Expiry::BodyLate(late) = why {
                // Logged and counted (the client's fault, as a thread's 408s are: stats
                // body_errors) before the client has its answer.
                let e = late.http_error();
                self.ctx.log_rejected(c.peer_addr(), e.status, e.reason);
                let slot = self.scoreboard.worker(self.id);
                slot.body_client_timeouts.fetch_add(1, Relaxed);
            }
            c.expire(why, &self.ctx.rejections);
            if why == Expiry::LingerDone {
                self.close(c);
            } else {
                self.finish(c, key);
            }
        }
        self.ctx.rejections.flush();
    }
}

/// The peer's address and port as CGI strings (unix sockets: empty).
fn peer_of(sa: &libc::sockaddr_storage) -> (Vec<u8>, Vec<u8>) {
    match i32::from(sa.ss_family) {
        libc::AF_INET => {
            // SAFETY: ss_family says the storage holds a sockaddr_in.
            let v4 = unsafe { &*(sa as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            // By hand: to_string() goes through the formatting machinery, 5% of a short
            // connection's instructions for two short strings.
            let mut ip = Vec::with_capacity(15);
            for (i, octet) in v4.sin_addr.s_addr.to_ne_bytes().into_iter().enumerate() {
                if i > 0 {
                    ip.push(b'.');
                }
                crate::proto::push_decimal(&mut ip, u64::from(octet));
            }
            let mut port = Vec::with_capacity(5);
            crate::proto::push_decimal(&mut port, u64::from(u16::from_be(v4.sin_port)));
            (ip, port)
        }
        libc::AF_INET6 => {
            // SAFETY: ss_family says the storage holds a sockaddr_in6.
            let v6 =
                unsafe { &*(sa as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = std::net::Ipv6Addr::from(v6.sin6_addr.s6_addr);
            (
                ip.to_string().into_bytes(),
                u16::from_be(v6.sin6_port).to_string().into_bytes(),
            )
        }
        _ => (Vec::new(), Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(ip: std::net::Ipv4Addr, port: u16) -> libc::sockaddr_storage {
        // SAFETY: all-zero is a valid sockaddr_storage; it is large enough for a sockaddr_in.
        let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let sin =
            unsafe { &mut *(&mut ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
        sin.sin_family = libc::AF_INET as libc::sa_family_t;
        sin.sin_port = port.to_be();
        sin.sin_addr.s_addr = u32::from(ip).to_be();
        ss
    }

    #[test]
    fn peer_of_ipv4_matches_display() {
        for (ip, port) in [
            ([127, 0, 0, 1], 40000u16),
            ([10, 200, 3, 255], 0),
            ([0, 0, 0, 0], 65535),
            ([255, 255, 255, 255], 80),
        ] {
            let ip = std::net::Ipv4Addr::from(ip);
            assert_eq!(
                peer_of(&v4(ip, port)),
                (ip.to_string().into_bytes(), port.to_string().into_bytes())
            );
        }
    }
}
