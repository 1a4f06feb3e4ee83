//! uWSGI's cheaper subsystem (adaptive worker count) as pure decisions: the master hands a
//! plain [`Observation`] of its worker slots to [`Cheaper::cycle`] once per master tick and
//! gets back at most one [`Outcome`] (spawn these ids, stop that one, or hold) with its log
//! lines. No syscalls here: the master gathers the facts (`server/cheaper.rs`).
//!
//! The algorithms are uWSGI 2.0's `spare`, `backlog` and `busyness` (the `cheaper_busyness`
//! plugin every uWSGI build embeds) and `manual` (FIFO only), plus `spare2` from uWSGI's later
//! versions (2.0 lacks it). The frame around them mirrors uWSGI's `uwsgi_calc_cheaper`: one
//! check per second, the `cheaper-rss-limit-*` guards first, then a pending FIFO move, then the
//! algorithm; spawns take the lowest cheap ids, stops the oldest idle worker. Where rw differs:
//! * a worker spawned but not yet accepting is no capacity: the algorithms do not count it, and
//!   nothing more is spawned until it accepts (uWSGI keeps spawning while a slow app imports);
//! * spawns are capped so the workers' total RSS stays under `cheaper-rss-limit-soft` (and under
//!   the memory the kernel reports available), not only refused once it is over;
//! * a FIFO `-` never goes below `cheaper` (uWSGI's can).

mod backlog;
mod busyness;
mod spare;
mod spare2;

pub use busyness::BusynessParams;

/// What the master knows of one worker slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotState {
    /// Stopped by the cheaper (or never started): a spawn may use it.
    Cheap,
    /// Forked, not accepting yet (importing the app).
    Starting,
    /// Serving.
    Accepting,
    /// Told to stop, or dead and waiting for its respawn: neither capacity nor free.
    Stopping,
}

/// One slot (ids are 1-based, `slots[i].id == i + 1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotObs {
    pub id: usize,
    pub state: SlotState,
    /// A core of it is in a request now.
    pub busy: bool,
    /// µs spent in finished requests, cumulative (the scoreboard's `running_time`).
    pub running_time_us: u64,
    /// When it was spawned (the observation's clock, µs): the oldest idle one stops first.
    pub spawned_us: u64,
    /// Resident memory in bytes (0 when not sampled).
    pub rss: u64,
    /// Connections it holds between requests (keep-alive): a stop closes them.
    pub held: u32,
}

/// Everything one cycle decides from.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    /// A monotonic clock, µs.
    pub now_us: u64,
    pub slots: Vec<SlotObs>,
    /// The longest accept queue over the listening sockets (TCP and unix).
    pub backlog: u64,
    /// The kernel's `MemAvailable`, when the rss limits make it matter.
    pub mem_available: Option<u64>,
}

impl Observation {
    fn count(&self, state: SlotState) -> usize {
        self.slots.iter().filter(|s| s.state == state).count()
    }
    /// Workers that are capacity: accepting, not told to stop.
    pub fn active(&self) -> usize {
        self.count(SlotState::Accepting)
    }
    pub fn busy(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.state == SlotState::Accepting && s.busy)
            .count()
    }
    /// Slots a spawn may use.
    pub fn cheap(&self) -> usize {
        self.count(SlotState::Cheap)
    }
    pub fn starting(&self) -> usize {
        self.count(SlotState::Starting)
    }
}

/// Whether a cycle may spawn (uWSGI's `can_spawn`), and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Room {
    Yes,
    /// This many spawned workers do not accept yet.
    Starting(usize),
    /// The workers' RSS is at `cheaper-rss-limit-soft`.
    Memory,
}

impl Room {
    pub fn can_spawn(self) -> bool {
        self == Room::Yes
    }
}

/// What an algorithm asks for (uWSGI's return value: > 0 spawn up to N, < 0 stop one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    Hold,
    Spawn(usize),
    StopOne,
}

/// An algorithm's answer and the lines it logs (uWSGI's wording where it has one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub want: Want,
    pub lines: Vec<String>,
}

impl Decision {
    pub fn hold() -> Decision {
        Decision {
            want: Want::Hold,
            lines: Vec::new(),
        }
    }
    fn with(want: Want, line: String) -> Decision {
        Decision {
            want,
            lines: vec![line],
        }
    }
}

