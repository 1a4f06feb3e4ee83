//! uWSGI mules (`mule`, `mules`, `farm`): processes forked by the master after the app's
//! import that run a script (`mule = file.py`), a callable (`mule = module:func`), or, bare,
//! the mule loop: signals for mules and `uwsgi.mule_msg` messages (to `uwsgi.mule_msg_hook`).
//! The master supervises them as it does workers: a dead mule is respawned, after a pause
//! when it keeps dying right after its spawn. A graceful reload hands them to the new image as
//! old workers: they keep serving the old generation and retire with it.

use super::uwsgi_signals as bus;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;
use std::time::{Duration, Instant};

struct Slot {
    id: usize,
    patch: String,
    pid: Option<Pid>,
    spawned: Instant,
    respawn_after: Option<Instant>,
    quick_crashes: u32,
}

/// A mule dying sooner than this after its spawn is respawned after a pause (1, 2, 4 … 30 s).
const QUICK_DEATH: Duration = Duration::from_secs(1);

/// The master's mules.
pub struct Mules {
    slots: Vec<Slot>,
    /// Shutting down: dead mules stay dead.
    stopping: bool,
}

impl Mules {
    /// One slot per `mule` value (an empty one is a bare mule).
    pub fn new(patches: &[String]) -> Mules {
        Mules {
            slots: patches
                .iter()
                .enumerate()
                .map(|(i, p)| Slot {
                    id: i + 1,
                    patch: p.clone(),
                    pid: None,
                    spawned: Instant::now(),
                    respawn_after: None,
                    quick_crashes: 0,
                })
                .collect(),
            stopping: false,
        }
    }

    /// Starts every mule without a process whose pause (if any) is over.
    pub fn spawn_due(&mut self, listeners: &[crate::net::listen::Listener]) {
        if self.stopping {
            return;
        }
        for i in 0..self.slots.len() {
            let s = &self.slots[i];
            if s.pid.is_none() && s.respawn_after.is_none_or(|t| Instant::now() >= t) {
                self.spawn(i, listeners);
            }
        }
    }

    fn spawn(&mut self, idx: usize, listeners: &[crate::net::listen::Listener]) {
        let id = self.slots[idx].id;
        let master = nix::unistd::getpid();
        let r = super::process::fork_child();
        match r {
            Ok(nix::unistd::ForkResult::Child) => {
                let patch = self.slots[idx].patch.clone();
                run_mule(id, &patch, master, listeners)
            }
            Ok(nix::unistd::ForkResult::Parent { child }) => {
                let s = &mut self.slots[idx];
                s.pid = Some(child);
                s.spawned = Instant::now();
                s.respawn_after = None;
                eprintln!("spawned rw mule {id} (pid: {child})");
            }
            Err(e) => {
                eprintln!("fork() failed for mule {id}: {e}; retrying in 1 second");
                self.slots[idx].respawn_after = Some(Instant::now() + Duration::from_secs(1));
            }
        }
    }

    /// The master reaped `pid`: true when it was a mule (then logged, and due for respawn).
    pub fn reaped(&mut self, pid: Pid, status: &WaitStatus) -> bool {
        let stopping = self.stopping;
        let Some(s) = self.slots.iter_mut().find(|s| s.pid == Some(pid)) else {
            return false;
        };
        s.pid = None;
        let id = s.id;
        if stopping {
            eprintln!("mule {id} (pid: {pid}) annihilated");
            return true;
        }
        // uWSGI's line, then how it died (uWSGI does not say).
        let how = match status {
            WaitStatus::Signaled(_, sig, _) => format!("killed by signal {}", *sig as i32),
            WaitStatus::Exited(_, code) => format!("exit code {code}"),
            _ => "died".to_string(),
        };
        eprintln!("OOOPS mule {id} (pid: {pid}) crippled...trying respawn... ({how})");
        if s.spawned.elapsed() < QUICK_DEATH {
            s.quick_crashes += 1;
            let pause = Duration::from_secs(1u64 << (s.quick_crashes - 1).min(5))
                .min(Duration::from_secs(30));
            eprintln!(
                "mule {id} died within {} s of its start: respawning in {} s",
                QUICK_DEATH.as_secs(),
                pause.as_secs()
            );
            s.respawn_after = Some(Instant::now() + pause);
        } else {
            s.quick_crashes = 0;
        }
        true
    }

    /// Signals every mule (a shutdown or reload: they are not respawned afterwards).
    pub fn stop_all(&mut self, sig: Signal) {
        self.stopping = true;
        for pid in self.slots.iter().filter_map(|s| s.pid) {
            let _ = kill(pid, sig);
        }
    }

    /// The mules' pids (a reload hands them to the new image with the old workers).
    pub fn pids(&self) -> Vec<Pid> {
        self.slots.iter().filter_map(|s| s.pid).collect()
    }

    /// Mules with a process.
    pub fn alive(&self) -> usize {
        self.slots.iter().filter(|s| s.pid.is_some()).count()
    }
}

/// The mule process: never returns.
fn run_mule(id: usize, patch: &str, master: Pid, listeners: &[crate::net::listen::Listener]) -> ! {
    super::process::die_with_parent(master);
    super::signals::reset_to_default(super::signals::MASTER_SIGNALS);
    bus::enter_mule(id);
    // A mule serves no connection: it must not keep the listening sockets.
    for l in listeners {
        // SAFETY: closing this process's copies of the listening sockets, never used here.
        unsafe { libc::close(l.raw()) };
    }
    super::signals::ignore_sigpipe();
    // SAFETY: an empty sigset we own; unblocks what the master blocked across fork.
    unsafe {
        let mut mask: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut mask);
        libc::pthread_sigmask(libc::SIG_SETMASK, &mask, std::ptr::null_mut());
    }
    super::process::set_title(&format!("rw mule {id}"));
    // As uWSGI: the post-fork hook runs in mules too (`@mule`, `@mulemsg` and `@farm` of
    // uwsgidecorators run from it), with worker_id() 0 and mule_id() N.
    crate::python::run_post_fork_hooks(0);
    if crate::python::run_mule_patch(patch) {
        // The script or callable returned: the mule is done; the master starts it again.
        crate::python::run_exit_hooks();
        std::process::exit(0);
    }
    mule_loop(id)
}

/// A bare mule: signals run their handlers, messages go to `uwsgi.mule_msg_hook`.
fn mule_loop(id: usize) -> ! {
    let sigs = bus::mule_signal_fds(id);
    let queues = bus::mule_queue_fds(id, true);
    let all: Vec<_> = sigs.iter().chain(&queues).copied().collect();
    let mut buf = vec![0u8; 65536];
    loop {
        let Some(fd) = bus::wait_any(&all, None) else {
            continue;
        };
        if sigs.contains(&fd) {
            if bus::handle_one(fd).is_none() && peer_closed(fd) {
                // A stream channel readable with nothing in it: the master is gone.
                eprintln!("rw mule {id} braying: my master died, i will follow him...");
                std::process::exit(0);
            }
            continue;
        }
        match bus::read_raw(fd, &mut buf) {
            Ok(n) => {
                if !crate::python::run_mule_msg_hook(&buf[..n]) {
                    eprintln!("*** mule {id} received a {n} bytes message ***");
                }
            }
            Err(_) => continue,
        }
    }
}

fn peer_closed(fd: std::os::fd::RawFd) -> bool {
    let mut b = [0u8; 1];
    // SAFETY: a peeking non-blocking read into our 1-byte buffer.
    let n = unsafe {
        libc::recv(
            fd,
            b.as_mut_ptr().cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    n == 0
}
