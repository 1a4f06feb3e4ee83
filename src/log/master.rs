//! `log-master`: workers hand their log lines to the master, the only process that writes the
//! log, so no two lines can mix (not even lines longer than a pipe's atomic 4 KiB when the log
//! is a pipe, as under docker or systemd).
//!
//! The master creates a SOCK_SEQPACKET socketpair before forking its workers: each line is one
//! message, read whole by the master in its loop and written with one write(2). A worker sends
//! without blocking; when the master cannot take the line (its queue of several MiB stays
//! full for a second) the worker writes that line to the log itself, as without log-master: a
//! line is never lost for it, only possibly mixed with another. An exec-reload hands the pipe to the new image
//! (`RW_LOG_PIPE`), so what the old workers send meanwhile waits there. What the app writes to stderr goes to the log directly (uWSGI routes it
//! through the master too).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering::Relaxed};

/// The worker's end, once attached (-1: write the log directly).
static SENDER: AtomicI32 = AtomicI32::new(-1);

/// Where an exec-reload tells the new image the pipe's fds.
const PIPE_ENV: &str = "RW_LOG_PIPE";

/// Largest line the master reads whole (longer ones are written by the worker itself).
const MAX_LINE: usize = 256 * 1024;

/// The master's side of the log pipe.
pub struct LogPipe {
    read: OwnedFd,
    write: OwnedFd,
    buf: Vec<u8>,
}

impl LogPipe {
    /// The pipe handed over by the image before a reload, else a new socketpair (both ends
    /// close-on-exec until a reload hands them on).
    pub fn new() -> std::io::Result<LogPipe> {
        if let Some(p) = Self::adopt() {
            return Ok(p);
        }
        let mut fds = [0; 2];
        // SAFETY: socketpair(2) fills two fds into the array on success.
        let r = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        };
        if r < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: both fds were just created and are owned by nobody else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // Room for bursts while the master is busy (a fork, a stats client): 4 MiB if the
        // system allows (root may exceed rmem_max), else whatever it grants.
        for (fd, opt, force) in [
            (read.as_raw_fd(), libc::SO_RCVBUF, libc::SO_RCVBUFFORCE),
            (write.as_raw_fd(), libc::SO_SNDBUF, libc::SO_SNDBUFFORCE),
        ] {
            let size: libc::c_int = 4 << 20;
            let p = (&size as *const libc::c_int).cast();
            let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            // SAFETY: setsockopt with a pointer to a live c_int and its size.
            unsafe {
                if libc::setsockopt(fd, libc::SOL_SOCKET, force, p, len) < 0 {
                    libc::setsockopt(fd, libc::SOL_SOCKET, opt, p, len);
                }
            }
        }
        // SAFETY: fcntl on a valid fd.
        unsafe {
            let fl = libc::fcntl(read.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(read.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK);
        }
        Ok(LogPipe {
            read,
            write,
            buf: vec![0; MAX_LINE],
        })
    }

    /// The pipe of the previous image (`RW_LOG_PIPE=read,write`): old workers still send on it,
    /// and what they sent while the images changed is waiting there.
    pub fn adopt() -> Option<LogPipe> {
        let v = std::env::var(PIPE_ENV).ok()?;
        std::env::remove_var(PIPE_ENV);
        let (r, w) = v.split_once(',')?;
        let (r, w): (RawFd, RawFd) = (r.parse().ok()?, w.parse().ok()?);
        for fd in [r, w] {
            // SAFETY: fcntl on fds the previous image left open for us; a bad number fails.
            if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } < 0 {
                return None;
            }
        }
        // SAFETY: the fds were handed over to this image alone.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(r), OwnedFd::from_raw_fd(w)) };
        Some(LogPipe {
            read,
            write,
            buf: vec![0; MAX_LINE],
        })
    }

    /// Before an exec-reload: keep both ends open across exec and say where they are.
    pub fn hand_over(&mut self) {
        self.drain();
        for fd in [self.read.as_raw_fd(), self.write.as_raw_fd()] {
            // SAFETY: fcntl on fds we own.
            unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
        }
        std::env::set_var(
            PIPE_ENV,
            format!("{},{}", self.read.as_raw_fd(), self.write.as_raw_fd()),
        );
    }

    /// After a failed exec: the pipe stays this image's.
    pub fn keep(&self) {
        std::env::remove_var(PIPE_ENV);
        for fd in [self.read.as_raw_fd(), self.write.as_raw_fd()] {
            // SAFETY: fcntl on fds we own.
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
    }

    /// The fd the master polls.
    pub fn fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    /// In a freshly forked worker: send this process's lines to the master from now on. The
    /// read end is closed here, so that only the master holds it (lines queued on a socket
    /// that only exiting workers could read would be lost with them).
    pub fn attach_worker(self) {
        use std::os::fd::IntoRawFd;
        SENDER.store(self.write.into_raw_fd(), Relaxed);
        drop(self.read);
    }

    /// Writes every waiting line to the log (bounded, so the master loop is never held for
    /// long: what is left wakes it again at once).
    pub fn drain(&mut self) {
        for _ in 0..4096 {
            // SAFETY: recv(2) into our buffer of the given length; MSG_TRUNC makes it report
            // a longer message's real size.
            let n = unsafe {
                libc::recv(
                    self.read.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    libc::MSG_DONTWAIT | libc::MSG_TRUNC,
                )
            };
            if n < 0 {
                if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return;
            }
            let n = (n as usize).min(self.buf.len());
            super::file::write_followed(&self.buf[..n]);
        }
    }
}

/// How long a worker waits for room in a full queue before writing the line itself (a
/// log that stalls holds its writers back a little, as a blocking log does, but not forever).
const FULL_QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// In a worker with log-master: hands `bytes` to the master. False when the master cannot
/// take it (the caller writes it to the log itself): the pipe is gone, or still full after
/// [`FULL_QUEUE_WAIT`].
pub fn send(bytes: &[u8]) -> bool {
    let fd = SENDER.load(Relaxed);
    if fd < 0 || bytes.len() > MAX_LINE {
        return false;
    }
    let mut deadline = None;
    loop {
        // SAFETY: send(2) from a valid buffer of the given length, never blocking and never
        // raising SIGPIPE.
        let n = unsafe {
            libc::send(
                fd,
                bytes.as_ptr().cast(),
                bytes.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        if n >= 0 {
            return n as usize == bytes.len();
        }
        match std::io::Error::last_os_error().kind() {
            std::io::ErrorKind::Interrupted => continue,
            std::io::ErrorKind::WouldBlock => {}
            _ => return false,
        }
        let deadline = *deadline.get_or_insert_with(|| std::time::Instant::now() + FULL_QUEUE_WAIT);
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return false;
        }
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: poll(2) on one live pollfd for at most `left`.
        unsafe { libc::poll(&mut pfd, 1, left.as_millis().max(1) as libc::c_int) };
    }
}
