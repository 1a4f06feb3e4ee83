//! Reloads that never take the service down: the check made before exec'ing a new image, the
//! exec itself, the outcome `rw reload` reads, and the rescue loop an exec'd image falls back to
//! when it cannot start (the previous generation's workers keep serving meanwhile).

use super::signals::{self, Action, SelfPipe};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::ffi::OsString;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Carries the previous generation's workers across an exec-reload: `pid,pid,…`.
pub const OLD_WORKERS_ENV: &str = "RW_OLD_WORKERS";
/// The reload status file's descriptor, kept open across exec.
const STATUS_FD_ENV: &str = "RW_RELOAD_STATUS_FD";
/// The previous image's `die-on-term`, for a rescue loop that has no config to read it from.
pub const DIE_ON_TERM_ENV: &str = "RW_DIE_ON_TERM";

/// Runs the configuration check a new image would run first, for `argv` (the master's command
/// line) in the current directory and environment (which the new image inherits). Returns what
/// would make it refuse to start: config errors as `file:line: error: …`, a log file that cannot
/// be opened, a chdir target that is gone.
pub fn check_new_image(argv: &[OsString]) -> Result<(), String> {
    use clap::Parser;
    let options = match crate::cli::Cli::try_parse_from(argv) {
        Ok(crate::cli::Cli {
            command: crate::cli::Command::Serve(args),
            ..
        }) => args.options,
        Ok(_) => return Err("the master's command line is not `rw serve`".into()),
        Err(e) => return Err(e.to_string()),
    };
    let host = crate::sys::host::facts();
    let sources = crate::config::Sources {
        env: std::env::vars().collect(),
        args: options,
    };
    let loaded = crate::config::load(&sources, &host);
    let errors: Vec<String> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.severity == crate::config::Severity::Error)
        .map(|d| d.to_string())
        .collect();
    if !errors.is_empty() {
        return Err(errors.join("\n"));
    }
    let cwd = PathBuf::from(&host.cwd);
    let s = super::settings::Settings::from_config(&loaded.config, &cwd);
    if s.listeners.is_empty() {
        return Err("nothing to listen on: set socket, http or http-socket".into());
    }
    let setup = super::preflight::worker_setup(&loaded.config, &s, &loaded.anchor);
    if !setup.is_empty() {
        let lines: Vec<String> = setup.iter().map(ToString::to_string).collect();
        return Err(lines.join("\n"));
    }
    // A log that exists is the one this master writes: when it does not open again (a uid drop
    // since it was created as root, mode 0640) the new image keeps the inherited descriptors.
    // Only a log that cannot be created (its directory gone) refuses the reload.
    if let Some(log) = s
        .daemonize
        .as_ref()
        .or(s.logto.as_ref())
        .filter(|l| !l.exists())
    {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o640)
            .open(log)
            .map_err(|e| format!("cannot open log file {}: {e}", log.display()))?;
    }
    if let Some(dir) = &s.chdir {
        if !cwd.join(dir).is_dir() {
            return Err(format!(
                "chdir() to {}: no such directory",
                cwd.join(dir).display()
            ));
        }
    }
    Ok(())
}

/// What an exec'd image needs to find: the listeners (fd and [`crate::net::listen::INHERIT_ENV`]
/// entry), the workers still serving, the reload count.
pub struct Handover<'a> {
    pub argv: &'a [OsString],
    pub listeners: Vec<(RawFd, String)>,
    pub old_workers: Vec<Pid>,
    pub reloads: u32,
    pub cwd: &'a Path,
    pub die_on_term: bool,
}

