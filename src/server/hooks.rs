//! Runs the hook plan's steps (config/hooks.rs) at their phase, as uWSGI 2.0's core/hooks.c
//! does: a `running "…" (PHASE)...` line per step, a failing step in a fatal phase stops the
//! start-up with its `file:line`. unix_signal steps give the master's signals a meaning
//! (consulted by `master.rs` before its own table).

use crate::config::hooks::{Action, Phase, Plan, SignalAction, Step, WaitFor};
use anyhow::{anyhow, bail, Context};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Signals given a meaning by unix_signal steps (the last one for a signal wins).
static SIGNAL_ACTIONS: Mutex<Vec<(i32, SignalAction)>> = Mutex::new(Vec::new());

/// Runs every step of `phase`. In a fatal phase the first failure is returned, naming the
/// step's line; otherwise failures are logged and the next step runs.
pub fn run(plan: &Plan, phase: Phase) -> anyhow::Result<()> {
    for step in plan.steps(phase) {
        if let Err(e) = run_step(step, phase.label()) {
            let e = e.context(format!(
                "{}: {} = {}",
                step.origin,
                step.option,
                shown(step)
            ));
            if phase.fatal() {
                return Err(e.context(format!("a {} hook failed", phase.label())));
            }
            eprintln!("{e:#}");
        }
    }
    Ok(())
}

/// Runs the steps of a phase uWSGI only runs when started as root (as-root, as-user): they
/// are skipped, with a line saying so, otherwise.
pub fn run_as_root_phase(plan: &Plan, phase: Phase) -> anyhow::Result<()> {
    if plan.steps(phase).next().is_none() {
        return Ok(());
    }
    if !nix::unistd::getuid().is_root() {
        eprintln!(
            "{} steps skipped: rw was not started as root (uWSGI runs them only around a \
             privilege drop)",
            phase.label()
        );
        return Ok(());
    }
    run(plan, phase)
}

/// The meaning a unix_signal step gave `sig`, if any.
pub fn signal_action(sig: i32) -> Option<SignalAction> {
    super::sync::lock(&SIGNAL_ACTIONS)
        .iter()
        .rev()
        .find(|(n, _)| *n == sig)
        .map(|(_, a)| *a)
}

/// Signals unix_signal steps gave a meaning (a worker puts them back to their default).
pub fn signals_with_actions() -> Vec<i32> {
    super::sync::lock(&SIGNAL_ACTIONS)
        .iter()
        .map(|(n, _)| *n)
        .collect()
}

fn shown(step: &Step) -> &str {
    if step.private {
        "(private)"
    } else {
        &step.shown
    }
}

