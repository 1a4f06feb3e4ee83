//! The master: one single-threaded poll loop (self-pipe for signals, 1 s tick) that spawns,
//! reaps and respawns workers, enforces harakiri and mercy, and runs reloads and shutdown.

use super::fifo::{Command, MasterFifo};
use super::settings::Settings;
use super::signals::{self, Action, SelfPipe};
use super::worker::{self, WorkerEnv};
use super::{pidfile, reload};
use crate::net::addr::Addr;
use crate::net::listen::{self, Listener};
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
/// Poller key of the log-master pipe.
const LOG_KEY: usize = 2;
/// Poller key of the master FIFO.
const FIFO_KEY: usize = 3;
/// Poller keys of the listeners, from this one on, while in cheap mode (no worker).
const LISTEN_KEY: usize = 4;

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
    /// Workers forked for this slot by this image (hook-accepting-once: the first only).
    spawns: u32,
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
    /// A worker of the first generation could not start: the master stops and exits 1.
    start_failed: bool,
    /// The stats server (`stats = ADDR`), served from this loop.
    stats: Option<crate::stats::server::StatsServer>,
    harakiri: super::harakiri::Watch,
    /// max-worker-lifetime and the evil reloads (`server/recycle.rs`).
    recycle: super::recycle::Watch,
    /// log-maxsize and the touch-logreopen / touch-logrotate files.
    log_watch: crate::log::file::Watch,
    /// log-master: the workers' lines (also the previous image's, after a reload).
    log_pipe: Option<crate::log::master::LogPipe>,
    /// `master-fifo`: the active FIFO, read every turn of the loop.
    fifo: Option<MasterFifo>,
    /// A chain reload in progress (`c`, `touch-chain-reload`).
    chain: Option<Chain>,
    /// Workers stopped by the FIFO's `p` or SIGTSTP (SIGSTOP) until the next one.
    paused: bool,
    /// Workers of a pause still serving a request: stopped once idle.
    pause_pending: Vec<usize>,
    touch_chain_mtimes: Vec<Option<std::time::SystemTime>>,
    touch_workers_mtimes: Vec<Option<std::time::SystemTime>>,
    /// `cheaper` > 0: the adaptive worker count (`server/cheaper.rs`).
    pool: Option<super::cheaper::Pool>,
    /// Cheap mode (`cheap`, or `idle` expired): no worker; the master waits for a connection.
    sleeping: bool,
    idle: Option<super::cheaper::IdleWatch>,
    /// `hook-touch` files.
    hook_touch: super::hooks::TouchWatch,
    /// uWSGI signals: routing, timers, cron, file monitors (`server/signal_desk.rs`).
    desk: super::signal_desk::Desk,
    mules: super::mules::Mules,
    /// `attach-daemon*` (server/daemons.rs) and `cron*` (server/cron.rs).
    daemons: super::daemons::Daemons,
    crons: super::cron::Crons,
    /// The spooler processes (`spooler`), forked and respawned by this loop.
    spoolers: super::spoolers::Supervisor,
    touch_spoolers_mtimes: Vec<Option<std::time::SystemTime>>,
}

