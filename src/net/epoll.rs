//! A readiness queue: epoll(7) with exactly the calls the workers and the stats server need.
//!
//! The `polling` crate (still used by the master) wraps epoll with a notifier eventfd and a
//! timerfd that it re-arms on every wait: two to four extra syscalls per wakeup, which is a
//! tenth of a `Connection: close` request. A worker needs neither: its timeout is epoll_wait's
//! own, and it wakes itself through its wake pipe.

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use std::io;
use std::os::fd::{BorrowedFd, RawFd};
use std::time::Duration;

/// How a registration fires.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    /// Reported on every wait while readable; stays armed. For a lone thread, which has always
    /// finished with a socket before it waits again.
    Level,
    /// Reported once, then disarmed until [`Poller::rearm`]: several threads share one
    /// poller, and a ready socket must go to exactly one of them.
    Oneshot,
}

impl Mode {
    fn flags(self) -> EpollFlags {
        match self {
            Mode::Level => EpollFlags::EPOLLIN,
            Mode::Oneshot => EpollFlags::EPOLLIN | EpollFlags::EPOLLONESHOT,
        }
    }
}

/// What a oneshot registration waits for ([`Poller::add_oneshot`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Ready {
    Read,
    Write,
}

impl Ready {
    fn flags(self) -> EpollFlags {
        match self {
            Ready::Read => EpollFlags::EPOLLIN | EpollFlags::EPOLLONESHOT,
            Ready::Write => EpollFlags::EPOLLOUT | EpollFlags::EPOLLONESHOT,
        }
    }
}

#[derive(Debug)]
pub struct Poller(Epoll);

/// Room for the events of one wait.
pub struct Events {
    buf: Vec<EpollEvent>,
    len: usize,
}

impl Events {
    pub fn with_capacity(n: usize) -> Events {
        Events {
            buf: vec![EpollEvent::empty(); n.max(1)],
            len: 0,
        }
    }

    /// The keys of the sockets reported by the last wait.
    pub fn keys(&self) -> impl Iterator<Item = usize> + '_ {
        self.buf[..self.len].iter().map(|e| e.data() as usize)
    }

    /// The last wait filled every slot, so sockets ready beyond them may not be in it.
    pub fn is_full(&self) -> bool {
        self.len == self.buf.len()
    }
}

/// The caller promises `fd` is open for the duration of the call.
fn borrow(fd: RawFd) -> BorrowedFd<'static> {
    // SAFETY: every caller passes an fd it owns (a listener, the wake pipe, a connection) and
    // that stays open across the epoll_ctl(2) call; the borrow does not escape it.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

impl Poller {
    pub fn new() -> io::Result<Poller> {
        Ok(Poller(Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?))
    }

    /// Watches `fd` for readability, reported as `key`. The fd must be deleted before it is
    /// closed when it may be shared (dup'd or inherited), or its key reported after the close.
    pub fn add(&self, fd: RawFd, key: usize, mode: Mode) -> io::Result<()> {
        self.0
            .add(borrow(fd), EpollEvent::new(mode.flags(), key as u64))?;
        Ok(())
    }

    /// Watches `fd` once (oneshot) for `ready`, reported as `key`; re-arm with
    /// [`Poller::rearm_for`].
    pub fn add_oneshot(&self, fd: RawFd, key: usize, ready: Ready) -> io::Result<()> {
        self.0
            .add(borrow(fd), EpollEvent::new(ready.flags(), key as u64))?;
        Ok(())
    }

    /// Arms a oneshot registration again, for `ready`.
    pub fn rearm_for(&self, fd: RawFd, key: usize, ready: Ready) -> io::Result<()> {
        let mut ev = EpollEvent::new(ready.flags(), key as u64);
        self.0.modify(borrow(fd), &mut ev)?;
        Ok(())
    }

    /// The epoll fd itself: readable when a registration is ready (for nesting in another
    /// poller).
    pub fn raw(&self) -> RawFd {
        use std::os::fd::AsRawFd;
        self.0 .0.as_raw_fd()
    }

    /// Arms a [`Mode::Oneshot`] registration again after its event was taken.
    pub fn rearm(&self, fd: RawFd, key: usize) -> io::Result<()> {
        let mut ev = EpollEvent::new(Mode::Oneshot.flags(), key as u64);
        self.0.modify(borrow(fd), &mut ev)?;
        Ok(())
    }

    pub fn delete(&self, fd: RawFd) -> io::Result<()> {
        self.0.delete(borrow(fd))?;
        Ok(())
    }

    /// Waits for readiness, at most `timeout` (None: until something is ready). EINTR (a
    /// signal, e.g. the graceful stop) returns no events.
    pub fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        let timeout = match timeout {
            None => EpollTimeout::NONE,
            Some(t) => EpollTimeout::try_from(t).unwrap_or(EpollTimeout::MAX),
        };
        events.len = match self.0.wait(&mut events.buf, timeout) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => 0,
            Err(e) => return Err(e.into()),
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    fn pipe() -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd) {
        nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK).unwrap()
    }

    fn keys(p: &Poller) -> Vec<usize> {
        let mut ev = Events::with_capacity(8);
        p.wait(&mut ev, Some(Duration::from_millis(10))).unwrap();
        ev.keys().collect()
    }

    #[test]
    fn level_reports_until_drained_oneshot_once_until_rearmed() {
        let p = Poller::new().unwrap();
        let (lr, lw) = pipe();
        let (or, ow) = pipe();
        p.add(lr.as_raw_fd(), 1, Mode::Level).unwrap();
        p.add(or.as_raw_fd(), 2, Mode::Oneshot).unwrap();
        assert!(keys(&p).is_empty());
        nix::unistd::write(&lw, b"x").unwrap();
        nix::unistd::write(&ow, b"x").unwrap();
        let mut k = keys(&p);
        k.sort();
        assert_eq!(k, [1, 2]);
        assert_eq!(keys(&p), [1], "oneshot stays disarmed, level fires again");
        p.rearm(or.as_raw_fd(), 2).unwrap();
        let mut k = keys(&p);
        k.sort();
        assert_eq!(k, [1, 2]);
        p.delete(lr.as_raw_fd()).unwrap();
        p.rearm(or.as_raw_fd(), 2).unwrap();
        assert_eq!(keys(&p), [2]);
    }

    #[test]
    fn wait_times_out_with_nothing_ready() {
        let p = Poller::new().unwrap();
        let t = std::time::Instant::now();
        assert!(keys(&p).is_empty());
        assert!(t.elapsed() >= Duration::from_millis(9));
    }
}
