//! Serving requests on one connection: parse the head (HTTP or uwsgi), answer framing errors,
//! static files, or call the app, then account and log the request.

use super::body::{Body, ClientFault, FramingError, SpoolError};
use super::listen::Proto;
use super::sink::{self, Sink};
use super::socket::Socket;
use super::static_files::Resolution;
use super::worker::Shared;
use crate::log::request_line::RequestRecord;
use crate::proto::chunked::ChunkedDecoder;
use crate::proto::{http, uwsgi, Var};
use crate::python::{self, ResponseSink};
use std::borrow::Cow;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

/// A client connection owned by a worker.
pub struct Conn {
    pub sock: Socket,
    pub buf: Vec<u8>,
    pub pos: usize,
    pub proto: Proto,
    /// Index of the listener it came from (SERVER_PORT).
    pub listener: usize,
    pub peer_addr: Vec<u8>,
    pub peer_port: Vec<u8>,
    /// When it was parked (the idle deadline).
    pub parked_at: Instant,
    /// When the first byte of a still-incomplete request head arrived: the head deadline runs
    /// from here, so a client trickling a byte at a time cannot keep it alive (slowloris).
    pub head_started: Option<Instant>,
    /// Added to the worker's poller (done the first time it has to wait).
    pub registered: bool,
    /// Its read/write timeout (socket-timeout, or http-timeout on `http` listeners).
    pub timeout: std::time::Duration,
    /// A PROXY protocol header may still come first (until the first bytes are read).
    pub proxy_pending: bool,
}

/// What to do with a connection after serving what it had.
pub enum Next {
    /// Wait in the poller for more bytes.
    Park,
    Close,
}

/// Serves every complete request buffered or readable now on `conn`.
pub fn serve(conn: &mut Conn, w: &Shared, core: usize) -> Next {
    let mut head = http::RequestHead::default();
    // Set once a request was answered. The requests of one read(2) are served back to back;
    // then the connection goes back to the poller, so a client that always has its next
    // request ready cannot keep other connections waiting.
    let mut served = false;
    loop {
        if conn.pos > 0 && conn.pos == conn.buf.len() {
            conn.buf.clear();
            conn.pos = 0;
            // Parking is only safe with nothing buffered (the poller sees the socket, not us).
            // After a response the client rarely has its next request out yet (it is reading
            // ours), so the poller is asked rather than a read(2) that would find nothing.
            if served {
                return Next::Park;
            }
        }
        if conn.proxy_pending && conn.buf.len() > conn.pos {
            match proxy_step(conn, w) {
                Some(Step::NeedMore) => {}
                Some(_) => return Next::Close,
                None => continue,
            }
        }
        if !conn.proxy_pending && conn.buf.len() > conn.pos {
            let step = match conn.proto {
                Proto::Http => http_step(conn, w, core, &mut head),
                Proto::Uwsgi => uwsgi_step(conn, w, core),
            };
            match step {
                Step::NeedMore => {}
                // Also when stopping: the response promised keep-alive, so what follows is
                // answered (with `Connection: close`), not dropped.
                Step::Served(true) => {
                    conn.head_started = None; // the next head gets its own deadline
                    served = true;
                    continue;
                }
                Step::Served(_) | Step::Close => return Next::Close,
            }
        }
        let old = conn.buf.len();
        let want = w.read_size;
        if old - conn.pos >= want * 4 {
            return Next::Close; // the parser would have answered already; defensive bound
        }
        let r = conn.sock.read_now_append(&mut conn.buf, want);
        let n = match r {
            Ok(Some(n)) => n,
            Ok(None) => {
                if conn.buf.len() > conn.pos {
                    conn.head_started.get_or_insert_with(Instant::now);
                } else {
                    conn.head_started = None;
                }
                return Next::Park;
            }
            Err(_) => 0,
        };
        if n == 0 {
            if conn.proto == Proto::Uwsgi && conn.buf.len() > conn.pos {
                eprintln!(
                    "uwsgi: the peer closed the connection after {} bytes of an incomplete packet",
                    conn.buf.len() - conn.pos
                );
            }
            return Next::Close;
        }
    }
}

