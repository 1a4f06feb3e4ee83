//! A client connection's socket: non-blocking underneath (so idle connections can be parked in
//! the worker's poller), blocking-with-deadline on top (so a request is served start to end).
//! A wait for the peer runs through the [`WaitHook`] its owner gives, so the server can let
//! other threads of its language runtime run meanwhile without this module knowing of it.

use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Runs a wait for the peer (the `poll(2)` it is given). The server's releases the GIL around
/// it; [`no_hook`] just runs it.
pub type WaitHook = fn(&mut dyn FnMut());

/// A [`WaitHook`] that runs the wait as it is.
pub fn no_hook(wait: &mut dyn FnMut()) {
    wait()
}

/// A connected client socket.
#[derive(Debug)]
pub struct Socket {
    fd: OwnedFd,
    /// `socket-timeout`: the longest wait for one read or write to make progress.
    timeout: Duration,
    wait_hook: WaitHook,
    /// Bytes written so far: whether a response has begun (one thread at a time writes, so
    /// a plain load and store, no locked add).
    sent: AtomicU64,
}

impl Socket {
    pub fn new(fd: OwnedFd, timeout: Duration, wait_hook: WaitHook) -> Socket {
        Socket {
            fd,
            timeout,
            wait_hook,
            sent: AtomicU64::new(0),
        }
    }

