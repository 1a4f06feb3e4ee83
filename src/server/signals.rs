//! The signal table (data shared by the master and `rw stop`/`rw reload`) and the self-pipe
//! that turns signals into events of the master's poll loop.

use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};

/// What the master does on a signal (uWSGI 2.0 semantics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Old workers finish in-flight requests; a new generation re-imports the app.
    GracefulReload,
    /// Workers are killed now; a new generation re-imports the app.
    BrutalReload,
    /// Workers finish in-flight requests (bounded by the mercy), then the master exits.
    Shutdown,
    /// Log the config and request counters.
    Stats,
    /// SIGTSTP: pause the workers, or resume them (the FIFO's `p`).
    PauseResume,
    /// SIGUSR2: every worker logs what it is doing (uWSGI's master dies of it instead).
    WorkersStatus,
}

/// The master's table. `die-on-term` swaps SIGTERM (shutdown) and SIGQUIT (brutal reload).
pub fn action(sig: Signal, die_on_term: bool) -> Option<Action> {
    Some(match (sig, die_on_term) {
        (Signal::SIGHUP, _) => Action::GracefulReload,
        (Signal::SIGTERM, false) => Action::BrutalReload,
        (Signal::SIGTERM, true) => Action::Shutdown,
        (Signal::SIGQUIT, false) => Action::Shutdown,
        (Signal::SIGQUIT, true) => Action::BrutalReload,
        (Signal::SIGINT, _) => Action::Shutdown,
        (Signal::SIGUSR1, _) => Action::Stats,
        (Signal::SIGTSTP, _) => Action::PauseResume,
        (Signal::SIGUSR2, _) => Action::WorkersStatus,
        _ => return None,
    })
}

/// The signal `rw stop` sends (as `uwsgi --stop`): a shutdown whatever die-on-term says.
pub const STOP: Signal = Signal::SIGINT;
/// The signal `rw reload` sends (as `uwsgi --reload`).
pub const RELOAD: Signal = Signal::SIGHUP;

/// Signals the master handles through the self-pipe.
pub const MASTER_SIGNALS: &[Signal] = &[
    Signal::SIGHUP,
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGCHLD,
    Signal::SIGTSTP,
    Signal::SIGUSR2,
];

/// Whether `sig` still has the handler the master installed (no app code replaced it).
pub fn has_master_handler(sig: Signal) -> bool {
    // SAFETY: sigaction(2) with a null new action only reads the current one into `old`.
    let old = unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(sig as libc::c_int, std::ptr::null(), &mut old) != 0 {
            return false;
        }
        old
    };
    old.sa_sigaction == on_signal as extern "C" fn(libc::c_int) as usize
}

/// Sends signal `n` to the self-pipe too (a unix_signal hook gave it a meaning).
pub fn catch(n: i32) -> nix::Result<()> {
    let sig = Signal::try_from(n)?;
    let sa = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handler only performs an async-signal-safe write(2).
    unsafe { signal::sigaction(sig, &sa) }?;
    Ok(())
}

static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = PIPE_WRITE.load(Ordering::Relaxed);
    if fd >= 0 {
        // A full pipe drops the byte, which is fine: the loop drains and re-reads flags each
        // wake.
        write_byte_from_handler(fd, sig as u8);
    }
}

/// Writes one byte to `fd` from a signal handler and leaves `errno` as the interrupted code
/// had it. The handler may run right after a call failed and before its caller reads errno:
/// a write that fails here (full pipe: EAGAIN) or succeeds would otherwise change the error
/// that code sees (an EINTR retry loop would then give up, or a real error be misreported).
pub fn write_byte_from_handler(fd: RawFd, b: u8) {
    let saved = nix::errno::Errno::last_raw();
    // SAFETY: write(2) is async-signal-safe; the byte lives on this stack frame.
    unsafe { libc::write(fd, (&b as *const u8).cast(), 1) };
    nix::errno::Errno::set_raw(saved);
}

/// The read end of the self-pipe; each byte is a signal number.
pub struct SelfPipe {
    read: OwnedFd,
    write: OwnedFd,
    /// The write end that got the signals before this pipe was installed.
    previous: RawFd,
}

