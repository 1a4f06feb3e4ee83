//! Starting the master's commands (attached daemons, cron runs) as uWSGI does: fork,
//! a session of their own (`setsid`, so one `kill(-pid)` reaches the whole command),
//! stdin on /dev/null, every fd above 2 closed, `/bin/sh -c COMMAND`.
//!
//! A kept daemon (no pidfile) is started under a keeper: a forked copy of the master that
//! leads the daemon's session, waits for the command, exits as it exited, and kills the
//! whole session when the master dies (its `PR_SET_PDEATHSIG`). uWSGI sets the death signal
//! on the shell only, so a command the shell forked outlives a `kill -9` of the master; with
//! the keeper nothing of the daemon does.

use nix::unistd::Pid;
use std::ffi::CString;

/// What kind of process to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Supervised child under a keeper, dies with the master.
    Kept,
    /// A smart daemon: lives on its own (survives the master, as uWSGI's); with
    /// `daemonize` rw forks once more and writes the pidfile for it.
    Smart,
    /// A cron run: its own session, outlives nothing it need not (no keeper).
    Cron,
}

/// Everything the child needs, prepared before the fork (the child allocates nothing).
pub struct Spec {
    command: CString,
    chdir: Option<CString>,
    /// Write the daemonized process's pid here (smart-attach-daemon2).
    pidfile: Option<CString>,
    stdin_null: bool,
    uid: Option<u32>,
    gid: Option<u32>,
    mode: Mode,
    /// Messages the child writes to the log when a step fails.
    what: Vec<u8>,
    /// The keeper's title in `ps`.
    title: String,
}

impl Spec {
    pub fn new(command: &str, mode: Mode) -> anyhow::Result<Spec> {
        Ok(Spec {
            command: CString::new(command)
                .map_err(|_| anyhow::anyhow!("command `{command}` holds a NUL byte"))?,
            chdir: None,
            pidfile: None,
            stdin_null: true,
            uid: None,
            gid: None,
            mode,
            what: format!("\"{command}\"").into_bytes(),
            title: format!("rw daemon keeper: {command}"),
        })
    }

    pub fn chdir(mut self, dir: Option<&str>) -> anyhow::Result<Spec> {
        self.chdir = dir.map(CString::new).transpose()?;
        Ok(self)
    }

    pub fn pidfile(mut self, path: Option<&str>) -> anyhow::Result<Spec> {
        self.pidfile = path.map(CString::new).transpose()?;
        Ok(self)
    }

    pub fn stdin_null(mut self, null: bool) -> Spec {
        self.stdin_null = null;
        self
    }

    /// Resolves `uid`/`gid` (numbers or names) now, in the master.
    pub fn accounts(mut self, uid: Option<&str>, gid: Option<&str>) -> anyhow::Result<Spec> {
        if let Some(u) = uid {
            let (u, g) = crate::sys::users::user(u)?;
            self.uid = Some(u.as_raw());
            if self.gid.is_none() {
                self.gid = g.map(|g| g.as_raw());
            }
        }
        if let Some(g) = gid {
            self.gid = Some(crate::sys::users::group(g)?.as_raw());
        }
        Ok(self)
    }
}

/// The signal a keeper gets when the master dies (then it checks `getppid`, so the same
/// signal sent by someone else changes nothing).
const MASTER_DIED: libc::c_int = libc::SIGUSR2;

/// Signals the keeper passes on to the command when they do not come from the master, so
/// `kill PID` with the pid the stats show reaches the daemon.
const FORWARDED: [libc::c_int; 8] = [
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGTERM,
    libc::SIGALRM,
    libc::SIGWINCH,
];

/// Forks and starts `spec`; returns the child's pid (the keeper's for [`Mode::Kept`], the
/// session leader: `kill(-pid)` reaches the command).
pub fn spawn(spec: &Spec) -> std::io::Result<Pid> {
    let master = nix::unistd::getpid().as_raw();
    // Blocked across fork: a signal must not run the master's handler in the child (it would
    // write into the master's self-pipe). The child resets its handlers, then unblocks.
    // SAFETY: sigset_t is plain data; the calls only read and write these locals.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut saved: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above; pthread_sigmask on the master's only thread.
    unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut saved);
    }
    // SAFETY: the master is single-threaded, so the child may run any code; it only makes
    // system calls on memory prepared before the fork, then execs or _exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: in the child, see `child`.
        unsafe { child(spec, master) }
    }
    let err = std::io::Error::last_os_error();
    // SAFETY: restores the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &saved, std::ptr::null_mut()) };
    if pid < 0 {
        return Err(err);
    }
    Ok(Pid::from_raw(pid))
}

