//! Process primitives: daemonize, log redirection, privilege drop, parent-death signal,
//! process titles, reaping. Policy lives in master.rs.

use anyhow::{bail, Context};
use std::os::fd::AsRawFd;
use std::path::Path;

/// Forks a child of the master (a worker, mule or spooler) with Python's fork hooks run
/// with the GIL held and every signal blocked across the fork: a signal meant for the child
/// must not run the master's handler copy in it (it would write into the master's self-pipe
/// and be lost for the child). The child keeps them blocked until its own handlers are in
/// place; the parent (on success or failure) gets its mask back before this returns.
pub fn fork_child() -> nix::Result<nix::unistd::ForkResult> {
    use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow};
    let mut saved = SigSet::empty();
    let _ = pthread_sigmask(
        SigmaskHow::SIG_BLOCK,
        Some(&SigSet::all()),
        Some(&mut saved),
    );
    // SAFETY: the master is single-threaded (no thread is ever started in it), so the child
    // may run arbitrary code.
    let r = crate::python::fork_with_gil(|| unsafe { nix::unistd::fork() });
    if !matches!(r, Ok(nix::unistd::ForkResult::Child)) {
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&saved), None);
    }
    r
}

/// Detaches (double fork, setsid, umask 0) with stdout/stderr appended to `logfile`. The
/// launching process exits 0 at once, as uWSGI's `daemonize` does.
pub fn daemonize(logfile: &Path) -> anyhow::Result<()> {
    let (log, is_file) = crate::log::file::open_target(logfile)
        .with_context(|| format!("cannot open log file {}", logfile.display()))?;
    // In the wheel Python is already running (its GIL released): fork with its fork hooks.
    // SAFETY: called before any thread is started (the binary: before Python exists too).
    let fork = || crate::python::fork_maybe_with_gil(|| unsafe { nix::unistd::fork() });
    match fork()? {
        nix::unistd::ForkResult::Parent { .. } => std::process::exit(0),
        nix::unistd::ForkResult::Child => {}
    }
    nix::unistd::setsid()?;
    match fork()? {
        nix::unistd::ForkResult::Parent { .. } => std::process::exit(0),
        nix::unistd::ForkResult::Child => {}
    }
    nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    let null = std::fs::File::open("/dev/null")?;
    dup_onto(&null, 0)?;
    dup_onto(&log, 1)?;
    dup_onto(&log, 2)?;
    if is_file {
        crate::log::file::remember(logfile);
    }
    Ok(())
}

/// Sends stdout and stderr to `logfile` (append, 0640), as `logto` does.
pub fn redirect_output(logfile: &Path) -> anyhow::Result<()> {
    crate::log::file::redirect(logfile)
        .with_context(|| format!("cannot open log file {}", logfile.display()))
}

fn dup_onto(f: &std::fs::File, target: i32) -> anyhow::Result<()> {
    // SAFETY: dup2 onto a standard fd number; both fds are valid.
    if unsafe { libc::dup2(f.as_raw_fd(), target) } < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok(())
}

/// The uid and gid the configured accounts name (the user's group when no gid is given).
pub fn accounts(
    uid: Option<&str>,
    gid: Option<&str>,
) -> anyhow::Result<(Option<nix::unistd::Uid>, Option<nix::unistd::Gid>)> {
    use crate::sys::users;
    let gid = gid.map(users::group).transpose()?;
    let user = uid.map(users::user).transpose()?;
    let gid = gid.or_else(|| user.and_then(|(_, g)| g));
    Ok((user.map(|(u, _)| u), gid))
}

/// setgid/setgroups/setuid to the configured accounts; any failure aborts startup.
pub fn drop_privileges(uid: Option<&str>, gid: Option<&str>) -> anyhow::Result<()> {
    use nix::unistd::Uid;
    let (user, gid) = accounts(uid, gid)?;
    // Not root: only the exec of a reload after an earlier drop gets here with the ids already
    // in place (setgroups would fail); anything else still fails below, as it must.
    if !nix::unistd::geteuid().is_root()
        && gid.is_none_or(|g| g == nix::unistd::getegid())
        && user.is_none_or(|u| u == nix::unistd::geteuid())
    {
        return Ok(());
    }
    if let Some(g) = gid {
        // Supplementary groups must go too (mod_wsgi CVE-2014-8583).
        nix::unistd::setgroups(&[g]).context("setgroups")?;
        nix::unistd::setgid(g).with_context(|| format!("setgid({g})"))?;
        eprintln!("setgid() to {g}");
    }
    if let Some(u) = user {
        nix::unistd::setuid(u).with_context(|| format!("setuid({u})"))?;
        if nix::unistd::setuid(Uid::from_raw(0)).is_ok() && u.as_raw() != 0 {
            bail!("setuid({u}) did not drop root");
        }
        eprintln!("setuid() to {u}");
    }
    Ok(())
}