impl SelfPipe {
    /// Creates the pipe and installs handlers for `signals`.
    pub fn install(signals: &[Signal]) -> nix::Result<SelfPipe> {
        let (read, write) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC)?;
        let previous = PIPE_WRITE.swap(write.as_raw_fd(), Ordering::Relaxed);
        let sa = SigAction::new(
            SigHandler::Handler(on_signal),
            SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        for &s in signals {
            // SAFETY: the handler only performs an async-signal-safe write(2).
            unsafe { signal::sigaction(s, &sa) }?;
        }
        Ok(SelfPipe {
            read,
            write,
            previous,
        })
    }

    pub fn fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    /// Every signal received since the last call, in order.
    pub fn drain(&self) -> Vec<Signal> {
        let mut out = Vec::new();
        let mut buf = [0u8; 64];
        loop {
            match nix::unistd::read(&self.read, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend(
                    buf[..n]
                        .iter()
                        .filter_map(|&b| Signal::try_from(i32::from(b)).ok()),
                ),
            }
        }
        out
    }
}

impl Drop for SelfPipe {
    fn drop(&mut self) {
        // The handlers stay installed: they must not write into a closed (or reused) fd, and
        // the pipe installed before this one (the reload rescue's) gets the signals again.
        let _ = PIPE_WRITE.compare_exchange(
            self.write.as_raw_fd(),
            self.previous,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }
}

/// Restores default dispositions (in a freshly forked worker, before it installs its own).
pub fn reset_to_default(signals: &[Signal]) {
    PIPE_WRITE.store(-1, Ordering::Relaxed);
    let sa = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    for &s in signals {
        // SAFETY: installing SIG_DFL has no handler code to be unsafe.
        let _ = unsafe { signal::sigaction(s, &sa) };
    }
}

/// Ignores SIGPIPE: a client that goes away must become an EPIPE error, not a dead worker.
pub fn ignore_sigpipe() {
    let sa = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    // SAFETY: SIG_IGN installs no code.
    let _ = unsafe { signal::sigaction(Signal::SIGPIPE, &sa) };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A handler runs between two instructions of whatever the thread was doing, possibly
    /// between a failing call and the read of its errno: it must leave errno as it found it.
    #[test]
    fn the_signal_handler_leaves_errno_as_it_found_it() {
        // The handler's write fails (no such fd), which sets errno to EBADF inside it.
        let bogus = i32::MAX / 2;
        let before = PIPE_WRITE.swap(bogus, Ordering::Relaxed);
        nix::errno::Errno::set_raw(libc::EINTR);
        on_signal(libc::SIGUSR2);
        let after = nix::errno::Errno::last_raw();
        PIPE_WRITE.store(before, Ordering::Relaxed);
        assert_eq!(after, libc::EINTR, "errno after the handler: {after}");
        // The same holds for the helper the worker's handlers write their wake byte with.
        nix::errno::Errno::set_raw(libc::EAGAIN);
        write_byte_from_handler(bogus, 1);
        assert_eq!(nix::errno::Errno::last_raw(), libc::EAGAIN);
    }

    #[test]
    fn table_matches_uwsgi() {
        assert_eq!(action(Signal::SIGHUP, false), Some(Action::GracefulReload));
        assert_eq!(action(Signal::SIGTERM, false), Some(Action::BrutalReload));
        assert_eq!(action(Signal::SIGTERM, true), Some(Action::Shutdown));
        assert_eq!(action(Signal::SIGQUIT, true), Some(Action::BrutalReload));
        assert_eq!(action(Signal::SIGINT, true), Some(Action::Shutdown));
        assert_eq!(action(STOP, false), Some(Action::Shutdown));
        assert_eq!(action(RELOAD, true), Some(Action::GracefulReload));
        assert_eq!(action(Signal::SIGTSTP, false), Some(Action::PauseResume));
        // uWSGI's master dies of SIGUSR2 (no handler); rw's passes it to the workers.
        assert_eq!(action(Signal::SIGUSR2, false), Some(Action::WorkersStatus));
        // uWSGI 2.0 gives SIGWINCH no meaning in the master (workers use it to wake up).
        assert_eq!(action(Signal::SIGWINCH, false), None);
    }
}
