//! A client connection's state, in one place: its socket, its read buffer (the one type that
//! consumes, compacts and fills it), where it came from, and its parking and expiry rules.

use crate::net::listen::Proto;
use crate::net::socket::Socket;
use std::io;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

/// Bytes read from a connection and not yet consumed: `data[pos..]`.
#[derive(Default)]
pub struct ReadBuf {
    data: Vec<u8>,
    pos: usize,
}

impl ReadBuf {
    /// An empty buffer over `data`'s allocation (from the worker's pool).
    pub fn from_vec(mut data: Vec<u8>) -> ReadBuf {
        data.clear();
        ReadBuf { data, pos: 0 }
    }

    /// The allocation, for the pool.
    pub fn into_vec(self) -> Vec<u8> {
        self.data
    }

    /// The bytes read and not consumed yet.
    pub fn pending(&self) -> &[u8] {
        &self.data[self.pos..]
    }

    pub fn has_pending(&self) -> bool {
        self.pos < self.data.len()
    }

    /// Marks the first `n` pending bytes as used.
    pub fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.data.len() - self.pos);
        self.pos = (self.pos + n).min(self.data.len());
    }

    /// Drops the consumed bytes. True when something was consumed and nothing is pending
    /// (the buffer is empty now; the cheap, common case).
    pub fn compact(&mut self) -> bool {
        if self.pos == 0 {
            return false;
        }
        if self.pos == self.data.len() {
            self.data.clear();
            self.pos = 0;
            return true;
        }
        // A head or chunk line split across reads: move its start to the front, so a
        // connection that always splits its requests so cannot grow the buffer forever.
        self.data.copy_within(self.pos.., 0);
        self.data.truncate(self.data.len() - self.pos);
        self.pos = 0;
        false
    }

    /// One non-blocking read of up to `max` bytes appended to the pending ones: `Ok(None)`
    /// when nothing is there yet, `Ok(Some(0))` at end of stream.
    pub fn fill_now(&mut self, sock: &Socket, max: usize) -> io::Result<Option<usize>> {
        sock.read_now_append(&mut self.data, max)
    }

    /// Reads at least one byte (or end of stream: 0), waiting up to the socket's timeout.
    pub fn fill(&mut self, sock: &Socket, max: usize) -> io::Result<usize> {
        self.compact();
        sock.read_append(&mut self.data, max)
    }

    /// Appends bytes that belong to this buffer's stream (what followed a uwsgi packet).
    pub fn extend(&mut self, bytes: &[u8]) {
        self.data.extend_from_slice(bytes);
    }
}

/// What the sweep does with a parked connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Still within its deadlines.
    Alive,
    /// Past its timeout (idle keep-alive, or a head that never completed).
    TimedOut,
    /// The worker is stopping and the connection had its grace for one more request.
    StopGrace,
}

/// A client connection owned by a worker.
pub struct Conn {
    sock: Socket,
    buf: ReadBuf,
    proto: Proto,
    /// Index of the listener it came from (SERVER_PORT).
    listener: usize,
    peer_addr: Vec<u8>,
    peer_port: Vec<u8>,
    /// When it was parked (the idle deadline).
    parked_at: Instant,
    /// When the first byte of a still-incomplete request head arrived: the head deadline runs
    /// from here, so a client trickling a byte at a time cannot keep it alive (slowloris).
    head_started: Option<Instant>,
    /// Added to the worker's poller (done the first time it has to wait).
    registered: bool,
    /// Its read/write timeout (socket-timeout, or http-timeout on `http` listeners).
    timeout: Duration,
    /// A PROXY protocol header may still come first (until the first bytes are read).
    proxy_pending: bool,
}

/// See [`Conn::parts`].
pub struct Parts<'c> {
    pub sock: &'c Socket,
    pub buf: &'c mut ReadBuf,
    pub peer_addr: &'c [u8],
    pub peer_port: &'c [u8],
}

/// Where a new connection came from.
pub struct Origin {
    pub proto: Proto,
    pub listener: usize,
    pub peer_addr: Vec<u8>,
    pub peer_port: Vec<u8>,
    pub proxy_protocol: bool,
}

impl Conn {
    /// `sock`'s timeout is `timeout`; `buf` is an empty buffer from the pool.
    pub fn new(sock: Socket, timeout: Duration, origin: Origin, buf: Vec<u8>) -> Conn {
        Conn {
            sock,
            buf: ReadBuf::from_vec(buf),
            proto: origin.proto,
            listener: origin.listener,
            peer_addr: origin.peer_addr,
            peer_port: origin.peer_port,
            parked_at: Instant::now(),
            head_started: None,
            registered: false,
            timeout,
            proxy_pending: origin.proxy_protocol,
        }
    }

    pub fn sock(&self) -> &Socket {
        &self.sock
    }

    pub fn buf(&self) -> &ReadBuf {
        &self.buf
    }

    pub fn buf_mut(&mut self) -> &mut ReadBuf {
        &mut self.buf
    }

    /// The socket and the read buffer together, for a request body that reads through both.
    pub fn io(&mut self) -> (&Socket, &mut ReadBuf) {
        (&self.sock, &mut self.buf)
    }