/// Writes `parts` to the log (fd 2) with one write(2).
fn say(parts: &[&[u8]]) {
    let mut buf = [0u8; 512];
    let mut n = 0;
    for p in parts {
        let take = p.len().min(buf.len() - n);
        buf[n..n + take].copy_from_slice(&p[..take]);
        n += take;
    }
    // SAFETY: writes from a live local buffer.
    unsafe { libc::write(2, buf.as_ptr().cast(), n) };
}

fn fail(spec: &Spec, step: &str) -> ! {
    let e = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    let mut num = [0u8; 12];
    let digits = itoa(e, &mut num);
    say(&[
        if spec.mode == Mode::Cron {
            b"[uwsgi-cron] "
        } else {
            b"[uwsgi-daemons] "
        },
        &spec.what,
        b": ",
        step.as_bytes(),
        b" failed (errno ",
        digits,
        b")\n",
    ]);
    // SAFETY: leaving the child without running the master's atexit handlers or destructors.
    unsafe { libc::_exit(1) }
}

fn itoa(mut n: i32, buf: &mut [u8; 12]) -> &[u8] {
    let mut i = buf.len();
    if n <= 0 {
        i -= 1;
        buf[i] = b'0';
        n = n.max(0);
    }
    while n > 0 {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    &buf[i..]
}

/// The child's side: never returns.
///
/// # Safety
/// Only right after `fork` in [`spawn`], with every signal blocked.
unsafe fn child(spec: &Spec, master: libc::pid_t) -> ! {
    // SAFETY: for the whole body: system calls on locals and on `spec`, which the fork copied.
    unsafe {
        for sig in 1..32 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        // The listeners, the self-pipe, the stats socket, the log pipe: none is the command's.
        if libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) != 0 {
            for fd in 3..4096 {
                libc::close(fd);
            }
        }
        if let Some(dir) = &spec.chdir {
            if libc::chdir(dir.as_ptr()) != 0 {
                fail(spec, "chdir()");
            }
        }
        if spec.stdin_null {
            let fd = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
            if fd > 0 {
                libc::dup2(fd, 0);
                libc::close(fd);
            }
        }
        match spec.mode {
            Mode::Kept => {
                if libc::setsid() < 0 {
                    fail(spec, "setsid()");
                }
                keeper(spec, master)
            }
            Mode::Smart => {
                if spec.pidfile.is_some() {
                    // rw daemonizes the command: the first child exits (the master reaps it),
                    // the second writes its pid and becomes the command.
                    match libc::fork() {
                        0 => {}
                        p if p > 0 => libc::_exit(0),
                        _ => fail(spec, "fork()"),
                    }
                    write_pidfile(spec);
                }
                if libc::setsid() < 0 {
                    fail(spec, "setsid()");
                }
                exec(spec)
            }
            Mode::Cron => {
                if libc::setsid() < 0 {
                    fail(spec, "setsid()");
                }
                exec(spec)
            }
        }
    }
}

unsafe fn write_pidfile(spec: &Spec) {
    let Some(path) = &spec.pidfile else { return };
    // SAFETY: system calls on locals and the prepared path.
    unsafe {
        let fd = libc::open(
            path.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC,
            0o644,
        );
        if fd < 0 {
            fail(spec, "open(pidfile)");
        }
        let mut num = [0u8; 12];
        let digits = itoa(libc::getpid(), &mut num);
        let mut line = [0u8; 13];
        line[..digits.len()].copy_from_slice(digits);
        line[digits.len()] = b'\n';
        libc::write(fd, line.as_ptr().cast(), digits.len() + 1);
        libc::close(fd);
    }
}

/// Drops privileges, unblocks signals and becomes `/bin/sh -c COMMAND`.
unsafe fn exec(spec: &Spec) -> ! {
    // SAFETY: system calls on the prepared strings; argv is NUL-terminated.
    unsafe {
        if let Some(g) = spec.gid {
            if libc::setgid(g) != 0 {
                fail(spec, "setgid()");
            }
        }
        if let Some(u) = spec.uid {
            if libc::setuid(u) != 0 {
                fail(spec, "setuid()");
            }
        }
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::pthread_sigmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
        let argv = [
            c"/bin/sh".as_ptr(),
            c"-c".as_ptr(),
            spec.command.as_ptr(),
            std::ptr::null(),
        ];
        libc::execv(argv[0], argv.as_ptr());
        fail(spec, "execv(/bin/sh)")
    }
}