/// Replaces this image with a fresh one (same pid, same argv). Returns only if exec failed,
/// after undoing what it set up.
pub fn exec_image(h: &Handover<'_>) -> std::io::Error {
    use std::os::unix::process::CommandExt;
    for (fd, _) in &h.listeners {
        crate::net::listen::set_cloexec(*fd, false);
    }
    let entries: Vec<&str> = h.listeners.iter().map(|(_, e)| e.as_str()).collect();
    std::env::set_var(crate::net::listen::INHERIT_ENV, entries.join(";"));
    let old: Vec<String> = h.old_workers.iter().map(|p| p.to_string()).collect();
    std::env::set_var(OLD_WORKERS_ENV, old.join(","));
    std::env::set_var(
        crate::config::load::RELOADS_ENV,
        (h.reloads + 1).to_string(),
    );
    std::env::set_var(DIE_ON_TERM_ENV, if h.die_on_term { "1" } else { "0" });
    let status = STATUS_FD.load(Relaxed);
    if status >= 0 {
        crate::net::listen::set_cloexec(status, false);
        std::env::set_var(STATUS_FD_ENV, status.to_string());
    }
    let _ = std::env::set_current_dir(h.cwd);
    // Blocked across the exec (the mask and pending signals survive it) until the new image
    // has its handlers (`Rescue::arm`): a SIGHUP sent meanwhile would otherwise find the
    // default action, which kills the master and every worker.
    let saved = mask_master_signals(nix::sys::signal::SigmaskHow::SIG_BLOCK);
    eprintln!("binary reloading rw...");
    // From the wheel: the same interpreter with the same script and argv; the binary
    // re-executes its own image.
    let (exe, argv) = crate::python::extension::reexec_command().unwrap_or_else(|| {
        let exe =
            std::fs::read_link("/proc/self/exe").unwrap_or_else(|_| PathBuf::from(&h.argv[0]));
        (exe, h.argv.to_vec())
    });
    let err = std::process::Command::new(&exe)
        .arg0(&argv[0])
        .args(&argv[1..])
        .exec();
    let _ = nix::sys::signal::pthread_sigmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&saved),
        None,
    );
    for (fd, _) in &h.listeners {
        crate::net::listen::set_cloexec(*fd, true);
    }
    if status >= 0 {
        crate::net::listen::set_cloexec(status, true);
    }
    for k in [
        crate::net::listen::INHERIT_ENV,
        OLD_WORKERS_ENV,
        STATUS_FD_ENV,
    ] {
        std::env::remove_var(k);
    }
    std::io::Error::new(err.kind(), format!("exec of {}: {err}", exe.display()))
}

/// Blocks or unblocks the master's signals; returns the mask before.
fn mask_master_signals(how: nix::sys::signal::SigmaskHow) -> nix::sys::signal::SigSet {
    let mut set = nix::sys::signal::SigSet::empty();
    for &sig in signals::MASTER_SIGNALS {
        set.add(sig);
    }
    let mut saved = nix::sys::signal::SigSet::empty();
    let _ = nix::sys::signal::pthread_sigmask(how, Some(&set), Some(&mut saved));
    saved
}

// ---- The reload status file: `<pidfile>.reload` ----
//
// `rw reload` must say when a reload failed, and why, without waiting for a timeout. The master
// writes the outcome of each reload to this file: `reload <n> <reloading|ok|failed>` and then
// the error. It is created next to the pidfile at cold start, before privileges are dropped, and
// its descriptor is kept across exec so a master that runs as another user can still write it.

static STATUS_FD: AtomicI32 = AtomicI32::new(-1);

/// The status file that goes with `pidfile`.
pub fn status_path(pidfile: &Path) -> PathBuf {
    let mut p = pidfile.as_os_str().to_owned();
    p.push(".reload");
    PathBuf::from(p)
}

/// Creates the status file at cold start (a failure is logged: `rw reload` then falls back to
/// waiting for the new generation).
pub fn open_status(pidfile: &Path) {
    use std::os::fd::IntoRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let p = status_path(pidfile);
    match std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .mode(0o644)
        .custom_flags(libc::O_CLOEXEC)
        .open(&p)
    {
        Ok(f) => STATUS_FD.store(f.into_raw_fd(), Relaxed),
        Err(e) => eprintln!(
            "cannot create {}: {e} (rw reload will not see reload errors)",
            p.display()
        ),
    }
}

/// Takes the status file the previous image kept open.
pub fn adopt_status() {
    if let Some(fd) = std::env::var(STATUS_FD_ENV)
        .ok()
        .and_then(|v| v.parse::<RawFd>().ok())
    {
        crate::net::listen::set_cloexec(fd, true);
        STATUS_FD.store(fd, Relaxed);
    }
    std::env::remove_var(STATUS_FD_ENV);
}

