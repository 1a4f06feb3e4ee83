//! A client connection's state, in one place: its socket, its read buffer (the one type that
//! consumes, compacts and fills it), where it came from, and its parking and expiry rules.

use super::body_wait::{BodyLimits, Late};
use super::linger::{Drained, Linger};
use crate::net::listen::Proto;
use crate::net::socket::Socket;
use crate::proto::chunked::ChunkedDecoder;
use std::io;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

/// Bytes read from a connection and not yet consumed: `data[pos..]`.
#[derive(Default)]
pub struct ReadBuf {
    data: Vec<u8>,
    pos: usize,
    /// The peer's stream holds input past what is buffered that this side will not read (a
    /// request refused before its body, a body not read to its end): closing then needs a
    /// lingering close, or the kernel answers that input with a reset.
    input_left: bool,
}

impl ReadBuf {
    /// An empty buffer over `data`'s allocation (from the worker's pool).
    pub fn from_vec(mut data: Vec<u8>) -> ReadBuf {
        data.clear();
        ReadBuf {
            data,
            pos: 0,
            input_left: false,
        }
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

    /// Reads at least one byte (or end of stream: 0), waiting up to the socket's timeout
    /// (or `limit`, when shorter).
    pub fn fill(
        &mut self,
        sock: &Socket,
        max: usize,
        limit: Option<Duration>,
    ) -> io::Result<usize> {
        self.compact();
        sock.read_append(&mut self.data, max, limit)
    }

    /// Input past the buffered bytes will be left unread (see `input_left`).
    pub fn leave_input(&mut self) {
        self.input_left = true;
    }

    /// Unread input remains, buffered or still in the socket: a close must linger.
    pub fn input_remains(&self) -> bool {
        self.input_left || self.has_pending()
    }

    /// Forgets the buffered bytes (a lingering close drops what it reads).
    fn discard(&mut self) {
        self.data.clear();
        self.pos = 0;
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
    /// A body awaited parked (below post-buffering) broke one of its limits.
    BodyLate(Late),
    /// A lingering close ran its time.
    LingerDone,
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
    /// Where the buffered request stands (its deadlines run from there).
    phase: Phase,
    /// Added to the worker's poller (done the first time it has to wait).
    registered: bool,
    /// A PROXY protocol header may still come first (until the first bytes are read).
    proxy_pending: bool,
    /// `100 Continue` already went out for the buffered request.
    continue_sent: bool,
}

/// How a body awaited parked is known to be complete.
#[derive(Debug)]
pub enum BodyEnd {
    /// When this many bytes are buffered (head and Content-Length).
    At(usize),
    /// Chunked: decoded as it arrives, only to find its end.
    Chunked(Box<ChunkProbe>),
}

impl BodyEnd {
    /// For a chunked body (`limit`: limit-post, so an oversized one stops waiting).
    pub fn chunked(limit: Option<u64>) -> BodyEnd {
        BodyEnd::Chunked(Box::new(ChunkProbe {
            decoder: ChunkedDecoder::new(limit),
            fed: 0,
            scratch: Vec::new(),
        }))
    }
}

/// See [`BodyEnd::Chunked`].
#[derive(Debug)]
pub struct ChunkProbe {
    decoder: ChunkedDecoder,
    /// Body bytes already decoded.
    fed: usize,
    scratch: Vec<u8>,
}

/// Where a connection's buffered request stands.
#[derive(Debug)]
enum Phase {
    /// Reading a head: since when its first byte arrived (None: none yet). The head
    /// deadline runs from there, so a client trickling a byte at a time cannot keep it alive
    /// (slowloris).
    Head(Option<Instant>),
    /// The head is complete and its body (below post-buffering) is awaited parked: since
    /// when, the head's length (what follows it is body), and how to tell cheaply that it is
    /// still incomplete, so a client sending it a byte per packet does not make every wake
    /// parse the head again (or de-chunk the whole body again).
    Body {
        since: Instant,
        head_len: usize,
        end: BodyEnd,
    },
    /// Closing: the write side is shut and what the client still sends is dropped.
    Linger(Linger),
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
    /// `sock`'s timeout is the connection's (socket-timeout, or http-timeout on `http`
    /// listeners); `buf` is an empty buffer from the pool.
    pub fn new(sock: Socket, origin: Origin, buf: Vec<u8>) -> Conn {
        Conn {
            sock,
            buf: ReadBuf::from_vec(buf),
            proto: origin.proto,
            listener: origin.listener,
            peer_addr: origin.peer_addr,
            peer_port: origin.peer_port,
            parked_at: Instant::now(),
            phase: Phase::Head(None),
            registered: false,
            proxy_pending: origin.proxy_protocol,
            continue_sent: false,
        }
    }

    /// Its read/write timeout (the grace of its bodies' rate limit).
    pub fn timeout(&self) -> Duration {
        self.sock.timeout()
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
        self.phase = Phase::Head(None);
        self.continue_sent = false;
    }

    /// The buffered request's head (`head_len` bytes) is complete and its body, complete
    /// as `end` says, is awaited parked; with `expect_continue`, the client is told to send it
    /// (once, never waiting).
    pub fn wait_for_body(&mut self, head_len: usize, end: BodyEnd, expect_continue: bool) {
        if !matches!(self.phase, Phase::Body { .. }) {
            let since = Instant::now();
            self.phase = Phase::Body {
                since,
                head_len,
                end,
            };
        }
        if expect_continue && !self.continue_sent {
            self.continue_sent = true;
            let _ = self.sock.send_now(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
    }

    /// `100 Continue` went out while the body was awaited parked.
    pub fn continue_sent(&self) -> bool {
        self.continue_sent
    }

    /// The body awaited parked is certainly not all here yet (`post_buffering` bounds how
    /// much of a chunked one is awaited): wait on, without parsing the head again.
    pub fn body_incomplete(&mut self, post_buffering: u64) -> bool {
        let Phase::Body { head_len, end, .. } = &mut self.phase else {
            return false;
        };
        let pending = self.buf.pending();
        match end {
            BodyEnd::At(n) => pending.len() < *n,
            BodyEnd::Chunked(p) => {
                let body = &pending[(*head_len).min(pending.len())..];
                if body.len() as u64 >= post_buffering || p.fed > body.len() {
                    return false;
                }
                p.scratch.clear();
                match p.decoder.decode(&body[p.fed..], &mut p.scratch) {
                    Ok((used, done)) => {
                        p.fed += used;
                        !done
                    }
                    Err(_) => false, // the request's own parse answers it
                }
            }
        }
    }

    /// How long the body awaited parked has waited, and how much of it is in.
    fn body_progress(&self) -> Option<(Duration, u64)> {
        let Phase::Body {
            since, head_len, ..
        } = &self.phase
        else {
            return None;
        };
        let (since, head_len) = (*since, *head_len);
        let received = self.buf.pending().len().saturating_sub(head_len);
        Some((since.elapsed(), received as u64))
    }

    /// Starts a lingering close (see server/linger.rs): true when the connection must wait
    /// parked for the client to finish, false when it can close now.
    pub fn start_linger(&mut self) -> bool {
        self.buf.discard();
        let mut l = Linger::start(&self.sock);
        let wait = l.drain(&self.sock) == Drained::Wait;
        self.phase = Phase::Linger(l);
        wait
    }

    /// Whether it is closing (lingering).
    pub fn lingering(&self) -> bool {
        matches!(self.phase, Phase::Linger(_))
    }

    /// Drops what a lingering client sent since: true while it must wait for more.
    pub fn linger_more(&mut self) -> bool {
        match &mut self.phase {
            Phase::Linger(l) => l.drain(&self.sock) == Drained::Wait && !l.expired(),
            _ => false,
        }
    }

    /// A close would leave client input unread (see [`ReadBuf::input_remains`]).
    pub fn must_linger(&self) -> bool {
        !self.lingering() && self.buf.input_remains()
    }

    /// Nothing more to read now: starts the head deadline if part of a head is buffered.
    pub fn waiting_for_more(&mut self) {
        if self.buf.has_pending() {
            if let Phase::Head(started) = &mut self.phase {
                started.get_or_insert_with(Instant::now);
            }
        } else if let Phase::Head(started) = &mut self.phase {
            *started = None;
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

    /// Its deadlines: the head or idle timeout, a parked body's `body` limits, a lingering
    /// close's time; when the worker has been stopping for `stopping`, an idle one gets `grace`
    /// (at most its timeout) for one more request.
    pub fn expiry(&self, stopping: Option<Duration>, grace: Duration, body: &BodyLimits) -> Expiry {
        let head_started = match &self.phase {
            Phase::Head(started) => *started,
            _ => None,
        };
        if let Phase::Linger(l) = &self.phase {
            return if l.expired() || stopping.is_some_and(|s| s >= grace) {
                Expiry::LingerDone
            } else {
                Expiry::Alive
            };
        }
        if let Some((elapsed, received)) = self.body_progress() {
            if let Err(late) = body.time_left(elapsed, received) {
                return Expiry::BodyLate(late);
            }
        } else if head_started.unwrap_or(self.parked_at).elapsed() >= self.sock.timeout() {
            return Expiry::TimedOut;
        }
        let idle = !self.buf.has_pending();
        if idle
            && stopping
                .is_some_and(|s| s.min(self.parked_at.elapsed()) >= grace.min(self.sock.timeout()))
        {
            return Expiry::StopGrace;
        }
        Expiry::Alive
    }

    /// Says goodbye to a connection the sweep closes: an unfinished HTTP head (or a body
    /// awaited parked past its limits, named in the answer) gets a 408 if
    /// the socket takes it at once (what does not fit is dropped: the sweep runs for every
    /// thread of the worker, and a client that does not read must not hold it for up to
    /// socket-timeout); an unfinished uwsgi packet gets nothing. Either is a rejection (counted,
    /// logged with the peer; a late body's line is the caller's); an idle keep-alive
    /// connection closing is not.
    pub fn expire(&self, why: Expiry, rejections: &super::rejections::Rejections) {
        if !self.buf.has_pending() || self.lingering() {
            return;
        }
        let received = self.buf.pending().len();
        let secs = self.timeout().as_secs();
        if self.proto == Proto::Http {
            let e = match why {
                Expiry::BodyLate(late) => late.http_error(),
                _ => crate::proto::http::HttpError::TIMEOUT,
            };
            let _ = self.sock.send_now(&crate::proto::http::error_response(&e));
            if !matches!(why, Expiry::BodyLate(_)) {
                let detail =
                    format!(": the head was incomplete after {secs} s, {received} bytes received");
                rejections.http(self.peer_addr(), e.status, e.reason, &detail);
            }
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
