//! The master's attached daemons (uWSGI 2.0's core/daemons.c): started once the workers are
//! forked, respawned when they die (throttled when they die young), restarted when a `touch`
//! file changes, stopped at shutdown, handed to the new image on a reload. Smart daemons (a
//! pidfile) are watched through the pidfile each second and, as in uWSGI, outlive the
//! instance: a reloaded or restarted master finds them running and adopts them.

use super::daemon::{check_pidfile, mtime, Daemon, Watch};
use super::subprocess;
use crate::config::daemon::DaemonDef;
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;
use std::time::{Duration, Instant};

/// What the master must do after a daemon died.
#[derive(Debug, PartialEq, Eq)]
pub enum Death {
    /// Not one of ours.
    NotOurs,
    Handled,
    /// An attach-control-daemon died: the instance stops.
    ControlDied(String),
}

pub struct Daemons {
    list: Vec<Daemon>,
    honour_stdin: bool,
    last_check: Option<Instant>,
    /// Stopping: the kept daemons get SIGKILL at this moment if still alive.
    kill_at: Option<Instant>,
    /// [`Daemons::begin_stop`] ran.
    stopping: bool,
    /// Kept daemons of the previous image (a reload), stopped before their successors start.
    predecessors: Vec<Predecessor>,
    /// They get SIGKILL at this moment if still alive.
    predecessors_kill_at: Option<Instant>,
    /// How long a daemon may take to stop: `reload-mercy`, else 3 s (uWSGI).
    grace: Duration,
}

/// A kept daemon the previous image handed over (it is still our child).
#[derive(Debug)]
struct Predecessor {
    pid: Pid,
    cmd: String,
    /// The daemon of this image it precedes (none when the config no longer has it).
    of: Option<usize>,
}

fn describe(status: &WaitStatus) -> String {
    match status {
        WaitStatus::Exited(_, code) => format!("exit code {code}"),
        WaitStatus::Signaled(_, sig, _) => format!("killed by signal {}", *sig as i32),
        _ => "died".to_string(),
    }
}
impl Daemons {
    pub fn new(defs: &[DaemonDef], honour_stdin: bool, grace: Duration) -> Daemons {
        let mut d = Daemons {
            list: defs
                .iter()
                .map(|d| Daemon {
                    def: d.clone(),
                    pid: None,
                    child: None,
                    registered: false,
                    watch: Watch::Started,
                    has_daemonized: false,
                    pidfile_checks: 0,
                    spawns: 0,
                    last_spawn: None,
                    respawn_at: None,
                    touch_mtimes: d.touch.iter().map(|p| mtime(p)).collect(),
                })
                .collect(),
            honour_stdin,
            last_check: None,
            kill_at: None,
            stopping: false,
            predecessors: Vec::new(),
            predecessors_kill_at: None,
            grace,
        };
        d.adopt();
        d
    }

    /// After a reload: the previous image's kept daemons, matched to this config's by command.
    fn adopt(&mut self) {
        use super::handover::{self, HandedDaemon};
        for h in handover::take(handover::DAEMONS_ENV, |h: &HandedDaemon| h.pid) {
            let of = (0..self.list.len()).find(|&i| {
                let d = &self.list[i];
                d.def.pidfile.is_none()
                    && d.def.command == h.cmd
                    && !self.predecessors.iter().any(|p| p.of == Some(i))
            });
            if let Some(i) = of {
                self.list[i].spawns = h.spawns;
            }
            self.predecessors.push(Predecessor {
                pid: Pid::from_raw(h.pid),
                cmd: h.cmd,
                of,
            });
        }
    }

