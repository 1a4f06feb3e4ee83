//! `busyness` (uWSGI's `cheaper_busyness` plugin, embedded in every 2.0 build): every
//! `cheaper-overload` seconds, the share of that time each worker spent in requests. Above
//! `-max` %: spawn `cheaper-step`. Below `-min` %: stop one, but only once the workers have been
//! idle for `cheaper-overload` × multiplier seconds; a worker spawned back soon after a stop
//! raises the multiplier by `-penalty` (down again one at a time). A listen queue longer than
//! `-backlog-alert` (checked every second), or non-empty for `-backlog-nonzero` seconds, spawns
//! `-backlog-step` emergency workers, which are stopped faster (`-backlog-multiplier`).
//! The log lines are the plugin's.

use super::{Algorithm, Decision, Observation, Params, Room, SlotState, Want};

/// The `cheaper-busyness-*` options; 0 means the plugin's default, as in uWSGI.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BusynessParams {
    pub max: u64,
    pub min: u64,
    pub multiplier: u64,
    pub penalty: u64,
    pub verbose: bool,
    pub backlog_alert: u64,
    pub backlog_multiplier: u64,
    pub backlog_step: usize,
    pub backlog_nonzero: u64,
}

impl BusynessParams {
    /// The plugin's defaults for what is 0.
    pub fn with_defaults(mut self) -> BusynessParams {
        let or = |v: &mut u64, d: u64| {
            if *v == 0 {
                *v = d;
            }
        };
        or(&mut self.max, 50);
        or(&mut self.min, 25);
        or(&mut self.multiplier, 10);
        or(&mut self.penalty, 2);
        or(&mut self.backlog_alert, 33);
        or(&mut self.backlog_multiplier, 3);
        or(&mut self.backlog_nonzero, 60);
        if self.backlog_step == 0 {
            self.backlog_step = 1;
        }
        self
    }
}

