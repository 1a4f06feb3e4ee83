//! One spooler process, as uWSGI's `spooler()` loop: scan the directory, run each due task
//! through the app's `uwsgi.spooler` callable, delete it on `SPOOL_OK`, keep it otherwise,
//! sleep `spooler-frequency` seconds or until a new task's SIGUSR1.

use super::spool_state::Installed;
use crate::proto::spool::{self, SpoolError};
use std::io::Read;
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::OnceLock;
use std::time::Instant;

static BETWEEN_TASKS: OnceLock<fn()> = OnceLock::new();

/// Registers what a spooler runs between two tasks and after each wakeup (the place where
/// uWSGI's spooler handles the signals sent to it: `register_signal(n, 'spooler', f)`).
/// Only the first registration counts.
pub fn set_between_tasks_hook(f: fn()) {
    let _ = BETWEEN_TASKS.set(f);
}

fn between_tasks() {
    if let Some(f) = BETWEEN_TASKS.get() {
        f();
    }
}

/// What `run` needs about itself.
struct Me {
    inst: &'static Installed,
    index: usize,
    pid: u32,
    dir: String,
}

/// Runs spooler process `index` of `inst`; never returns. Called right after the fork.
pub fn run(inst: &'static Installed, index: usize) -> ! {
    super::signals::reset_to_default(super::signals::MASTER_SIGNALS);
    // SAFETY: SIG_IGN installs no code; the mask is a sigset we own, filled before use.
    unsafe {
        // uWSGI's spooler ignores SIGHUP; SIGINT/SIGTERM end it (the default).
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        // SIGUSR1 (a new task) stays blocked: the sleep takes it with sigtimedwait.
        let mut mask: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut mask);
        libc::sigaddset(&mut mask, libc::SIGUSR1);
        libc::pthread_sigmask(libc::SIG_SETMASK, &mask, std::ptr::null_mut());
        // As uWSGI: the spooler runs at the lowest priority.
        libc::setpriority(libc::PRIO_PROCESS, 0, 19);
    }
    let me = Me {
        inst,
        index,
        pid: std::process::id(),
        dir: inst.dirs[index].display().to_string(),
    };
    super::process::set_title(&format!("rw spooler {}", me.dir));
    crate::python::run_post_fork_hooks(0);
    crate::python::become_spooler(&inst.settings.imports);
    set_between_tasks_hook(super::uwsgi_signals::drain_spooler);
    loop {
        scan(&me, &inst.dirs[index], true);
        between_tasks();
        let freq = match inst.shared.frequency().load(Relaxed) {
            0 => inst.settings.frequency,
            f => f,
        };
        // uWSGI spins on `spooler-frequency = 0`; a second is as prompt (new tasks wake the
        // spooler anyway) without burning a core.
        sleep(freq.max(1));
        between_tasks();
    }
}

/// Sleeps `secs` seconds or until SIGUSR1 arrives (one sent while a task ran counts too:
/// it stayed pending).
fn sleep(secs: u64) {
    // SAFETY: sigset and timespec are locals filled before use; sigtimedwait only reads them
    // (the siginfo pointer may be NULL).
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGUSR1);
        let ts = libc::timespec {
            tv_sec: secs.min(i32::MAX as u64) as libc::time_t,
            tv_nsec: 0,
        };
        libc::sigtimedwait(&set, std::ptr::null_mut(), &ts);
    }
}

/// One pass over `dir`: readdir order, or version order with `spooler-ordered` (then digit
/// directories are priorities, run in their turn: `top` allows one level of them).
fn scan(me: &Me, dir: &Path, top: bool) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        eprintln!("[spooler {}] opendir() {}: failed", me.dir, dir.display());
        return;
    };
    let ordered = me.inst.settings.ordered;
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with(spool::PREFIX) || (ordered && spool::is_priority_name(n)))
        .collect();
    if ordered {
        names.sort_by(|a, b| spool::version_cmp(a, b));
    }
    for name in names {
        let path = dir.join(&name);
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        // A task for the future (`at`): its mtime.
        let mtime = std::os::unix::fs::MetadataExt::mtime(&meta);
        if mtime > crate::sys::clock::unix_secs() as i64 {
            continue;
        }
        if meta.is_dir() {
            if ordered && top && spool::is_priority_name(&name) {
                scan(me, &path, false);
            }
            continue;
        }
        if meta.is_file() && name.starts_with(spool::PREFIX) {
            run_one(me, &path, &name);
            between_tasks();
        }
    }
}

/// Takes the file's write lock (fcntl, as uWSGI): held by whoever runs or writes it.
fn try_lock(f: &std::fs::File) -> bool {
    let lock = libc::flock {
        l_type: libc::F_WRLCK as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    };
    nix::fcntl::fcntl(f.as_fd(), nix::fcntl::FcntlArg::F_SETLK(&lock)).is_ok()
}

fn destroy(me: &Me, path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        eprintln!(
            "[spooler {} pid: {}] unlink() {}: {e}",
            me.dir,
            me.pid,
            path.display()
        );
    }
}

fn run_one(me: &Me, path: &Path, name: &str) {
    let quiet = me.inst.settings.quiet;
    let mut f = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => {
            eprintln!("[spooler {}] open() {}: {e}", me.dir, path.display());
            return;
        }
    };
    // Another spooler of this directory runs it, or its writer still writes it.
    if !try_lock(&f) || !path.exists() {
        return;
    }
    let mut bytes = Vec::new();
    if let Err(e) = f.read_to_end(&mut bytes) {
        eprintln!("[spooler {}] read() {}: {e}", me.dir, path.display());
        return;
    }
    let task = match spool::decode_file(&bytes) {
        Ok(t) => t,
        Err(SpoolError::Incomplete) => return,
        Err(e) => {
            eprintln!(
                "[spooler {} pid: {}] broken task {name} ({e}): removed",
                me.dir, me.pid
            );
            destroy(me, path);
            return;
        }
    };
    let slot = me.inst.shared.slot(me.index);
    slot.running.store(1, Relaxed);
    if !quiet {
        eprintln!(
            "[spooler {} pid: {}] managing request {name} ...",
            me.dir, me.pid
        );
    }
    if let Some(d) = &me.inst.settings.chdir {
        if let Err(e) = std::env::set_current_dir(d) {
            eprintln!("[spooler] chdir() {}: {e}", d.display());
        }
    }
    let started = Instant::now();
    let harakiri = me.inst.settings.harakiri;
    if harakiri > 0 {
        slot.harakiri_at
            .store(crate::sys::clock::unix_secs() + harakiri, Relaxed);
    }
    let ret = crate::python::run_spooler_task(name, &task.vars, &task.body);
    slot.harakiri_at.store(0, Relaxed);
    if ret == 0 {
        eprintln!(
            "unable to find the spooler function, have you loaded it into the spooler process ?"
        );
    } else {
        slot.tasks.fetch_add(1, Relaxed);
        if ret == -2 {
            if !quiet {
                eprintln!(
                    "[spooler {} pid: {}] done with task {name} after {} seconds",
                    me.dir,
                    me.pid,
                    started.elapsed().as_secs()
                );
            }
            destroy(me, path);
        }
    }
    drop(f);
    slot.running.store(0, Relaxed);
    let max = me.inst.settings.max_tasks;
    if max > 0 && slot.tasks.load(Relaxed) >= max {
        eprintln!(
            "[spooler {} pid: {}] maximum number of tasks reached ({max}) recycling ...",
            me.dir, me.pid
        );
        crate::python::run_exit_hooks();
        std::process::exit(0);
    }
}