/// One cheaper algorithm: called once per cycle with the slots and whether it may spawn.
pub trait Algorithm: Send {
    fn decide(&mut self, obs: &Observation, room: Room) -> Decision;
}

/// `cheaper-algo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algo {
    Spare,
    Spare2,
    Backlog,
    Busyness,
    Manual,
}

impl Algo {
    pub const NAMES: &'static [&'static str] =
        &["spare", "spare2", "backlog", "busyness", "manual"];

    pub fn parse(name: &str) -> Option<Algo> {
        Some(match name {
            "spare" => Algo::Spare,
            "spare2" => Algo::Spare2,
            "backlog" => Algo::Backlog,
            "busyness" => Algo::Busyness,
            "manual" => Algo::Manual,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Algo::Spare => "spare",
            Algo::Spare2 => "spare2",
            Algo::Backlog => "backlog",
            Algo::Busyness => "busyness",
            Algo::Manual => "manual",
        }
    }
}

/// The cheaper options, with uWSGI's defaults already applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    /// `cheaper`: the fewest workers kept running.
    pub min: usize,
    /// `processes`: the most.
    pub max: usize,
    /// `cheaper-initial`, clamped to [min, max] as uWSGI clamps it.
    pub initial: usize,
    /// `cheaper-step` as given (uWSGI's loops spawn at least one even when it is 0).
    pub step: usize,
    /// `cheaper-overload`: cycles (spare), queue length (backlog) or seconds (busyness).
    pub overload: u64,
    pub algo: Algo,
    /// `cheaper-idle` (spare2): idle cycles before a stop.
    pub idle: u64,
    pub rss_soft: u64,
    pub rss_hard: u64,
    pub busyness: BusynessParams,
}

impl Params {
    /// Workers a spawn adds at most: uWSGI counts free slots until it reaches the step, so a
    /// step of 0 still spawns one.
    fn step_at_least_one(&self) -> usize {
        self.step.max(1)
    }
}

/// What the master is to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    Hold,
    Spawn(Vec<usize>),
    Stop(usize),
}

/// A cycle's result: the plan, who asked for it (the metrics' `cause`) and the log lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub plan: Plan,
    pub cause: &'static str,
    pub lines: Vec<String>,
}

/// uWSGI checks once per master cycle (`check-interval`, 1 s).
pub const INTERVAL_US: u64 = 1_000_000;
/// A tick that wakes a little early still counts (the master's 1 s poll may return early).
const INTERVAL_SLACK_US: u64 = 50_000;

/// The cheaper of one master generation.
pub struct Cheaper {
    params: Params,
    algo: Box<dyn Algorithm>,
    last_check_us: Option<u64>,
    /// Workers asked for by the FIFO (`+`/`-`), or a stop that found no idle worker (uWSGI
    /// retries those on the next cycle the same way).
    fifo_delta: i64,
}

