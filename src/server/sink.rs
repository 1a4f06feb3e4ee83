//! Writing the app's response: HTTP/1.1 framing (Content-Length, chunked, keep-alive) for
//! HTTP listeners, raw HTTP for the uwsgi protocol, head and first chunk in one writev.

use super::body::FramingError;
use crate::net::socket::Socket;
use crate::proto::{decimal, http};
use std::borrow::Cow;
use std::io;
use std::os::fd::RawFd;

/// How the response must be framed, fixed by the request.
#[derive(Clone, Copy)]
pub struct Request<'r> {
    /// HTTP minor version of the request (uwsgi: from SERVER_PROTOCOL).
    pub minor: u8,
    pub is_head: bool,
    /// The client asked to keep the connection (always false on uwsgi sockets).
    pub keep_alive: bool,
    /// uwsgi sockets: write the status line with this protocol, add no framing, then close.
    pub raw_protocol: Option<&'r [u8]>,
}

/// A response header as bytes: borrowed from the app's strings when they are ASCII.
type Header<'a> = (Cow<'a, [u8]>, Cow<'a, [u8]>);

/// A [`crate::python::ResponseSink`] over a client socket.
pub struct Sink<'a> {
    sock: &'a Socket,
    req: Request<'a>,
    add_headers: &'a [(String, String)],
    head: Vec<u8>,
    head_pending: bool,
    chunked: bool,
    body_allowed: bool,
    /// Bytes still owed when the app declared a Content-Length.
    remaining: Option<u64>,
    pub status: u16,
    pub keep_alive: bool,
    pub tx: u64,
    pub headers_count: usize,
    pub headers_bytes: usize,
    /// Set on any write error: the connection is dead.
    pub failed: bool,
    /// A malformed request body found while the app ran; answered instead of the app's response.
    refusal: Option<&'a FramingError>,
    /// The response was replaced by the refusal's 4xx.
    pub refused: bool,
}

impl<'a> Sink<'a> {
    pub fn new(
        sock: &'a Socket,
        req: Request<'a>,
        add_headers: &'a [(String, String)],
    ) -> Sink<'a> {
        Sink {
            sock,
            keep_alive: req.keep_alive,
            req,
            add_headers,
            head: Vec::with_capacity(256),
            head_pending: false,
            chunked: false,
            body_allowed: true,
            remaining: None,
            status: 0,
            tx: 0,
            headers_count: 0,
            headers_bytes: 0,
            failed: false,
            refusal: None,
            refused: false,
        }
    }

    /// Answer with the error in `slot`, if it gets set before the response head went out.
    pub fn refuse_on(&mut self, slot: &'a FramingError) {
        self.refusal = Some(slot);
    }

    /// Replaces the response with the request-body error, when there is one and nothing of the
    /// response is on the wire yet (the head is written lazily). True when the response is (now)
    /// the refusal: what the app sends is dropped.
    fn substitute_refusal(&mut self) -> bool {
        if self.refused {
            return true;
        }
        let Some(e) = self.refusal.and_then(|slot| slot.get()) else {
            return false;
        };
        if self.tx > 0 {
            return false; // too late: the connection closes after this response anyway
        }
        self.refused = true;
        self.head = http::error_response(e);
        self.head_pending = true;
        self.status = e.status;
        self.keep_alive = false;
        self.chunked = false;
        self.body_allowed = false;
        self.remaining = None;
        self.headers_count = 3;
        self.headers_bytes = self.head.len();
        true
    }

    /// Whether the response was complete and the connection may serve another request.
    pub fn reusable(&self) -> bool {
        self.keep_alive && !self.failed && !self.head_pending && self.remaining.unwrap_or(0) == 0
    }

    /// `last`: the response ends with these bytes.
    fn write(&mut self, parts: &[&[u8]], last: bool) -> io::Result<()> {
        // A response that ends a connection goes out with the close that follows it.
        let closing = last && !self.keep_alive;
        let r = if self.head_pending && parts.len() < 4 {
            // Head and body in one call (our writes have at most three parts).
            let mut all: [&[u8]; 4] = [&[]; 4];
            all[0] = &self.head;
            all[1..=parts.len()].copy_from_slice(parts);
            self.sock
                .write_all_vectored_then(&all[..=parts.len()], closing)
        } else if self.head_pending {
            let all: Vec<&[u8]> = std::iter::once(&self.head[..])
                .chain(parts.iter().copied())
                .collect();
            self.sock.write_all_vectored_then(&all, closing)
        } else {
            self.sock.write_all_vectored_then(parts, closing)
        };
        match r {
            Ok(()) => {
                let n: usize = parts.iter().map(|p| p.len()).sum();
                self.tx += n as u64
                    + if self.head_pending {
                        self.head.len() as u64
                    } else {
                        0
                    };
                self.head_pending = false;
                Ok(())
            }
            Err(e) => {
                self.failed = true;
                self.keep_alive = false;
                Err(e)
            }
        }
    }

    fn take_from_remaining(&mut self, n: u64) -> u64 {
        match &mut self.remaining {
            Some(r) => {
                let take = n.min(*r);
                *r -= take;
                take
            }
            None => n,
        }
    }
}

