//! `spare2` (uWSGI 2.1 and master; uWSGI 2.0 does not have it and falls back to `spare`):
//! keeps `cheaper` workers free. Fewer free: spawn the difference (at most `cheaper-step`).
//! More free for `cheaper-idle` cycles in a row: stop one.

use super::{Algorithm, Decision, Observation, Params, Room, Want};

pub struct Spare2 {
    min: usize,
    step: usize,
    idle: u64,
    idle_count: u64,
}

impl Spare2 {
    pub fn new(p: &Params) -> Spare2 {
        Spare2 {
            min: p.min,
            // uWSGI's spare2 caps a spawn at cheaper-step itself, so a step of 0 there never
            // spawns; rw spawns at least one, as its other algorithms do.
            step: p.step_at_least_one(),
            idle: p.idle,
            idle_count: 0,
        }
    }
}

impl Algorithm for Spare2 {
    fn decide(&mut self, obs: &Observation, room: Room) -> Decision {
        let free = obs.active() - obs.busy();
        if free < self.min {
            self.idle_count = 0;
            if !room.can_spawn() {
                return Decision::hold();
            }
            let n = (self.min - free).min(obs.cheap()).min(self.step);
            if n == 0 {
                return Decision::hold();
            }
            return Decision::with(
                Want::Spawn(n),
                format!(
                    "cheaper (spare2): {free} of {} workers free, fewer than cheaper ({}), spawning {n} worker(s)",
                    obs.active(),
                    self.min
                ),
            );
        }
        if free == self.min {
            self.idle_count = 0;
            return Decision::hold();
        }
        self.idle_count += 1;
        if self.idle_count < self.idle {
            return Decision::hold();
        }
        let cycles = std::mem::take(&mut self.idle_count);
        Decision::with(
            Want::StopOne,
            format!(
                "cheaper (spare2): {free} of {} workers free (more than cheaper = {}) for {cycles} cycles, stopping one",
                obs.active(),
                self.min
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::*;

    #[test]
    fn keeps_cheaper_workers_free() {
        let mut p = params(Algo::Spare2, 2, 8);
        p.step = 4;
        p.idle = 3;
        let mut c = Cheaper::new(p, 0);
        // One free of three: spawn 2 - 1 = 1.
        assert_eq!(run(&mut c, 0, "bbiccccc"), Plan::Spawn(vec![4]));
        // None free: spawn 2 (step 4 does not matter, the gap does).
        assert_eq!(run(&mut c, 1, "bbbbcccc"), Plan::Spawn(vec![5, 6]));
        // Exactly two free: steady.
        assert_eq!(run(&mut c, 2, "bbiicccc"), Plan::Hold);
        // Three free for cheaper-idle = 3 cycles: one stop, then the count starts over.
        assert_eq!(run(&mut c, 3, "biiicccc"), Plan::Hold);
        assert_eq!(run(&mut c, 4, "biiicccc"), Plan::Hold);
        assert_eq!(run(&mut c, 5, "biiicccc"), Plan::Stop(2));
        assert_eq!(run(&mut c, 6, "biiicccc"), Plan::Hold);
    }

    #[test]
    fn step_caps_the_spawn() {
        let mut c = Cheaper::new(params(Algo::Spare2, 3, 8), 0);
        assert_eq!(run(&mut c, 0, "bbbccccc"), Plan::Spawn(vec![4]));
    }
}
