//! `backlog` (uWSGI 2.0): spawn while the listen queue is longer than `cheaper-overload`,
//! stop one every cycle while it is shorter. uWSGI reads the queue of TCP sockets only (and of
//! unix sockets on Unbit's patched kernels); rw reads both (unix ones through sock_diag).

use super::{Algorithm, Decision, Observation, Params, Room, Want};

pub struct Backlog {
    min: usize,
    step: usize,
    overload: u64,
}

impl Backlog {
    pub fn new(p: &Params) -> Backlog {
        Backlog {
            min: p.min,
            step: p.step_at_least_one(),
            overload: p.overload,
        }
    }
}

impl Algorithm for Backlog {
    fn decide(&mut self, obs: &Observation, room: Room) -> Decision {
        let q = obs.backlog;
        if room.can_spawn() && q > self.overload {
            let n = self.step.min(obs.cheap());
            if n == 0 {
                return Decision::hold();
            }
            return Decision::with(
                Want::Spawn(n),
                format!(
                    "cheaper (backlog): {q} connections in the listen queue (more than cheaper-overload {}), spawning {n} worker(s)",
                    self.overload
                ),
            );
        }
        if q < self.overload && obs.active() > self.min {
            return Decision::with(
                Want::StopOne,
                format!(
                    "cheaper (backlog): {q} connections in the listen queue (fewer than cheaper-overload {}), stopping one of {} workers",
                    self.overload,
                    obs.active()
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
    fn follows_the_queue_against_overload() {
        let mut p = params(Algo::Backlog, 1, 4);
        p.step = 2;
        let mut c = Cheaper::new(p, 0);
        let mut o = obs(0, "bbcc");
        o.backlog = 4;
        let out = c.cycle(&o).unwrap();
        assert_eq!((out.plan, out.cause), (Plan::Spawn(vec![3, 4]), "backlog"));
        // Exactly overload: nothing either way.
        let mut o = obs(S, "biii");
        o.backlog = 3;
        assert_eq!(c.cycle(&o).unwrap().plan, Plan::Hold);
        o.now_us = 2 * S;
        o.backlog = 0;
        assert_eq!(c.cycle(&o).unwrap().plan, Plan::Stop(2));
        // Not below cheaper.
        let mut o = obs(3 * S, "iccc");
        o.backlog = 0;
        assert_eq!(c.cycle(&o).unwrap().plan, Plan::Hold);
    }
}
