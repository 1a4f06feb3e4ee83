//! Request bodies as the app reads them: bounded by Content-Length, de-chunked, or spooled
//! whole first (`post-buffering`), with `Expect: 100-continue` answered on the first read.

use super::body_wait::{BodyLimits, Late};
use super::conn::ReadBuf;
use crate::net::socket::Socket;
use crate::proto::chunked::ChunkedDecoder;
use crate::proto::http::HttpError;
use std::io::{self, Read, Seek, Write};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Set when the request body turns out to be malformed (a bad chunk, or a chunked body over
/// `limit-post`) while the app reads it. Shared with the response [`super::sink::Sink`], which
/// then answers with this 4xx instead of what the app (or its exception) produced.
pub type FramingError = OnceLock<HttpError>;

enum Kind {
    Empty,
    Length {
        remaining: u64,
    },
    Chunked {
        decoder: ChunkedDecoder,
        decoded: Vec<u8>,
        dpos: usize,
    },
    Memory {
        data: Vec<u8>,
        pos: usize,
    },
    File {
        file: std::fs::File,
    },
}

/// The body of one request. Bytes already read with the head are pending in `buf`; bytes
/// after the body (a pipelined request) are left there for the next one.
pub struct Body<'a> {
    sock: &'a Socket,
    buf: &'a mut ReadBuf,
    kind: Kind,
    send_continue: bool,
    /// Where a chunked-framing error is reported, if anyone listens.
    framing_error: Option<&'a FramingError>,
    /// A read failed (timeout, reset, bad chunk): the connection cannot be reused.
    pub broken: bool,
    /// The client stopped sending or went away mid-body (not a framing error).
    pub client_fault: Option<ClientFault>,
    /// Since when the body is read, and its time limits (see server/body_wait.rs).
    clock: Option<(Instant, BodyLimits)>,
    /// Body bytes read from the socket so far (for the rate limit).
    received: u64,
    /// The body broke one of its time limits (the 408 names it).
    pub late: Option<Late>,
}

/// How a client failed to deliver its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientFault {
    /// Nothing for `socket-timeout`: 408.
    Timeout,
    /// Closed or reset the connection before the end: 400.
    Aborted,
}

impl ClientFault {
    pub fn http_error(self) -> HttpError {
        match self {
            ClientFault::Timeout => HttpError::TIMEOUT,
            ClientFault::Aborted => HttpError::new(400, "the request body ended before its length"),
        }
    }
}

