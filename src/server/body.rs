//! Request bodies as the app reads them: bounded by Content-Length, de-chunked, or spooled
//! whole first (`post-buffering`), with `Expect: 100-continue` answered on the first read.

use super::socket::Socket;
use crate::proto::chunked::ChunkedDecoder;
use crate::proto::http::HttpError;
use std::io::{self, Read, Seek, Write};
use std::sync::OnceLock;

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

/// The body of one request. Bytes already read with the head sit in `buf[*pos..]`; bytes after
/// the body (a pipelined request) are left there for the next one.
pub struct Body<'a> {
    sock: &'a Socket,
    buf: &'a mut Vec<u8>,
    pos: &'a mut usize,
    kind: Kind,
    send_continue: bool,
    /// Where a chunked-framing error is reported, if anyone listens.
    framing_error: Option<&'a FramingError>,
    /// A read failed (timeout, reset, bad chunk): the connection cannot be reused.
    pub broken: bool,
}

impl<'a> Body<'a> {
    fn new(
        sock: &'a Socket,
        buf: &'a mut Vec<u8>,
        pos: &'a mut usize,
        kind: Kind,
        send_continue: bool,
    ) -> Body<'a> {
        Body {
            sock,
            buf,
            pos,
            kind,
            send_continue,
            framing_error: None,
            broken: false,
        }
    }

    pub fn empty(sock: &'a Socket, buf: &'a mut Vec<u8>, pos: &'a mut usize) -> Body<'a> {
        Body::new(sock, buf, pos, Kind::Empty, false)
    }

    pub fn length(
        sock: &'a Socket,
        buf: &'a mut Vec<u8>,
        pos: &'a mut usize,
        len: u64,
        send_continue: bool,
    ) -> Body<'a> {
        let kind = if len == 0 {
            Kind::Empty
        } else {
            Kind::Length { remaining: len }
        };
        Body::new(sock, buf, pos, kind, send_continue)
    }

    pub fn chunked(
        sock: &'a Socket,
        buf: &'a mut Vec<u8>,
        pos: &'a mut usize,
        limit: Option<u64>,
        send_continue: bool,
    ) -> Body<'a> {
        let kind = Kind::Chunked {
            decoder: ChunkedDecoder::new(limit),
            decoded: Vec::new(),
            dpos: 0,
        };
        Body::new(sock, buf, pos, kind, send_continue)
    }

    /// Reports chunked-framing errors found while reading to `slot`.
    pub fn report_framing_errors(mut self, slot: &'a FramingError) -> Self {
        self.framing_error = Some(slot);
        self
    }

    /// Reads the whole body now (post-buffering): into memory below `threshold` bytes, else
    /// into an unlinked temp file. Returns the body size.
    pub fn spool(&mut self, threshold: u64) -> io::Result<u64> {
        let mut mem = Vec::new();
        let mut file: Option<std::fs::File> = None;
        let mut chunk = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        loop {
            let n = self.read_body(&mut chunk)?;
            if n == 0 {
                break;
            }
            total += n as u64;
            match &mut file {
                Some(f) => f.write_all(&chunk[..n])?,
                None if total >= threshold => {
                    let mut f = temp_file()?;
                    f.write_all(&mem)?;
                    f.write_all(&chunk[..n])?;
                    mem = Vec::new();
                    file = Some(f);
                }
                None => mem.extend_from_slice(&chunk[..n]),
            }
        }
        self.kind = match file {
            Some(mut f) => {
                f.rewind()?;
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

    fn fill_from_socket(&mut self) -> io::Result<usize> {
        if self.send_continue {
            self.send_continue = false;
            self.sock.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        if *self.pos > 0 && *self.pos == self.buf.len() {
            self.buf.clear();
            *self.pos = 0;
        }
        self.sock.read_append(self.buf, 16 * 1024)
    }

    fn read_body(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            let avail = self.buf.len() - *self.pos;
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
                        out[..n].copy_from_slice(&self.buf[*self.pos..*self.pos + n]);
                        *self.pos += n;
                        *remaining -= n as u64;
                        return Ok(n);
                    }
                    if !self.send_continue {
                        // Nothing buffered: straight into the caller's buffer, never past the
                        // body (what follows it belongs to the next request).
                        match self.sock.read(&mut out[..want]) {
                            Ok(0) => {}
                            Ok(n) => {
                                *remaining -= n as u64;
                                return Ok(n);
                            }
                            Err(e) => {
                                self.broken = true;
                                return Err(e);
                            }
                        }
                        self.broken = true;
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "client closed the connection mid-body",
                        ));
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
                        let (used, _) = match decoder.decode(&self.buf[*self.pos..], decoded) {
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
                        *self.pos += used;
                        if !decoded.is_empty() || decoder.is_done() || used > 0 {
                            continue;
                        }
                    }
                }
            }
            // Nothing buffered: wait for the client.
            match self.fill_from_socket() {
                Ok(0) => {
                    self.broken = true;
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "client closed the connection mid-body",
                    ));
                }
                Ok(_) => {}
                Err(e) => {
                    self.broken = true;
                    return Err(e);
                }
            }
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

fn temp_file() -> io::Result<std::fs::File> {
    let dir = std::env::var_os("TMPDIR").unwrap_or_else(|| "/tmp".into());
    use std::os::unix::fs::OpenOptionsExt;
    // O_TMPFILE: the file has no name, so nothing is left behind whatever happens.
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_TMPFILE)
        .open(&dir)
        .or_else(|_| {
            let path = std::path::Path::new(&dir).join(format!(
                "rw-body-{}-{}",
                std::process::id(),
                crate::server::process::now_us()
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