impl crate::python::ResponseSink for Sink<'_> {
    fn start(&mut self, status: &str, headers: &[(String, String)]) -> io::Result<()> {
        if self.substitute_refusal() {
            return Ok(());
        }
        let status_bytes = latin1(status);
        let code = http::validate_status(&status_bytes).unwrap_or(500);
        self.status = code;
        let mut app_cl: Option<u64> = None;
        let mut app_te = false;
        let mut hdrs: Vec<Header> = Vec::with_capacity(headers.len() + self.add_headers.len());
        for (k, v) in headers {
            let (k, v) = (latin1(k), latin1(v));
            if k.eq_ignore_ascii_case(b"content-length") {
                match std::str::from_utf8(&v)
                    .ok()
                    .and_then(|s| s.trim().parse::<u64>().ok())
                {
                    Some(n) => {
                        app_cl = Some(n);
                        continue;
                    }
                    None => continue, // a bogus length is dropped rather than sent
                }
            } else if k.eq_ignore_ascii_case(b"transfer-encoding") {
                app_te = true;
                if self.req.raw_protocol.is_none() {
                    continue; // we frame HTTP ourselves
                }
            } else if self.req.raw_protocol.is_none()
                && (k.eq_ignore_ascii_case(b"connection") || k.eq_ignore_ascii_case(b"keep-alive"))
            {
                if v.eq_ignore_ascii_case(b"close") {
                    self.keep_alive = false;
                }
                continue;
            }
            hdrs.push((k, v));
        }
        for (k, v) in self.add_headers {
            hdrs.push((k.as_bytes().into(), v.as_bytes().into()));
        }
        self.head.clear();
        let mut digits = [0u8; 20];
        if let Some(proto) = self.req.raw_protocol {
            // uwsgi: a raw HTTP response; nginx frames it, the end of body is our close.
            let cl = app_cl.map(|n| (&b"Content-Length"[..], decimal(n, &mut digits)));
            http::write_response_head(&mut self.head, 1, &status_bytes, &hdrs, cl.as_slice());
            // write_response_head starts with "HTTP/1.1"; a 1.0 frontend gets "HTTP/1.0".
            let version = crate::proto::uwsgi::status_line_version(proto);
            if version != b"HTTP/1.1" {
                self.head[..8].copy_from_slice(version);
            }
            self.keep_alive = false;
            self.remaining = app_cl;
            self.body_allowed = !self.req.is_head;
        } else {
            let f = http::response_framing(
                code,
                self.req.is_head,
                self.req.minor,
                app_cl,
                app_te,
                self.keep_alive,
            );
            self.keep_alive = f.keep_alive;
            self.chunked = f.chunked;
            self.body_allowed = f.body_allowed;
            // At most three headers of our own, on the stack.
            let mut extra: [(&[u8], &[u8]); 3] = [(b"", b""); 3];
            let mut n_extra = 0;
            if let (Some(n), true) = (app_cl, f.keep_content_length) {
                extra[n_extra] = (b"Content-Length", decimal(n, &mut digits));
                n_extra += 1;
                self.remaining = if f.body_allowed { Some(n) } else { None };
            }
            if f.chunked {
                extra[n_extra] = (b"Transfer-Encoding", b"chunked");
                n_extra += 1;
            }
            if let Some(c) = f.connection_header(self.req.minor) {
                extra[n_extra] = (b"Connection", c);
                n_extra += 1;
            }
            http::write_response_head(
                &mut self.head,
                self.req.minor,
                &status_bytes,
                &hdrs,
                &extra[..n_extra],
            );
        }
        self.headers_count = headers.len() + self.add_headers.len();
        self.headers_bytes = self.head.len();
        self.head_pending = true;
        Ok(())
    }

    fn body(&mut self, chunk: &[u8], last: bool) -> io::Result<()> {
        if self.substitute_refusal() || !self.body_allowed || chunk.is_empty() {
            return Ok(());
        }
        let n = self.take_from_remaining(chunk.len() as u64) as usize;
        if n < chunk.len() {
            // More than the declared Content-Length: the extra bytes would be read as the
            // next response; drop them and end the connection.
            self.keep_alive = false;
        }
        let chunk = &chunk[..n];
        if chunk.is_empty() {
            return Ok(());
        }
        if self.chunked {
            let size = format!("{:x}\r\n", chunk.len());
            self.write(&[size.as_bytes(), chunk, b"\r\n"], false)
        } else {
            self.write(&[chunk], last)
        }
    }

    fn file(&mut self, fd: RawFd, offset: u64, len: Option<u64>) -> io::Result<u64> {
        let len = len.unwrap_or(0);
        if self.substitute_refusal() || !self.body_allowed || len == 0 {
            return Ok(0);
        }
        let len = self.take_from_remaining(len);
        if self.chunked {
            let size = format!("{len:x}\r\n");
            self.write(&[size.as_bytes()], false)?;
        } else if self.head_pending {
            self.write(&[], false)?;
        }
        let sent = self
            .sock
            .sendfile(fd, offset, len)
            .inspect_err(|_| self.failed = true)?;
        self.tx += sent;
        if sent < len {
            self.failed = true;
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank during sendfile",
            ));
        }
        if self.chunked {
            self.write(&[b"\r\n"], false)?;
        }
        Ok(sent)
    }

    fn finish(&mut self) -> io::Result<()> {
        self.substitute_refusal();
        if self.chunked {
            self.write(&[b"0\r\n\r\n"], true)
        } else if self.head_pending {
            self.write(&[], true)
        } else {
            Ok(())
        }
    }
}

/// The bytes the app meant: its strings are Latin-1 (PEP 3333), not UTF-8. ASCII (nearly every
/// status and header) is the same bytes in both.
fn latin1(s: &str) -> Cow<'_, [u8]> {
    if s.is_ascii() {
        return Cow::Borrowed(s.as_bytes());
    }
    let mut v = Vec::with_capacity(s.len());
    crate::python::encode_latin1(s, &mut v);
    Cow::Owned(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_borrows_ascii_and_encodes_the_rest() {
        assert!(matches!(latin1("text/plain"), Cow::Borrowed(b"text/plain")));
        assert_eq!(&latin1("café")[..], b"caf\xe9");
    }
}