/// Reads the optional PROXY header at the start of a connection: `None` once it is consumed
/// (the peer address is now the client's) or absent; a malformed one is answered with 400.
fn proxy_step(conn: &mut Conn, w: &Shared) -> Option<Step> {
    use crate::proto::proxy;
    match proxy::parse(&conn.buf[conn.pos..]) {
        Ok(proxy::Parsed::Incomplete) => Some(Step::NeedMore),
        Ok(proxy::Parsed::NotProxy) => {
            conn.proxy_pending = false;
            None
        }
        Ok(proxy::Parsed::Header { len, source }) => {
            conn.proxy_pending = false;
            conn.pos += len;
            if let Some(src) = source {
                conn.peer_addr = src.ip().to_string().into_bytes();
                conn.peer_port = src.port().to_string().into_bytes();
            }
            None
        }
        Err(e) => {
            let err = http::HttpError::new(400, "malformed PROXY protocol header");
            let _ = conn.sock.write_all(&http::error_response(&err));
            eprintln!(
                "{e} (from {})",
                crate::log::sanitize::escaped(&conn.peer_addr)
            );
            w.log_rejected(&conn.peer_addr, 400, err.reason);
            Some(Step::Close)
        }
    }
}

enum Step {
    NeedMore,
    /// A request was answered; true when the connection may carry another.
    Served(bool),
    Close,
}

fn http_step(conn: &mut Conn, w: &Shared, core: usize, head: &mut http::RequestHead) -> Step {
    let consumed = match http::parse_head_into(&conn.buf[conn.pos..], &w.limits, head) {
        Ok(None) => return Step::NeedMore,
        Ok(Some(n)) => n,
        Err(e) => {
            // Answer, then close without reading pipelined bytes (waitress CVE-2024-49768).
            let _ = conn.sock.write_all(&http::error_response(&e));
            w.log_rejected(&conn.peer_addr, e.status, e.reason);
            return Step::Close;
        }
    };
    let start = Instant::now();
    let start_us = super::process::now_us();
    conn.pos += consumed;
    if let http::BodyFraming::Length(n) = head.framing {
        if w.settings.limit_post > 0 && n > w.settings.limit_post {
            let e = http::HttpError::new(413, "body larger than limit-post");
            let _ = conn.sock.write_all(&http::error_response(&e));
            w.log_rejected(&conn.peer_addr, 413, e.reason);
            return Step::Close;
        }
    }
    let last = w.begin_request();
    let sreq = sink::Request {
        minor: head.minor_version,
        is_head: head.method() == b"HEAD",
        // A stopping worker (or one about to stop) says `Connection: close` instead of dropping
        // the connection later.
        keep_alive: head.keep_alive && !w.stopping() && !last,
        raw_protocol: None,
    };
    if let Some(step) = try_static(
        conn,
        w,
        core,
        head.method(),
        head.path(),
        &sreq,
        head.header(b"if-modified-since"),
        start,
        start_us,
        head.server_protocol().as_bytes(),
        head.target(),
        head.header(b"accept-encoding"),
    ) {
        return step;
    }
    let limit = (w.settings.limit_post > 0).then_some(w.settings.limit_post);
    if head.framing == http::BodyFraming::Chunked {
        // Chunk framing already buffered is checked before the app runs, so a request whose
        // body is known to be malformed never reaches it (later bytes: see `framing_error`).
        if let Err(e) = check_buffered_chunks(&conn.buf[conn.pos..], limit) {
            let _ = conn.sock.write_all(&http::error_response(&e));
            w.log_rejected(&conn.peer_addr, e.status, e.reason);
            return Step::Close;
        }
    }
    let vars = http_vars(&conn.peer_addr, &conn.peer_port, conn.listener, w, head);
    let send_continue = head.expect_continue;
    let framing_error = FramingError::new();
    let Conn { sock, buf, pos, .. } = conn;
    let body = match head.framing {
        http::BodyFraming::None => Body::empty(sock, buf, pos),
        http::BodyFraming::Length(n) => {
            Body::length(sock, buf, pos, n, send_continue).report_framing_errors(&framing_error)
        }
        http::BodyFraming::Chunked => Body::chunked(sock, buf, pos, limit, send_continue)
            .report_framing_errors(&framing_error),
    };
    let keep = run_app(
        w,
        core,
        sock,
        vars,
        body,
        sreq,
        &conn.peer_addr,
        start,
        start_us,
        Some(&framing_error),
    );
    Step::Served(keep)
}

