//! Serving requests on one connection: parse the head (HTTP or uwsgi), answer framing errors,
//! static files, or call the app, then account and log the request through the worker's
//! request [`Context`].

use super::body::{Body, ClientFault, FramingError, SpoolError};
use super::body_wait::{self, BodyLimits};
use super::conn::BodyEnd;
use super::conn::Conn;
use super::context::{Context, LogInfo, Meta, Verdict};
use super::sink::{self, Sink};
use super::static_files::Resolution;
use crate::net::listen::Proto;
use crate::net::socket::Socket;
use crate::proto::chunked::ChunkedDecoder;
use crate::proto::{http, uwsgi, Var};
use crate::python::{self, ResponseSink};
use std::borrow::Cow;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;

/// Serves every complete request buffered or readable now on `conn`. [`Verdict::Keep`]: park
/// it (nothing is buffered); [`Verdict::Recycle`]: the worker stops, then serves it on (what
/// is buffered, answered with `Connection: close`) if `keep`.
pub fn serve(conn: &mut Conn, ctx: &Context, core: usize) -> Verdict {
    let mut head = http::RequestHead::default();
    // Set once a request was answered. The requests of one read(2) are served back to back;
    // then the connection goes back to the poller, so a client that always has its next
    // request ready cannot keep other connections waiting.
    let mut served = false;
    loop {
        // Parking is only safe with nothing buffered (the poller sees the socket, not us).
        // After a response the client rarely has its next request out yet (it is reading
        // ours), so the poller is asked rather than a read(2) that would find nothing.
        if served && !conn.buf().has_pending() {
            conn.buf_mut().compact();
            return Verdict::Keep;
        }
        if conn.proxy_pending() && conn.buf().has_pending() {
            match proxy_step(conn, ctx) {
                Some(Step::NeedMore) => {}
                Some(_) => return Verdict::Close,
                None => continue,
            }
        }
        let body_incomplete = conn.body_incomplete(ctx.settings.post_buffering);
        if !conn.proxy_pending() && conn.buf().has_pending() && !body_incomplete {
            let sent = conn.sock().sent();
            // A panic must cost this request, not the thread (and with it a share of the
            // worker). One inside the app call is caught there, with its request line.
            let step = std::panic::catch_unwind(AssertUnwindSafe(|| match conn.proto() {
                Proto::Http => http_step(conn, ctx, core, &mut head),
                Proto::Uwsgi => uwsgi_step(conn, ctx, core),
            }))
            .unwrap_or_else(|payload| {
                let slot = ctx.core(core);
                if slot.in_request.load(Relaxed) != 0 {
                    slot.end();
                }
                let answer = conn.sock().sent() == sent;
                if answer {
                    let e = http::HttpError::new(500, "internal error");
                    let _ = conn.sock().write_all(&http::error_response(&e));
                }
                ctx.log_panic(conn.peer_addr(), None, &*payload, answer);
                Step::Done(Verdict::Close)
            });
            match step {
                Step::NeedMore => {}
                // Also when stopping: the response promised keep-alive, so what follows is
                // answered (with `Connection: close`), not dropped.
                Step::Done(Verdict::Keep) => {
                    conn.request_done();
                    served = true;
                    continue;
                }
                Step::Done(v @ Verdict::Recycle { .. }) => {
                    conn.request_done();
                    return v;
                }
                Step::Done(Verdict::Close) => return Verdict::Close,
            }
        }
        let want = ctx.read_size;
        // A body below post-buffering may wait in the buffer after its head.
        let bound = (want * 4)
            .saturating_add(usize::try_from(ctx.settings.post_buffering).unwrap_or(usize::MAX));
        if conn.buf().pending().len() >= bound {
            return Verdict::Close; // the parser would have answered already; defensive bound
        }
        conn.buf_mut().compact();
        let (sock, buf) = conn.io();
        let n = match buf.fill_now(sock, want) {
            Ok(Some(n)) => n,
            Ok(None) => {
                conn.waiting_for_more();
                return Verdict::Keep;
            }
            Err(_) => 0,
        };
        if n == 0 {
            if conn.proto() == Proto::Uwsgi && conn.buf().has_pending() {
                ctx.rejections.uwsgi(format_args!(
                    "uwsgi: the peer closed the connection after {} bytes of an incomplete packet (from {})",
                    conn.buf().pending().len(),
                    crate::log::sanitize::escaped(conn.peer_addr())
                ));
            }
            return Verdict::Close;
        }
    }
}