    /// Before a reload's exec: the kept daemons (and predecessors still stopping) are named
    /// for the new image, which stops them once it has started (the rescue of a failed start
    /// keeps them running) and then starts their successors.
    pub fn hand_over(&self) {
        use super::handover::{self, HandedDaemon};
        let mut out: Vec<HandedDaemon> = self
            .list
            .iter()
            .filter(|d| d.def.pidfile.is_none())
            .filter_map(|d| {
                Some(HandedDaemon {
                    pid: d.pid?.as_raw(),
                    cmd: d.def.command.clone(),
                    spawns: d.spawns,
                })
            })
            .collect();
        out.extend(self.predecessors.iter().map(|p| HandedDaemon {
            pid: p.pid.as_raw(),
            // Not matched again: its successor, if any, is already counted above.
            cmd: String::new(),
            spawns: 0,
        }));
        handover::put(handover::DAEMONS_ENV, &out);
        for d in &self.list {
            if let (Some(_), Some(pid), true) = (&d.def.pidfile, d.pid, d.def.notifypid) {
                let sig = if d.def.reload_signal > 0 {
                    d.def.reload_signal
                } else {
                    libc::SIGHUP
                };
                subprocess::signal_group(pid, sig);
            }
        }
    }

    /// The exec failed: the current image keeps its daemons.
    pub fn keep() {
        super::handover::clear(super::handover::DAEMONS_ENV);
    }