/// Runs one step, logging it first.
pub fn run_step(step: &Step, label: &str) -> anyhow::Result<()> {
    if step.private {
        eprintln!("running --- PRIVATE HOOK --- ({label})...");
    } else if step.option.starts_with("wait-for-") {
        // Its "waiting for …" line says it (uWSGI logs no "running" line for these).
    } else if step.option.starts_with("mount-") {
        eprintln!("mounting \"{}\" ({label})...", step.shown);
    } else if step.option.starts_with("umount-") {
        eprintln!("un-mounting \"{}\" ({label})...", step.shown);
    } else if matches!(step.option, "exec-as-user" | "exec-as-user-atexit") {
        // uWSGI's own wording for these two.
        eprintln!(
            "running \"{}\" (as uid: {} gid: {}) ...",
            step.shown,
            nix::unistd::getuid(),
            nix::unistd::getgid()
        );
    } else {
        eprintln!("running \"{}\" ({label})...", step.shown);
    }
    match &step.action {
        Action::Chdir(p) => std::env::set_current_dir(p).with_context(|| format!("chdir() to {p}")),
        Action::Mkdir(p) => std::fs::DirBuilder::new()
            .mode(0o777)
            .create(p)
            .with_context(|| format!("mkdir() {p}")),
        Action::Putenv(k, v) => {
            std::env::set_var(k, v);
            Ok(())
        }
        Action::Chmod(p, mode) => {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(*mode))
                .with_context(|| format!("chmod() {p}"))
        }
        Action::Chown(p, user, group) => {
            let (uid, _) = crate::sys::users::user(user)?;
            let gid = crate::sys::users::group(group)?;
            nix::unistd::chown(p.as_str(), Some(uid), Some(gid))
                .with_context(|| format!("chown() {p}"))
        }
        Action::Chown2(p, uid, gid) => nix::unistd::chown(
            p.as_str(),
            Some(nix::unistd::Uid::from_raw(*uid)),
            Some(nix::unistd::Gid::from_raw(*gid)),
        )
        .with_context(|| format!("chown() {p}")),
        Action::Sticky(p) => {
            let mode = std::fs::metadata(p)
                .with_context(|| format!("stat() {p}"))?
                .permissions()
                .mode();
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode | 0o1000))
                .with_context(|| format!("chmod() {p}"))
        }
        Action::Exec { command, safe } => {
            let r = exec(command);
            match (r, safe) {
                (Err(e), true) => {
                    eprintln!("{e:#}");
                    Ok(())
                }
                (r, _) => r,
            }
        }
        Action::Create(p) => open_write(p, false).map(drop),
        Action::Write {
            path,
            text,
            newline,
            append,
        } => {
            let mut bytes = text.clone().into_bytes();
            if *newline {
                bytes.push(b'\n');
            }
            open_write(path, *append)?
                .write_all(&bytes)
                .with_context(|| format!("write() to {path}"))
        }
        Action::WriteFifo(p, text) => match open_fifo(p) {
            Ok(Some(mut f)) => f
                .write_all(text.as_bytes())
                .with_context(|| format!("write() to {p}")),
            Ok(None) => {
                // uWSGI: a FIFO nobody reads is not a failure.
                eprintln!("writefifo: {p} has no reader; nothing written");
                Ok(())
            }
            Err(e) => Err(e),
        },
        Action::SpinningFifo(p, text) => loop {
            eprintln!("waiting for {p} ...");
            match open_fifo(p) {
                Ok(Some(mut f)) => {
                    break f
                        .write_all(text.as_bytes())
                        .with_context(|| format!("write() to {p}"))
                }
                Ok(None) => std::thread::sleep(Duration::from_secs(1)),
                Err(e)
                    if e.downcast_ref::<std::io::Error>()
                        .is_some_and(|e| e.kind() == std::io::ErrorKind::NotFound) =>
                {
                    std::thread::sleep(Duration::from_secs(1))
                }
                Err(e) => break Err(e),
            }
        },
        Action::Unlink(p) => std::fs::remove_file(p).with_context(|| format!("unlink() {p}")),
        Action::Hostname(h) => nix::unistd::sethostname(h).context("sethostname()"),
        Action::WaitFs(p, kind, secs) => wait_for(p, *secs, || match kind {
            WaitFor::Mountpoint => is_mountpoint(p),
            _ => std::fs::metadata(p).is_ok_and(|m| match kind {
                WaitFor::File => m.is_file(),
                WaitFor::Dir => m.is_dir(),
                _ => true,
            }),
        }),
        Action::WaitSocket(addr, secs) => wait_for(addr, *secs, || connects(addr)),
        Action::UnixSignal(n, a) => {
            super::signals::catch(*n).with_context(|| format!("sigaction() of signal {n}"))?;
            super::sync::lock(&SIGNAL_ACTIONS).push((*n, *a));
            Ok(())
        }
        Action::Mount {
            fs,
            source,
            target,
            flags,
            data,
        } => {
            let mut f = nix::mount::MsFlags::empty();
            for name in flags {
                f |= ms_flag(name);
            }
            nix::mount::mount(
                Some(source.as_str()),
                target.as_str(),
                Some(fs.as_str()),
                f,
                data.as_deref(),
            )
            .with_context(|| format!("mount() of {fs} {source} on {target}"))
        }
        Action::Umount { target, flags } => umount(target, flags),
        Action::Exit(code) => {
            let _ = std::io::stderr().flush();
            std::process::exit(*code)
        }
        Action::Print(text) => {
            eprintln!("{text}");
            Ok(())
        }
    }
}

/// A uWSGI mount flag name (validated by config/hooks.rs) as mount(2) flags; `force` and
/// `detach` are umount flags (none here).
fn ms_flag(name: &str) -> nix::mount::MsFlags {
    use nix::mount::MsFlags as M;
    match name {
        "bind" => M::MS_BIND,
        "dirsync" => M::MS_DIRSYNC,
        "mandlock" => M::MS_MANDLOCK,
        "move" => M::MS_MOVE,
        "noatime" => M::MS_NOATIME,
        "nodev" => M::MS_NODEV,
        "noexec" => M::MS_NOEXEC,
        "rdonly" | "readonly" | "ro" => M::MS_RDONLY,
        "remount" => M::MS_REMOUNT,
        "nosuid" => M::MS_NOSUID,
        "sync" => M::MS_SYNCHRONOUS,
        "rec" | "recursive" => M::MS_REC,
        "private" => M::MS_PRIVATE,
        "shared" => M::MS_SHARED,
        _ => M::empty(),
    }
}