impl<'a> Body<'a> {
    fn new(sock: &'a Socket, buf: &'a mut ReadBuf, kind: Kind, send_continue: bool) -> Body<'a> {
        Body {
            sock,
            buf,
            kind,
            send_continue,
            framing_error: None,
            broken: false,
            client_fault: None,
            clock: None,
            received: 0,
            late: None,
        }
    }

    /// Holds the reading of the body to `limits`, from now.
    pub fn limited(mut self, limits: BodyLimits) -> Self {
        self.clock = Some((Instant::now(), limits));
        // What came with the head counts as received.
        let buffered = self.buf.pending().len() as u64;
        self.received = match self.kind {
            Kind::Length { remaining } => buffered.min(remaining),
            _ => buffered,
        };
        self
    }

    pub fn empty(sock: &'a Socket, buf: &'a mut ReadBuf) -> Body<'a> {
        Body::new(sock, buf, Kind::Empty, false)
    }

    pub fn length(
        sock: &'a Socket,
        buf: &'a mut ReadBuf,
        len: u64,
        send_continue: bool,
    ) -> Body<'a> {
        let kind = if len == 0 {
            Kind::Empty
        } else {
            Kind::Length { remaining: len }
        };
        Body::new(sock, buf, kind, send_continue)
    }

    pub fn chunked(
        sock: &'a Socket,
        buf: &'a mut ReadBuf,
        limit: Option<u64>,
        send_continue: bool,
    ) -> Body<'a> {
        let kind = Kind::Chunked {
            decoder: ChunkedDecoder::new(limit),
            decoded: Vec::new(),
            dpos: 0,
        };
        Body::new(sock, buf, kind, send_continue)
    }

    /// Framed by chunked transfer coding (and not read yet).
    pub fn is_chunked(&self) -> bool {
        matches!(self.kind, Kind::Chunked { .. })
    }

    /// Reports chunked-framing errors found while reading to `slot`.
    pub fn report_framing_errors(mut self, slot: &'a FramingError) -> Self {
        self.framing_error = Some(slot);
        self
    }

    /// Reads the whole body now (post-buffering): into memory below `threshold` bytes, else
    /// into an unlinked temp file in the spool directory. Returns the body size, or why it
    /// could not be spooled: the client's fault (stalled, went away, bad framing) or ours (the
    /// spool directory is full or unwritable). `progress` runs after every chunk received.
    pub fn spool(&mut self, threshold: u64, progress: &dyn Fn()) -> Result<u64, SpoolError> {
        let declared = match &self.kind {
            Kind::Length { remaining } => Some(*remaining),
            _ => None,
        };
        let mut mem = Vec::new();
        let mut file: Option<std::fs::File> = None;
        let mut chunk = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        let disk = |error: io::Error| SpoolError::Disk {
            dir: spool_dir(),
            error,
            declared,
        };
        loop {
            let n = self.read_body(&mut chunk).map_err(|e| {
                match self.framing_error.and_then(|f| f.get()) {
                    Some(fe) if e.kind() == io::ErrorKind::InvalidData => SpoolError::Framing(*fe),
                    _ => SpoolError::from_read(e, total, declared, self.late),
                }
            })?;
            if n == 0 {
                break;
            }
            progress();
            total += n as u64;
            match &mut file {
                Some(f) => f.write_all(&chunk[..n]).map_err(disk)?,
                None if total >= threshold => {
                    let mut f = temp_file().map_err(disk)?;
                    f.write_all(&mem).map_err(disk)?;
                    f.write_all(&chunk[..n]).map_err(disk)?;
                    mem = Vec::new();
                    file = Some(f);
                }
                None => mem.extend_from_slice(&chunk[..n]),
            }
        }
        self.kind = match file {
            Some(mut f) => {
                f.rewind().map_err(disk)?;
                Kind::File { file: f }
            }
            None => Kind::Memory { data: mem, pos: 0 },
        };
        Ok(total)
    }

    /// Reads and drops what the app left unread, up to `max` bytes. True when the body ended
    /// (the connection can serve another request).
    pub fn drain(&mut self, max: u64) -> bool {
        if matches!(self.kind, Kind::Empty) {
            return !self.broken;
        }
        if self.send_continue {
            // The client is still waiting for our go-ahead: it has sent no body to drain.
            return false;
        }
        let mut chunk = [0u8; 16 * 1024];
        let mut total = 0u64;
        while total <= max {
            match self.read_body(&mut chunk) {
                Ok(0) => return !self.broken,
                Ok(n) => total += n as u64,
                Err(_) => return false,
            }
        }
        false
    }

    /// A read from the client failed: the connection is done, and the request gets the
    /// client's 408/400 instead of whatever the app makes of the error (a 500), unless the
    /// response is already on its way.
    fn client_failed(&mut self, e: io::Error) -> io::Error {
        self.broken = true;
        let fault = if e.kind() == io::ErrorKind::TimedOut {
            ClientFault::Timeout
        } else {
            ClientFault::Aborted
        };
        if self.client_fault.is_none() {
            self.client_fault = Some(fault);
            if let Some(slot) = self.framing_error {
                let _ = slot.set(self.late.map_or(fault.http_error(), Late::http_error));
            }
        }
        e
    }

    /// The body broke a time limit: a timeout whose 408 names it.
    fn too_slow(&mut self, late: Late) -> io::Error {
        self.late = Some(late);
        let e = io::Error::new(io::ErrorKind::TimedOut, late.http_error().reason);
        self.client_failed(e)
    }

    /// A read from the socket failed: a timeout is the body limit's when that limit was
    /// shorter than the socket's own (a client silent for socket-timeout is just that).
    fn read_failed(&mut self, e: io::Error, limit: Option<Duration>) -> io::Error {
        if e.kind() == io::ErrorKind::TimedOut && limit.is_some_and(|l| l < self.sock.timeout()) {
            if let Err(late) = time_left(&self.clock, self.received) {
                return self.too_slow(late);
            }
        }
        self.client_failed(e)
    }

    fn fill_from_socket(&mut self) -> io::Result<usize> {
        if self.send_continue {
            self.send_continue = false;
            self.sock
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .map_err(|e| self.client_failed(e))?;
        }
        let limit = time_left(&self.clock, self.received).map_err(|l| self.too_slow(l))?;
        let n = self
            .buf
            .fill(self.sock, 16 * 1024, limit)
            .map_err(|e| self.read_failed(e, limit))?;
        self.received += n as u64;
        Ok(n)
    }

    fn read_body(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            let avail = self.buf.pending().len();
            match &mut self.kind {
                Kind::Empty => return Ok(0),
                Kind::Memory { data, pos } => {
                    let n = out.len().min(data.len() - *pos);
                    out[..n].copy_from_slice(&data[*pos..*pos + n]);
                    *pos += n;
                    return Ok(n);
                }
                Kind::File { file } => return file.read(out),
                Kind::Length { remaining } => {
                    if *remaining == 0 {
                        return Ok(0);
                    }
                    let want = out
                        .len()
                        .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                    if avail > 0 {
                        let n = want.min(avail);
                        out[..n].copy_from_slice(&self.buf.pending()[..n]);
                        self.buf.consume(n);
                        *remaining -= n as u64;
                        return Ok(n);
                    }
                    if !self.send_continue {
                        // Nothing buffered: straight into the caller's buffer, never past the
                        // body (what follows it belongs to the next request).
                        let limit = match time_left(&self.clock, self.received) {
                            Ok(l) => l,
                            Err(late) => return Err(self.too_slow(late)),
                        };
                        match self.sock.read_within(&mut out[..want], limit) {
                            Ok(0) => {}
                            Ok(n) => {
                                *remaining -= n as u64;
                                self.received += n as u64;
                                return Ok(n);
                            }
                            Err(e) => return Err(self.read_failed(e, limit)),
                        }
                        return Err(self.client_failed(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "client closed the connection mid-body",
                        )));
                    }
                }
                Kind::Chunked {
                    decoder,
                    decoded,
                    dpos,
                } => {
                    if *dpos < decoded.len() {
                        let n = out.len().min(decoded.len() - *dpos);
                        out[..n].copy_from_slice(&decoded[*dpos..*dpos + n]);
                        *dpos += n;
                        return Ok(n);
                    }
                    if decoder.is_done() {
                        return Ok(0);
                    }
                    if avail > 0 {
                        decoded.clear();
                        *dpos = 0;
                        let (used, _) = match decoder.decode(self.buf.pending(), decoded) {
                            Ok(r) => r,
                            Err(e) => {
                                self.broken = true;
                                if let Some(slot) = self.framing_error {
                                    let _ = slot.set(e);
                                }
                                return Err(io::Error::new(
                                    io::ErrorKind::InvalidData,
                                    e.to_string(),
                                ));
                            }
                        };
                        self.buf.consume(used);
                        if !decoded.is_empty() || decoder.is_done() || used > 0 {
                            continue;
                        }
                    }
                }
            }
            // Nothing buffered: wait for the client.
            match self.fill_from_socket() {
                Ok(0) => {
                    return Err(self.client_failed(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "client closed the connection mid-body",
                    )));
                }
                Ok(_) => {}
                // Already counted as the client's failure.
                Err(e) => return Err(e),
            }
        }
    }
}