/// Runs a fresh chunked decoder over the body bytes that came with the head: a framing error
/// there (bad size, bare LF, over `limit-post`) is answered before the app is called.
fn check_buffered_chunks(buffered: &[u8], limit: Option<u64>) -> Result<(), http::HttpError> {
    let mut probe = ChunkedDecoder::new(limit);
    let mut scratch = Vec::new();
    for piece in buffered.chunks(16 * 1024) {
        scratch.clear();
        if probe.decode(piece, &mut scratch)?.1 {
            break; // the body ended; what follows is the next request
        }
    }
    Ok(())
}

fn uwsgi_step(conn: &mut Conn, w: &Shared, core: usize) -> Step {
    // The vars borrow the packet's bytes while the body is read through the connection's
    // buffer: the head buffer moves out, and what follows the packet goes to a fresh one.
    let head = std::mem::take(&mut conn.buf);
    let parsed = uwsgi::parse_packet(&head[conn.pos..], w.settings.buffer_size);
    let (packet, consumed) = match parsed {
        Ok(Some(p)) => p,
        Ok(None) => {
            conn.buf = head;
            return Step::NeedMore;
        }
        Err(e) => {
            eprintln!(
                "uwsgi: {e} (from {})",
                crate::log::sanitize::escaped(&conn.peer_addr)
            );
            conn.buf = head;
            return Step::Close;
        }
    };
    let mut rest = w.take_buf();
    rest.extend_from_slice(&head[conn.pos + consumed..]);
    conn.buf = rest;
    conn.pos = 0;
    let step = uwsgi_request(conn, w, core, packet);
    w.recycle_buf(head);
    step
}

/// Serves the request of a parsed uwsgi packet, its body (if any) in `conn.buf`.
fn uwsgi_request(conn: &mut Conn, w: &Shared, core: usize, packet: uwsgi::Packet<'_>) -> Step {
    if packet.modifier1 != 0 {
        eprintln!("-- unavailable modifier requested: {} --", packet.modifier1);
        return Step::Close;
    }
    let start = Instant::now();
    let start_us = super::process::now_us();
    let len = match uwsgi::content_length(&packet.vars) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("uwsgi: {e}");
            return Step::Close;
        }
    };
    if w.settings.limit_post > 0 && len > w.settings.limit_post {
        eprintln!("Invalid (too big) CONTENT_LENGTH. skip.");
        return Step::Close;
    }
    let get = |k: &[u8]| packet.get(k).unwrap_or(b"");
    let protocol = get(b"SERVER_PROTOCOL");
    if !crate::proto::uwsgi::is_plain_protocol(protocol) {
        // The status line never carries these bytes (proto::uwsgi::status_line_version); say who sent them.
        eprintln!(
            "uwsgi: SERVER_PROTOCOL `{}` from {} is not a protocol token; answering HTTP/1.1",
            protocol.escape_ascii(),
            get(b"REMOTE_ADDR").escape_ascii()
        );
    }
    let method = get(b"REQUEST_METHOD");
    let uri = get(b"REQUEST_URI");
    let raw_path = uri.split(|&b| b == b'?').next().unwrap_or(b"");
    let ims = packet.get(b"HTTP_IF_MODIFIED_SINCE");
    let peer = get(b"REMOTE_ADDR");
    let mut vars: Vec<Var<'_>> = packet
        .vars
        .iter()
        .map(|&(k, v)| (Cow::Borrowed(k), Cow::Borrowed(v)))
        .collect();
    w.filter_magic_vars(&mut vars);
    w.begin_request(); // one request per connection: nothing to announce
    let sreq = sink::Request {
        minor: 1,
        is_head: method == b"HEAD",
        keep_alive: false,
        raw_protocol: Some(protocol),
    };
    let accept_encoding = packet.get(b"HTTP_ACCEPT_ENCODING");
    if let Some(step) = try_static(
        conn,
        w,
        core,
        method,
        raw_path,
        &sreq,
        ims,
        start,
        start_us,
        protocol,
        uri,
        accept_encoding,
    ) {
        return step;
    }
    let framing_error = FramingError::new();
    let Conn { sock, buf, pos, .. } = conn;
    let body = Body::length(sock, buf, pos, len, false).report_framing_errors(&framing_error);
    run_app(
        w,
        core,
        sock,
        vars,
        body,
        sreq,
        peer,
        start,
        start_us,
        Some(&framing_error),
    );
    // One request per uwsgi connection; whatever follows the body is discarded (uWSGI #2336).
    Step::Close
}