/// Reads the optional PROXY header at the start of a connection: `None` once it is consumed
/// (the peer address is now the client's) or absent; a malformed one is answered with 400.
fn proxy_step(conn: &mut Conn, ctx: &Context) -> Option<Step> {
    use crate::proto::proxy;
    match proxy::parse(conn.buf().pending()) {
        Ok(proxy::Parsed::Incomplete) => Some(Step::NeedMore),
        Ok(proxy::Parsed::NotProxy) => {
            conn.proxy_done(None);
            None
        }
        Ok(proxy::Parsed::Header { len, source }) => {
            conn.buf_mut().consume(len);
            conn.proxy_done(source);
            None
        }
        Err(e) => {
            let err = http::HttpError::new(400, "malformed PROXY protocol header");
            let _ = conn.sock().write_all(&http::error_response(&err));
            let detail = format!(": {e}");
            ctx.rejections
                .http(conn.peer_addr(), err.status, err.reason, &detail);
            Some(Step::Done(Verdict::Close))
        }
    }
}

enum Step {
    NeedMore,
    /// A request was answered (or refused).
    Done(Verdict),
}

/// Answers a request refused before the app: the error, then close without reading what
/// follows (waitress CVE-2024-49768).
fn refuse(sock: &Socket, peer: &[u8], ctx: &Context, e: &http::HttpError) -> Step {
    let _ = sock.write_all(&http::error_response(e));
    ctx.log_rejected(peer, e.status, e.reason);
    Step::Done(Verdict::Close)
}

