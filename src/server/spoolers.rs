//! The master's side of uWSGI's spoolers: their directories (created as uWSGI creates
//! them), the shared page mapped before any fork, and the supervision: fork, respawn when one dies, harakiri,
//! SIGKILL at shutdown and before a reload (as uWSGI), and the stats JSON's `spoolers`.

use super::spool_state::{Installed, Shared, SpoolerSettings};
use crate::stats::schema;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

static INSTALLED: OnceLock<Installed> = OnceLock::new();

/// The spoolers [`install`] set up, if any.
pub fn installed() -> Option<&'static Installed> {
    INSTALLED.get()
}

/// Creates the spooler directories that do not exist (mode 0750, as uWSGI), maps the shared
/// page and hands the `uwsgi` module its spool functions. Runs in the master before the app's
/// import (apps spool at import time) and before any fork.
pub fn install(s: &SpoolerSettings, hostname: String) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::os::unix::fs::DirBuilderExt;
    if s.dirs.is_empty() && s.external.is_empty() {
        return Ok(());
    }
    let mut dirs = Vec::new();
    let mut external = Vec::new();
    let all = s.dirs.iter().map(|d| (d, false));
    for (d, ext) in all.chain(s.external.iter().map(|d| (d, true))) {
        if !d.is_dir() {
            std::fs::DirBuilder::new()
                .mode(0o750)
                .create(d)
                .with_context(|| format!("[spooler directory] mkdir() {}", d.display()))?;
        }
        let real = d
            .canonicalize()
            .with_context(|| format!("[spooler] realpath() {}", d.display()))?;
        for _ in 0..s.processes {
            dirs.push(real.clone());
            external.push(ext);
        }
    }
    let shared = Shared::new(dirs.len()).context("mapping the spoolers' shared page")?;
    let _ = INSTALLED.set(Installed {
        settings: s.clone(),
        dirs,
        external,
        shared,
    });
    if let Some(i) = installed() {
        crate::python::set_spooling(Box::new(super::spool_writer::Writer::new(i, hostname)));
        crate::python::publish_spoolers();
    }
    Ok(())
}

/// A spooler that crashes sooner than this after its spawn waits before the next one.
const QUICK_CRASH: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
struct Child {
    pid: Option<Pid>,
    /// Killed on purpose (touch-spoolers-reload): respawned without the crash pause.
    cursed: bool,
    spawned: Option<Instant>,
    respawn_after: Option<Instant>,
    respawns: u64,
}

/// The master's table of spooler processes.
#[derive(Default)]
pub struct Supervisor {
    children: Vec<Child>,
}

impl Supervisor {
    pub fn new() -> Supervisor {
        let n = installed().map_or(0, |i| i.dirs.len());
        Supervisor {
            children: (0..n).map(|_| Child::default()).collect(),
        }
    }

    /// Forks every spooler not running whose time has come (all of them at start). In the
    /// child, `close_inherited` closes what only the master and workers need, and the spooler
    /// loop runs; it never returns there.
    pub fn spawn_due(&mut self, mut close_inherited: impl FnMut()) {
        let Some(inst) = installed() else { return };
        let now = Instant::now();
        for i in 0..self.children.len() {
            let c = &self.children[i];
            let wait = c.respawn_after.is_some_and(|t| t > now);
            if c.pid.is_some() || wait || inst.external[i] {
                continue;
            }
            self.spawn(inst, i, &mut close_inherited);
        }
    }

    fn spawn(&mut self, inst: &'static Installed, i: usize, close_inherited: &mut impl FnMut()) {
        let master = nix::unistd::getpid();
        let slot = inst.shared.slot(i);
        slot.running.store(0, Relaxed);
        slot.harakiri_at.store(0, Relaxed);
        slot.tasks.store(0, Relaxed);
        let r = super::process::fork_child();
        match r {
            Ok(nix::unistd::ForkResult::Child) => {
                super::process::die_with_parent(master);
                close_inherited();
                super::spooler::run(inst, i);
            }
            Ok(nix::unistd::ForkResult::Parent { child }) => {
                slot.pid.store(child.as_raw(), Relaxed);
                let c = &mut self.children[i];
                c.pid = Some(child);
                c.spawned = Some(Instant::now());
                c.respawn_after = None;
                eprintln!(
                    "spawned the rw spooler on dir {} with pid {child}",
                    inst.dirs[i].display()
                );
            }
            Err(e) => {
                eprintln!("fork() failed for the spooler: {e}; retrying in 1 second");
                self.children[i].respawn_after = Some(Instant::now() + QUICK_CRASH);
            }
        }
    }