/// The plugin's settings lines, logged at startup.
pub fn banner(p: &Params) -> Vec<String> {
    let b = p.busyness.clone().with_defaults();
    vec![
        format!(
            "[busyness] settings: min={}%, max={}%, overload={}, multiplier={}, respawn penalty={}",
            b.min, b.max, p.overload, b.multiplier, b.penalty
        ),
        format!(
            "[busyness] backlog alert is set to {} request(s), step is {}",
            b.backlog_alert, b.backlog_step
        ),
        format!(
            "[busyness] backlog non-zero alert is set to {} second(s)",
            b.backlog_nonzero
        ),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LastAction {
    None,
    Spawn,
    Cheap,
}

pub struct Busyness {
    b: BusynessParams,
    /// cheaper-overload in seconds (0 read as 1: uWSGI divides by it).
    overload: u64,
    min_workers: usize,
    max_workers: usize,
    step: usize,
    /// running_time of each slot at the last cycle.
    last_values: Vec<u64>,
    /// Checks (one a second) that found the slot busy since the last cycle.
    was_busy: Vec<u64>,
    /// Start of the current cycle.
    tcheck: u64,
    last_cheaped: Option<u64>,
    /// No stop before this.
    next_cheap: u64,
    /// The configured multiplier, the floor of `cheap_multi`.
    min_multi: u64,
    cheap_multi: u64,
    last_action: LastAction,
    /// Cycles in a row between min and max.
    tolerance_counter: u64,
    emergency_workers: usize,
    backlog_nonzero_since: Option<u64>,
}

const S: u64 = 1_000_000;

impl Busyness {
    pub fn new(p: &Params, now_us: u64) -> Busyness {
        let b = p.busyness.clone().with_defaults();
        let mut me = Busyness {
            overload: p.overload.max(1),
            min_workers: p.min,
            max_workers: p.max,
            step: p.step_at_least_one(),
            last_values: Vec::new(),
            was_busy: Vec::new(),
            tcheck: now_us,
            last_cheaped: None,
            next_cheap: 0,
            min_multi: b.multiplier,
            cheap_multi: b.multiplier,
            last_action: LastAction::None,
            tolerance_counter: 0,
            emergency_workers: 0,
            backlog_nonzero_since: None,
            b,
        };
        me.set_next_cheap_time(now_us, &mut Vec::new());
        me
    }

    fn set_next_cheap_time(&mut self, now: u64, lines: &mut Vec<String>) {
        if self.emergency_workers > 0 {
            if self.b.verbose {
                lines.push(format!(
                    "[busyness] {} emergency worker(s) running, using {} seconds cheaper timer",
                    self.emergency_workers,
                    self.overload * self.b.backlog_multiplier
                ));
            }
            self.next_cheap = now + self.overload * self.b.backlog_multiplier * S;
        } else {
            self.next_cheap = now + self.overload * self.cheap_multi * S;
        }
    }

    fn decrease_multi(&mut self, lines: &mut Vec<String>) {
        if self.cheap_multi > self.min_multi {
            self.cheap_multi -= 1;
            lines.push(format!(
                "[busyness] decreasing cheaper multiplier to {}",
                self.cheap_multi
            ));
        }
    }

    fn spawn_emergency(&mut self, obs: &Observation, mut lines: Vec<String>) -> Decision {
        self.cheap_multi = self.min_multi;
        self.last_action = LastAction::Spawn;
        let n = self.b.backlog_step.min(obs.cheap());
        self.set_next_cheap_time(obs.now_us, &mut lines);
        if n > 0 {
            self.emergency_workers += n;
            lines.push(format!(
                "[busyness] {} requests in listen queue, spawning {n} emergency worker(s) ({})!",
                obs.backlog, self.emergency_workers
            ));
        } else {
            lines.push(format!(
                "[busyness] {} requests in listen queue but we are already started maximum number of workers ({})",
                obs.backlog, self.max_workers
            ));
        }
        Decision {
            want: Want::Spawn(n),
            lines,
        }
    }

    /// The end of a cycle: each worker's busy share, and what it calls for.
    fn end_of_cycle(&mut self, obs: &Observation, room: Room, active: usize) -> Decision {
        let now = obs.now_us;
        let t = self.overload * S;
        let mut lines = Vec::new();
        self.tcheck = now;
        let mut total = 0u64;
        for (i, s) in obs.slots.iter().enumerate() {
            if s.state == SlotState::Accepting {
                let delta = s.running_time_us.saturating_sub(self.last_values[i]);
                let mut percent = delta * 100 / t;
                if percent > 100 {
                    percent = 100;
                } else if delta == 0 && self.was_busy[i] > 0 {
                    // Requests longer than the cycle finish nothing, yet the worker was busy.
                    if self.b.verbose {
                        lines.push(format!(
                            "[busyness] worker {} was busy {} time(s) in last cycle but no request was completed during this time, marking as 100% busy",
                            s.id, self.was_busy[i]
                        ));
                    }
                    percent = 100;
                }
                self.was_busy[i] = 0;
                total += percent;
                if self.b.verbose && active > 1 {
                    lines.push(format!(
                        "[busyness] worker nr {} {}s average busyness is at {percent}%",
                        s.id, self.overload
                    ));
                }
            }
            self.last_values[i] = s.running_time_us;
        }
        let avg = total.checked_div(active as u64).unwrap_or(0);
        if self.b.verbose {
            lines.push(format!(
                "[busyness] {}s average busyness of {active} worker(s) is at {avg}%",
                self.overload
            ));
        }
        let ov = self.overload;
        if avg > self.b.max {
            self.tolerance_counter = 0;
            let n = if room.can_spawn() {
                self.step.min(obs.cheap())
            } else {
                0
            };
            if n > 0 {
                self.last_action = LastAction::Spawn;
                let since_cheap = self.last_cheaped.map(|l| (now - l) / ov / S);
                if since_cheap.is_some_and(|s| s <= self.cheap_multi) {
                    self.cheap_multi += self.b.penalty;
                    lines.push(format!(
                        "[busyness] worker(s) respawned to fast, increasing cheaper multiplier to {} (+{})",
                        self.cheap_multi, self.b.penalty
                    ));
                } else {
                    self.decrease_multi(&mut lines);
                }
                self.set_next_cheap_time(now, &mut lines);
                lines.push(format!(
                    "[busyness] {ov}s average busyness is at {avg}%, will spawn {n} new worker(s)"
                ));
            } else if let Room::Starting(k) = room {
                lines.push(format!(
                    "[busyness] {ov}s average busyness is at {avg}%, waiting for {k} starting worker(s) to accept before spawning more"
                ));
            } else {
                lines.push(format!(
                    "[busyness] {ov}s average busyness is at {avg}% but we already started maximum number of workers available with current limits ({active})"
                ));
            }
            return Decision {
                want: Want::Spawn(n),
                lines,
            };
        }
        if room.can_spawn() && obs.backlog > self.b.backlog_alert && active < self.max_workers {
            return self.spawn_emergency(obs, lines);
        }
        if avg < self.b.min {
            if active == 1 {
                return Decision {
                    want: Want::Hold,
                    lines,
                };
            }
            self.tolerance_counter = 0;
            if active > self.min_workers {
                if now >= self.next_cheap {
                    if self.last_action == LastAction::Cheap {
                        self.decrease_multi(&mut lines);
                    }
                    self.set_next_cheap_time(now, &mut lines);
                    lines.push(format!(
                        "[busyness] {ov}s average busyness is at {avg}%, cheap one of {active} running workers"
                    ));
                    self.last_cheaped = Some(now);
                    self.last_action = LastAction::Cheap;
                    self.emergency_workers = self.emergency_workers.saturating_sub(1);
                    return Decision {
                        want: Want::StopOne,
                        lines,
                    };
                } else if self.b.verbose {
                    lines.push(format!(
                        "[busyness] need to wait {} more second(s) to cheap worker",
                        (self.next_cheap - now) / S
                    ));
                }
            }
            return Decision {
                want: Want::Hold,
                lines,
            };
        }
        if active == 1 {
            return Decision {
                want: Want::Hold,
                lines,
            };
        }
        // Between min and max: an emergency is over, and the idle timer waits.
        self.emergency_workers = self.emergency_workers.saturating_sub(1);
        self.tolerance_counter += 1;
        if self.tolerance_counter >= 3 {
            if self.b.verbose {
                lines.push(format!(
                    "[busyness] {ov}s average busyness is at {avg}%, {} non-idle cycle(s), resetting cheaper timer",
                    self.tolerance_counter
                ));
            }
            self.set_next_cheap_time(now, &mut lines);
        } else {
            if self.b.verbose {
                lines.push(format!(
                    "[busyness] {ov}s average busyness is at {avg}%, {} non-idle cycle(s), adjusting cheaper timer",
                    self.tolerance_counter
                ));
            }
            self.next_cheap += t;
        }
        Decision {
            want: Want::Hold,
            lines,
        }
    }
}

impl Algorithm for Busyness {
    fn decide(&mut self, obs: &Observation, room: Room) -> Decision {
        let n = obs.slots.len();
        self.last_values.resize(n, 0);
        self.was_busy.resize(n, 0);
        let mut active = 0;
        for (i, s) in obs.slots.iter().enumerate() {
            if s.state == SlotState::Accepting {
                active += 1;
                self.was_busy[i] += u64::from(s.busy);
            } else {
                self.was_busy[i] = 0;
            }
        }
        let now = obs.now_us;
        if now.saturating_sub(self.tcheck) >= self.overload * S {
            return self.end_of_cycle(obs, room, active);
        }
        let mut lines = Vec::new();
        if room.can_spawn() && obs.backlog > self.b.backlog_alert && active < self.max_workers {
            return self.spawn_emergency(obs, lines);
        }
        if obs.backlog > 0 {
            match self.backlog_nonzero_since {
                Some(since) => {
                    if room.can_spawn() && (now - since) / S >= self.b.backlog_nonzero {
                        lines.push(format!(
                            "[busyness] backlog was non-zero for {} second(s), spawning new worker(s)",
                            (now - since) / S
                        ));
                        self.backlog_nonzero_since = Some(now);
                        return self.spawn_emergency(obs, lines);
                    }
                }
                None => {
                    if self.b.verbose {
                        lines.push(format!(
                            "[busyness] backlog is starting to fill ({})",
                            obs.backlog
                        ));
                    }
                    self.backlog_nonzero_since = Some(now);
                }
            }
        } else if self.backlog_nonzero_since.take().is_some() && self.b.verbose {
            lines.push("[busyness] backlog is now empty".to_string());
        }
        Decision {
            want: Want::Hold,
            lines,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::*;
    use super::S;

    fn params_b(min: usize, max: usize, overload: u64, multiplier: u64) -> Params {
        let mut p = params(Algo::Busyness, min, max);
        p.overload = overload;
        p.busyness.multiplier = multiplier;
        p
    }

    /// An observation at `t` seconds where each accepting slot has `busy_us` of running time.
    fn at(t: u64, picture: &str, running: &[u64]) -> Observation {
        let mut o = obs(t * S, picture);
        for (s, r) in o.slots.iter_mut().zip(running) {
            s.running_time_us = *r;
        }
        o
    }

    #[test]
    fn defaults_and_banner_are_the_plugins() {
        let b = BusynessParams::default().with_defaults();
        assert_eq!((b.max, b.min, b.multiplier, b.penalty), (50, 25, 10, 2));
        assert_eq!(
            (
                b.backlog_alert,
                b.backlog_multiplier,
                b.backlog_step,
                b.backlog_nonzero
            ),
            (33, 3, 1, 60)
        );
        let c = Cheaper::new(params(Algo::Busyness, 2, 4), 0);
        let banner = c.banner();
        assert_eq!(
            banner[1],
            "[busyness] settings: min=25%, max=50%, overload=3, multiplier=10, respawn penalty=2"
        );
        assert_eq!(
            banner[2],
            "[busyness] backlog alert is set to 33 request(s), step is 1"
        );
        assert_eq!(
            banner[3],
            "[busyness] backlog non-zero alert is set to 60 second(s)"
        );
    }

    #[test]
    fn spawns_above_max_with_the_plugins_line() {
        let mut p = params_b(1, 4, 1, 10);
        p.step = 2;
        let mut c = Cheaper::new(p, 0);
        // Two workers each busy 0.6 s of a 1 s cycle: 60 % > 50 %.
        let o = c.cycle(&at(1, "iicc", &[600_000, 600_000])).unwrap();
        assert_eq!(o.plan, Plan::Spawn(vec![3, 4]));
        assert_eq!(
            o.lines.last().unwrap(),
            "[busyness] 1s average busyness is at 60%, will spawn 2 new worker(s)"
        );
        // At max: nothing left to spawn, and the plugin says so.
        let o = c
            .cycle(&at(2, "iiii", &[1_200_000, 1_200_000, 600_000, 600_000]))
            .unwrap();
        assert_eq!(o.plan, Plan::Hold);
        assert_eq!(
            o.lines.last().unwrap(),
            "[busyness] 1s average busyness is at 60% but we already started maximum number of workers available with current limits (4)"
        );
    }

    #[test]
    fn a_request_longer_than_the_cycle_counts_as_busy() {
        let mut c = Cheaper::new(params_b(1, 3, 1, 10), 0);
        // Busy at the check, nothing finished: 100 %.
        let o = c.cycle(&at(1, "bcc", &[0])).unwrap();
        assert_eq!(o.plan, Plan::Spawn(vec![2]));
        assert!(
            o.lines.last().unwrap().contains("busyness is at 100%"),
            "{o:?}"
        );
    }

    #[test]
    fn stops_after_overload_times_multiplier_idle_seconds_then_penalises_a_quick_respawn() {
        let mut c = Cheaper::new(params_b(1, 4, 1, 2), 0);
        // Idle; the timer set at init is now + 1 × 2 s.
        assert_eq!(
            c.cycle(&at(1, "iiic", &[0, 0, 0])).unwrap().plan,
            Plan::Hold
        );
        let o = c.cycle(&at(2, "iiic", &[0, 0, 0])).unwrap();
        assert_eq!(o.plan, Plan::Stop(1));
        assert_eq!(
            o.lines,
            vec!["[busyness] 1s average busyness is at 0%, cheap one of 3 running workers"]
        );
        // The next stop waits another 2 s.
        assert_eq!(
            c.cycle(&at(3, "ciic", &[0, 0, 0])).unwrap().plan,
            Plan::Hold
        );
        // Load comes back within multiplier × overload of the stop: penalty (+2 → 4).
        let o = c.cycle(&at(4, "ciic", &[0, 900_000, 900_000])).unwrap();
        assert_eq!(o.plan, Plan::Spawn(vec![1]));
        assert_eq!(
            o.lines[0],
            "[busyness] worker(s) respawned to fast, increasing cheaper multiplier to 4 (+2)"
        );
        // Idle again: the stop now waits 1 × 4 s from the spawn.
        for t in 5..8 {
            let o = c.cycle(&at(t, "iiic", &[0, 900_000, 900_000])).unwrap();
            assert_eq!(o.plan, Plan::Hold, "t={t}");
        }
        assert_eq!(
            c.cycle(&at(8, "iiic", &[0, 900_000, 900_000]))
                .unwrap()
                .plan,
            Plan::Stop(1)
        );
        // Never below cheaper.
        let mut c = Cheaper::new(params_b(2, 4, 1, 1), 0);
        for t in 1..6 {
            assert_eq!(c.cycle(&at(t, "iicc", &[0, 0])).unwrap().plan, Plan::Hold);
        }
    }

    #[test]
    fn between_min_and_max_the_idle_timer_waits() {
        let mut c = Cheaper::new(params_b(1, 3, 1, 2), 0);
        // 30 %: neither; the timer (2 s) moves by one cycle each time.
        let mut r = 0;
        for t in 1..=2 {
            r += 300_000;
            assert_eq!(c.cycle(&at(t, "iic", &[r, r])).unwrap().plan, Plan::Hold);
        }
        // Idle at 3 s: the timer is 2 + 1 + 1 = 4 s, so no stop yet.
        assert_eq!(c.cycle(&at(3, "iic", &[r, r])).unwrap().plan, Plan::Hold);
        assert_eq!(c.cycle(&at(4, "iic", &[r, r])).unwrap().plan, Plan::Stop(1));
    }

    #[test]
    fn backlog_alert_spawns_emergency_workers_every_second_but_not_while_they_start() {
        let mut p = params_b(1, 5, 3, 10);
        p.busyness.backlog_alert = 4;
        p.busyness.backlog_step = 2;
        let mut c = Cheaper::new(p, 0);
        let mut o = at(1, "bbccc", &[]);
        o.backlog = 5;
        let out = c.cycle(&o).unwrap();
        assert_eq!(out.plan, Plan::Spawn(vec![3, 4]));
        assert_eq!(
            out.lines,
            vec!["[busyness] 5 requests in listen queue, spawning 2 emergency worker(s) (2)!"]
        );
        // uWSGI would spawn again the next second, while those two import the app.
        let mut o = at(2, "bbssc", &[]);
        o.backlog = 9;
        assert_eq!(c.cycle(&o).unwrap().plan, Plan::Hold);
        let mut o = at(3, "bbbbc", &[]);
        o.backlog = 9;
        // Once they accept, the end of the 3 s cycle finds everyone busy through it: one more.
        let out = c.cycle(&o).unwrap();
        assert_eq!(out.plan, Plan::Spawn(vec![5]));
        assert_eq!(
            out.lines.last().unwrap(),
            "[busyness] 3s average busyness is at 100%, will spawn 1 new worker(s)"
        );
    }

    #[test]
    fn backlog_nonzero_for_long_spawns() {
        let mut p = params_b(1, 3, 100, 10);
        p.busyness.backlog_nonzero = 2;
        p.busyness.verbose = true;
        let mut c = Cheaper::new(p, 0);
        let mut o = at(1, "icc", &[]);
        o.backlog = 1;
        let out = c.cycle(&o).unwrap();
        assert_eq!(
            (out.plan, out.lines),
            (
                Plan::Hold,
                vec!["[busyness] backlog is starting to fill (1)".to_string()]
            )
        );
        o.now_us = 2 * S;
        assert_eq!(c.cycle(&o).unwrap().plan, Plan::Hold);
        o.now_us = 3 * S;
        let out = c.cycle(&o).unwrap();
        assert_eq!(out.plan, Plan::Spawn(vec![2]));
        assert_eq!(
            out.lines[0],
            "[busyness] backlog was non-zero for 2 second(s), spawning new worker(s)"
        );
        o.now_us = 4 * S;
        o.backlog = 0;
        assert_eq!(
            c.cycle(&o).unwrap().lines,
            vec!["[busyness] backlog is now empty"]
        );
    }
}
