//! A worker process: N threads sharing one poller that holds the listeners and every idle
//! connection (oneshot). A free thread takes the next ready event and serves that connection to
//! the end; idle keep-alive connections never hold a thread.

use super::listen::{Listener, Proto};
use super::request::{self, Conn, LogInfo, Next};
use super::settings::Settings;
use super::socket::Socket;
use super::static_files::StaticMap;
use crate::log::request_line::{self, LogFormat};
use crate::net::accept_backoff::{self, AcceptBackoff};
use crate::net::epoll::{Events, Mode, Poller};
use crate::proto::http::HeadLimits;
use crate::proto::Var;
use crate::python;
use crate::stats::scoreboard::{CoreSlot, Scoreboard, Status};
use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Exit status of a worker that stopped gracefully (uWSGI's "reload" code).
pub const EXIT_GRACEFUL: i32 = 17;
/// Exit status when the app could not be loaded in a lazy-apps worker with need-app.
pub const EXIT_NO_APP: i32 = 22;

static STOP_REQUESTED: AtomicBool = AtomicBool::new(false);
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_graceful(_: libc::c_int) {
    STOP_REQUESTED.store(true, Relaxed);
    let fd = WAKE_FD.load(Relaxed);
    if fd >= 0 {
        let b = 1u8;
        // SAFETY: write(2) is async-signal-safe.
        unsafe { libc::write(fd, (&b as *const u8).cast(), 1) };
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
}

enum Work {
    Event(usize),
    New(Conn),
}

/// State shared by the threads of one worker.
pub struct Shared<'a> {
    pub settings: &'a Settings,
    pub id: usize,
    pub pid: u32,
    pub scoreboard: &'a Scoreboard,
    apps: Vec<&'a python::App>,
    pub pyctx: python::WorkerContext,
    pub statics: StaticMap,
    pub hostname: Vec<u8>,
    pub listener_ports: Vec<Vec<u8>>,
    pub limits: HeadLimits,
    log_format: Option<LogFormat>,
    listeners: &'a [Listener],
    poller: Poller,
    /// How sockets are registered: [`Mode::Level`] for a lone thread (registered once, never
    /// re-armed), [`Mode::Oneshot`] when threads share the poller.
    mode: Mode,
    parked: Mutex<HashMap<usize, Conn>>,
    /// Read buffers of closed connections, reused by new ones: a fresh 4 KiB allocation per
    /// connection makes glibc consolidate its fastbins every time (2% of a short request).
    buf_pool: Mutex<Vec<Vec<u8>>>,
    /// Bytes asked of one read(2) of a request head: a whole `buffer-size` head fits.
    pub read_size: usize,
    queue: Mutex<VecDeque<Work>>,
    leader: Mutex<(Events, Instant)>,
    next_key: AtomicUsize,
    stopping: AtomicBool,
    wake: (OwnedFd, OwnedFd),
    max_requests: u64,
    /// Copy each request's vars into the scoreboard: only the stats server and harakiri's
    /// log read them, so without those the copy is skipped.
    pub record_vars: bool,
    /// Requests begun in this life (see [`Shared::begin_request`]).
    started: AtomicU64,
    /// When the worker began to stop: idle connections get [`STOP_IDLE_GRACE`] from here.
    stopped_at: OnceLock<Instant>,
    /// Threads serving a connection now: a thread accepts only as many connections as there
    /// are threads free to serve them (see `accept`).
    busy: AtomicUsize,
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

const WAKE_KEY: usize = usize::MAX - 1;

/// Read buffers kept for reuse, and the largest kept.
const BUF_POOL_MAX: usize = 64;
const BUF_POOL_MAX_CAPACITY: usize = 64 << 10;

/// Runs a worker until it is told to stop; never returns.
pub fn run(env: WorkerEnv) -> ! {
    super::process::die_with_parent(env.master);
    let s = env.settings;
    if s.compat.master_as_root && (s.uid.is_some() || s.gid.is_some()) {
        // master-as-root: the master stayed root; each worker drops right after fork.
        if let Err(e) = super::process::drop_privileges(s.uid.as_deref(), s.gid.as_deref()) {
            eprintln!("worker {} failed to drop privileges: {e:#}", env.id);
            std::process::exit(1);
        }
    }
    super::signals::reset_to_default(super::signals::MASTER_SIGNALS);
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
    super::process::set_title(&env.settings.title(&format!("worker {}", env.id)));
    let code = match setup_and_serve(&env) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("worker {} failed: {e:#}", env.id);
            1
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
    let lazy_apps;
    let apps: Vec<&python::App> = if s.lazy_apps {
        lazy_apps = super::load_apps(s);
        if lazy_apps.is_empty() && s.need_app {
            return Ok(EXIT_NO_APP);
        }
        lazy_apps.iter().collect()
    } else {
        env.apps.iter().collect()
    };
    python::run_post_fork_hooks();
    if let Some(dir) = &s.compat.chdir2 {
        // uWSGI: in each worker, once its apps are loaded.
        std::env::set_current_dir(dir)
            .map_err(|e| anyhow::anyhow!("chdir() to {}: {e}", dir.display()))?;
        eprintln!("chdir() to {}", dir.display());
    }
    let (wr, ww) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC)?;
    WAKE_FD.store(ww.as_raw_fd(), Relaxed);
    if STOP_REQUESTED.load(Relaxed) {
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
    let base = s
        .compat
        .chdir2
        .clone()
        .or_else(|| s.chdir.clone())
        .unwrap_or_else(|| std::env::current_dir().unwrap_or_default());
    let statics = StaticMap::new(&s.static_map, &s.check_static, &base)
        .and_then(|m| m.with_options(&s.compat.statics, &base))
        .map_err(anyhow::Error::msg)?;
    let hostname = crate::config::host::hostname();
    let shared = Shared {
        settings: s,
        id: env.id,
        pid: std::process::id(),
        scoreboard: env.scoreboard,
        apps,
        pyctx: python::WorkerContext::new(
            s.threads > 1,
            s.processes > 1,
            env.id as u32,
            hostname.clone(),
        ),
        statics,
        hostname: hostname.into_bytes(),
        listener_ports: env
            .listeners
            .iter()
            .map(|l| l.port.clone().into_bytes())
            .collect(),
        limits: HeadLimits::new(s.buffer_size),
        log_format: s.log_format.as_deref().map(LogFormat::parse),
        listeners: env.listeners,
        poller,
        mode,
        parked: Mutex::new(HashMap::new()),
        buf_pool: Mutex::new(Vec::new()),
        read_size: (s.buffer_size + 1).max(4096),
        queue: Mutex::new(VecDeque::new()),
        leader: Mutex::new((Events::with_capacity(256), Instant::now())),
        next_key: AtomicUsize::new(env.listeners.len() + 1),
        stopping: AtomicBool::new(false),
        wake: (wr, ww),
        max_requests: s.max_requests_for(env.id),
        record_vars: s.stats.is_some() || s.harakiri > 0,
        started: AtomicU64::new(0),
        stopped_at: OnceLock::new(),
        busy: AtomicUsize::new(0),
        backoff: Mutex::new(AcceptBackoff::default()),
        backoff_dirty: AtomicBool::new(false),
        core_threads: (0..s.threads).map(|_| AtomicU64::new(0)).collect(),
        watchdog: Default::default(),
    };
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

impl<'a> Shared<'a> {
    pub fn stopping(&self) -> bool {
        self.stopping.load(Relaxed)
    }

    pub fn core(&self, core: usize) -> &CoreSlot {
        self.scoreboard.core(self.id, core)
    }

    /// The default app (app 0), if one loaded.
    pub fn app(&self) -> Option<&python::App> {
        self.apps.first().copied()
    }

    /// Picks the app for a request as uWSGI does: with `manage-script-name`, the longest
    /// mountpoint that is a `/`-bounded prefix of PATH_INFO (moved into SCRIPT_NAME);
    /// otherwise the app mounted at SCRIPT_NAME; else the default app.
    pub fn select_app(&self, vars: &mut [Var<'_>]) -> Option<&python::App> {
        if self.apps.len() <= 1 && !self.settings.manage_script_name {
            return self.app();
        }
        let get = |vars: &[Var<'_>], k: &[u8]| vars.iter().position(|(key, _)| &key[..] == k);
        if self.settings.manage_script_name {
            if let Some(pi) = get(vars, b"PATH_INFO") {
                let path = vars[pi].1.clone();
                let best = self
                    .apps
                    .iter()
                    .filter(|a| !a.mountpoint().is_empty())
                    .filter(|a| {
                        let m = a.mountpoint().trim_end_matches('/').as_bytes();
                        path.starts_with(m) && (path.len() == m.len() || path[m.len()] == b'/')
                    })
                    .max_by_key(|a| a.mountpoint().trim_end_matches('/').len());
                if let Some(app) = best {
                    let m = app.mountpoint().trim_end_matches('/').as_bytes().to_vec();
                    vars[pi].1 = path[m.len()..].to_vec().into();
                    // run_app adds an empty SCRIPT_NAME first when the frontend sent none.
                    if let Some(si) = get(vars, b"SCRIPT_NAME") {
                        vars[si].1 = m.into();
                    }
                    return Some(*app);
                }
            }
        }
        let script = get(vars, b"SCRIPT_NAME")
            .map(|i| vars[i].1.to_vec())
            .unwrap_or_default();
        if !script.is_empty() {
            let script = script.strip_suffix(b"/").unwrap_or(&script);
            if let Some(app) = self
                .apps
                .iter()
                .find(|a| a.mountpoint().trim_end_matches('/').as_bytes() == script)
            {
                return Some(*app);
            }
        }
        self.apps
            .iter()
            .find(|a| a.mountpoint().is_empty())
            .or(self.apps.first())
            .copied()
    }

    /// Counts a request about to be answered. True when it is the last one before
    /// `max-requests` recycles the worker, so that its response says `Connection: close`
    /// instead of promising a connection that is about to go away.
    pub fn begin_request(&self) -> bool {
        let n = self.started.fetch_add(1, Relaxed) + 1;
        self.max_requests > 0 && n >= self.max_requests
    }

    /// Stops taking connections. Connections already accepted are still answered (with
    /// `Connection: close`); idle keep-alive ones get [`STOP_IDLE_GRACE`] to send one more
    /// request (see `sweep`), and the worker exits once none is left.
    /// Returns whether this call began it (false when already stopping).
    fn begin_stop(&self) -> bool {
        if self.stopping.swap(true, Relaxed) {
            return false;
        }
        let _ = self.stopped_at.set(Instant::now());
        self.scoreboard
            .worker(self.id)
            .status
            .store(Status::Cursed as u32, Relaxed);
        self.scoreboard.worker(self.id).accepting.store(0, Relaxed);
        for l in self.listeners {
            let _ = self.poller.delete(l.raw());
        }
        // Wakes the thread waiting in the poller, which may be another one.
        let _ = nix::unistd::write(&self.wake.1, &[1]);
        true
    }

    fn thread_loop(&self, core: usize) {
        self.core_threads[core].store(python::current_thread_id(), Relaxed);
        // SAFETY: gettid has no preconditions.
        self.core(core)
            .tid
            .store(unsafe { libc::gettid() }, Relaxed);
        loop {
            if STOP_REQUESTED.load(Relaxed) {
                self.begin_stop();
            }
            let Some(work) = self.next_work() else { return };
            match work {
                Work::Event(key) if key < self.listeners.len() => self.accept(key, core),
                Work::Event(WAKE_KEY) => {
                    let mut b = [0u8; 64];
                    while nix::unistd::read(&self.wake.0, &mut b).is_ok_and(|n| n > 0) {}
                    if !self.stopping() && self.mode == Mode::Oneshot {
                        let _ = self.poller.rearm(self.wake.0.as_raw_fd(), WAKE_KEY);
                    }
                }
                Work::Event(key) => {
                    let conn = {
                        let mut parked = self.parked.lock().unwrap();
                        let c = parked.remove(&key);
                        self.count_parked(parked.len());
                        c
                    };
                    if let Some(conn) = conn {
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
            if let Some(w) = self.queue.lock().unwrap().pop_front() {
                return Some(w);
            }
            if self.drained() {
                return None;
            }
            let mut leader = self.leader.lock().unwrap();
            if let Some(w) = self.queue.lock().unwrap().pop_front() {
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
            let mut q = self.queue.lock().unwrap();
            q.extend(events.keys().map(Work::Event));
            if let Some(w) = q.pop_front() {
                return Some(w);
            }
        }
    }

    /// Stopping and nothing left to serve.
    fn drained(&self) -> bool {
        self.stopping() && self.parked.lock().unwrap().is_empty()
    }

    fn accept(&self, idx: usize, _core: usize) {
        let l = &self.listeners[idx];
        let level = self.mode == Mode::Level;
        let mut accepted = Vec::new();
        // Only as many connections as threads free to serve them now (this one included, minus
        // work already queued): one more would wait inside this worker while an idle sibling
        // process could serve it, so it waits in the kernel's queue instead, where any worker
        // can take it.
        let want = if level {
            1
        } else {
            // Queued parked connections will take threads too; accepted ones are counted busy.
            let queued_conns = self
                .queue
                .lock()
                .unwrap()
                .iter()
                .filter(
                    |w| matches!(w, Work::Event(k) if *k >= self.listeners.len() && *k != WAKE_KEY),
                )
                .count();
            let free = self
                .settings
                .threads
                .saturating_sub(self.busy.load(Relaxed));
            free.saturating_sub(queued_conns)
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
                self.backoff.lock().unwrap().succeeded();
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
            self.queue
                .lock()
                .unwrap()
                .extend(accepted.into_iter().map(Work::New));
        }
        if extra {
            // This thread serves one; a free sibling may be the one waiting in the poller,
            // where it would not see the queue until its next event or tick.
            let _ = nix::unistd::write(&self.wake.1, &[1]);
        }
    }

    /// accept(2) ran out of fds or memory: every listener leaves the poller for a while, so
    /// no thread spins on a queue it cannot take from (the connections served now are what
    /// frees fds); the leader puts them back (`resume_accepting`).
    fn pause_accepting(&self, err: &std::io::Error, l: &Listener) {
        let line = {
            let mut b = self.backoff.lock().unwrap();
            self.backoff_dirty.store(true, Relaxed);
            b.fail(Instant::now(), err, &l.name)
        };
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
        self.backoff_dirty.load(Relaxed) && self.backoff.lock().unwrap().is_paused(Instant::now())
    }

    /// Puts paused listeners back once their pause is over; returns how long the leader may
    /// wait in the poller.
    fn resume_accepting(&self) -> Duration {
        let now = Instant::now();
        let mut b = self.backoff.lock().unwrap();
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
        let (addr, port) = peer;
        let l = &self.listeners[listener];
        let timeout = l.timeout.unwrap_or(self.settings.socket_timeout);
        Conn {
            sock: Socket::new(fd, timeout),
            timeout,
            proxy_pending: l.proxy_protocol,
            buf: self.take_buf(),
            pos: 0,
            proto,
            listener,
            peer_addr: addr,
            peer_port: port,
            parked_at: Instant::now(),
            head_started: None,
            registered: false,
        }
    }

    fn serve(&self, mut conn: Conn, key: usize, core: usize) {
        let slot = self.scoreboard.worker(self.id);
        slot.status.store(Status::Busy as u32, Relaxed);
        let next = {
            // Counted busy by whoever handed the connection over (accept, or the parked event).
            let _busy = BusyGuard(&self.busy);
            request::serve(&mut conn, self, core)
        };
        if !self.stopping() {
            slot.status.store(Status::Idle as u32, Relaxed);
        }
        match next {
            // Also when stopping: the last response promised keep-alive (the stop came while
            // it ran), so the client may send one more request, answered with `close`.
            Next::Park => {
                conn.parked_at = Instant::now();
                let fd = conn.sock.raw();
                let first_wait = !conn.registered;
                conn.registered = true;
                let mut parked = self.parked.lock().unwrap();
                parked.insert(key, conn);
                self.count_parked(parked.len());
                // Armed after insertion: an event firing at once finds the connection. The
                // socket is deleted from the poller before it is closed (`close`), so the
                // registration never outlives the fd.
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
            _ => self.close(conn),
        }
    }

    /// Publishes how many connections wait parked (the master's cheaper reads it).
    fn count_parked(&self, n: usize) {
        self.scoreboard
            .worker(self.id)
            .parked
            .store(n as u32, Relaxed);
    }

    fn close(&self, mut conn: Conn) {
        if conn.registered {
            let _ = self.poller.delete(conn.sock.raw());
        }
        let buf = std::mem::take(&mut conn.buf);
        drop(conn);
        self.recycle_buf(buf);
    }

    /// An empty read buffer with room for a request head.
    pub fn take_buf(&self) -> Vec<u8> {
        self.buf_pool
            .lock()
            .unwrap()
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(self.read_size))
    }

    /// Keeps `buf` for [`Shared::take_buf`]. Bounded: a burst of connections must not pin its
    /// buffers forever, nor a buffer that grew for one large request.
    pub fn recycle_buf(&self, mut buf: Vec<u8>) {
        if buf.capacity() < self.read_size || buf.capacity() > BUF_POOL_MAX_CAPACITY {
            return;
        }
        let mut pool = self.buf_pool.lock().unwrap();
        if pool.len() < BUF_POOL_MAX {
            buf.clear();
            pool.push(buf);
        }
    }

    /// Closes idle keep-alive connections and slow heads past `socket-timeout` (408); when
    /// stopping, idle connections after [`STOP_IDLE_GRACE`].
    fn sweep(&self) {
        let stop_grace_over = |c: &Conn| {
            c.buf.len() == c.pos
                && self.stopped_at.get().is_some_and(|t| {
                    t.elapsed().min(c.parked_at.elapsed()) >= STOP_IDLE_GRACE.min(c.timeout)
                })
        };
        let expired: Vec<Conn> = {
            let mut parked = self.parked.lock().unwrap();
            let keys: Vec<usize> = parked
                .iter()
                .filter(|(_, c)| {
                    c.head_started.unwrap_or(c.parked_at).elapsed() >= c.timeout
                        || stop_grace_over(c)
                })
                .map(|(k, _)| *k)
                .collect();
            let expired = keys.into_iter().filter_map(|k| parked.remove(&k)).collect();
            self.count_parked(parked.len());
            expired
        };
        for c in expired {
            if c.buf.len() > c.pos && c.proto == Proto::Http {
                let e = crate::proto::http::HttpError::TIMEOUT;
                let _ = c.sock.write_all(&crate::proto::http::error_response(&e));
            } else if c.buf.len() > c.pos {
                eprintln!(
                    "uwsgi: timed out after {} bytes of an incomplete packet (socket-timeout)",
                    c.buf.len() - c.pos
                );
            }
            self.close(c);
        }
    }

    /// Accounts a finished request in the scoreboard, writes its log line (one write(2), so
    /// lines of concurrent workers never mix) and decides on recycling.
    pub fn finish_request(&self, info: &LogInfo, tx: u64) {
        let w = self.scoreboard.worker(self.id);
        let outcome = info.outcome;
        w.on_request_done(
            info.start.elapsed().as_micros() as u64,
            tx,
            outcome.status,
            outcome.exception,
        );
        let total = self
            .scoreboard
            .header()
            .total_requests
            .fetch_add(1, Relaxed)
            + 1;
        let app_requests = if info.app_id >= 0 {
            w.app_requests.fetch_add(1, Relaxed) as i64 + 1
        } else {
            -1
        };
        if !self.settings.disable_logging {
            let record = info.record(self, app_requests, total);
            let mut line = Vec::with_capacity(256);
            match &self.log_format {
                Some(f) => f.write(&mut line, &record),
                None => request_line::write_default(&mut line, &record),
            }
            write_stderr(&line);
        }
        // Said once: the requests still in flight or already queued finish after this one.
        if self.max_requests > 0 && w.delta_requests.load(Relaxed) >= self.max_requests {
            if self.begin_stop() {
                eprintln!("...The work of process {} is done. Seeya!", self.pid);
            }
        } else if self.settings.reload_on_rss > 0 || self.settings.memory_report {
            if let Some((rss, vsz)) = super::process::memory_of(self.pid as i32) {
                w.rss.store(rss, Relaxed);
                w.vsz.store(vsz, Relaxed);
                if self.settings.reload_on_rss > 0
                    && rss >= self.settings.reload_on_rss << 20
                    && self.begin_stop()
                {
                    eprintln!(
                        "...The work of process {} is done (RSS {} MB). Seeya!",
                        self.pid,
                        rss >> 20
                    );
                }
            }
        }
    }

    /// Logs a request refused before it reached the app (framing errors).
    pub fn log_rejected(&self, peer: &[u8], status: u16, reason: &str) {
        let mut line = format!("[pid: {}|app: -1|req: -1/-1] ", self.pid).into_bytes();
        crate::log::sanitize::push_escaped(&mut line, peer);
        line.extend_from_slice(format!(" rejected: {status} ({reason})\n").as_bytes());
        write_stderr(&line);
    }

    /// Drops uwsgi vars that would load code (uWSGI #2491); nginx's UWSGI_SCHEME stays.
    pub fn filter_magic_vars(&self, vars: &mut Vec<Var<'_>>) {
        const CODE_LOADING: &[&[u8]] = &[
            b"UWSGI_FILE",
            b"UWSGI_SCRIPT",
            b"UWSGI_MODULE",
            b"UWSGI_CALLABLE",
            b"UWSGI_CHDIR",
            b"UWSGI_PYHOME",
            b"UWSGI_SETENV",
            b"UWSGI_APPID",
            b"UWSGI_POSTFILE",
            b"UWSGI_TOUCH_RELOAD",
        ];
        vars.retain(|(k, _)| {
            let bad = CODE_LOADING.contains(&&k[..]);
            if bad {
                eprintln!(
                    "ignoring uwsgi var {} (code-loading vars are disabled in rw)",
                    crate::log::sanitize::escaped(k)
                );
            }
            !bad
        });
    }
}

fn write_stderr(line: &[u8]) {
    crate::log::output::write(line);
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