    /// The master reaped `pid`: true when it was a spooler (then respawned on the next turn,
    /// unless `stopping`).
    pub fn reaped(&mut self, pid: Pid, status: &WaitStatus, stopping: bool) -> bool {
        let Some(i) = self.children.iter().position(|c| c.pid == Some(pid)) else {
            return false;
        };
        if let Some(inst) = installed() {
            let slot = inst.shared.slot(i);
            slot.pid.store(0, Relaxed);
            slot.running.store(0, Relaxed);
            slot.harakiri_at.store(0, Relaxed);
        }
        let c = &mut self.children[i];
        c.pid = None;
        if stopping {
            eprintln!("spooler (pid: {pid}) annihilated");
            return true;
        }
        let how = match status {
            WaitStatus::Exited(_, code) => format!("exit code {code}"),
            WaitStatus::Signaled(_, sig, _) => format!("killed by signal {}", *sig as i32),
            _ => "gone".to_string(),
        };
        eprintln!("OOOPS the spooler (pid: {pid}, {how}) is no more...trying respawn...");
        c.respawns += 1;
        let quick = c.spawned.is_some_and(|t| t.elapsed() < QUICK_CRASH) && !c.cursed;
        c.cursed = false;
        let clean_exit = matches!(status, WaitStatus::Exited(_, 0));
        if quick && !clean_exit {
            // A spooler that cannot even start (its spooler-chdir, an import that kills it)
            // would otherwise be forked in a loop.
            c.respawn_after = Some(Instant::now() + QUICK_CRASH);
        }
        true
    }

    /// spooler-harakiri: SIGKILLs a spooler whose task ran past its deadline (it is then
    /// reaped and respawned; the task's file stays, so it runs again).
    pub fn check_harakiri(&self) {
        let Some(inst) = installed() else { return };
        let now = crate::sys::clock::unix_secs();
        for (i, c) in self.children.iter().enumerate() {
            let Some(pid) = c.pid else { continue };
            let slot = inst.shared.slot(i);
            let at = slot.harakiri_at.load(Relaxed);
            if at > 0 && at < now {
                eprintln!("*** HARAKIRI ON THE SPOOLER (pid: {pid}) ***");
                let _ = kill(pid, Signal::SIGKILL);
                slot.harakiri_at.store(0, Relaxed);
            }
        }
    }

    /// touch-spoolers-reload: uWSGI 2.0 sends SIGHUP, which its spoolers ignore, and kills
    /// them at the next check (its `spooler_reload_mercy` is never set): so SIGKILL now; the
    /// reaper respawns them.
    pub fn reload_all(&mut self) {
        for c in &mut self.children {
            if let Some(pid) = c.pid {
                c.cursed = true;
                let _ = kill(pid, Signal::SIGKILL);
            }
        }
    }

    /// SIGKILLs every spooler and waits for each (uWSGI kills its spoolers so at shutdown and
    /// reload; a task cut short keeps its file and runs again in the next spooler).
    pub fn stop_all(&mut self) {
        for c in &mut self.children {
            let Some(pid) = c.pid.take() else { continue };
            eprintln!("killing the spooler with pid {pid}");
            let _ = kill(pid, Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
            eprintln!("spooler (pid: {pid}) annihilated");
        }
        if let Some(inst) = installed() {
            for i in 0..self.children.len() {
                inst.shared.slot(i).pid.store(0, Relaxed);
            }
        }
    }

    /// The stats JSON's `spoolers`, as uWSGI lists them.
    /// Pids of the spooler processes that run now.
    pub fn pids(&self) -> Vec<i32> {
        self.children
            .iter()
            .filter_map(|c| c.pid.map(|p| p.as_raw()))
            .collect()
    }

    pub fn stats(&self) -> Vec<schema::Spooler> {
        let Some(inst) = installed() else {
            return Vec::new();
        };
        self.children
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let slot = inst.shared.slot(i);
                schema::Spooler {
                    dir: inst.dirs[i].display().to_string(),
                    pid: i64::from(slot.pid.load(Relaxed)),
                    tasks: slot.tasks.load(Relaxed),
                    respawns: c.respawns,
                    running: u64::from(slot.running.load(Relaxed)),
                }
            })
            .collect()
    }
}