/// Removes the status file (vacuum).
pub fn remove_status(pidfile: &Path) {
    let _ = std::fs::remove_file(status_path(pidfile));
}

/// Parsed status: (reload number, state, message).
pub fn parse_status(text: &str) -> Option<(u64, &str, &str)> {
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    let mut f = first.split(' ');
    if f.next()? != "reload" {
        return None;
    }
    let n = f.next()?.parse().ok()?;
    Some((n, f.next()?, rest.trim_end()))
}

fn read_status() -> Option<String> {
    let fd = STATUS_FD.load(Relaxed);
    if fd < 0 {
        return None;
    }
    let mut buf = vec![0u8; 64 << 10];
    // SAFETY: pread(2) into a buffer we own, of its length.
    let n = unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
    buf.truncate(usize::try_from(n).ok()?);
    Some(String::from_utf8_lossy(&buf).into_owned())
}

fn write_status(text: &str) {
    let fd = STATUS_FD.load(Relaxed);
    if fd < 0 {
        return;
    }
    // SAFETY: ftruncate/pwrite(2) on the status file's descriptor, from a buffer we own.
    unsafe {
        libc::ftruncate(fd, 0);
        libc::pwrite(fd, text.as_ptr().cast(), text.len(), 0);
    }
}

fn current_reload() -> u64 {
    read_status()
        .as_deref()
        .and_then(parse_status)
        .map_or(0, |(n, _, _)| n)
}

/// A reload begins (a signal or touch-reload asked for one).
pub fn status_reloading() {
    write_status(&format!("reload {} reloading\n", current_reload() + 1));
}

/// The reload in progress succeeded: its new generation serves. Nothing is written when a
/// later reload was asked for meanwhile (its own outcome must not be overwritten).
pub fn status_ok() {
    let text = read_status().unwrap_or_default();
    if let Some((n, "reloading", _)) = parse_status(&text) {
        write_status(&format!("reload {n} ok\n"));
    }
}

/// The reload in progress failed, for `why`.
pub fn status_failed(why: &str) {
    write_status(&format!("reload {} failed\n{why}\n", current_reload()));
}

// ---- The rescue loop ----

/// Kept by an exec'd image from its first moment until its master loop runs: copies of the
/// inherited listeners and the old workers' pids, so that an image that cannot start hands
/// control back to them instead of exiting (which would kill every old worker).
pub struct Rescue {
    argv: Vec<OsString>,
    listeners: Vec<(RawFd, String)>,
    old: Vec<Pid>,
    reloads: u32,
    cwd: PathBuf,
    die_on_term: bool,
    /// Installed first, so it gets the signals again if the image's own pipe goes away with
    /// a failed start (see `SelfPipe`'s Drop).
    pipe: SelfPipe,
}

impl Rescue {
    /// Arms the rescue in an image started by an exec-reload (None on a cold start).
    pub fn arm(argv: &[OsString], reloads: u32) -> Option<Rescue> {
        if reloads == 0 {
            return None;
        }
        let listeners = std::env::var(crate::net::listen::INHERIT_ENV)
            .unwrap_or_default()
            .split(';')
            .filter_map(|e| {
                let (left, name) = e.split_once('=')?;
                let (fd, sd) = left.split_once(':').unwrap_or((left, ""));
                let fd: RawFd = fd.parse().ok()?;
                // SAFETY: duplicating an fd the previous image handed over (fcntl checks it).
                let copy = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
                let sd = if sd.is_empty() { "" } else { ":sd" };
                (copy >= 0).then(|| (copy, format!("{copy}{sd}={name}")))
            })
            .collect();
        let old = std::env::var(OLD_WORKERS_ENV)
            .unwrap_or_default()
            .split(',')
            .filter_map(|p| p.parse().ok())
            .map(Pid::from_raw)
            .collect();
        let pipe = SelfPipe::install(signals::MASTER_SIGNALS);
        // The old image blocked them for the exec (see `exec_image`); handled from now on.
        mask_master_signals(nix::sys::signal::SigmaskHow::SIG_UNBLOCK);
        let pipe = pipe.ok()?;
        Some(Rescue {
            pipe,
            argv: argv.to_vec(),
            listeners,
            old,
            reloads,
            cwd: std::env::current_dir().unwrap_or_else(|_| "/".into()),
            die_on_term: std::env::var(DIE_ON_TERM_ENV).is_ok_and(|v| v == "1"),
        })
    }

