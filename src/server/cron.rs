//! The master's command crons (uWSGI 2.0's `uwsgi_manage_command_cron`): each turn of the
//! master loop, a line whose fields match the local time, and that has not run in the last
//! 60 s, starts `/bin/sh -c COMMAND` in its own session; `unique` lines never start while
//! their previous run goes on; a run past its harakiri is killed (its whole session). The
//! rule itself is pure, in config/cron.rs.

use super::subprocess::{self, Mode, Spec};
use crate::config::cron::{self as rule, CronDef, Harakiri};
use nix::unistd::Pid;
use std::time::{Duration, Instant};

/// Test-only (debug builds): the cron clock runs this many times faster than the wall clock,
/// from the master's start, so a test sees several "minutes" in seconds.
pub const SPEED_ENV: &str = "RW_DEBUG_CRON_SPEED";

/// Cron runs still going when the master re-executes itself (a reload): they stay children of
/// the same pid, and the new image adopts them, so a unique line does not start a second run
/// and harakiri still applies. JSON `[{"pid", "cmd", "started", "limit"}]`.
pub const RUNS_ENV: &str = "RW_CRON_RUNS";

#[derive(serde::Serialize, serde::Deserialize)]
struct Handed {
    pid: i32,
    cmd: String,
    /// Seconds the run had been going at the exec.
    ran: u64,
    /// Its harakiri, seconds from its start (0: none).
    limit: u64,
}

/// The cron's view of the time: the wall clock, or (debug builds, [`SPEED_ENV`]) a faster one.
struct Clock {
    base: i64,
    started: Instant,
    speed: u64,
}

impl Clock {
    fn new() -> Clock {
        #[cfg(debug_assertions)]
        let speed = std::env::var(SPEED_ENV)
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|s| *s > 0)
            .unwrap_or(1);
        #[cfg(not(debug_assertions))]
        let speed = 1;
        Clock {
            base: crate::sys::clock::unix_secs() as i64,
            started: Instant::now(),
            speed,
        }
    }

    fn now(&self) -> i64 {
        if self.speed == 1 {
            return crate::sys::clock::unix_secs() as i64;
        }
        self.base + (self.started.elapsed().as_millis() as i64 * self.speed as i64) / 1000
    }
}

#[derive(Debug)]
struct Run {
    pid: Pid,
    started: Instant,
    /// Killed (SIGKILL to its session) at this moment if still running.
    deadline: Option<Instant>,
    /// Its harakiri in seconds from `started` (0: none), handed over across a reload.
    limit: u64,
}

#[derive(Debug)]
struct Job {
    def: CronDef,
    /// Cron-clock second of the last start (0: never).
    last_job: i64,
    /// Wall-clock second of the last start, for the stats.
    started_at: u64,
    runs: Vec<Run>,
}

pub struct Crons {
    jobs: Vec<Job>,
    default_harakiri: u64,
    clock: Clock,
}

impl Crons {
    pub fn new(defs: &[CronDef], cron_harakiri: u64) -> Crons {
        let clock = Clock::new();
        if clock.speed != 1 {
            eprintln!(
                "[uwsgi-cron] test clock: {} runs {}x faster than the wall clock",
                SPEED_ENV, clock.speed
            );
        }
        for d in defs {
            eprintln!(
                "[uwsgi-cron] command \"{}\" registered as cron task",
                d.command
            );
        }
        let mut crons = Crons {
            jobs: defs
                .iter()
                .map(|d| Job {
                    def: d.clone(),
                    last_job: 0,
                    started_at: 0,
                    runs: Vec::new(),
                })
                .collect(),
            default_harakiri: cron_harakiri,
            clock,
        };
        crons.adopt();
        crons
    }

    /// Before a reload's exec: names the running runs in [`RUNS_ENV`] for the new image.
    pub fn hand_over(&self) {
        let runs: Vec<Handed> = self
            .jobs
            .iter()
            .flat_map(|j| {
                j.runs.iter().map(|r| Handed {
                    pid: r.pid.as_raw(),
                    cmd: j.def.command.clone(),
                    ran: r.started.elapsed().as_secs(),
                    limit: if r.deadline.is_some() { r.limit } else { 0 },
                })
            })
            .collect();
        super::handover::put(RUNS_ENV, &runs);
    }

    /// The exec failed: the current image keeps its runs.
    pub fn keep() {
        super::handover::clear(RUNS_ENV);
    }

