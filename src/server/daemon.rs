//! One attached daemon (uWSGI 2.0's `struct uwsgi_daemon`): its state, its spawn, uWSGI's
//! throttle, its touch files and, for a smart daemon, the once-a-second pidfile check. The
//! set of them and what the master asks of it live in server/daemons.rs.

use super::subprocess::{self, Mode, Spec};
use crate::config::daemon::DaemonDef;
use nix::unistd::Pid;
use std::time::{Duration, Instant, SystemTime};

/// uWSGI's longest throttle when `max_throttle` is unset.
const MAX_THROTTLE: u64 = 300;
/// A respawn within this long of the previous spawn is throttled (uWSGI: 3 s).
const QUICK_RESPAWN: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Watch {
    /// Spawned, its pidfile not yet seen valid.
    Started,
    /// Its pidfile named a live process at the last check.
    Monitored,
}

#[derive(Debug)]
pub(super) struct Daemon {
    pub(super) def: DaemonDef,
    /// The daemon's process: the keeper of a kept daemon, the pidfile's pid of a smart one.
    pub(super) pid: Option<Pid>,
    /// A smart daemon's own child (the shell that daemonizes, or rw's first fork), reaped
    /// when it exits.
    pub(super) child: Option<Pid>,
    /// Spawned at start and respawned; false once stopping (uWSGI's `registered`).
    pub(super) registered: bool,
    pub(super) watch: Watch,
    pub(super) has_daemonized: bool,
    pub(super) pidfile_checks: u32,
    /// Spawns so far (uWSGI's `respawns`, which counts the first one too).
    pub(super) spawns: u64,
    pub(super) last_spawn: Option<Instant>,
    /// A throttled respawn happens then.
    pub(super) respawn_at: Option<Instant>,
    pub(super) touch_mtimes: Vec<Option<SystemTime>>,
}

pub(super) fn mtime(p: &str) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// The live pid a pidfile names (uWSGI's `uwsgi_check_pidfile`: `kill(pid, 0)` succeeds).
pub(super) fn check_pidfile(path: &str) -> Option<Pid> {
    let text = std::fs::read_to_string(path).ok()?;
    let pid: i32 = text.trim().parse().ok().filter(|p| *p > 0)?;
    let pid = Pid::from_raw(pid);
    // A zombie still answers kill(pid, 0), and where nothing reaps orphans (a container
    // whose init does not) a dead daemon would look alive forever.
    let zombie = crate::sys::proc::state(pid.as_raw()) == Some('Z');
    nix::sys::signal::kill(pid, None)
        .ok()
        .filter(|()| !zombie)
        .map(|()| pid)
}

impl Daemon {
    pub(super) fn spawn(&mut self, honour_stdin: bool) {
        if !self.registered {
            return;
        }
        let mode = if self.def.pidfile.is_some() {
            Mode::Smart
        } else {
            Mode::Kept
        };
        let spec = Spec::new(&self.def.command, mode)
            .and_then(|s| s.chdir(self.def.chdir.as_deref()))
            .and_then(|s| {
                s.pidfile(if self.def.daemonize {
                    self.def.pidfile.as_deref()
                } else {
                    None
                })
            })
            .map(|s| s.stdin_null(!(honour_stdin || self.def.honour_stdin)))
            .and_then(|s| s.accounts(self.def.uid.as_deref(), self.def.gid.as_deref()));
        let spec = match spec {
            Ok(s) => s,
            Err(e) => {
                eprintln!(
                    "[uwsgi-daemons] cannot spawn \"{}\": {e:#}",
                    self.def.command
                );
                return;
            }
        };
        match subprocess::spawn(&spec) {
            Ok(pid) => {
                eprintln!(
                    "[uwsgi-daemons] {}spawning \"{}\" (pid: {pid}, uid: {} gid: {})",
                    if self.spawns > 0 { "re" } else { "" },
                    self.def.command,
                    self.def.uid.as_deref().map_or_else(
                        || nix::unistd::getuid().as_raw().to_string(),
                        str::to_string
                    ),
                    self.def.gid.as_deref().map_or_else(
                        || nix::unistd::getgid().as_raw().to_string(),
                        str::to_string
                    ),
                );
                // A smart daemon's pidfile names its real pid at the next checks.
                self.pid = Some(pid);
                if mode == Mode::Smart {
                    self.child = Some(pid);
                }
                self.has_daemonized = false;
                self.watch = Watch::Started;
                self.pidfile_checks = 0;
                self.spawns += 1;
                self.last_spawn = Some(Instant::now());
            }
            Err(e) => {
                eprintln!(
                    "[uwsgi-daemons] fork() failed for \"{}\": {e}",
                    self.def.command
                );
                self.respawn_at = Some(Instant::now() + Duration::from_secs(1));
            }
        }
    }