fn http_step(conn: &mut Conn, ctx: &Context, core: usize, head: &mut http::RequestHead) -> Step {
    let consumed = match http::parse_head_into(conn.buf().pending(), &ctx.limits, head) {
        Ok(None) => return Step::NeedMore,
        Ok(Some(n)) => n,
        Err(e) => return refuse(conn.sock(), conn.peer_addr(), ctx, &e),
    };
    let limit_post = ctx.settings.limit_post;
    let limit = (limit_post > 0).then_some(limit_post);
    if let http::BodyFraming::Length(n) = head.framing {
        if limit_post > 0 && n > limit_post {
            conn.buf_mut().leave_input(); // the body is not read: linger before closing
            let e = http::HttpError::new(413, "body larger than limit-post");
            return refuse(conn.sock(), conn.peer_addr(), ctx, &e);
        }
    }
    // A body below post-buffering is awaited parked, as a head is: no thread waits for it.
    let buffered = &conn.buf().pending()[consumed..];
    match body_wait::ready(head.framing, buffered, ctx.settings.post_buffering, limit) {
        body_wait::Ready::Now => {}
        body_wait::Ready::Park => {
            let end = match head.framing {
                http::BodyFraming::Length(n) => {
                    BodyEnd::At(consumed.saturating_add(usize::try_from(n).unwrap_or(usize::MAX)))
                }
                _ => BodyEnd::chunked(limit),
            };
            conn.wait_for_body(consumed, end, head.expect_continue);
            return Step::NeedMore;
        }
        body_wait::Ready::Refuse(e) => return refuse(conn.sock(), conn.peer_addr(), ctx, &e),
    }
    let limits = BodyLimits::of(ctx.settings, conn.timeout());
    let continue_sent = conn.continue_sent();
    let start = Instant::now();
    let start_us = crate::sys::clock::unix_us();
    conn.buf_mut().consume(consumed);
    let last = ctx.begin_request();
    let listener = conn.listener();
    let parts = conn.parts();
    let meta = Meta {
        method: head.method(),
        uri: head.target(),
        raw_path: head.path(),
        protocol: head.server_protocol().as_bytes(),
        peer: parts.peer_addr,
        if_modified_since: head.header(b"if-modified-since"),
        accept_encoding: head.header(b"accept-encoding"),
        framing: sink::Request {
            minor: head.minor_version,
            is_head: head.method() == b"HEAD",
            // A stopping worker (or one about to stop) says `Connection: close` instead of
            // dropping the connection later.
            keep_alive: head.keep_alive && !ctx.stopping() && !last,
            raw_protocol: None,
        },
        start,
        start_us,
    };
    if let Some(v) = try_static(ctx, parts.sock, core, &meta) {
        return Step::Done(v);
    }
    if head.framing == http::BodyFraming::Chunked {
        // Chunk framing already buffered is checked before the app runs, so a request whose
        // body is known to be malformed never reaches it (later bytes: see `framing_error`).
        if let Err(e) = check_buffered_chunks(parts.buf.pending(), limit) {
            return refuse(parts.sock, parts.peer_addr, ctx, &e);
        }
    }
    let vars = http_vars(parts.peer_addr, parts.peer_port, listener, ctx, head);
    let send_continue = head.expect_continue && !continue_sent;
    let framing_error = FramingError::new();
    let (sock, buf) = (parts.sock, parts.buf);
    let body = match head.framing {
        http::BodyFraming::None => Body::empty(sock, buf),
        http::BodyFraming::Length(n) => Body::length(sock, buf, n, send_continue)
            .report_framing_errors(&framing_error)
            .limited(limits),
        http::BodyFraming::Chunked => Body::chunked(sock, buf, limit, send_continue)
            .report_framing_errors(&framing_error)
            .limited(limits),
    };
    Step::Done(run_app(
        ctx,
        core,
        sock,
        vars,
        body,
        &meta,
        Some(&framing_error),
    ))
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

fn uwsgi_step(conn: &mut Conn, ctx: &Context, core: usize) -> Step {
    // The vars borrow the packet's bytes while the body is read through the connection's
    // buffer: the head buffer moves out, and what follows the packet goes to a fresh one.
    let head = conn.replace_buf(Default::default());
    let parsed = uwsgi::parse_packet(head.pending(), ctx.settings.buffer_size);
    let (packet, consumed) = match parsed {
        Ok(Some(p)) => p,
        Ok(None) => {
            conn.replace_buf(head);
            return Step::NeedMore;
        }
        Err(e) => {
            ctx.rejections.uwsgi(format_args!(
                "uwsgi: {e} (from {})",
                crate::log::sanitize::escaped(conn.peer_addr())
            ));
            conn.replace_buf(head);
            return Step::Done(Verdict::Close);
        }
    };
    let mut rest = super::conn::ReadBuf::from_vec(ctx.take_buf());
    rest.extend(&head.pending()[consumed..]);
    conn.replace_buf(rest);
    let step = uwsgi_request(conn, ctx, core, packet);
    ctx.recycle_buf(head.into_vec());
    step
}

/// Serves the request of a parsed uwsgi packet, its body (if any) in the connection's buffer.
fn uwsgi_request(conn: &mut Conn, ctx: &Context, core: usize, packet: uwsgi::Packet<'_>) -> Step {
    if packet.modifier1 != 0 {
        ctx.rejections.uwsgi(format_args!(
            "-- unavailable modifier requested: {} -- (from {})",
            packet.modifier1,
            crate::log::sanitize::escaped(conn.peer_addr())
        ));
        return Step::Done(Verdict::Close);
    }
    let start = Instant::now();
    let start_us = crate::sys::clock::unix_us();
    let len = match uwsgi::content_length(&packet.vars) {
        Ok(n) => n,
        Err(e) => {
            ctx.rejections.uwsgi(format_args!(
                "uwsgi: {e} (from {})",
                crate::log::sanitize::escaped(conn.peer_addr())
            ));
            return Step::Done(Verdict::Close);
        }
    };
    if ctx.settings.limit_post > 0 && len > ctx.settings.limit_post {
        ctx.rejections.uwsgi(format_args!(
            "Invalid (too big) CONTENT_LENGTH. skip. (from {})",
            crate::log::sanitize::escaped(conn.peer_addr())
        ));
        return Step::Done(Verdict::Close);
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
    let mut vars: Vec<Var<'_>> = packet
        .vars
        .iter()
        .map(|&(k, v)| (Cow::Borrowed(k), Cow::Borrowed(v)))
        .collect();
    ctx.filter_magic_vars(&mut vars);
    ctx.begin_request(); // one request per connection: nothing to announce
    let meta = Meta {
        method,
        uri,
        raw_path: uri.split(|&b| b == b'?').next().unwrap_or(b""),
        protocol,
        peer: get(b"REMOTE_ADDR"),
        if_modified_since: packet.get(b"HTTP_IF_MODIFIED_SINCE"),
        accept_encoding: packet.get(b"HTTP_ACCEPT_ENCODING"),
        framing: sink::Request {
            minor: 1,
            is_head: method == b"HEAD",
            keep_alive: false,
            raw_protocol: Some(protocol),
        },
        start,
        start_us,
    };
    let limits = BodyLimits::of(ctx.settings, conn.timeout());
    let (sock, buf) = conn.io();
    if let Some(v) = try_static(ctx, sock, core, &meta) {
        return Step::Done(v);
    }
    let framing_error = FramingError::new();
    let body = Body::length(sock, buf, len, false)
        .report_framing_errors(&framing_error)
        .limited(limits);
    // One request per uwsgi connection (the response never keeps it); whatever follows the
    // body is discarded (uWSGI #2336).
    Step::Done(run_app(
        ctx,
        core,
        sock,
        vars,
        body,
        &meta,
        Some(&framing_error),
    ))
}

/// CGI vars for an HTTP request, as uWSGI's http-socket builds them (§2.2).
/// Values borrow the parsed head, the peer and the worker: no allocation per var but for
/// decoded paths and uncommon header names.
fn http_vars<'a>(
    peer_addr: &'a [u8],
    peer_port: &'a [u8],
    listener: usize,
    w: &'a Context,
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

/// Answers the request from the static map, if it is one of its files (or refused by it).
fn try_static(ctx: &Context, sock: &Socket, core: usize, meta: &Meta) -> Option<Verdict> {
    let w = ctx;
    if w.statics.is_empty() {
        return None;
    }
    let req = super::static_files::StaticRequest {
        method: meta.method,
        raw_path: meta.raw_path,
        uri: meta.uri,
        accept_encoding: meta.accept_encoding,
    };
    let (status, file) = match w.statics.resolve_request(&req) {
        Resolution::NotMine => return None,
        Resolution::Forbidden => ("403 Forbidden", None),
        Resolution::File(f) => {
            if super::static_files::not_modified(f.mtime_unix, meta.if_modified_since) {
                ("304 Not Modified", Some(f))
            } else {
                ("200 OK", Some(f))
            }
        }
    };
    let mut sink = Sink::new(sock, meta.framing, &w.settings.add_headers);
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
    Some(w.finish_request(
        &LogInfo {
            core,
            app_id: -1,
            vars: &[],
            meta,
            outcome: &outcome,
            headers_count: sink.headers_count,
            headers_bytes: sink.headers_bytes,
            read_error: false,
        },
        sink.tx,
        keep,
    ))
}

/// Calls the app and answers; the verdict says whether the connection may carry another
/// request.
fn run_app(
    w: &Context,
    core: usize,
    sock: &Socket,
    mut vars: Vec<Var<'_>>,
    mut body: Body,
    meta: &Meta,
    framing_error: Option<&FramingError>,
) -> Verdict {
    let (peer, start_us) = (meta.peer, meta.start_us);
    let slot = w.core(core);
    if w.settings.manage_script_name && !vars.iter().any(|(k, _)| &k[..] == b"SCRIPT_NAME") {
        vars.push((Cow::Borrowed(b"SCRIPT_NAME"), Cow::Borrowed(b"")));
    }
    let selected = w.select_app(&mut vars);
    slot.begin(start_us, if w.record_vars { &vars } else { &[] });
    let mut sink = Sink::new(sock, meta.framing, &w.settings.add_headers);
    if let Some(f) = framing_error {
        sink.refuse_on(f);
    }
    let mut spool_error = None;
    // A chunked body is read before the app by default, so the app sees CONTENT_LENGTH:
    // Django, Falcon and Bottle ignore wsgi.input_terminated (issue 17 item 11).
    let buffer_chunked = body.is_chunked() && !w.settings.stream_chunked;
    if w.settings.post_buffering > 0 || buffer_chunked {
        // As uWSGI, harakiri does not count the upload: each chunk received restarts it.
        let restart_harakiri = || {
            if w.settings.harakiri > 0 {
                slot.request_start_us
                    .store(crate::sys::clock::unix_us(), Relaxed);
            }
        };
        let threshold = match w.settings.post_buffering {
            0 => CHUNKED_IN_MEMORY,
            n => n,
        };
        match body.spool(threshold, &restart_harakiri) {
            Ok(len) if buffer_chunked => chunked_read(&mut vars, len),
            Ok(_) => {}
            Err(e) => {
                spool_failed(w, peer, &e);
                spool_error = Some(e.http_error());
                body.client_fault = None; // counted and logged
            }
        }
    }
    let (mut outcome, app_id) = match (selected, spool_error) {
        (Some(app), None) => {
            let called = std::panic::catch_unwind(AssertUnwindSafe(|| {
                w.debug_panic(meta.raw_path, false);
                let out = python::call_app(app, &w.pyctx, &vars, &mut body, &mut sink, core as u32);
                w.debug_panic(meta.raw_path, true);
                out
            }));
            let outcome = called.unwrap_or_else(|payload| {
                // Nothing of the response out yet: the client gets a 500 (on a fresh sink:
                // the app's may hold a head it never sent); else the connection closes.
                let answer = sink.tx == 0 && !sink.failed;
                w.log_panic(peer, Some(meta), &*payload, answer);
                if answer {
                    sink = Sink::new(sock, meta.framing, &w.settings.add_headers);
                    answer_error(&mut sink, &http::HttpError::new(500, "panic"))
                } else {
                    python::CallOutcome {
                        status: sink.status,
                        headers_sent: true,
                        body_bytes: sink.tx.saturating_sub(sink.headers_bytes as u64),
                        exception: true,
                        ..Default::default()
                    }
                }
            });
            (outcome, app.id() as i32)
        }
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
        let slot = w.worker_slot();
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
            meta,
            outcome: &outcome,
            headers_count: sink.headers_count,
            headers_bytes: sink.headers_bytes,
            read_error: body.broken,
        },
        sink.tx,
        keep,
    )
}

/// Chunked bodies read before the app (without post-buffering) stay in memory up to this
/// size, as waitress's 512 KiB `inbuf_overflow`; larger ones spool to a temp file.
const CHUNKED_IN_MEMORY: u64 = 1 << 20;

/// A chunked body was read whole (`len` bytes): the app sees it as a body of that length,
/// as waitress presents it, not as a chunked one it would try to decode again (Bottle).
fn chunked_read(vars: &mut Vec<Var<'_>>, len: u64) {
    let cl = (
        Cow::Borrowed(&b"CONTENT_LENGTH"[..]),
        Cow::Owned(len.to_string().into_bytes()),
    );
    match vars
        .iter()
        .position(|(k, _)| &k[..] == b"HTTP_TRANSFER_ENCODING")
    {
        Some(i) => vars[i] = cl,
        None => vars.push(cl),
    }
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
/// it apart (stats `body_errors`). Framing errors are logged as refusals.
fn spool_failed(w: &Context, peer: &[u8], e: &SpoolError) {
    let slot = w.worker_slot();
    let counter = match e {
        SpoolError::ClientTimeout { .. } => &slot.body_client_timeouts,
        SpoolError::ClientAborted { .. } | SpoolError::Framing(_) => &slot.body_client_aborts,
        SpoolError::Disk { .. } => &slot.body_spool_failures,
    };
    counter.fetch_add(1, Relaxed);
    if let SpoolError::Framing(f) = e {
        // A refusal like any malformed request (chunked bodies are read before the app now,
        // so this is where their framing errors show).
        w.log_rejected(peer, f.status, f.reason);
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