/// A chain reload: the workers are replaced in id order, one at a time; the next one is told
/// to stop only once the replacement of the previous one accepts, so at most one worker's
/// capacity is missing at any moment.
#[derive(Debug)]
struct Chain {
    /// Index in `slots` of the next worker to replace.
    next: usize,
    /// The worker being replaced: its slot index and when it was told to stop.
    waiting: Option<(usize, Instant)>,
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
        super::uwsgi_facts::attach_scoreboard(&scoreboard);
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
        let touch_chain_mtimes = s.touch_chain_reload.iter().map(|p| mtime(p)).collect();
        let touch_workers_mtimes = s.touch_workers_reload.iter().map(|p| mtime(p)).collect();
        let touch_spoolers_mtimes = s.spooler.touch_reload.iter().map(|p| mtime(p)).collect();
        let fifo = if s.master_fifo.is_empty() {
            None
        } else {
            let f = MasterFifo::open(&s.master_fifo)?;
            // SAFETY: the FIFO lives in the Master, as long as the poller; a switch to another
            // FIFO re-registers the new fd (see `on_fifo`).
            unsafe { poller.add(f.fd(), Event::readable(FIFO_KEY))? };
            eprintln!("master fifo {} created (active)", f.active_path().display());
            Some(f)
        };
        let pool = s.cheaper.clone().map(super::cheaper::Pool::new);
        let desk = super::signal_desk::Desk::new(&poller)?;
        let mules = super::mules::Mules::new(&s.mules);
        let daemon_grace = if s.reload_mercy.is_zero() {
            Duration::from_secs(3)
        } else {
            s.reload_mercy
        };
        let daemons =
            super::daemons::Daemons::new(&s.daemons, s.daemons_honour_stdin, daemon_grace);
        let crons = super::cron::Crons::new(&s.crons, s.cron_harakiri);
        let s_idle = s.idle;
        let s_touch = s.hooks.touch.clone();
        let slots = (1..=s.processes)
            .map(|id| Slot {
                id,
                pid: None,
                spawned: Instant::now(),
                cursed: None,
                respawn_after: None,
                quick_crashes: 0,
                spawns: 0,
            })
            .collect();
        let log_pipe = match crate::log::master::LogPipe::adopt() {
            Some(p) => Some(p),
            None if s.log.master => Some(crate::log::master::LogPipe::new()?),
            None => None,
        };
        if let Some(p) = &log_pipe {
            // SAFETY: the pipe lives in the Master, as long as the poller.
            unsafe { poller.add(p.fd(), Event::readable(LOG_KEY))? };
        }
        let log_watch = crate::log::file::Watch::new(
            s.log.maxsize,
            s.log.backupname.clone(),
            &s.log.touch_reopen,
            &s.log.touch_rotate,
        );
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
            start_failed: false,
            stats,
            log_watch,
            log_pipe,
            harakiri: Default::default(),
            recycle: Default::default(),
            fifo,
            chain: None,
            paused: false,
            pause_pending: Vec::new(),
            touch_chain_mtimes,
            touch_workers_mtimes,
            pool,
            sleeping: false,
            idle: (s_idle > 0).then(|| super::cheaper::IdleWatch::new(s_idle)),
            hook_touch: super::hooks::TouchWatch::new(&s_touch),
            desk,
            mules,
            daemons,
            crons,
            spoolers: super::spoolers::Supervisor::new(),
            touch_spoolers_mtimes,
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
        self.spawn_spoolers();
        for i in 0..self.slots.len() {
            if self.wanted(i) {
                self.spawn(i);
            } else {
                self.mark_cheap(self.slots[i].id);
            }
        }
        self.mules.spawn_due(&self.listeners);
        if !self.old.is_empty() {
            self.retire_old_at = Some(Instant::now() + Duration::from_secs(30));
        }
        self.run_master_start_hooks();
        self.daemons.spawn_all();
        let mut events = Events::new();
        loop {
            events.clear();
            // Workers say they accept through the scoreboard, which wakes nobody: while a
            // generation is starting, look often, so a reload completes (and old workers
            // retire) within a tick rather than within a second.
            let tick = if self.retire_old_at.is_some()
                || !self.ready_notified
                || self.chain.is_some()
                || !self.pause_pending.is_empty()
            {
                Duration::from_millis(20)
            } else {
                Duration::from_secs(1)
            };
            let tick = self
                .desk
                .until_next(Instant::now())
                .map_or(tick, |t| t.min(tick));
            let _ = self.poller.wait(&mut events, Some(tick));
            let connection_waits = events
                .iter()
                .any(|e| e.key >= LISTEN_KEY && !super::signal_desk::is_desk_key(e.key));
            let keys: Vec<usize> = events.iter().map(|e| e.key).collect();
            if !events.is_empty() {
                self.poller.modify(
                    // SAFETY: the pipe fd is open for the master's lifetime.
                    unsafe { std::os::fd::BorrowedFd::borrow_raw(self.pipe.fd()) },
                    Event::readable(0),
                )?;
            }
            self.drain_log();
            for sig in self.pipe.drain() {
                if let Some(code) = self.on_signal(sig)? {
                    self.drain_log();
                    return Ok(code);
                }
            }
            self.read_fifo()?;
            self.reap();
            self.signal_turn(&keys);
            // Every turn, not only on its events: it also expires slow stats clients.
            self.serve_stats();
            self.retire_old_generation();
            self.notify_ready();
            if let State::Stopping { since } = self.state {
                if self.alive() == 0 && self.old.is_empty() && self.daemons.running() == 0 {
                    // Stops that did not go through begin_shutdown (need-app, a failed start).
                    self.spoolers.stop_all();
                    self.drain_log();
                    return Ok(self.goodbye());
                }
                self.daemons.enforce_stop();
                if since.elapsed() >= self.s.stop_mercy() {
                    self.kill_all(Signal::SIGKILL);
                }
                continue;
            }
            if connection_waits && self.sleeping {
                self.wake_up();
            }
            self.respawn_dead();
            self.stop_paused_when_idle();
            self.daemons.tick();
            self.crons.tick();
            self.crons.check_harakiri();
            self.spawn_spoolers();
            self.spoolers.check_harakiri();
            if !self.paused {
                // A paused worker's requests are not running: their time does not count.
                self.check_harakiri();
                self.check_recycle();
            }
            self.check_mercy();
            self.log_watch.check();
            self.advance_chain();
            self.run_cheaper();
            self.check_idle();
            self.hook_touch.check();
            if touched(&self.s.touch_reload, &mut self.touch_mtimes) {
                eprintln!(
                    "*** touch-reload: a watched file has been touched... grace them all !!! ***"
                );
                self.exec_reload(true)?;
            }
            if touched(&self.s.touch_chain_reload, &mut self.touch_chain_mtimes) {
                eprintln!("*** touch-chain-reload: a watched file has been touched ***");
                self.start_chain();
            }
            if touched(
                &self.s.spooler.touch_reload,
                &mut self.touch_spoolers_mtimes,
            ) {
                eprintln!("*** touch-spoolers-reload: a watched file has been touched... spoolers reload !!! ***");
                self.spoolers.reload_all();
            }
            if touched(&self.s.touch_workers_reload, &mut self.touch_workers_mtimes) {
                eprintln!("*** touch-workers-reload: a watched file has been touched ***");
                self.reload_workers(false);
            }
        }
    }

    /// log-master: writes the lines the workers sent, then re-arms the pipe's poll.
    fn drain_log(&mut self) {
        if let Some(p) = &mut self.log_pipe {
            p.drain();
            // SAFETY: the pipe's fd is open for the master's lifetime.
            let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(p.fd()) };
            let _ = self.poller.modify(fd, Event::readable(LOG_KEY));
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
            self.begin_shutdown("die-on-idle", Signal::SIGHUP);
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
        // A unix_signal hook's meaning wins over the table, as its handler replaces uWSGI's.
        let hooked = super::hooks::signal_action(sig as i32).map(super::hooks::master_action);
        match hooked.or_else(|| signals::action(sig, self.s.die_on_term)) {
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
                    self.begin_shutdown(&format!("{sig} received"), Signal::SIGHUP);
                } else {
                    eprintln!("{sig} received again...killing workers now");
                    self.kill_all(Signal::SIGKILL);
                }
            }
            Some(Action::Stats) => self.log_stats(),
            Some(Action::PauseResume) if self.state == State::Running => self.pause_resume(),
            Some(Action::WorkersStatus) => self.signal_workers(Signal::SIGUSR2),
            _ => {}
        }
        Ok(None)
    }

    /// Stops serving: every worker gets `sig` (SIGHUP: finish what was accepted), and the
    /// listeners are shut down so new connections are refused at once. SIGINT, SIGQUIT,
    /// `rw stop`, the FIFO's q/Q, die-on-idle.
    fn begin_shutdown(&mut self, why: &str, sig: Signal) {
        if sig == Signal::SIGHUP {
            eprintln!("{why}...stopping workers (they finish in-flight requests)...");
        } else {
            eprintln!("{why}...killing workers...");
        }
        self.resume_if_paused();
        self.chain = None;
        self.state = State::Stopping {
            since: Instant::now(),
        };
        self.kill_all(sig);
        self.mules.stop_all(Signal::SIGTERM);
        self.daemons.begin_stop();
        self.spoolers.stop_all();
        super::systemd::notify("STOPPING=1\nSTATUS=stopping");
        // Refuse new connections at once (every process shares these sockets), so nginx
        // moves them to another instance instead of waiting on our backlog.
        for l in &self.listeners {
            // SAFETY: shutdown(2) on a listening socket we own.
            unsafe { libc::shutdown(l.raw(), libc::SHUT_RDWR) };
        }
    }

    /// Reads and obeys what was written to the master FIFO.
    fn read_fifo(&mut self) -> anyhow::Result<()> {
        let Some(f) = &self.fifo else { return Ok(()) };
        let cmds = f.read();
        // SAFETY: the FIFO's fd is open as long as `self.fifo` holds it.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(f.fd()) };
        let _ = self.poller.modify(fd, Event::readable(FIFO_KEY));
        for c in cmds {
            self.on_fifo(c)?;
        }
        Ok(())
    }

    fn on_fifo(&mut self, c: Command) -> anyhow::Result<()> {
        let running = self.state == State::Running;
        match c {
            Command::Blank => {}
            Command::Slot(n) => self.switch_fifo(n as usize),
            Command::GracefulReload if running => {
                eprintln!("master fifo: r (graceful reload)");
                eprintln!("...gracefully killing workers...");
                self.resume_if_paused();
                self.exec_reload(true)?;
            }
            Command::BrutalReload if running => {
                eprintln!("master fifo: R (brutal reload)");
                eprintln!("...brutally killing workers...");
                self.resume_if_paused();
                self.exec_reload(false)?;
            }
            Command::ChainReload if running => self.start_chain(),
            Command::WorkersReload if running => self.reload_workers(false),
            Command::BrutalWorkersReload if running => self.reload_workers(true),
            Command::Stop if running => {
                self.begin_shutdown("master fifo: q (graceful stop)", Signal::SIGHUP);
            }
            Command::BrutalStop => {
                if running {
                    self.begin_shutdown("master fifo: Q (brutal stop)", Signal::SIGKILL);
                } else {
                    eprintln!("master fifo: Q (brutal stop)...killing workers...");
                    self.kill_all(Signal::SIGKILL);
                }
            }
            Command::Stats => self.log_stats(),
            Command::ReopenLogs => self.reopen_logs(),
            Command::RotateLogs => self.rotate_logs(),
            Command::PauseResume if running => self.pause_resume(),
            Command::RewritePidfile => match &self.s.pidfile {
                Some(p) => match pidfile::write(p, std::process::id()) {
                    Ok(()) => eprintln!("master fifo: P: pidfile {} rewritten", p.display()),
                    Err(e) => eprintln!("master fifo: P: {e:#}"),
                },
                None => eprintln!("master fifo: P: no pidfile is configured"),
            },
            Command::MoreWorkers | Command::FewerWorkers => self.cheaper_step_by_fifo(c),
            Command::Missing(b, what) => {
                eprintln!("master fifo: command {} ignored: {what}", b as char)
            }
            Command::Unknown(b) => {
                eprintln!("master fifo: unknown command byte 0x{b:02x} ignored")
            }
            _ => eprintln!("master fifo: {c:?} ignored: the instance is stopping"),
        }
        Ok(())
    }

    fn switch_fifo(&mut self, slot: usize) {
        let Some(f) = &mut self.fifo else { return };
        let old = f.fd();
        match f.switch(slot) {
            Ok(path) => {
                let path = path.display().to_string();
                let new = f.fd();
                if new != old {
                    // The old fd is closed (epoll forgot it); the new one must be added.
                    // SAFETY: the new FIFO lives in `self.fifo`, as long as the poller.
                    let _ = unsafe { self.poller.add(new, Event::readable(FIFO_KEY)) };
                }
                eprintln!("active master fifo is now {path}");
            }
            Err(e) => eprintln!("master fifo: {e:#}"),
        }
    }

    /// `+`/`-`: the cheaper subsystem's manual step.
    fn cheaper_step_by_fifo(&mut self, c: Command) {
        let (sign, by) = if c == Command::MoreWorkers {
            ('+', 1)
        } else {
            ('-', -1)
        };
        match &mut self.pool {
            Some(pool) => {
                pool.nudge(by);
                eprintln!(
                    "master fifo: {sign}: one worker {} at the next cheaper cycle (now {} running)",
                    if by > 0 { "more" } else { "less" },
                    pool.target()
                );
            }
            None => eprintln!(
                "master fifo: {sign} ignored: cheaper mode is off (all {} workers run)",
                self.s.processes
            ),
        }
    }

    /// `l`: the log file is opened again (logrotate renamed it) and every worker follows.
    fn reopen_logs(&mut self) {
        if crate::log::file::path().is_none() {
            eprintln!("master fifo: l: no log file to reopen (logging to stderr as started)");
            return;
        }
        crate::log::file::reopen();
    }

    /// `L`: the log file is rotated now (renamed to its backup name, opened afresh).
    fn rotate_logs(&mut self) {
        if crate::log::file::path().is_none() {
            eprintln!("master fifo: L: no log file to rotate (logging to stderr as started)");
            return;
        }
        self.log_watch.rotate_soon();
    }

    /// `p`, SIGTSTP: each worker is stopped (SIGSTOP: connections wait in the listen queue)
    /// once none of its cores is in a request, as uWSGI's workers suspend after the request
    /// they serve; the next `p` or SIGTSTP resumes them (SIGCONT).
    fn pause_resume(&mut self) {
        if self.paused {
            self.resume_if_paused();
            return;
        }
        eprintln!(
            "*** PAUSE: workers stop after their requests in flight; send SIGTSTP or write p to the master fifo to resume ***"
        );
        self.paused = true;
        self.pause_pending = self
            .slots
            .iter()
            .filter_map(|s| s.pid.map(|_| s.id))
            .collect();
        self.stop_paused_when_idle();
    }

    /// Stops each worker still to pause once no core of it is in a request (checked every
    /// 20 ms tick meanwhile). The check is made again once it is stopped, when its scoreboard
    /// can no longer change: a request that began in between gets it resumed to finish. Only
    /// a connection accepted whose head is not read yet is frozen with it until the resume.
    fn stop_paused_when_idle(&mut self) {
        if !self.paused || self.pause_pending.is_empty() {
            return;
        }
        let (sb, slots, threads) = (&self.scoreboard, &self.slots, self.s.threads);
        let busy = |id: usize| (0..threads).any(|c| sb.core(id, c).in_request.load(Relaxed) != 0);
        self.pause_pending.retain(|&id| {
            let Some(pid) = slots.iter().find(|s| s.id == id).and_then(|s| s.pid) else {
                return false;
            };
            if busy(id) {
                return true;
            }
            let _ = kill(pid, Signal::SIGSTOP);
            // kill() returns before the stop takes effect: wait (bounded) until it has.
            let deadline = Instant::now() + Duration::from_millis(100);
            while crate::sys::proc::state(pid.as_raw()).is_some_and(|s| s != 'T' && s != 't')
                && Instant::now() < deadline
            {
                std::thread::yield_now();
            }
            if busy(id) {
                let _ = kill(pid, Signal::SIGCONT);
                return true;
            }
            eprintln!("*** worker {id} suspended ***");
            false
        });
    }

    /// Passes `sig` on to every worker (SIGUSR2: each logs what it is doing).
    fn signal_workers(&self, sig: Signal) {
        for slot in &self.slots {
            if let Some(pid) = slot.pid {
                let _ = kill(pid, sig);
            }
        }
    }

    /// A stopped worker cannot act on a signal: resume before telling workers anything.
    fn resume_if_paused(&mut self) {
        if !self.paused {
            return;
        }
        self.paused = false;
        self.pause_pending.clear();
        eprintln!("*** resuming workers ***");
        for slot in &self.slots {
            if let Some(pid) = slot.pid {
                let _ = kill(pid, Signal::SIGCONT);
            }
        }
        for o in &self.old {
            let _ = kill(o.pid, Signal::SIGCONT);
        }
    }

    /// `w` / `touch-workers-reload` (graceful: each finishes what it accepted) and `W`
    /// (brutal: killed now). The master is not re-executed: without `lazy-apps` the new
    /// workers fork from the app the master imported, so new code needs a full reload.
    fn reload_workers(&mut self, brutal: bool) {
        self.resume_if_paused();
        self.chain = None;
        if brutal {
            eprintln!("brutally reloading workers...");
        } else {
            eprintln!("gracefully reloading workers...");
        }
        self.warn_code_is_not_reloaded();
        for slot in &mut self.slots {
            if let Some(pid) = slot.pid {
                if brutal {
                    eprintln!("killing worker {} (pid: {pid})", slot.id);
                }
                slot.cursed.get_or_insert_with(Instant::now);
                let _ = kill(
                    pid,
                    if brutal {
                        Signal::SIGTERM
                    } else {
                        Signal::SIGHUP
                    },
                );
            }
        }
    }

    fn warn_code_is_not_reloaded(&self) {
        if !self.s.lazy_apps {
            eprintln!(
                "note: without lazy-apps new workers fork from the app the master imported: changed code needs a full reload (r, SIGHUP, rw reload)"
            );
        }
    }

    fn start_chain(&mut self) {
        self.resume_if_paused();
        if self.chain.is_some() {
            eprintln!("chain reload already running...");
            return;
        }
        eprintln!("chain reload starting...");
        self.warn_code_is_not_reloaded();
        self.chain = Some(Chain {
            next: 0,
            waiting: None,
        });
    }

    /// One step of a chain reload: wait for the replacement of the worker told to stop last
    /// to accept, then tell the next one.
    fn advance_chain(&mut self) {
        let Some(ch) = &mut self.chain else { return };
        if let Some((idx, since)) = ch.waiting {
            let slot = &self.slots[idx];
            let replaced = slot.pid.is_some()
                && slot.cursed.is_none()
                && slot.spawned > since
                && self.scoreboard.worker(slot.id).accepting.load(Relaxed) == 1;
            if !replaced {
                return;
            }
            ch.waiting = None;
            ch.next = idx + 1;
        }
        // A slot without a worker (dead, waiting to respawn) gets the new code anyway.
        while ch.next < self.slots.len() && self.slots[ch.next].pid.is_none() {
            ch.next += 1;
        }
        let Some(slot) = self.slots.get_mut(ch.next) else {
            eprintln!("chain reloading complete");
            self.chain = None;
            return;
        };
        let Some(pid) = slot.pid else { return };
        eprintln!("chain next victim is worker {} (pid: {pid})", slot.id);
        let now = Instant::now();
        slot.cursed = Some(now);
        let _ = kill(pid, Signal::SIGHUP);
        ch.waiting = Some((ch.next, now));
    }

    /// Forks the spoolers that are not running (and may be: see the fork-bomb guard).
    fn spawn_spoolers(&mut self) {
        let (stats, fifo, log_pipe, listeners) = (
            &mut self.stats,
            &mut self.fifo,
            &mut self.log_pipe,
            &self.listeners,
        );
        let log_master = self.s.log.master;
        self.spoolers.spawn_due(|| {
            // A spooler serves no connection and reads no FIFO: what stays open here would
            // keep sockets alive after the master closed them.
            if let Some(st) = stats.take() {
                st.close_in_child();
            }
            drop(fifo.take());
            // Its lines go through log-master as the workers' do.
            if let Some(p) = log_pipe.take().filter(|_| log_master) {
                p.attach_worker();
            }
            for l in listeners {
                // SAFETY: the child never uses the listeners; their fds are closed once here.
                unsafe { libc::close(l.raw()) };
            }
        });
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
        // The slot is reset before the fork, never after: the child sets `accepting` (and may
        // set `status`) as soon as it runs, and a reset after fork could overwrite that, leaving
        // a reload waiting on a worker that already serves.
        self.scoreboard
            .worker(id)
            .on_spawn(0, crate::sys::clock::unix_secs());
        let r = super::process::fork_child();
        match r {
            Ok(nix::unistd::ForkResult::Child) => {
                super::uwsgi_signals::enter_worker(id);
                let env = WorkerEnv {
                    id,
                    settings: &self.s,
                    listeners: &self.listeners,
                    scoreboard: &self.scoreboard,
                    apps: &self.apps,
                    master,
                    first_spawn: self.slots[idx].spawns == 0,
                };
                if let Some(st) = self.stats.take() {
                    st.close_in_child();
                }
                // Old workers' lines may still arrive on an adopted pipe: only a log-master
                // generation sends its own there.
                if let Some(p) = self.log_pipe.take().filter(|_| self.s.log.master) {
                    p.attach_worker();
                }
                // A worker holding the FIFO open would keep a switched-away FIFO readable.
                drop(self.fifo.take());
                worker::run(env);
            }
            Ok(nix::unistd::ForkResult::Parent { child }) => {
                let slot = &mut self.slots[idx];
                slot.spawns += 1;
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
            let stopping = self.state != State::Running;
            match self.daemons.reaped(pid, &status, stopping) {
                super::daemons::Death::NotOurs => {}
                super::daemons::Death::Handled => continue,
                super::daemons::Death::ControlDied(cmd) => {
                    if !stopping {
                        self.begin_shutdown(
                            &format!("control daemon \"{cmd}\" died"),
                            Signal::SIGHUP,
                        );
                    }
                    continue;
                }
            }
            if self.crons.reaped(pid) {
                continue;
            }
            if self.spoolers.reaped(pid, &status, stopping) {
                continue;
            }
            if let Some(pos) = self.old.iter().position(|o| o.pid == pid) {
                self.old.remove(pos);
                eprintln!("old worker (pid: {pid}) buried");
                continue;
            }
            if self.mules.reaped(pid, &status) {
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
                // Before the instance ever served with all its workers (and with no older
                // generation serving meanwhile), a worker that cannot set itself up is a
                // start-up error: every respawn would fail the same way.
                WaitStatus::Exited(_, worker::EXIT_SETUP_FAILED)
                    if !self.ready_notified && self.old.is_empty() =>
                {
                    eprintln!(
                        "worker {id} (pid {pid}) could not start (the error is above): a worker \
                         that cannot start is a start-up error; stopping the instance"
                    );
                    self.start_failed = true;
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
        let ms = crate::sys::clock::unix_us().saturating_sub(start) / 1000;
        let how = match status {
            WaitStatus::Signaled(_, sig, _) => format!("killed by signal {}", *sig as i32),
            WaitStatus::Exited(_, code) => format!("exited with code {code}"),
            _ => "died".to_string(),
        };
        eprintln!(
            "[pid: {pid}|app: -|req: -/-] {} () [{}] {} {} => no response: worker {id} {how} after {} msecs (core {core})",
            var(b"REMOTE_ADDR"),
            crate::log::date::ctime_now(),
            var(b"REQUEST_METHOD"),
            var(b"REQUEST_URI"),
            if start == 0 { 0 } else { ms },
        );
    }

    /// uWSGI signals: what the channels, timers, cron and file monitors raised, routed; and
    /// the queues' depths for the stats.
    fn signal_turn(&mut self, keys: &[usize]) {
        let view = super::signal_desk::SlotView {
            active: if self.paused {
                Vec::new()
            } else {
                self.slots
                    .iter()
                    .filter(|s| s.pid.is_some())
                    .map(|s| s.id)
                    .collect()
            },
            spoolers: self.spoolers.pids(),
        };
        self.desk.turn(&self.poller, keys, &view);
        if self.stats.is_none() {
            return; // the queue depths are for the stats only
        }
        let (pool, per_worker) = self.desk.queues();
        self.scoreboard.header().signal_queue.store(pool, Relaxed);
        for (i, n) in per_worker.into_iter().enumerate() {
            if i < self.scoreboard.workers() {
                self.scoreboard.worker(i + 1).signal_queue.store(n, Relaxed);
            }
        }
    }

    fn respawn_dead(&mut self) {
        self.mules.spawn_due(&self.listeners);
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
        super::user_harakiri::check(&self.scoreboard, &live, crate::sys::clock::unix_secs());
    }

    /// Workers past max-worker-lifetime or an evil memory limit are told to stop gracefully;
    /// their mercy starts now.
    fn check_recycle(&mut self) {
        let live: Vec<super::recycle::Live> = self
            .slots
            .iter()
            .filter(|s| s.cursed.is_none())
            .filter_map(|s| {
                Some(super::recycle::Live {
                    id: s.id,
                    pid: s.pid?,
                    spawned: s.spawned,
                })
            })
            .collect();
        for id in self.recycle.check(&self.s.recycle, &self.scoreboard, &live) {
            if let Some(slot) = self.slots.iter_mut().find(|s| s.id == id) {
                slot.cursed = Some(Instant::now());
            }
        }
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
        // uWSGI runs them before the binary reload too.
        let _ = super::hooks::run(&self.s.hooks, crate::config::hooks::Phase::AsUserAtexit);
        let mut pids: Vec<Pid> = self.slots.iter().filter_map(|s| s.pid).collect();
        pids.extend(self.old.iter().map(|o| o.pid));
        if !graceful {
            for p in &pids {
                let _ = kill(*p, Signal::SIGTERM);
            }
        }
        // Kept daemons are stopped (their reload signal, if set) and started again, as uWSGI
        // does, but by the new image once it has started, so a failed start leaves them
        // running; smart daemons run on and are adopted through their pidfiles.
        self.daemons.hand_over();
        self.crons.hand_over();
        self.spoolers.stop_all();
        if let Some(p) = &mut self.log_pipe {
            p.hand_over();
        }
        // The new image starts its own mules; these serve the old workers' messages until the
        // old generation retires with them (they are old workers to the new image).
        pids.extend(self.mules.pids());
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
        if let Some(p) = &self.log_pipe {
            p.keep();
        }
        eprintln!("{err}; reload aborted");
        super::daemons::Daemons::keep();
        super::cron::Crons::keep();
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
                    is_unix: !matches!(l.addr, Addr::Tcp(_)),
                    backlog: l.backlog,
                })
                .collect(),
            master_pid: std::process::id(),
            processes: self.s.processes,
            threads: self.s.threads,
            apps,
            memory_sampling: self.s.memory_report
                || self.s.reload_on_rss > 0
                || self.s.recycle.reload_on_as > 0
                || self.s.recycle.collects(),
            caches: super::uwsgi_facts::caches()
                .iter()
                .map(super::uwsgi_facts::cache_stats)
                .collect(),
            cheaper: self.pool.as_ref().map(super::cheaper::Pool::stats),
            daemons: self.daemons.stats(),
            crons: self.crons.stats(),
            spoolers: self.spoolers.stats(),
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

    /// hook-master-start: once the workers are forked; a failure stops the instance (exit 1).
    fn run_master_start_hooks(&mut self) {
        let phase = crate::config::hooks::Phase::MasterStart;
        if let Err(e) = super::hooks::run(&self.s.hooks, phase) {
            eprintln!("{e:#}");
            self.start_failed = true;
            self.begin_shutdown("a master-start hook failed", Signal::SIGKILL);
        }
    }

    /// Final words and vacuum.
    fn goodbye(&self) -> u8 {
        let _ = super::hooks::run(&self.s.hooks, crate::config::hooks::Phase::AsUserAtexit);
        eprintln!("goodbye to rw.");
        if self.s.vacuum {
            if let Some(p) = &self.s.pidfile {
                if pidfile::remove_if_ours(p) {
                    eprintln!("VACUUM: pidfile removed.");
                    reload::remove_status(p);
                }
            }
            if let Some(f) = &self.fifo {
                if f.vacuum() {
                    eprintln!("VACUUM: master fifo {} removed.", f.active_path().display());
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
        u8::from(self.start_failed)
    }
}

/// Whether any of `paths` changed mtime (appeared, vanished, touched) since the last look.
fn touched(paths: &[PathBuf], mtimes: &mut [Option<std::time::SystemTime>]) -> bool {
    let mut changed = false;
    for (p, seen) in paths.iter().zip(mtimes.iter_mut()) {
        let now = mtime(p);
        if now != *seen {
            *seen = now;
            changed = true;
        }
    }
    changed
}

fn mtime(p: &std::path::Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}
