//! `spare` (uWSGI 2.0's default): spawn when every worker has been busy for more than
//! `cheaper-overload` cycles; stop the oldest idle one every `cheaper-overload` idle cycles
//! while more than one worker is free and more than `cheaper` run.

use super::{Algorithm, Decision, Observation, Params, Room, Want};

pub struct Spare {
    min: usize,
    step: usize,
    overload: u64,
    /// Cycles with every worker busy (one free worker takes one off).
    overload_count: u64,
    /// Cycles since the last overload with more than one worker free.
    idle_count: u64,
}

impl Spare {
    pub fn new(p: &Params) -> Spare {
        Spare {
            min: p.min,
            step: p.step_at_least_one(),
            overload: p.overload,
            overload_count: 0,
            idle_count: 0,
        }
    }
}

impl Algorithm for Spare {
    fn decide(&mut self, obs: &Observation, room: Room) -> Decision {
        let active = obs.active();
        let busy = obs.busy();
        if busy < active {
            self.overload_count = self.overload_count.saturating_sub(1);
        } else {
            self.overload_count += 1;
            self.idle_count = 0;
        }
        if room.can_spawn() && self.overload_count > self.overload {
            let cycles = std::mem::take(&mut self.overload_count);
            let n = self.step.min(obs.cheap());
            if n == 0 {
                return Decision::hold();
            }
            return Decision::with(
                Want::Spawn(n),
                format!(
                    "cheaper (spare): all {active} workers busy for {cycles} cycles (cheaper-overload \
                     {}), spawning {n} worker(s)",
                    self.overload
                ),
            );
        }
        if self.overload_count != 0 {
            return Decision::hold();
        }
        // One free worker is the steady state: nothing to do.
        if active > busy && active - busy == 1 {
            return Decision::hold();
        }
        self.idle_count += 1;
        // uWSGI divides by cheaper-overload here (0 crashes its master): rw reads 0 as 1.
        if active > self.min && self.idle_count % self.overload.max(1) == 0 {
            return Decision::with(
                Want::StopOne,
                format!(
                    "cheaper (spare): {} of {active} workers idle for {} cycles, stopping one",
                    active - busy,
                    self.idle_count
                ),
            );
        }
        Decision::hold()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::*;

    #[test]
    fn spawns_after_more_than_overload_busy_cycles() {
        let mut p = params(Algo::Spare, 2, 6);
        p.step = 2;
        let mut c = Cheaper::new(p, 0);
        // overload 3: the 4th all-busy cycle spawns (overload_count > 3).
        for t in 0..3 {
            assert_eq!(run(&mut c, t, "bbcccc"), Plan::Hold, "cycle {t}");
        }
        let o = c.cycle(&obs(3 * S, "bbcccc")).unwrap();
        assert_eq!(o.plan, Plan::Spawn(vec![3, 4]));
        assert_eq!(o.cause, "spare");
        assert!(
            o.lines[0].contains("all 2 workers busy for 4 cycles"),
            "{o:?}"
        );
        // The count starts over.
        assert_eq!(run(&mut c, 4, "bbbbcc"), Plan::Hold);
    }

    #[test]
    fn a_free_worker_takes_one_cycle_off() {
        let mut c = Cheaper::new(params(Algo::Spare, 1, 4), 0);
        for t in 0..3 {
            run(&mut c, t, "bbcc");
        }
        run(&mut c, 3, "bicc"); // 3 -> 2
        run(&mut c, 4, "bbcc"); // 3
        assert_eq!(run(&mut c, 5, "bbcc"), Plan::Spawn(vec![3])); // 4 > 3
    }

    #[test]
    fn one_spare_worker_is_stable_more_are_stopped_every_overload_cycles() {
        let mut c = Cheaper::new(params(Algo::Spare, 2, 6), 0);
        for t in 0..10 {
            assert_eq!(run(&mut c, t, "bbbicc"), Plan::Hold, "stable at {t}");
        }
        // Two free: idle cycles count, every 3rd stops the oldest idle one.
        assert_eq!(run(&mut c, 10, "bbiicc"), Plan::Hold);
        assert_eq!(run(&mut c, 11, "bbiicc"), Plan::Hold);
        assert_eq!(run(&mut c, 12, "bbiicc"), Plan::Stop(3));
        // Never below cheaper.
        let mut c = Cheaper::new(params(Algo::Spare, 2, 6), 0);
        for t in 0..9 {
            assert_eq!(run(&mut c, t, "iicccc"), Plan::Hold);
        }
    }

    #[test]
    fn overload_zero_does_not_divide_by_zero() {
        let mut p = params(Algo::Spare, 1, 3);
        p.overload = 0;
        let mut c = Cheaper::new(p, 0);
        assert_eq!(run(&mut c, 0, "iic"), Plan::Stop(1));
        assert_eq!(run(&mut c, 1, "bcc"), Plan::Spawn(vec![2]));
    }
}