    /// The image started: the copies are not needed.
    pub fn disarm(self) {
        for (fd, _) in &self.listeners {
            // SAFETY: closing our own duplicates, which nothing else uses.
            unsafe { libc::close(*fd) };
        }
    }

    /// The image could not start: report, then supervise the old workers until a reload
    /// (which tries a new image again) or a stop. Never returns on a reload that works.
    pub fn run(mut self, why: &str) -> anyhow::Result<u8> {
        let workers: Vec<String> = self.old.iter().map(|p| p.to_string()).collect();
        eprintln!("*** RELOAD FAILED: the new generation cannot start ***");
        for line in why.lines() {
            eprintln!("reload failed: {line}");
        }
        eprintln!(
            "the previous generation keeps serving (workers: {}); fix the problem and reload again",
            workers.join(" ")
        );
        status_failed(why);
        super::systemd::notify("READY=1\nSTATUS=reload failed; the previous generation serves");
        let mut stopping: Option<Instant> = None;
        let mut warned_empty = false;
        loop {
            let mut pfd = libc::pollfd {
                fd: self.pipe.fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: poll(2) on one pollfd we own.
            unsafe { libc::poll(&mut pfd, 1, 1000) };
            for sig in self.pipe.drain() {
                match signals::action(sig, self.die_on_term) {
                    Some(a @ (Action::GracefulReload | Action::BrutalReload))
                        if stopping.is_none() =>
                    {
                        if a == Action::BrutalReload {
                            self.signal_old(Signal::SIGTERM);
                        }
                        self.try_again();
                    }
                    Some(Action::Shutdown) if stopping.is_none() => {
                        eprintln!("{sig} received...stopping the previous generation");
                        self.signal_old(Signal::SIGHUP);
                        stopping = Some(Instant::now());
                    }
                    Some(Action::Shutdown) => self.signal_old(Signal::SIGKILL),
                    _ => {}
                }
            }
            self.reap();
            if let Some(since) = stopping {
                if self.old.is_empty() {
                    eprintln!("goodbye to rw.");
                    return Ok(0);
                }
                if since.elapsed() >= Duration::from_secs(60) {
                    self.signal_old(Signal::SIGKILL);
                }
            } else if self.old.is_empty() && !warned_empty {
                warned_empty = true;
                eprintln!(
                    "no worker of the previous generation is left: nothing serves until a reload succeeds"
                );
            }
        }
    }

    fn signal_old(&self, sig: Signal) {
        for p in &self.old {
            let _ = kill(*p, sig);
        }
    }

    fn reap(&mut self) {
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(s) => {
                    if let Some(pid) = s.pid() {
                        self.old.retain(|p| *p != pid);
                        eprintln!("old worker (pid: {pid}) buried");
                    }
                }
            }
        }
    }

    fn try_again(&mut self) {
        status_reloading();
        // The failed start may have left another directory current; the check and the new
        // image start from where the first image did.
        let _ = std::env::set_current_dir(&self.cwd);
        if let Err(why) = check_new_image(&self.argv) {
            for line in why.lines() {
                eprintln!("reload refused: {line}");
            }
            eprintln!("the previous generation keeps serving; fix the problem and reload again");
            status_failed(&why);
            return;
        }
        let err = exec_image(&Handover {
            argv: &self.argv,
            listeners: self.listeners.clone(),
            old_workers: self.old.clone(),
            reloads: self.reloads,
            cwd: &self.cwd,
            die_on_term: self.die_on_term,
        });
        eprintln!("{err}; reload aborted");
        status_failed(&err.to_string());
    }
}