/// Resolves `chown-socket`'s `USER[:GROUP]` to ids, as uWSGI does: numbers are ids, names are
/// looked up, and a missing group keeps the socket's group.
pub fn chown_ids(owner: &str) -> anyhow::Result<(Option<u32>, Option<u32>)> {
    use crate::sys::users;
    let (user, group) = crate::config::option_values::chown_owner(owner);
    let uid = users::user(user).context("chown-socket")?.0.as_raw();
    let gid = match group {
        Some(g) => Some(users::group(g).context("chown-socket")?.as_raw()),
        None => None,
    };
    Ok((Some(uid), gid))
}

/// Makes the kernel SIGKILL this process when the master dies, so no worker outlives it.
pub fn die_with_parent(master: nix::unistd::Pid) {
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
    // The master may have died between fork and prctl.
    if nix::unistd::getppid() != master {
        // SAFETY: immediate exit of a worker whose master is gone.
        unsafe { libc::_exit(1) };
    }
}

/// Sets the process title shown by `ps` (argv area) and `top` (comm, 15 bytes).
pub fn set_title(title: &str) {
    if let Ok(c) = std::ffi::CString::new(
        title
            .as_bytes()
            .iter()
            .copied()
            .take(15)
            .collect::<Vec<u8>>(),
    ) {
        // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
        unsafe { libc::prctl(libc::PR_SET_NAME, c.as_ptr() as libc::c_ulong, 0, 0, 0) };
    }
    let Some((start, end)) = *TITLE_AREA.get_or_init(title_area) else {
        return;
    };
    let len = end.saturating_sub(start);
    if len < 2 {
        return;
    }
    let bytes = title.as_bytes();
    let n = bytes.len().min(len - 1);
    // SAFETY: [start, end) is this process's own argv block, extended over the environment
    // block after it (from /proc/self/stat), mapped writable on the initial stack; we write
    // within it and NUL-pad the rest. Rust copied argv into owned Strings at startup and
    // `title_area` moved the environment strings to the heap, so nothing reads the old bytes.
    unsafe {
        let p = start as *mut u8;
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), p, n);
        std::ptr::write_bytes(p.add(n), 0, len - n);
    }
}

/// Where titles are written: found (and made room for) once, by the first `set_title`,
/// while the process has one thread; forked workers inherit it.
static TITLE_AREA: std::sync::OnceLock<Option<(usize, usize)>> = std::sync::OnceLock::new();

extern "C" {
    /// The C library's environment array.
    static mut environ: *mut *mut libc::c_char;
}

/// The argv block, extended over the environment strings that follow it, as uWSGI does (a
/// title longer than the command line would otherwise be cut): the strings are copied to the
/// heap first and `environ` is pointed at the copies, so nothing reads the old bytes.
fn title_area() -> Option<(usize, usize)> {
    let f = stat_fields()?;
    let field = |n: usize| -> Option<usize> { f.get(n - 3)?.parse().ok() };
    let (start, end) = (field(48)?, field(49)?);
    let (env_start, env_end) = (field(50)?, field(51)?);
    if env_start != end || env_end <= env_start {
        return Some((start, end));
    }
    // SAFETY: `environ` is a NULL-terminated array of C strings; we replace each pointer that
    // lies in the kernel's environment block with a leaked heap copy of the same string.
    // Called once, before the process has a second thread (master startup), so nothing reads
    // or changes the environment meanwhile.
    unsafe {
        let env = environ;
        if env.is_null() {
            return Some((start, end));
        }
        let mut i = 0;
        loop {
            let p = *env.add(i);
            if p.is_null() {
                break;
            }
            let addr = p as usize;
            if (env_start..env_end).contains(&addr) {
                let copy = std::ffi::CStr::from_ptr(p).to_owned();
                *env.add(i) = copy.into_raw();
            }
            i += 1;
        }
    }
    Some((start, env_end))
}

/// /proc/self/stat from field 3 (state) on.
fn stat_fields() -> Option<Vec<String>> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    Some(after.split_whitespace().map(str::to_string).collect())
}