/// How long the next read may wait under the body's limits.
fn time_left(
    clock: &Option<(Instant, BodyLimits)>,
    received: u64,
) -> Result<Option<Duration>, Late> {
    match clock {
        Some((since, limits)) => limits.time_left(since.elapsed(), received),
        None => Ok(None),
    }
}

impl Body<'_> {
    /// Read to its end (or never had one to read).
    fn finished(&self) -> bool {
        !self.broken
            && match &self.kind {
                Kind::Empty | Kind::Memory { .. } | Kind::File { .. } => true,
                Kind::Length { remaining } => *remaining == 0,
                Kind::Chunked { decoder, .. } => decoder.is_done(),
            }
    }
}

impl Drop for Body<'_> {
    /// A body left unread (in part) is input the connection's close must linger over.
    fn drop(&mut self) {
        if !self.finished() {
            self.buf.leave_input();
        }
    }
}

impl crate::python::BodySource for Body<'_> {
    fn size_hint(&self) -> Option<u64> {
        match &self.kind {
            Kind::Empty => Some(0),
            Kind::Length { remaining } => Some(*remaining),
            Kind::Memory { data, pos } => Some((data.len() - pos) as u64),
            _ => None,
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_body(buf).inspect_err(|_| self.broken = true)
    }
}

/// Where post-buffering spools bodies: `$TMPDIR`, else `/tmp` (as uWSGI).
fn spool_dir() -> std::path::PathBuf {
    std::env::var_os("TMPDIR")
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "/tmp".into())
        .into()
}