    /// The longest wait for one read or write (`socket-timeout`).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Bytes written on it so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Relaxed)
    }

    fn count_sent(&self, n: usize) {
        self.sent.store(self.sent.load(Relaxed) + n as u64, Relaxed);
    }

    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// One non-blocking read: `Ok(None)` when nothing is there yet.
    pub fn read_now(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        loop {
            // SAFETY: buf is valid for writes of buf.len() bytes; fd is open.
            let n = unsafe { libc::read(self.raw(), buf.as_mut_ptr().cast(), buf.len()) };
            if n >= 0 {
                return Ok(Some(n as usize));
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::WouldBlock => return Ok(None),
                io::ErrorKind::Interrupted => continue,
                _ => return Err(e),
            }
        }
    }

    /// Reads at least one byte (or EOF = 0), waiting up to the timeout.
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_within(buf, None)
    }

    /// [`Socket::read`], waiting at most `limit` when that is shorter than the timeout (a
    /// request body's own deadline): `TimedOut` when nothing came by then.
    pub fn read_within(&self, buf: &mut [u8], limit: Option<Duration>) -> io::Result<usize> {
        loop {
            if let Some(n) = self.read_now(buf)? {
                return Ok(n);
            }
            self.wait(libc::POLLIN, limit)?;
        }
    }

    /// [`Socket::read_now`] appending up to `max` bytes to `buf`, without zero-filling the space
    /// first (a measurable cost when every body byte passes through here).
    pub fn read_now_append(&self, buf: &mut Vec<u8>, max: usize) -> io::Result<Option<usize>> {
        buf.reserve(max);
        let spare = &mut buf.spare_capacity_mut()[..max];
        loop {
            // SAFETY: `spare` is valid for writes of `max` bytes; read(2) initialises the first
            // `n` of them, and only those are added to the length below.
            let n = unsafe { libc::read(self.raw(), spare.as_mut_ptr().cast(), max) };
            if n >= 0 {
                let n = n as usize;
                // SAFETY: the `n` bytes after the old length were just written by read(2).
                unsafe { buf.set_len(buf.len() + n) };
                return Ok(Some(n));
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::WouldBlock => return Ok(None),
                io::ErrorKind::Interrupted => continue,
                _ => return Err(e),
            }
        }
    }

    /// [`Socket::read_within`] appending to `buf` as [`Socket::read_now_append`] does.
    pub fn read_append(
        &self,
        buf: &mut Vec<u8>,
        max: usize,
        limit: Option<Duration>,
    ) -> io::Result<usize> {
        loop {
            if let Some(n) = self.read_now_append(buf, max)? {
                return Ok(n);
            }
            self.wait(libc::POLLIN, limit)?;
        }
    }

    /// Writes every byte of `bufs`, waiting up to the timeout for each bit of progress.
    pub fn write_all_vectored(&self, bufs: &[&[u8]]) -> io::Result<()> {
        self.write_all_vectored_then(bufs, false)
    }

    /// [`Self::write_all_vectored`]; with `closing`, these are the last bytes the connection
    /// carries: TCP holds the last segment (MSG_MORE) and `shutdown(SHUT_WR)` sends it together
    /// with the FIN, one segment instead of two (a tenth of the CPU of a one-request connection
    /// on loopback). Whatever the caller does before closing the socket delays nothing.
    pub fn write_all_vectored_then(&self, bufs: &[&[u8]], closing: bool) -> io::Result<()> {
        let flags = libc::MSG_NOSIGNAL | if closing { libc::MSG_MORE } else { 0 };
        // A response is a few slices: on the stack unless there are many.
        let mut stack = [IoSlice::new(&[]); 8];
        let mut heap = Vec::new();
        let slices: &mut [IoSlice] = if bufs.len() <= stack.len() {
            let mut n = 0;
            for b in bufs.iter().filter(|b| !b.is_empty()) {
                stack[n] = IoSlice::new(b);
                n += 1;
            }
            &mut stack[..n]
        } else {
            heap.extend(
                bufs.iter()
                    .filter(|b| !b.is_empty())
                    .map(|b| IoSlice::new(b)),
            );
            &mut heap[..]
        };
        let mut slices = slices;
        while !slices.is_empty() {
            let n = self.write_op(|| {
                // SAFETY: msghdr is plain data (all-zero: no name, no control); IoSlice is
                // ABI-compatible with iovec and the slices borrow live buffers.
                unsafe {
                    let mut msg: libc::msghdr = std::mem::zeroed();
                    msg.msg_iov = slices.as_ptr() as *mut libc::iovec;
                    msg.msg_iovlen = slices.len().min(1024);
                    libc::sendmsg(self.raw(), &msg, flags)
                }
            })?;
            self.count_sent(n);
            IoSlice::advance_slices(&mut slices, n);
        }
        if closing {
            // SAFETY: shutdown on our own fd.
            unsafe { libc::shutdown(self.raw(), libc::SHUT_WR) };
        }
        Ok(())
    }

    /// Sends what the socket takes now, never waiting: the bytes sent (fewer, or none, to a
    /// peer that does not read).
    pub fn send_now(&self, buf: &[u8]) -> io::Result<usize> {
        loop {
            // SAFETY: buf is valid for reads of buf.len() bytes; fd is open (and non-blocking).
            let n = unsafe {
                libc::send(
                    self.raw(),
                    buf.as_ptr().cast(),
                    buf.len(),
                    libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
                )
            };
            if n >= 0 {
                self.count_sent(n as usize);
                return Ok(n as usize);
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::WouldBlock => return Ok(0),
                io::ErrorKind::Interrupted => continue,
                _ => return Err(e),
            }
        }
    }

    pub fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        self.write_all_vectored(&[buf])
    }

    /// sendfile(2) `len` bytes of `file` from `offset`. Returns the bytes sent.
    pub fn sendfile(&self, file: RawFd, offset: u64, len: u64) -> io::Result<u64> {
        let mut off = offset as libc::off_t;
        let mut left = len;
        while left > 0 {
            let chunk = left.min(1 << 30) as usize;
            // SAFETY: both fds are open; `off` is a valid in/out offset.
            let n =
                self.write_op(|| unsafe { libc::sendfile(self.raw(), file, &mut off, chunk) })?;
            if n == 0 {
                break; // the file shrank
            }
            self.count_sent(n);
            left -= n as u64;
        }
        Ok(len - left)
    }

    /// Runs a write-side syscall until it makes progress: on EAGAIN waits (up to the timeout)
    /// for the socket to take more, on EINTR retries.
    fn write_op(&self, mut op: impl FnMut() -> isize) -> io::Result<usize> {
        loop {
            let n = op();
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::WouldBlock => self.wait(libc::POLLOUT, None)?,
                io::ErrorKind::Interrupted => {}
                _ => return Err(e),
            }
        }
    }

    /// Waits until the socket is readable/writable, or times out (after the timeout, or
    /// `limit` when shorter).
    fn wait(&self, events: libc::c_short, limit: Option<Duration>) -> io::Result<()> {
        let mut pfd = libc::pollfd {
            fd: self.raw(),
            events,
            revents: 0,
        };
        let timeout = limit.map_or(self.timeout, |l| l.min(self.timeout));
        // Rounded up: a wait of 0.4 ms must not become a busy poll(0).
        let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int;
        loop {
            // A wait for the peer is where a request's thread lets other threads run.
            let (mut r, mut e) = (0, None);
            (self.wait_hook)(&mut || {
                // SAFETY: one valid pollfd.
                r = unsafe { libc::poll(&mut pfd, 1, ms) };
                e = (r < 0).then(io::Error::last_os_error);
            });
            if r > 0 {
                return Ok(());
            }
            if r == 0 {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "socket-timeout"));
            }
            let e = e.unwrap_or_else(|| io::Error::other("poll failed"));
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    /// Half-closes the write side: the peer reads our last bytes, then end of stream, while
    /// what it still sends can be read and dropped (lingering close; see server/linger.rs).
    pub fn shutdown_write(&self) {
        // SAFETY: shutdown on our own fd.
        unsafe { libc::shutdown(self.raw(), libc::SHUT_WR) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    use std::sync::atomic::AtomicUsize;

    static WAITS: AtomicUsize = AtomicUsize::new(0);

    fn counting(wait: &mut dyn FnMut()) {
        WAITS.fetch_add(1, Relaxed);
        wait()
    }

    fn pair(timeout: Duration, hook: WaitHook) -> (Socket, UnixStream) {
        let (a, b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        (Socket::new(a.into(), timeout, hook), b)
    }

    #[test]
    fn reads_wait_through_the_hook_and_time_out() {
        let (s, mut peer) = pair(Duration::from_millis(30), counting);
        let before = WAITS.load(Relaxed);
        let mut buf = [0u8; 8];
        assert_eq!(s.read_now(&mut buf).unwrap(), None);
        let e = s.read(&mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(
            WAITS.load(Relaxed) > before,
            "the wait did not go through the hook"
        );
        peer.write_all(b"hi").unwrap();
        assert_eq!(s.read(&mut buf).unwrap(), 2);
        drop(peer);
        let mut v = Vec::new();
        assert_eq!(s.read_append(&mut v, 16, None).unwrap(), 0, "EOF");
    }

    #[test]
    fn writes_count_what_was_sent_and_give_up_on_a_peer_that_does_not_read() {
        let (s, mut peer) = pair(Duration::from_millis(30), no_hook);
        s.write_all_vectored(&[b"ab", b"", b"cde"]).unwrap();
        assert_eq!(s.sent(), 5);
        let mut got = [0u8; 5];
        peer.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"abcde");
        // A peer that reads nothing: send_now fills what the socket holds and then sends
        // nothing, at once; write_all waits, then times out.
        let chunk = vec![7u8; 64 << 10];
        let mut total = 0;
        loop {
            let n = s.send_now(&chunk).unwrap();
            if n == 0 {
                break;
            }
            total += n;
            assert!(total < 256 << 20, "the socket never filled");
        }
        assert_eq!(s.sent(), 5 + total as u64);
        assert_eq!(s.send_now(b"x").unwrap(), 0);
        let e = s.write_all(&chunk).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    }
}