impl Cheaper {
    /// `now_us` starts the busyness timers, as uWSGI's plugin init does.
    pub fn new(params: Params, now_us: u64) -> Cheaper {
        let algo: Box<dyn Algorithm> = match params.algo {
            Algo::Spare => Box::new(spare::Spare::new(&params)),
            Algo::Spare2 => Box::new(spare2::Spare2::new(&params)),
            Algo::Backlog => Box::new(backlog::Backlog::new(&params)),
            Algo::Busyness => Box::new(busyness::Busyness::new(&params, now_us)),
            Algo::Manual => Box::new(Manual),
        };
        Cheaper {
            params,
            algo,
            last_check_us: None,
            fifo_delta: 0,
        }
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The lines logged when the master starts (busyness prints its settings, as uWSGI does).
    pub fn banner(&self) -> Vec<String> {
        let p = &self.params;
        let mut lines = vec![format!(
            "cheaper mode: algo {}, {} to {} workers, {} at start, step {}, overload {}",
            p.algo.name(),
            p.min,
            p.max,
            p.initial,
            p.step_at_least_one(),
            p.overload
        )];
        if p.algo == Algo::Busyness {
            lines.extend(busyness::banner(p));
        }
        lines
    }

    /// The FIFO's `+` (`by = 1`) and `-` (`by = -1`): the next cycle moves the worker count by
    /// that much instead of asking the algorithm (uWSGI's `cheaper_fifo_delta`).
    pub fn nudge(&mut self, by: i64) {
        self.fifo_delta += by;
    }

    /// One cycle, or `None` when the last one was less than a second ago.
    pub fn cycle(&mut self, obs: &Observation) -> Option<Outcome> {
        if let Some(last) = self.last_check_us {
            if obs.now_us.saturating_sub(last) + INTERVAL_SLACK_US < INTERVAL_US {
                return None;
            }
        }
        self.last_check_us = Some(obs.now_us);
        let p = &self.params;
        let mut room = match obs.starting() {
            0 => Room::Yes,
            n => Room::Starting(n),
        };
        let mut forced: Option<(Want, &'static str, Vec<String>)> = None;
        if p.rss_soft > 0 {
            let (live, total) = rss_of_live(obs);
            if p.rss_hard > 0 && live > 1 && total >= p.rss_hard {
                forced = Some((
                    Want::StopOne,
                    "rss-limit-hard",
                    vec![format!(
                        "cheaper hard rss memory limit exceeded, cheap one of {live} workers"
                    )],
                ));
            } else if total >= p.rss_soft {
                room = Room::Memory;
            }
        }
        let (want, cause, lines) = if self.fifo_delta != 0 {
            let delta = std::mem::take(&mut self.fifo_delta);
            match forced {
                Some(f) => f,
                None if delta > 0 => (
                    Want::Spawn(delta as usize),
                    "fifo",
                    vec![format!("cheaper: the FIFO asks for {delta} more worker(s)")],
                ),
                None => (
                    Want::StopOne,
                    "fifo",
                    vec!["cheaper: the FIFO asks for one worker less".to_string()],
                ),
            }
        } else if let Some(f) = forced {
            f
        } else {
            let mut d = self.algo.decide(obs, room);
            if matches!(d.want, Want::Spawn(n) if n > 0) && !room.can_spawn() {
                // An algorithm that ignores `room` must not spawn anyway (uWSGI's "BUG!" check).
                d.want = Want::Hold;
            }
            (d.want, self.params.algo.name(), d.lines)
        };
        Some(self.apply(obs, want, cause, lines))
    }

    /// Turns a wish into ids, within [cheaper, processes] and the memory caps.
    fn apply(
        &mut self,
        obs: &Observation,
        want: Want,
        cause: &'static str,
        mut lines: Vec<String>,
    ) -> Outcome {
        let p = &self.params;
        let plan = match want {
            Want::Hold | Want::Spawn(0) => Plan::Hold,
            Want::Spawn(n) => {
                let mut n = n.min(obs.cheap());
                if let Some((cap, why)) = memory_cap(p, obs) {
                    if cap < n {
                        lines.push(format!(
                            "cheaper: spawning {cap} instead of {n} worker(s): more would exceed {why}"
                        ));
                        n = cap;
                    }
                }
                let ids: Vec<usize> = obs
                    .slots
                    .iter()
                    .filter(|s| s.state == SlotState::Cheap)
                    .map(|s| s.id)
                    .take(n)
                    .collect();
                if ids.is_empty() {
                    Plan::Hold
                } else {
                    Plan::Spawn(ids)
                }
            }
            Want::StopOne => {
                // The hard rss limit may go down to one worker (as uWSGI); nothing else goes
                // below `cheaper`.
                let floor = if cause == "rss-limit-hard" { 1 } else { p.min };
                if obs.active() <= floor {
                    Plan::Hold
                } else {
                    match victim(obs) {
                        Some(id) => Plan::Stop(id),
                        None => {
                            // Every worker is busy: uWSGI puts the stop back in the FIFO delta,
                            // so it is retried on the next cycle.
                            self.fifo_delta -= 1;
                            lines.push(
                                "cheaper: every worker is busy, the stop waits for the next cycle"
                                    .to_string(),
                            );
                            Plan::Hold
                        }
                    }
                }
            }
        };
        Outcome { plan, cause, lines }
    }
}

/// The idle accepting worker holding the fewest keep-alive connections, the one spawned
/// first among those (uWSGI stops the oldest idle one, whatever it holds).
fn victim(obs: &Observation) -> Option<usize> {
    obs.slots
        .iter()
        .filter(|s| s.state == SlotState::Accepting && !s.busy)
        .min_by_key(|s| (s.held, s.spawned_us, s.id))
        .map(|s| s.id)
}

/// (live workers, their total RSS): what uWSGI sums (every slot not cheaped).
fn rss_of_live(obs: &Observation) -> (usize, u64) {
    let live = obs
        .slots
        .iter()
        .filter(|s| matches!(s.state, SlotState::Accepting | SlotState::Starting));
    live.fold((0, 0), |(n, t), s| (n + 1, t + s.rss))
}

/// How many workers of the current average RSS still fit under the soft limit and in the
/// memory the kernel says is available, with the limit that binds (`None`: no limit set, or
/// nothing measured yet).
fn memory_cap(p: &Params, obs: &Observation) -> Option<(usize, &'static str)> {
    if p.rss_soft == 0 {
        return None;
    }
    let (live, total) = rss_of_live(obs);
    let per_worker = total.checked_div(live as u64).filter(|&a| a > 0)?;
    let soft = (p.rss_soft.saturating_sub(total) / per_worker) as usize;
    let avail = obs
        .mem_available
        .map_or(usize::MAX, |a| (a / per_worker) as usize);
    Some(if avail < soft {
        (avail, "the memory available")
    } else {
        (soft, "cheaper-rss-limit-soft")
    })
}

/// `manual`: only the FIFO moves the count.
struct Manual;

impl Algorithm for Manual {
    fn decide(&mut self, _: &Observation, _: Room) -> Decision {
        Decision::hold()
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::*;

    /// One second in the observation's microseconds.
    pub const S: u64 = 1_000_000;

    /// One cycle at second `t` over the slots of `picture`; its plan.
    pub fn run(c: &mut Cheaper, t: u64, picture: &str) -> Plan {
        c.cycle(&obs(t * S, picture)).unwrap().plan
    }

    pub fn params(algo: Algo, min: usize, max: usize) -> Params {
        Params {
            min,
            max,
            initial: min,
            step: 1,
            overload: 3,
            algo,
            idle: 10,
            rss_soft: 0,
            rss_hard: 0,
            busyness: BusynessParams::default(),
        }
    }

    /// Slots from a picture: `c` cheap, `s` starting, `i` idle, `b` busy, `x` stopping.
    pub fn obs(now_us: u64, picture: &str) -> Observation {
        let slots = picture
            .chars()
            .enumerate()
            .map(|(i, c)| SlotObs {
                id: i + 1,
                state: match c {
                    'c' => SlotState::Cheap,
                    's' => SlotState::Starting,
                    'i' | 'b' => SlotState::Accepting,
                    'x' => SlotState::Stopping,
                    _ => panic!("bad picture {c}"),
                },
                busy: c == 'b',
                running_time_us: 0,
                spawned_us: i as u64,
                rss: 0,
                held: 0,
            })
            .collect();
        Observation {
            now_us,
            slots,
            backlog: 0,
            mem_available: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;

    #[test]
    fn one_check_per_second() {
        let mut c = Cheaper::new(params(Algo::Manual, 1, 3), 0);
        assert!(c.cycle(&obs(0, "icc")).is_some());
        assert!(c.cycle(&obs(S / 2, "icc")).is_none());
        // A poll that returns a little early still makes the cycle.
        assert!(c.cycle(&obs(S - 10_000, "icc")).is_some());
    }

    #[test]
    fn fifo_moves_by_one_within_bounds() {
        let mut c = Cheaper::new(params(Algo::Manual, 1, 3), 0);
        c.nudge(1);
        let o = c.cycle(&obs(0, "icc")).unwrap();
        assert_eq!((o.plan, o.cause), (Plan::Spawn(vec![2]), "fifo"));
        c.nudge(-1);
        let o = c.cycle(&obs(S, "iic")).unwrap();
        assert_eq!(o.plan, Plan::Stop(1), "the oldest idle one");
        // Never below `cheaper`, whatever the FIFO says.
        c.nudge(-1);
        assert_eq!(c.cycle(&obs(2 * S, "icc")).unwrap().plan, Plan::Hold);
        // Never above `processes`.
        c.nudge(5);
        let o = c.cycle(&obs(3 * S, "iic")).unwrap();
        assert_eq!(o.plan, Plan::Spawn(vec![3]));
    }

    #[test]
    fn spawns_take_the_lowest_free_ids() {
        let mut c = Cheaper::new(params(Algo::Manual, 1, 6), 0);
        c.nudge(2);
        let o = c.cycle(&obs(0, "icixcc")).unwrap();
        assert_eq!(o.plan, Plan::Spawn(vec![2, 5]));
    }

    #[test]
    fn stop_picks_the_oldest_idle_and_waits_when_all_are_busy() {
        let mut c = Cheaper::new(params(Algo::Manual, 1, 4), 0);
        let mut o = obs(0, "bibi");
        o.slots[3].spawned_us = 0;
        o.slots[1].spawned_us = 5;
        c.nudge(-1);
        assert_eq!(c.cycle(&o).unwrap().plan, Plan::Stop(4));
        // One holding keep-alive connections is stopped after one that holds none.
        o.now_us = S / 2 * 3;
        o.slots[3].held = 2;
        c.nudge(-1);
        assert_eq!(c.cycle(&o).unwrap().plan, Plan::Stop(2));
        c.nudge(-1);
        let out = c.cycle(&obs(3 * S, "bbbb")).unwrap();
        assert_eq!(out.plan, Plan::Hold);
        // Retried on the next cycle without asking again.
        assert_eq!(c.cycle(&obs(4 * S, "bbib")).unwrap().plan, Plan::Stop(3));
    }

    #[test]
    fn nothing_is_spawned_while_a_worker_starts() {
        let mut p = params(Algo::Spare, 1, 4);
        p.overload = 0;
        let mut c = Cheaper::new(p, 0);
        for t in 0..5 {
            let o = c.cycle(&obs(t * S, "bscc")).unwrap();
            assert_eq!(o.plan, Plan::Hold, "cycle {t}");
        }
        // Once it accepts and everything is still busy, the next one comes.
        let o = c.cycle(&obs(5 * S, "bbcc")).unwrap();
        assert_eq!(o.plan, Plan::Spawn(vec![3]));
    }

    #[test]
    fn rss_hard_limit_stops_one_soft_limit_caps_growth() {
        let mut p = params(Algo::Manual, 2, 6);
        p.rss_soft = 1000;
        p.rss_hard = 2000;
        let mut c = Cheaper::new(p, 0);
        let mut o = obs(0, "iiiccc");
        for s in &mut o.slots[..3] {
            s.rss = 700;
        }
        let out = c.cycle(&o).unwrap();
        assert_eq!((out.plan, out.cause), (Plan::Stop(1), "rss-limit-hard"));
        assert_eq!(
            out.lines,
            vec!["cheaper hard rss memory limit exceeded, cheap one of 3 workers"]
        );
        // Under the soft limit with room for one more of the average size: one, not three.
        let mut o = obs(S, "iicccc");
        o.slots[0].rss = 300;
        o.slots[1].rss = 300;
        c.nudge(3);
        let out = c.cycle(&o).unwrap();
        assert_eq!(out.plan, Plan::Spawn(vec![3]));
        assert!(
            out.lines[1].contains("exceed cheaper-rss-limit-soft"),
            "{out:?}"
        );
        // The memory available binds too.
        o.now_us = 2 * S;
        o.mem_available = Some(100);
        c.nudge(1);
        assert_eq!(c.cycle(&o).unwrap().plan, Plan::Hold);
        // At the soft limit the algorithm may not spawn at all.
        let mut p = params(Algo::Spare, 1, 4);
        p.overload = 0;
        p.rss_soft = 100;
        let mut c = Cheaper::new(p, 0);
        let mut o = obs(0, "bccc");
        o.slots[0].rss = 100;
        for t in 0..3 {
            o.now_us = t * S;
            assert_eq!(c.cycle(&o).unwrap().plan, Plan::Hold);
        }
    }
}

#[cfg(test)]
mod names {
    #[test]
    fn every_name_the_config_accepts_parses() {
        for n in crate::config::cheaper::ALGOS {
            assert_eq!(super::Algo::parse(n).map(super::Algo::name), Some(*n));
        }
        assert_eq!(super::Algo::NAMES, crate::config::cheaper::ALGOS);
    }
}