    /// uWSGI's throttle: a daemon respawned within 3 s of its last spawn waits
    /// `respawns - seconds since that spawn` seconds (at least 1, at most `max_throttle`,
    /// or 300), so one that keeps dying young backs off more and more.
    pub(super) fn respawn_throttled(&mut self, honour_stdin: bool) {
        let throttle = self
            .last_spawn
            .map(|t| t.elapsed())
            .filter(|e| *e <= QUICK_RESPAWN)
            .map(|e| {
                let t = (self.spawns as i64 - e.as_secs() as i64).max(1) as u64;
                let cap = if self.def.max_throttle > 0 {
                    u64::from(self.def.max_throttle)
                } else {
                    MAX_THROTTLE
                };
                t.min(cap)
            });
        match throttle {
            Some(secs) => {
                eprintln!(
                    "[uwsgi-daemons] throttling \"{}\" for {secs} seconds",
                    self.def.command
                );
                self.respawn_at = Some(Instant::now() + Duration::from_secs(secs));
            }
            None => self.spawn(honour_stdin),
        }
    }

    pub(super) fn check_touch(&mut self) {
        let Some(pid) = self.pid else { return };
        for (p, seen) in self.def.touch.iter().zip(self.touch_mtimes.iter_mut()) {
            let now = mtime(p);
            if now != *seen {
                *seen = now;
                eprintln!(
                    "*** {p} has been touched... reloading daemon \"{}\" (pid: {pid}) !!! ***",
                    self.def.command
                );
                subprocess::signal_group(pid, self.def.stop_signal);
                return;
            }
        }
    }

    /// uWSGI's smart check: a daemon seen running whose pidfile no longer names a live
    /// process is respawned at once; one never seen running is respawned after `freq`
    /// checks (each a second) once it has daemonized, logged otherwise.
    pub(super) fn check_pidfile(&mut self, honour_stdin: bool) {
        let Some(pf) = self.def.pidfile.clone() else {
            return;
        };
        match check_pidfile(&pf) {
            None => {
                if self.watch == Watch::Monitored {
                    eprintln!(
                        "[uwsgi-daemons] \"{}\" (pid: {}) is gone (pidfile {pf})",
                        self.def.command,
                        self.pid.map_or(0, Pid::as_raw)
                    );
                    self.pid = None;
                    self.spawn(honour_stdin);
                    return;
                }
                self.pidfile_checks += 1;
                if self.pidfile_checks >= self.def.freq {
                    if !self.has_daemonized {
                        eprintln!(
                            "[uwsgi-daemons] \"{}\" (pid: {}) did not daemonize !!!",
                            self.def.command,
                            self.child.map_or(0, Pid::as_raw)
                        );
                        self.pidfile_checks = 0;
                    } else {
                        eprintln!(
                            "[uwsgi-daemons] no valid pidfile {pf} for \"{}\": respawning",
                            self.def.command
                        );
                        self.spawn(honour_stdin);
                    }
                }
            }
            Some(pid) if Some(pid) != self.pid => {
                if let Some(old) = self.pid {
                    eprintln!(
                        "[uwsgi-daemons] found changed pid for \"{}\" (old_pid: {old} new_pid: {pid})",
                        self.def.command
                    );
                }
                self.pid = Some(pid);
            }
            Some(pid) => {
                if self.watch != Watch::Monitored {
                    eprintln!(
                        "[uwsgi-daemons] \"{}\" (pid: {pid}) is running, watched through {pf}",
                        self.def.command
                    );
                }
                self.watch = Watch::Monitored;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pidfile_check_needs_a_live_pid() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.pid");
        let path = p.to_str().unwrap();
        assert_eq!(check_pidfile(path), None, "absent");
        std::fs::write(&p, format!("{}\n", std::process::id())).unwrap();
        assert_eq!(
            check_pidfile(path),
            Some(Pid::from_raw(std::process::id() as i32))
        );
        std::fs::write(&p, "garbage").unwrap();
        assert_eq!(check_pidfile(path), None);
        std::fs::write(&p, "0").unwrap();
        assert_eq!(check_pidfile(path), None);
    }
}