    /// The socket, the read buffer and the peer at once: a request's vars borrow the peer
    /// while its body reads through the socket and the buffer.
    pub fn parts(&mut self) -> Parts<'_> {
        Parts {
            sock: &self.sock,
            buf: &mut self.buf,
            peer_addr: &self.peer_addr,
            peer_port: &self.peer_port,
        }
    }

    /// Swaps the read buffer for `buf` and returns the old one.
    pub fn replace_buf(&mut self, buf: ReadBuf) -> ReadBuf {
        std::mem::replace(&mut self.buf, buf)
    }

    pub fn proto(&self) -> Proto {
        self.proto
    }

    pub fn listener(&self) -> usize {
        self.listener
    }

    pub fn peer_addr(&self) -> &[u8] {
        &self.peer_addr
    }

    pub fn peer_port(&self) -> &[u8] {
        &self.peer_port
    }

    /// A PROXY header may still come first.
    pub fn proxy_pending(&self) -> bool {
        self.proxy_pending
    }

    /// The PROXY header was read (or is absent); `source` is the client behind the proxy.
    pub fn proxy_done(&mut self, source: Option<std::net::SocketAddr>) {
        self.proxy_pending = false;
        if let Some(src) = source {
            self.peer_addr = src.ip().to_string().into_bytes();
            self.peer_port = src.port().to_string().into_bytes();
        }
    }

    /// A request was answered: the next head gets its own deadline.
    pub fn request_done(&mut self) {
        self.head_started = None;
    }

    /// Nothing more to read now: starts the head deadline if part of a head is buffered.
    pub fn waiting_for_more(&mut self) {
        if self.buf.has_pending() {
            self.head_started.get_or_insert_with(Instant::now);
        } else {
            self.head_started = None;
        }
    }

    /// Marks it parked now. Returns true the first time: the caller adds it to the poller
    /// (rather than re-arming it).
    pub fn park(&mut self) -> bool {
        self.parked_at = Instant::now();
        !std::mem::replace(&mut self.registered, true)
    }

    /// The fd the poller knows it by.
    pub fn raw(&self) -> RawFd {
        self.sock.raw()
    }

    /// Whether it is in the poller (it must leave before the fd closes).
    pub fn registered(&self) -> bool {
        self.registered
    }

    /// Its deadlines: the head or idle timeout; when the worker has been stopping for
    /// `stopping`, an idle one gets `grace` (at most its timeout) for one more request.
    pub fn expiry(&self, stopping: Option<Duration>, grace: Duration) -> Expiry {
        if self.head_started.unwrap_or(self.parked_at).elapsed() >= self.timeout {
            return Expiry::TimedOut;
        }
        let idle = !self.buf.has_pending();
        if idle
            && stopping.is_some_and(|s| s.min(self.parked_at.elapsed()) >= grace.min(self.timeout))
        {
            return Expiry::StopGrace;
        }
        Expiry::Alive
    }

    /// Says goodbye to a connection the sweep closes: an unfinished HTTP head gets a 408 if
    /// the socket takes it at once (what does not fit is dropped: the sweep runs for every
    /// thread of the worker, and a client that does not read must not hold it for up to
    /// socket-timeout); an unfinished uwsgi packet gets nothing. Either is a rejection (counted,
    /// logged with the peer); an idle keep-alive connection closing is not.
    pub fn expire(&self, rejections: &super::rejections::Rejections) {
        if !self.buf.has_pending() {
            return;
        }
        let received = self.buf.pending().len();
        let secs = self.timeout.as_secs();
        if self.proto == Proto::Http {
            let e = crate::proto::http::HttpError::TIMEOUT;
            let _ = self.sock.send_now(&crate::proto::http::error_response(&e));
            let detail =
                format!(": the head was incomplete after {secs} s, {received} bytes received");
            rejections.http(self.peer_addr(), e.status, e.reason, &detail);
        } else {
            rejections.uwsgi(format_args!(
                "uwsgi: timed out after {received} bytes of an incomplete packet (from {})",
                crate::log::sanitize::escaped(self.peer_addr())
            ));
        }
    }

    /// Closes the socket; returns the read buffer's allocation for the pool. The caller takes
    /// it out of the poller first if [`Conn::registered`].
    pub fn close(self) -> Vec<u8> {
        self.buf.into_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buf(bytes: &[u8]) -> ReadBuf {
        let mut b = ReadBuf::default();
        b.extend(bytes);
        b
    }

    #[test]
    fn consume_and_compact() {
        let mut b = buf(b"abcdef");
        assert!(!b.compact(), "nothing consumed");
        b.consume(2);
        assert_eq!(b.pending(), b"cdef");
        assert!(!b.compact(), "bytes still pending");
        assert_eq!(b.pending(), b"cdef");
        assert_eq!(b.data, b"cdef", "the consumed bytes are gone");
        b.consume(4);
        assert!(!b.has_pending());
        assert!(b.compact());
        assert!(b.data.is_empty());
        assert!(!b.compact());
    }
}