/// The keeper: starts the command in its session, then waits (signals stay blocked, read
/// with sigwaitinfo) for either the command's end, which it reports as its own exit, or the
/// master's death, on which it kills the session, itself included.
unsafe fn keeper(spec: &Spec, master: libc::pid_t) -> ! {
    // SAFETY: for the whole body: system calls on locals.
    unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            MASTER_DIED as libc::c_ulong,
            0,
            0,
            0,
        );
        if libc::getppid() != master {
            libc::_exit(1);
        }
        let me = libc::getpid();
        super::process::set_title(&spec.title);
        let cmd = libc::fork();
        if cmd < 0 {
            fail(spec, "fork()");
        }
        if cmd == 0 {
            // The command dies with its keeper, whatever killed the keeper.
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            );
            if libc::getppid() != me {
                libc::_exit(1);
            }
            exec(spec);
        }
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        for sig in FORWARDED {
            libc::sigaddset(&mut set, sig);
        }
        loop {
            let mut status = 0;
            let r = libc::waitpid(cmd, &mut status, libc::WNOHANG);
            if r == cmd {
                // What the command left behind in its session (a shell's background jobs, a
                // child that ignored the stop signal) goes with it: nothing is orphaned.
                kill_session_but_me(me);
                if libc::WIFSIGNALED(status) {
                    let sig = libc::WTERMSIG(status);
                    // Die of the same signal, so the master logs what killed the command.
                    libc::signal(sig, libc::SIG_DFL);
                    let mut one: libc::sigset_t = std::mem::zeroed();
                    libc::sigemptyset(&mut one);
                    libc::sigaddset(&mut one, sig);
                    libc::pthread_sigmask(libc::SIG_UNBLOCK, &one, std::ptr::null_mut());
                    libc::kill(me, sig);
                    libc::_exit(128 + sig);
                }
                libc::_exit(libc::WEXITSTATUS(status));
            }
            if libc::getppid() != master {
                libc::kill(-me, libc::SIGKILL);
                libc::_exit(1);
            }
            // A bounded wait, so a missed wake-up costs a second, never the keeper.
            let ts = libc::timespec {
                tv_sec: 1,
                tv_nsec: 0,
            };
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let sig = libc::sigtimedwait(&set, &mut info, &ts);
            // Someone other than the master (which signals the whole session, the command
            // included) signalled the pid the stats show: pass it on to the command.
            let from = info.si_pid();
            if FORWARDED.contains(&sig) && from > 0 && from != master && libc::getppid() == master {
                libc::kill(cmd, sig);
            }
        }
    }
}

/// SIGKILLs every other process of session `me` (read from /proc), and looks again until
/// none is left alive (at most 2 s), so the keeper exits, and the master logs the daemon
/// stopped, only once its whole session is dead. The keeper cannot `kill(-me)`: that would
/// kill it before it reports.
fn kill_session_but_me(me: libc::pid_t) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while std::time::Instant::now() < deadline {
        let mut found = false;
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return;
        };
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
                continue;
            };
            if pid == me {
                continue;
            }
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // After the `(comm)`, which may hold spaces: state ppid pgrp session.
            let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
                continue;
            };
            let mut f = rest.split_whitespace();
            let (state, sid) = (f.next(), f.nth(2));
            let dead = matches!(state, Some("Z" | "X" | "x"));
            if sid.and_then(|s| s.parse::<i32>().ok()) == Some(me) && !dead {
                // SAFETY: kill(2) of a process of the keeper's own session.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                found = true;
            }
        }
        if !found {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Signals a daemon's whole session (falling back to the pid alone, as uWSGI's touch does).
pub fn signal_group(pid: Pid, sig: i32) {
    // SAFETY: kill(2) with a pid we started.
    unsafe {
        if libc::kill(-pid.as_raw(), sig) != 0 {
            libc::kill(pid.as_raw(), sig);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn itoa_writes_decimal() {
        let mut b = [0u8; 12];
        assert_eq!(super::itoa(0, &mut b), b"0");
        assert_eq!(super::itoa(4093, &mut b), b"4093");
        assert_eq!(super::itoa(i32::MAX, &mut b), b"2147483647");
    }
}