    /// After a reload: the previous image's runs of lines that still exist (same command),
    /// if they are still our children.
    fn adopt(&mut self) {
        for h in super::handover::take(RUNS_ENV, |h: &Handed| h.pid) {
            let Some(job) = self.jobs.iter_mut().find(|j| j.def.command == h.cmd) else {
                continue;
            };
            let now = Instant::now();
            let started = now.checked_sub(Duration::from_secs(h.ran)).unwrap_or(now);
            eprintln!(
                "[uwsgi-cron] command \"{}\" still running with pid {} (started before the reload)",
                h.cmd, h.pid
            );
            // It started this minute or earlier: the line is not due again before 60 s.
            job.last_job = self.clock.now() - h.ran as i64 * self.clock.speed as i64;
            job.started_at = crate::sys::clock::unix_secs().saturating_sub(h.ran);
            job.runs.push(Run {
                pid: Pid::from_raw(h.pid),
                started,
                deadline: (h.limit > 0).then(|| started + Duration::from_secs(h.limit)),
                limit: h.limit,
            });
        }
    }

    /// Starts the lines that are due now.
    pub fn tick(&mut self) {
        if self.jobs.is_empty() {
            return;
        }
        let now = self.clock.now();
        let Some(t) = crate::sys::clock::local_time(now) else {
            return;
        };
        let when = rule::When {
            minute: t.min as i32,
            hour: t.hour as i32,
            mday: t.mday as i32,
            month: t.month as i32 + 1,
            wday: t.wday as i32,
        };
        for job in &mut self.jobs {
            if job.def.unique && !job.runs.is_empty() {
                continue;
            }
            if !rule::due(&job.def, when) || now - job.last_job < 60 {
                continue;
            }
            job.last_job = now;
            let limit = match job.def.harakiri {
                Harakiri::Default => self.default_harakiri,
                Harakiri::Secs(n) => n,
                Harakiri::Off => 0,
            };
            let started = Spec::new(&job.def.command, Mode::Cron)
                .map_err(std::io::Error::other)
                .and_then(|spec| subprocess::spawn(&spec));
            match started {
                Ok(pid) => {
                    eprintln!("[uwsgi-cron] running \"{}\" (pid {pid})", job.def.command);
                    let started = Instant::now();
                    job.started_at = crate::sys::clock::unix_secs();
                    job.runs.push(Run {
                        pid,
                        started,
                        deadline: (limit > 0).then(|| started + Duration::from_secs(limit)),
                        limit,
                    });
                }
                Err(e) => eprintln!("[uwsgi-cron] cannot run \"{}\": {e}", job.def.command),
            }
        }
    }

    /// A child of the master exited: one of the runs?
    pub fn reaped(&mut self, pid: Pid) -> bool {
        for job in &mut self.jobs {
            if let Some(i) = job.runs.iter().position(|r| r.pid == pid) {
                let run = job.runs.remove(i);
                eprintln!(
                    "[uwsgi-cron] command \"{}\" running with pid {pid} exited after {} second(s)",
                    job.def.command,
                    run.started.elapsed().as_secs()
                );
                return true;
            }
        }
        false
    }

    /// Runs past their harakiri are killed with their session.
    pub fn check_harakiri(&mut self) {
        let now = Instant::now();
        for job in &mut self.jobs {
            for run in &mut job.runs {
                if run.deadline.is_some_and(|d| now >= d) {
                    eprintln!(
                        "*** HARAKIRI ON CRON \"{}\" (pid: {}) ***",
                        job.def.command, run.pid
                    );
                    subprocess::signal_group(run.pid, libc::SIGKILL);
                    run.deadline = None;
                }
            }
        }
    }

    /// `crons[]` of the stats, as uWSGI 2.0 lists them.
    pub fn stats(&self) -> Vec<crate::stats::schema::Cron> {
        self.jobs
            .iter()
            .map(|j| crate::stats::schema::Cron {
                minute: i64::from(j.def.minute),
                hour: i64::from(j.def.hour),
                day: i64::from(j.def.day),
                month: i64::from(j.def.month),
                week: i64::from(j.def.week),
                command: j.def.command.clone(),
                unique: u64::from(j.def.unique),
                legion: j.def.legion.clone().unwrap_or_default(),
                pid: j.runs.last().map_or(-1, |r| i64::from(r.pid.as_raw())),
                started_at: if j.runs.is_empty() { 0 } else { j.started_at },
            })
            .collect()
    }
}