fn temp_file() -> io::Result<std::fs::File> {
    let dir = spool_dir();
    use std::os::unix::fs::OpenOptionsExt;
    // O_TMPFILE: the file has no name, so nothing is left behind whatever happens.
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_TMPFILE)
        .open(&dir)
        .or_else(|_| {
            let path = dir.join(format!(
                "rw-body-{}-{}",
                std::process::id(),
                crate::sys::clock::unix_us()
            ));
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)?;
            std::fs::remove_file(&path)?;
            Ok(f)
        })
}

/// Why a body could not be spooled (post-buffering).
#[derive(Debug)]
pub enum SpoolError {
    /// The client sent nothing for `socket-timeout`, or broke a body limit (`late`): 408.
    ClientTimeout {
        received: u64,
        declared: Option<u64>,
        late: Option<Late>,
    },
    /// The client closed or reset the connection mid-body: 400.
    ClientAborted {
        received: u64,
        declared: Option<u64>,
        error: io::Error,
    },
    /// A malformed chunked body (already reported to the framing-error slot): its 4xx.
    Framing(HttpError),
    /// The spool file could not be created or written: 503, or 413 when the body can never
    /// fit (larger than the whole filesystem, or than the file size limit).
    Disk {
        dir: std::path::PathBuf,
        error: io::Error,
        declared: Option<u64>,
    },
}

impl SpoolError {
    fn from_read(
        e: io::Error,
        received: u64,
        declared: Option<u64>,
        late: Option<Late>,
    ) -> SpoolError {
        match e.kind() {
            io::ErrorKind::TimedOut => SpoolError::ClientTimeout {
                received,
                declared,
                late,
            },
            io::ErrorKind::InvalidData => {
                SpoolError::Framing(HttpError::new(400, "malformed chunked body"))
            }
            _ => SpoolError::ClientAborted {
                received,
                declared,
                error: e,
            },
        }
    }

    /// The client's fault (logged and counted as a client error), not the server's.
    pub fn is_client(&self) -> bool {
        !matches!(self, SpoolError::Disk { .. })
    }

    /// The answer.
    pub fn http_error(&self) -> HttpError {
        match self {
            SpoolError::ClientTimeout { late, .. } => {
                late.map_or(HttpError::TIMEOUT, Late::http_error)
            }
            SpoolError::ClientAborted { .. } => {
                HttpError::new(400, "the request body ended before its length")
            }
            SpoolError::Framing(e) => *e,
            SpoolError::Disk {
                dir,
                error,
                declared,
            } => {
                if error.raw_os_error() == Some(libc::EFBIG)
                    || declared.is_some_and(|n| n > filesystem_size(dir))
                {
                    HttpError::new(413, "request body larger than the spool directory can hold")
                } else {
                    HttpError::new(503, "cannot spool the request body")
                }
            }
        }
    }

    /// The log line (without the peer).
    pub fn describe(&self) -> String {
        let of = |declared: &Option<u64>| match declared {
            Some(n) => format!(" of {n}"),
            None => String::new(),
        };
        match self {
            SpoolError::ClientTimeout {
                received,
                declared,
                late,
            } => match late {
                Some(l) => format!(
                    "client error: the request body came too slowly: {received}{} bytes in time ({})",
                    of(declared),
                    l.option()
                ),
                None => format!(
                    "client error: the client stopped sending the request body after {received}{} bytes (socket-timeout)",
                    of(declared)
                ),
            },
            SpoolError::ClientAborted {
                received,
                declared,
                error,
            } => format!(
                "client error: the client went away after {received}{} bytes of the request body ({error})",
                of(declared)
            ),
            SpoolError::Framing(e) => format!("client error: {e}"),
            SpoolError::Disk {
                dir,
                error,
                declared,
            } => format!(
                "server error: cannot spool the request body{} to {}: {error}",
                declared.map(|n| format!(" ({n} bytes)")).unwrap_or_default(),
                dir.display()
            ),
        }
    }
}

/// Total bytes of the filesystem holding `dir` (u64::MAX when unknown).
fn filesystem_size(dir: &std::path::Path) -> u64 {
    nix::sys::statvfs::statvfs(dir)
        .map(|st| st.blocks().saturating_mul(st.fragment_size()))
        .unwrap_or(u64::MAX)
}