/// CGI vars for an HTTP request, as uWSGI's http-socket builds them (§2.2).
/// Values borrow the parsed head, the peer and the worker: no allocation per var but for
/// decoded paths and uncommon header names.
fn http_vars<'a>(
    peer_addr: &'a [u8],
    peer_port: &'a [u8],
    listener: usize,
    w: &'a Shared,
    head: &'a http::RequestHead,
) -> Vec<Var<'a>> {
    let b = |s: &'a [u8]| Cow::Borrowed(s);
    let mut v: Vec<Var<'a>> = Vec::with_capacity(16 + head.headers().len());
    v.push((b(b"REQUEST_METHOD"), b(head.method())));
    v.push((b(b"REQUEST_URI"), b(head.target())));
    let path = head.path();
    let path_info = if path.contains(&b'%') {
        Cow::Owned(http::percent_decode(path))
    } else {
        b(path)
    };
    v.push((b(b"PATH_INFO"), path_info));
    v.push((b(b"QUERY_STRING"), b(head.query())));
    v.push((b(b"SERVER_PROTOCOL"), b(head.server_protocol().as_bytes())));
    v.push((b(b"SCRIPT_NAME"), b(b"")));
    v.push((b(b"SERVER_NAME"), b(&w.hostname)));
    v.push((b(b"SERVER_PORT"), b(&w.listener_ports[listener])));
    v.push((b(b"REMOTE_ADDR"), b(peer_addr)));
    v.push((b(b"REMOTE_PORT"), b(peer_port)));
    for (name, value) in head.headers() {
        let key = match http::common_header_cgi_name(name) {
            Some(k) => b(k),
            None => match http::header_cgi_name(name) {
                Some(k) => Cow::Owned(k),
                None => continue,
            },
        };
        v.push((key, b(value)));
    }
    v
}

#[allow(clippy::too_many_arguments)]
fn try_static(
    conn: &mut Conn,
    w: &Shared,
    core: usize,
    method: &[u8],
    raw_path: &[u8],
    sreq: &sink::Request,
    if_modified_since: Option<&[u8]>,
    start: Instant,
    start_us: u64,
    protocol: &[u8],
    uri: &[u8],
    accept_encoding: Option<&[u8]>,
) -> Option<Step> {
    if w.statics.is_empty() {
        return None;
    }
    let req = super::static_files::StaticRequest {
        method,
        raw_path,
        uri,
        accept_encoding,
    };
    let (status, file) = match w.statics.resolve_request(&req) {
        Resolution::NotMine => return None,
        Resolution::Forbidden => ("403 Forbidden", None),
        Resolution::File(f) => {
            if super::static_files::not_modified(f.mtime_unix, if_modified_since) {
                ("304 Not Modified", Some(f))
            } else {
                ("200 OK", Some(f))
            }
        }
    };
    let mut sink = Sink::new(&conn.sock, *sreq, &w.settings.add_headers);
    let mut headers: Vec<(String, String)> = Vec::with_capacity(6);
    let mut sent = 0u64;
    let r = (|| -> std::io::Result<()> {
        match &file {
            Some(f) => {
                headers.push(("Content-Type".into(), f.content_type.into()));
                headers.push(("Content-Length".into(), f.len.to_string()));
                headers.push((
                    "Last-Modified".into(),
                    super::static_files::http_date(f.mtime_unix),
                ));
                if status.starts_with("200") {
                    if let Some(at) = f.expires {
                        headers.push(("Expires".into(), super::static_files::http_date(at)));
                    }
                    if let Some(enc) = f.content_encoding {
                        headers.push(("Content-Encoding".into(), enc.into()));
                    }
                }
                if f.vary_encoding {
                    headers.push(("Vary".into(), "Accept-Encoding".into()));
                }
                sink.start(status, &headers)?;
                if status.starts_with("200") {
                    use std::os::fd::AsRawFd;
                    sent = sink.file(f.file.as_raw_fd(), 0, Some(f.len))?;
                }
            }
            None => {
                let body = b"403 Forbidden\n";
                headers.push(("Content-Type".into(), "text/plain".into()));
                headers.push(("Content-Length".into(), body.len().to_string()));
                sink.start(status, &headers)?;
                sink.body(body, true)?;
                sent = body.len() as u64;
            }
        }
        sink.finish()
    })();
    let keep = r.is_ok() && sink.reusable();
    let slot = w.core(core);
    slot.static_requests.fetch_add(1, Relaxed);
    let outcome = python::CallOutcome {
        status: sink.status,
        headers_sent: true,
        body_bytes: sent,
        exception: false,
        switches: 0,
        io_error: r.is_err(),
        via_sendfile: file.is_some(),
        finished: r.is_ok(),
        harakiri: false,
    };
    w.finish_request(
        &LogInfo {
            core,
            app_id: -1,
            vars: &[],
            peer: &conn.peer_addr,
            method,
            uri,
            protocol,
            start,
            start_us,
            outcome: &outcome,
            headers_count: sink.headers_count,
            headers_bytes: sink.headers_bytes,
        },
        sink.tx,
    );
    Some(if keep {
        Step::Served(true)
    } else {
        Step::Close
    })
}

