//! The master's side of the cheaper subsystem: which slots are cheap, the [`Observation`]
//! built from the scoreboard and the kernel (listen queues, worker memory), the decisions
//! of `crate::cheaper` logged and counted by cause. The master executes the plan (spawn,
//! or a graceful stop that finishes what the worker accepted).

use crate::cheaper::{Algo, Cheaper, Observation, Params, Plan, SlotObs, SlotState};
use crate::net::addr::Addr;
use crate::net::listen::Listener;
use crate::stats::scoreboard::{Scoreboard, Status};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

/// What the master knows of one of its slots.
pub struct Live {
    pub id: usize,
    pub pid: Option<i32>,
    pub spawned: Instant,
    /// Told to stop (recycle, mercy, a cheaper stop).
    pub stopping: bool,
}

/// Spawns and stops decided by the cheaper, by cause (the algorithm, `fifo`, `rss-limit-hard`).
#[derive(Debug, Clone, Default)]
pub struct Counts {
    pub spawns: BTreeMap<&'static str, u64>,
    pub stops: BTreeMap<&'static str, u64>,
}

pub struct Pool {
    cheaper: Cheaper,
    /// By slot index: the cheaper keeps it stopped (never respawned).
    cheap: Vec<bool>,
    epoch: Instant,
    pub counts: Counts,
}

impl Pool {
    /// Slots above `cheaper-initial` start cheap.
    pub fn new(params: Params) -> Pool {
        let cheap = (1..=params.max).map(|id| id > params.initial).collect();
        Pool {
            cheaper: Cheaper::new(params, 0),
            cheap,
            epoch: Instant::now(),
            counts: Counts::default(),
        }
    }

    pub fn params(&self) -> &Params {
        self.cheaper.params()
    }

    pub fn banner(&self) -> Vec<String> {
        self.cheaper.banner()
    }

    /// Whether slot `id` is to run now (a dead one that is not cheap is respawned).
    pub fn wanted(&self, id: usize) -> bool {
        !self.cheap.get(id - 1).copied().unwrap_or(false)
    }

    /// After cheap mode: the lowest `n` slots are wanted again, the rest cheap (uWSGI
    /// respawns `cheaper` workers when a connection wakes it).
    pub fn reset_to(&mut self, n: usize) {
        for (i, c) in self.cheap.iter_mut().enumerate() {
            *c = i + 1 > n;
        }
    }

    /// Workers the cheaper wants running.
    pub fn target(&self) -> usize {
        self.cheap.iter().filter(|c| !**c).count()
    }

    /// The master FIFO's `+`/`-`: moves the worker count by `by` at the next cycle, within [cheaper, processes].
    pub fn nudge(&mut self, by: i64) {
        self.cheaper.nudge(by);
    }

    /// The stats JSON's `cheaper` object.
    pub fn stats(&self) -> crate::stats::schema::Cheaper {
        let p = self.params();
        let names = |m: &BTreeMap<&'static str, u64>| {
            m.iter().map(|(k, v)| ((*k).to_string(), *v)).collect()
        };
        crate::stats::schema::Cheaper {
            algo: p.algo.name().to_string(),
            min: p.min as u64,
            max: p.max as u64,
            target: self.target() as u64,
            spawns: names(&self.counts.spawns),
            stops: names(&self.counts.stops),
        }
    }

    /// One cycle (at most one a second): logs the decision and marks the slots it changes.
    /// The master spawns the ids of `Plan::Spawn` and stops the worker of `Plan::Stop`.
    pub fn cycle(&mut self, slots: &[Live], sb: &Scoreboard, listeners: &[Listener]) -> Plan {
        let obs = self.observe(slots, sb, listeners);
        let Some(out) = self.cheaper.cycle(&obs) else {
            return Plan::Hold;
        };
        for line in &out.lines {
            eprintln!("{line}");
        }
        match &out.plan {
            Plan::Hold => {}
            Plan::Spawn(ids) => {
                for id in ids {
                    self.cheap[id - 1] = false;
                }
                *self.counts.spawns.entry(out.cause).or_default() += ids.len() as u64;
            }
            Plan::Stop(id) => {
                self.cheap[id - 1] = true;
                *self.counts.stops.entry(out.cause).or_default() += 1;
            }
        }
        out.plan
    }

    fn observe(&self, slots: &[Live], sb: &Scoreboard, listeners: &[Listener]) -> Observation {
        let p = self.params();
        let memory = p.rss_soft > 0;
        let slots = slots
            .iter()
            .map(|l| {
                let w = sb.worker(l.id);
                let state = match l.pid {
                    None if !self.wanted(l.id) => SlotState::Cheap,
                    // Dead and waiting for its respawn, or cheaped and not reaped yet.
                    None => SlotState::Stopping,
                    Some(_)
                        if l.stopping
                            || !self.wanted(l.id)
                            || w.status.load(Relaxed) == Status::Cursed as u32 =>
                    {
                        SlotState::Stopping
                    }
                    Some(_) if w.accepting.load(Relaxed) == 1 => SlotState::Accepting,
                    Some(_) => SlotState::Starting,
                };
                SlotObs {
                    id: l.id,
                    state,
                    busy: (0..sb.cores()).any(|c| sb.core(l.id, c).in_request.load(Relaxed) != 0),
                    running_time_us: w.running_time.load(Relaxed),
                    spawned_us: l.spawned.saturating_duration_since(self.epoch).as_micros() as u64,
                    rss: match l.pid {
                        Some(pid) if memory => rss_of(pid),
                        _ => 0,
                    },
                    held: w.parked.load(Relaxed),
                }
            })
            .collect();
        let backlog = if matches!(p.algo, Algo::Backlog | Algo::Busyness) {
            listen_queue(listeners)
        } else {
            0
        };
        Observation {
            now_us: self.epoch.elapsed().as_micros() as u64,
            slots,
            backlog,
            mem_available: if memory {
                crate::sys::proc::mem_available()
            } else {
                None
            },
        }
    }
}