/// umount2(2) of `target`; with `rec`, what is mounted below it first (as uWSGI: passes over
/// /proc/self/mounts until none comes off).
fn umount(target: &str, flags: &[String]) -> anyhow::Result<()> {
    use nix::mount::MntFlags;
    let mut f = MntFlags::empty();
    for name in flags {
        match name.as_str() {
            "force" => f |= MntFlags::MNT_FORCE,
            "detach" => f |= MntFlags::MNT_DETACH,
            _ => {}
        }
    }
    if flags.iter().any(|n| n == "rec" || n == "recursive") {
        let below = format!("{}/", target.trim_end_matches('/'));
        // Bounded: each pass takes at least one mount off or ends the loop.
        for _ in 0..1024 {
            let mounts = std::fs::read_to_string("/proc/self/mounts")
                .context("reading /proc/self/mounts for a recursive umount")?;
            let mut unmounted = 0;
            // Deepest first, so a pass takes off whole subtrees.
            let mut points: Vec<&str> = mounts
                .lines()
                .filter_map(|l| l.split(' ').nth(1))
                .filter(|p| p.starts_with(&below))
                .collect();
            points.sort_by_key(|p| std::cmp::Reverse(p.len()));
            for p in points {
                if nix::mount::umount2(p, f).is_ok() {
                    unmounted += 1;
                }
            }
            if unmounted == 0 {
                break;
            }
        }
    }
    nix::mount::umount2(target, f).with_context(|| format!("umount() of {target}"))
}

/// `/bin/sh -c COMMAND`, waited for; a non-zero exit or a signal is a failure.
fn exec(command: &str) -> anyhow::Result<()> {
    let status = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .status()
        .with_context(|| format!("cannot run /bin/sh -c \"{command}\""))?;
    if status.success() {
        return Ok(());
    }
    match status.code() {
        Some(code) => bail!("command \"{command}\" exited with non-zero code: {code}"),
        None => bail!("command \"{command}\" was killed by {status}"),
    }
}

fn open_write(path: &str, append: bool) -> anyhow::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).mode(0o666);
    if append {
        o.append(true);
    } else {
        o.truncate(true);
    }
    o.open(path).with_context(|| format!("open() {path}"))
}

/// Opens a FIFO for writing without blocking; `None` when it has no reader (ENXIO).
fn open_fifo(path: &str) -> anyhow::Result<Option<std::fs::File>> {
    match std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => Ok(Some(f)),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENXIO) | Some(libc::ENODEV)) => Ok(None),
        Err(e) => Err(anyhow!(e).context(format!("open() {path}"))),
    }
}

fn wait_for(what: &str, secs: u64, ready: impl Fn() -> bool) -> anyhow::Result<()> {
    eprintln!("waiting for {what} (max {secs} seconds) ...");
    let start = Instant::now();
    loop {
        if ready() {
            eprintln!("{what} found");
            return Ok(());
        }
        if start.elapsed() >= Duration::from_secs(secs) {
            bail!("{what} unavailable after {secs} seconds");
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// A directory on another device than its parent (uWSGI's test, with `/..`).
fn is_mountpoint(p: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (
        std::fs::metadata(p),
        std::fs::metadata(std::path::Path::new(p).join("..")),
    ) {
        (Ok(m), Ok(parent)) => m.is_dir() && m.dev() != parent.dev(),
        _ => false,
    }
}

/// Whether a connection to `addr` (a unix path, or host:port with `:port` for 127.0.0.1)
/// succeeds within a second.
fn connects(addr: &str) -> bool {
    match addr.rsplit_once(':') {
        Some((host, port)) => {
            let host = if host.is_empty() { "127.0.0.1" } else { host };
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let Ok(port) = port.parse::<u16>() else {
                return false;
            };
            std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
                .ok()
                .and_then(|mut a| a.next())
                .is_some_and(|a| {
                    std::net::TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_ok()
                })
        }
        None => std::os::unix::net::UnixStream::connect(addr).is_ok(),
    }
}

/// The master's reading of a unix_signal meaning: what its own table calls that action.
pub fn master_action(a: SignalAction) -> super::signals::Action {
    use super::signals::Action as M;
    match a {
        SignalAction::GracefulStop | SignalAction::Stop => M::Shutdown,
        SignalAction::GracefulReload => M::GracefulReload,
        SignalAction::BrutalReload => M::BrutalReload,
        SignalAction::Stats => M::Stats,
        SignalAction::PauseResume => M::PauseResume,
    }
}

/// `hook-touch` files, checked every turn of the master loop: a step runs (non-fatal) when
/// its file's mtime changes, as uWSGI's touch checks (a file that vanishes runs nothing).
pub struct TouchWatch {
    hooks: Vec<(
        crate::config::hooks::TouchHook,
        Option<std::time::SystemTime>,
    )>,
}

impl TouchWatch {
    pub fn new(hooks: &[crate::config::hooks::TouchHook]) -> TouchWatch {
        TouchWatch {
            hooks: hooks.iter().map(|h| (h.clone(), mtime(&h.path))).collect(),
        }
    }

    pub fn check(&mut self) {
        for (h, seen) in &mut self.hooks {
            let now = mtime(&h.path);
            if now.is_some() && now != *seen {
                *seen = now;
                eprintln!("*** hook-touch: {} has been touched ***", h.path);
                if let Err(e) = run_step(&h.step, "touch") {
                    eprintln!("{}: hook-touch = {}: {e:#}", h.step.origin, shown(&h.step));
                }
            }
        }
    }
}

fn mtime(p: &str) -> Option<std::time::SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}