/// Calls the app and answers; returns whether the connection may carry another request.
#[allow(clippy::too_many_arguments)]
fn run_app(
    w: &Shared,
    core: usize,
    sock: &Socket,
    mut vars: Vec<Var<'_>>,
    mut body: Body,
    sreq: sink::Request,
    peer: &[u8],
    start: Instant,
    start_us: u64,
    framing_error: Option<&FramingError>,
) -> bool {
    let slot = w.core(core);
    if w.settings.manage_script_name && !vars.iter().any(|(k, _)| &k[..] == b"SCRIPT_NAME") {
        vars.push((Cow::Borrowed(b"SCRIPT_NAME"), Cow::Borrowed(b"")));
    }
    let selected = w.select_app(&mut vars);
    slot.begin(start_us, if w.record_vars { &vars } else { &[] });
    let mut sink = Sink::new(sock, sreq, &w.settings.add_headers);
    if let Some(f) = framing_error {
        sink.refuse_on(f);
    }
    let get = |k: &[u8]| {
        vars.iter()
            .find(|(key, _)| &key[..] == k)
            .map(|(_, v)| &v[..])
            .unwrap_or(b"")
    };
    let (method, uri, protocol) = (
        get(b"REQUEST_METHOD"),
        get(b"REQUEST_URI"),
        get(b"SERVER_PROTOCOL"),
    );
    let mut spool_error = None;
    if w.settings.post_buffering > 0 {
        // As uWSGI, harakiri does not count the upload: each chunk received restarts it.
        let restart_harakiri = || {
            if w.settings.harakiri > 0 {
                slot.request_start_us
                    .store(super::process::now_us(), Relaxed);
            }
        };
        if let Err(e) = body.spool(w.settings.post_buffering, &restart_harakiri) {
            spool_failed(w, peer, &e);
            spool_error = Some(e.http_error());
            body.client_fault = None; // counted and logged
        }
    }
    let (mut outcome, app_id) = match (selected, spool_error) {
        (Some(app), None) => (
            python::call_app(app, &w.pyctx, &vars, &mut body, &mut sink, core as u32),
            app.id() as i32,
        ),
        (_, Some(e)) => (answer_error(&mut sink, &e), -1),
        (None, None) => {
            eprintln!("--- no python application found, check your startup logs for errors ---");
            let e = http::HttpError::new(500, "no application");
            (answer_error(&mut sink, &e), -1)
        }
    };
    if let Some(fault) = body.client_fault {
        // The app read a body the client never finished: the client's error, whatever the
        // app made of it.
        let slot = w.scoreboard.worker(w.id);
        match fault {
            ClientFault::Timeout => &slot.body_client_timeouts,
            ClientFault::Aborted => &slot.body_client_aborts,
        }
        .fetch_add(1, Relaxed);
    }
    if sink.refused {
        // The request body was malformed or cut short: what went out is the 4xx, not the app's
        // answer.
        if let Some(e) = framing_error.and_then(|f| f.get()) {
            if spool_error.is_none() {
                w.log_rejected(peer, e.status, e.reason);
            }
        }
        outcome.status = sink.status;
    }
    let drained = outcome.finished && body.drain(1 << 20);
    let keep = drained && sink.reusable() && !outcome.io_error;
    slot.end();
    if outcome.io_error {
        slot.write_errors.fetch_add(1, Relaxed);
    }
    if body.broken {
        slot.read_errors.fetch_add(1, Relaxed);
    }
    w.finish_request(
        &LogInfo {
            core,
            app_id,
            vars: &vars,
            peer,
            method,
            uri,
            protocol,
            start,
            start_us,
            outcome: &outcome,
            headers_count: sink.headers_count,
            headers_bytes: sink.headers_bytes,
        },
        sink.tx,
    );
    keep
}