    /// uWSGI stops a reloading instance's daemons with their reload signal when they have one.
    fn stop_predecessors(&mut self) {
        for p in &self.predecessors {
            let sig = p.of.map_or(libc::SIGTERM, |i| {
                let d = &self.list[i].def;
                if d.reload_signal > 0 {
                    d.reload_signal
                } else {
                    d.stop_signal
                }
            });
            eprintln!(
                "[uwsgi-daemons] stopping daemon of the previous image (pid: {}): {}",
                p.pid, p.cmd
            );
            subprocess::signal_group(p.pid, sig);
        }
        if !self.predecessors.is_empty() {
            self.predecessors_kill_at = Some(Instant::now() + self.grace);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Registers and starts every daemon (after the workers are forked); a smart daemon whose
    /// pidfile names a live process is adopted instead (it survived a reload or a restart).
    pub fn spawn_all(&mut self) {
        self.stop_predecessors();
        let honour = self.honour_stdin;
        for (i, d) in self.list.iter_mut().enumerate() {
            if d.registered {
                continue;
            }
            d.registered = true;
            if self.predecessors.iter().any(|p| p.of == Some(i)) {
                // Started once its predecessor is gone (see `reaped`).
                continue;
            }
            if let Some(pf) = &d.def.pidfile {
                if let Some(pid) = check_pidfile(pf) {
                    eprintln!(
                        "[uwsgi-daemons] found valid/active pidfile for \"{}\" (pid: {pid})",
                        d.def.command
                    );
                    d.pid = Some(pid);
                    continue;
                }
            }
            d.spawn(honour);
        }
    }

    /// A child of the master exited: ours? Respawns a kept daemon (throttled when it dies
    /// young) unless `stopping`.
    pub fn reaped(&mut self, pid: Pid, status: &WaitStatus, stopping: bool) -> Death {
        let honour = self.honour_stdin;
        if let Some(pos) = self.predecessors.iter().position(|p| p.pid == pid) {
            let p = self.predecessors.remove(pos);
            eprintln!(
                "[uwsgi-daemons] daemon \"{}\" (pid: {pid}) of the previous image stopped ({})",
                p.cmd,
                describe(status)
            );
            if let Some(d) = p.of.map(|i| &mut self.list[i]) {
                if !stopping && d.registered && d.pid.is_none() {
                    d.spawn(honour);
                }
            }
            return Death::Handled;
        }
        for d in &mut self.list {
            if d.def.pidfile.is_some() {
                if d.child == Some(pid) {
                    // The shell that daemonized, or rw's first fork: the daemon is on its own.
                    d.child = None;
                    d.has_daemonized = true;
                    if d.pid == Some(pid) {
                        d.pid = None;
                    }
                    return Death::Handled;
                }
                continue;
            }
            if d.pid != Some(pid) {
                continue;
            }
            d.pid = None;
            if stopping || !d.registered {
                eprintln!(
                    "[uwsgi-daemons] daemon \"{}\" (pid: {pid}) stopped ({})",
                    d.def.command,
                    describe(status)
                );
                return Death::Handled;
            }
            eprintln!(
                "[uwsgi-daemons] daemon \"{}\" (pid: {pid}) died ({})",
                d.def.command,
                describe(status)
            );
            if d.def.control {
                return Death::ControlDied(d.def.command.clone());
            }
            d.respawn_throttled(honour);
            return Death::Handled;
        }
        Death::NotOurs
    }

    /// Once a second (as uWSGI's master cycle): smart daemons' pidfiles, touch files and
    /// throttled respawns that are due.
    pub fn tick(&mut self) {
        if self.list.is_empty() {
            return;
        }
        let honour = self.honour_stdin;
        let now = Instant::now();
        if self.predecessors_kill_at.is_some_and(|t| now >= t) {
            self.predecessors_kill_at = None;
            self.kill_predecessors();
        }
        for d in &mut self.list {
            if d.registered && d.pid.is_none() && d.respawn_at.is_some_and(|t| now >= t) {
                d.respawn_at = None;
                d.spawn(honour);
            }
        }
        if self
            .last_check
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            return;
        }
        self.last_check = Some(now);
        for d in &mut self.list {
            if !d.registered {
                continue;
            }
            d.check_touch();
            d.check_pidfile(honour);
        }
    }

    /// Shutdown: kept daemons get their stop signal, to the whole session, and are not
    /// respawned (predecessors of a reload are already stopping); smart daemons are left
    /// running, signalled only with `notifypid`.
    pub fn begin_stop(&mut self) {
        self.stopping = true;
        for d in &mut self.list {
            d.registered = false;
            d.respawn_at = None;
            let Some(pid) = d.pid else { continue };
            if d.def.pidfile.is_none() {
                eprintln!(
                    "[uwsgi-daemons] stopping daemon (pid: {pid}): {}",
                    d.def.command
                );
                subprocess::signal_group(pid, d.def.stop_signal);
            } else if d.def.notifypid {
                subprocess::signal_group(pid, d.def.stop_signal);
            }
        }
        self.kill_at = Some(Instant::now() + self.grace);
    }

    fn kill_predecessors(&self) {
        for p in &self.predecessors {
            eprintln!(
                "[uwsgi-daemons] daemon did not die in time, killing (pid: {}): {}",
                p.pid, p.cmd
            );
            subprocess::signal_group(p.pid, libc::SIGKILL);
        }
    }

    /// Kept daemons still running (the instance waits for them when it stops).
    pub fn running(&self) -> usize {
        self.list
            .iter()
            .filter(|d| d.def.pidfile.is_none() && d.pid.is_some())
            .count()
            + self.predecessors.len()
    }

    /// Stopping: after the grace, what still runs is killed (its whole session).
    pub fn enforce_stop(&mut self) {
        if !self.stopping {
            // A stop that did not go through `begin_stop` (need-app, a worker that cannot
            // start): the daemons must not keep the master waiting.
            self.begin_stop();
        }
        let Some(t) = self.kill_at else { return };
        if Instant::now() < t {
            return;
        }
        self.kill_at = None;
        self.kill_predecessors();
        for d in &self.list {
            if let (None, Some(pid)) = (&d.def.pidfile, d.pid) {
                eprintln!(
                    "[uwsgi-daemons] daemon did not die in time, killing (pid: {pid}): {}",
                    d.def.command
                );
                subprocess::signal_group(pid, libc::SIGKILL);
            }
        }
    }

    /// `daemons[]` of the stats.
    pub fn stats(&self) -> Vec<crate::stats::schema::Daemon> {
        self.list
            .iter()
            .map(|d| crate::stats::schema::Daemon {
                cmd: d.def.command.clone(),
                pid: d.pid.map_or(0, |p| i64::from(p.as_raw())),
                respawns: d.spawns.saturating_sub(1),
                pidfile: d.def.pidfile.clone(),
            })
            .collect()
    }
}