// The OS facts, through one adapter each (they live in sys/).

/// The longest accept queue over the listeners: TCP from TCP_INFO, unix from sock_diag.
fn listen_queue(listeners: &[Listener]) -> u64 {
    use crate::sys::listen_queue::{inode_of, tcp_queue, unix_listen_queues};
    let unix = if listeners.iter().any(|l| !matches!(l.addr, Addr::Tcp(_))) {
        unix_listen_queues()
    } else {
        None
    };
    listeners
        .iter()
        .filter_map(|l| match l.addr {
            Addr::Tcp(_) => tcp_queue(l.raw()).map(|(q, _)| q),
            _ => inode_of(l.raw()).and_then(|ino| unix.as_ref()?.get(&ino).map(|(q, _)| *q)),
        })
        .max()
        .map_or(0, u64::from)
}

fn rss_of(pid: i32) -> u64 {
    crate::sys::proc::memory_of(pid).map_or(0, |(rss, _)| rss)
}

/// uWSGI's idle mode (`idle`): the instance is idle once no request has finished for more
/// than `idle` seconds while no worker is in one; the master then stops every worker and waits
/// for a connection (cheap mode), or shuts down (`die-on-idle`).
pub struct IdleWatch {
    limit: Duration,
    last_total: u64,
    since: Instant,
}

impl IdleWatch {
    pub fn new(secs: u64) -> IdleWatch {
        IdleWatch {
            limit: Duration::from_secs(secs),
            last_total: 0,
            since: Instant::now(),
        }
    }

    pub fn limit_secs(&self) -> u64 {
        self.limit.as_secs()
    }

    /// Called every master tick with the finished-request total and whether any worker is in
    /// a request (a busy worker is never idle, however long its request runs).
    pub fn expired(&mut self, total: u64, busy: bool, now: Instant) -> bool {
        if busy {
            return false;
        }
        if total != self.last_total {
            self.last_total = total;
            self.since = now;
            return false;
        }
        now.saturating_duration_since(self.since) > self.limit
    }

    /// Starts counting again (after waking from cheap mode).
    pub fn reset(&mut self, now: Instant) {
        self.since = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_counts_from_the_last_finished_request_and_never_while_busy() {
        let t0 = Instant::now();
        let s = |n| t0 + Duration::from_millis(n);
        let mut w = IdleWatch::new(2);
        w.reset(t0);
        assert!(!w.expired(0, false, s(2000)));
        assert!(w.expired(0, false, s(2001)));
        assert!(
            !w.expired(5, false, s(2500)),
            "a request finished: counting restarts"
        );
        assert!(!w.expired(5, false, s(4400)));
        assert!(
            !w.expired(5, true, s(9000)),
            "a worker in a request is not idle"
        );
        assert!(w.expired(5, false, s(9000)));
    }
}