/// A server-made error response through the sink (HTTP or uwsgi framing), closing the
/// connection. With a framing refusal pending, the sink answers that instead.
fn answer_error(sink: &mut Sink, e: &http::HttpError) -> python::CallOutcome {
    let msg = if e.status == 500 {
        "Internal Server Error".to_string()
    } else {
        format!(
            "{} {}: {}\n",
            e.status,
            http::reason_phrase(e.status),
            e.reason
        )
    };
    let hdrs = [
        ("Content-Type".to_string(), "text/plain".to_string()),
        ("Content-Length".to_string(), msg.len().to_string()),
    ];
    sink.keep_alive = false;
    let status = format!("{} {}", e.status, http::reason_phrase(e.status));
    let ok = sink
        .start(&status, &hdrs)
        .and_then(|_| sink.body(msg.as_bytes(), true))
        .and_then(|_| sink.finish())
        .is_ok();
    python::CallOutcome {
        status: e.status,
        headers_sent: ok,
        body_bytes: msg.len() as u64,
        finished: ok,
        io_error: !ok,
        ..Default::default()
    }
}

/// Logs a body that could not be spooled, as the client's error or the server's, and counts
/// it apart (stats `body_errors`). Framing errors are logged as refusals by the caller.
fn spool_failed(w: &Shared, peer: &[u8], e: &SpoolError) {
    let slot = w.scoreboard.worker(w.id);
    let counter = match e {
        SpoolError::ClientTimeout { .. } => &slot.body_client_timeouts,
        SpoolError::ClientAborted { .. } | SpoolError::Framing(_) => &slot.body_client_aborts,
        SpoolError::Disk { .. } => &slot.body_spool_failures,
    };
    counter.fetch_add(1, Relaxed);
    if matches!(e, SpoolError::Framing(_)) {
        return;
    }
    let mut line = format!("[pid: {}|app: -1|req: -1/-1] ", w.pid).into_bytes();
    crate::log::sanitize::push_escaped(&mut line, peer);
    line.extend_from_slice(
        format!(
            " post-buffering {}: answering {}\n",
            e.describe(),
            e.http_error().status
        )
        .as_bytes(),
    );
    use std::io::Write;
    let _ = std::io::stderr().write_all(&line);
}

/// What the request log line needs beyond the worker's state.
pub struct LogInfo<'a> {
    pub core: usize,
    pub app_id: i32,
    pub vars: &'a [Var<'a>],
    pub peer: &'a [u8],
    pub method: &'a [u8],
    pub uri: &'a [u8],
    pub protocol: &'a [u8],
    pub start: Instant,
    pub start_us: u64,
    pub outcome: &'a python::CallOutcome,
    pub headers_count: usize,
    pub headers_bytes: usize,
}

impl LogInfo<'_> {
    /// The log formatter's record.
    pub fn record(&self, w: &Shared, app_requests: i64, total: u64) -> RequestRecord<'_> {
        let vars_bytes = self.vars.iter().map(|(k, v)| 4 + k.len() + v.len()).sum();
        let user = self
            .vars
            .iter()
            .find(|(k, _)| &k[..] == b"REMOTE_USER")
            .map(|(_, v)| &v[..])
            .unwrap_or(b"");
        let (rss, vsz) = if w.settings.memory_report {
            super::process::memory_of(w.pid as i32).unwrap_or((0, 0))
        } else {
            (0, 0)
        };
        RequestRecord {
            pid: w.pid,
            worker_id: w.id as u32,
            core: self.core as u32,
            app_id: self.app_id,
            app_requests,
            total_requests: total,
            remote_addr: self.peer,
            remote_user: user,
            vars_count: self.vars.len(),
            vars_bytes,
            start_unix_us: self.start_us,
            duration_us: self.start.elapsed().as_micros() as u64,
            method: self.method,
            uri: self.uri,
            protocol: if self.protocol.is_empty() {
                b"HTTP/1.0"
            } else {
                self.protocol
            },
            status: self.outcome.status,
            body_bytes: self.outcome.body_bytes,
            headers_count: self.headers_count,
            headers_bytes: self.headers_bytes,
            switches: self.outcome.switches,
            via: self.outcome.via_sendfile.then_some("sendfile"),
            vars: self.vars,
            rss,
            vsz,
            memory_report: w.settings.memory_report,
            logvars: &[],
        }
    }
}
