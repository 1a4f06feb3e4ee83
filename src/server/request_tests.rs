//! The request path in-process: a request [`Context`] over a real Python app, connections over
//! a socketpair whose other end is the test, served by [`serve`] as a worker thread serves
//! them, and the [`Verdict`] it returns checked as the worker would act on it; request bodies
//! read straight over a socketpair too.

use super::serve;
use crate::config::{self, Severity, Sources};
use crate::net::listen::Proto;
use crate::net::socket::{self, Socket};
use crate::python;
use crate::server::body_wait::BodyLimits;
use crate::server::conn::{Conn, Expiry, Origin};
use crate::server::context::{Context, ContextEnv, Recycle, Verdict};
use crate::server::settings::Settings;

const NO_LIMITS: BodyLimits = BodyLimits {
    total: None,
    min_rate: 0,
    grace: Duration::ZERO,
};
use crate::server::stop::Stop;
use crate::stats::scoreboard::Scoreboard;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::OnceLock;
use std::time::Duration;

const APP: &str = r#"
def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/echo':
        body = environ['wsgi.input'].read()
    elif path == '/env':
        body = ' '.join(environ.get(k, '-') for k in ('REQUEST_METHOD', 'PATH_INFO', 'SERVER_PORT', 'REMOTE_ADDR', 'UWSGI_FILE')).encode()
    else:
        body = b'hello'
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
"#;

fn app() -> &'static python::App {
    static APP_: OnceLock<python::App> = OnceLock::new();
    APP_.get_or_init(|| {
        python::tests::init();
        let dir = Box::leak(Box::new(tempfile::tempdir().unwrap()));
        let path = dir.path().join("request_tests_app.py");
        std::fs::write(&path, APP).unwrap();
        python::load_app(&python::AppSpec {
            source: python::AppSource::File { path },
            callable: "application".into(),
            mountpoint: String::new(),
        })
        .unwrap()
    })
}

/// A request context for one worker with one core, from `rw serve` options.
struct Rig {
    ctx: Context<'static>,
    stop: &'static Stop,
}

fn rig(options: &[(&str, &str)]) -> Rig {
    let mut args = vec![
        ("http-socket".to_string(), Some("127.0.0.1:0".to_string())),
        ("disable-logging".to_string(), Some("true".to_string())),
    ];
    args.extend(
        options
            .iter()
            .map(|(k, v)| (k.to_string(), Some(v.to_string()))),
    );
    let loaded = config::load(&Sources { env: vec![], args }, &crate::sys::host::facts());
    for d in &loaded.diagnostics {
        assert!(d.severity != Severity::Error, "{d}");
    }
    let cwd = std::env::current_dir().unwrap();
    let settings: &'static Settings =
        Box::leak(Box::new(Settings::from_config(&loaded.config, &cwd)));
    let scoreboard = Box::leak(Box::new(Scoreboard::new(1, 1).unwrap()));
    let stop: &'static Stop = Box::leak(Box::new(Stop::new()));
    let ctx = Context::new(ContextEnv {
        settings,
        worker_id: 1,
        scoreboard,
        apps: vec![app()],
        listener_ports: vec![b"8080".to_vec()],
        stop,
    })
    .unwrap();
    Rig { ctx, stop }
}

/// A connection as the worker would accept it, and the client's end.
fn pair(rig: &Rig, proto: Proto, timeout: Duration, hook: socket::WaitHook) -> (Conn, UnixStream) {
    let (server, client) = UnixStream::pair().unwrap();
    server.set_nonblocking(true).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let sock = Socket::new(server.into(), timeout, hook);
    let origin = Origin {
        proto,
        listener: 0,
        peer_addr: b"10.1.2.3".to_vec(),
        peer_port: b"5000".to_vec(),
        proxy_protocol: false,
    };
    (Conn::new(sock, origin, rig.ctx.take_buf()), client)
}

fn http(rig: &Rig) -> (Conn, UnixStream) {
    pair(rig, Proto::Http, Duration::from_secs(20), socket::no_hook)
}

/// One Content-Length response: (head, body).
fn response(c: &mut UnixStream) -> (String, Vec<u8>) {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(c.read(&mut b).unwrap(), 1, "EOF in {head:?}");
        head.push(b[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let len: usize = head
        .to_ascii_lowercase()
        .split("content-length: ")
        .nth(1)
        .and_then(|r| r.split("\r\n").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no Content-Length in {head:?}"));
    let mut body = vec![0u8; len];
    c.read_exact(&mut body).unwrap();
    (head, body)
}

/// Nothing more comes from the server (it closed its end).
fn at_eof(c: &mut UnixStream) -> bool {
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).unwrap();
    rest.is_empty()
}

fn nothing_to_read(c: &UnixStream) -> bool {
    c.set_nonblocking(true).unwrap();
    let r = (&*c).read(&mut [0u8; 1]);
    c.set_nonblocking(false).unwrap();
    matches!(r, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

#[test]
fn keep_alive_requests_are_answered_and_the_connection_parked() {
    let rig = rig(&[]);
    let (mut conn, mut client) = http(&rig);
    for _ in 0..2 {
        client
            .write_all(b"GET /env HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        assert_eq!(serve(&mut conn, &rig.ctx, 0), Verdict::Keep);
        let (head, body) = response(&mut client);
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(!head.contains("Connection: close"), "{head}");
        assert_eq!(body, b"GET /env 8080 10.1.2.3 -");
        assert!(!conn.buf().has_pending());
    }
    assert!(nothing_to_read(&client));
    assert_eq!(rig.ctx.core(0).in_request.load(Relaxed), 0);
}

#[test]
fn pipelined_requests_in_one_read_are_served_back_to_back() {
    let rig = rig(&[]);
    let (mut conn, mut client) = http(&rig);
    let one = b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
    client.write_all(&one.repeat(3)).unwrap();
    assert_eq!(serve(&mut conn, &rig.ctx, 0), Verdict::Keep);
    for _ in 0..3 {
        assert_eq!(response(&mut client).1, b"hello");
    }
    assert!(nothing_to_read(&client));
}

#[test]
fn a_split_head_is_parked_with_its_deadline_then_served() {
    let rig = rig(&[]);
    let (mut conn, mut client) = http(&rig);
    client.write_all(b"GET /hello HTTP/1.1\r\nHo").unwrap();
    assert_eq!(serve(&mut conn, &rig.ctx, 0), Verdict::Keep);
    assert!(nothing_to_read(&client));
    assert_eq!(conn.buf().pending(), b"GET /hello HTTP/1.1\r\nHo");
    assert_eq!(
        conn.expiry(None, Duration::from_secs(1), &NO_LIMITS),
        Expiry::Alive
    );
    client.write_all(b"st: x\r\n\r\n").unwrap();
    assert_eq!(serve(&mut conn, &rig.ctx, 0), Verdict::Keep);
    assert_eq!(response(&mut client).1, b"hello");
}

#[test]
fn an_expired_head_gets_a_408_without_waiting_for_the_client() {
    let rig = rig(&[]);
    let (mut conn, mut client) = pair(&rig, Proto::Http, Duration::ZERO, socket::no_hook);
    client.write_all(b"GET /hello HTTP/1.1\r\n").unwrap();
    assert_eq!(serve(&mut conn, &rig.ctx, 0), Verdict::Keep);
    assert_eq!(
        conn.expiry(None, Duration::from_secs(1), &NO_LIMITS),
        Expiry::TimedOut
    );
    conn.expire(Expiry::TimedOut, &rig.ctx.rejections);
    rig.ctx.recycle_buf(conn.close());
    let mut resp = Vec::new();
    client.read_to_end(&mut resp).unwrap();
    assert!(resp.starts_with(b"HTTP/1.1 408"), "{resp:?}");
}

#[test]
fn an_idle_connection_of_a_stopping_worker_expires_after_the_grace() {
    let rig = rig(&[]);
    let (mut conn, _client) = http(&rig);
    conn.park();
    let grace = Duration::from_secs(1);
    assert_eq!(conn.expiry(None, grace, &NO_LIMITS), Expiry::Alive);
    assert_eq!(
        conn.expiry(Some(Duration::from_secs(5)), grace, &NO_LIMITS),
        Expiry::Alive
    );
    assert_eq!(
        conn.expiry(Some(Duration::ZERO), Duration::ZERO, &NO_LIMITS),
        Expiry::StopGrace
    );
}

#[test]
fn bodies_of_every_framing_reach_the_app() {
    let rig = rig(&[]);
    let (mut conn, mut client) = http(&rig);
    client
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nabcde")
        .unwrap();
    assert_eq!(serve(&mut conn, &rig.ctx, 0), Verdict::Keep);
    assert_eq!(response(&mut client).1, b"abcde");
    client
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
        .unwrap();
    assert_eq!(serve(&mut conn, &rig.ctx, 0), Verdict::Keep);
    assert_eq!(response(&mut client).1, b"abcde");
    // A pipelined request right after a body is the next request, not body bytes.
    client
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nxyGET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(serve(&mut conn, &rig.ctx, 0), Verdict::Keep);
    assert_eq!(response(&mut client).1, b"xy");
    assert_eq!(response(&mut client).1, b"hello");
}

/// Set by [`flag_wait`] when a request thread starts waiting for its peer.
static WAITING: AtomicBool = AtomicBool::new(false);

fn flag_wait(wait: &mut dyn FnMut()) {
    WAITING.store(true, Relaxed);
    wait()
}

#[test]
fn a_body_that_comes_later_is_waited_for_through_the_hook() {
    let rig = rig(&[]);
    let (mut conn, mut client) = pair(&rig, Proto::Http, Duration::from_secs(20), flag_wait);
    client
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nab")
        .unwrap();
    let mut writer = client.try_clone().unwrap();
    std::thread::scope(|s| {
        s.spawn(move || {
            // Only once the server waits for it: the rest arrives during the wait.
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            while !WAITING.load(Relaxed) {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the server never waited"
                );
                std::thread::yield_now();
            }
            writer.write_all(b"cd\r\n0\r\n\r\n").unwrap();
        });
        assert_eq!(serve(&mut conn, &rig.ctx, 0), Verdict::Keep);
    });
    assert_eq!(response(&mut client).1, b"abcd");
}

#[test]
fn a_malformed_head_gets_400_and_the_connection_closes() {
    let rig = rig(&[]);
    let (mut conn, mut client) = http(&rig);
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\nGET /hello HTTP/1.1\r\n\r\n")
        .unwrap();
    assert_eq!(serve(&mut conn, &rig.ctx, 0), Verdict::Close);
    rig.ctx.recycle_buf(conn.close());
    let (head, _) = response(&mut client);
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    assert!(at_eof(&mut client), "the pipelined request was answered");
}

#[test]
fn connection_close_and_a_stopping_worker_end_the_connection() {
    let rig = rig(&[]);
    let (mut conn, mut client) = http(&rig);
    client
        .write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert_eq!(serve(&mut conn, &rig.ctx, 0), Verdict::Close);
    assert_eq!(response(&mut client).1, b"hello");

    let (mut conn, mut client) = http(&rig);
    assert!(rig.stop.begin());
    client
        .write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(serve(&mut conn, &rig.ctx, 0), Verdict::Close);
    let (head, body) = response(&mut client);
    assert!(head.contains("Connection: close"), "{head}");
    assert_eq!(body, b"hello");
}

#[test]
fn the_request_that_reaches_max_requests_recycles_the_worker() {
    let rig = rig(&[("max-requests", "2"), ("min-worker-lifetime", "0")]);
    let (mut conn, mut client) = http(&rig);
    client
        .write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(serve(&mut conn, &rig.ctx, 0), Verdict::Keep);
    response(&mut client);
    client
        .write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(
        serve(&mut conn, &rig.ctx, 0),
        Verdict::Recycle {
            keep: false,
            why: Recycle::MaxRequests
        }
    );
    let (head, _) = response(&mut client);
    assert!(
        head.contains("Connection: close"),
        "the last response promised more: {head}"
    );
}

/// A uwsgi packet (modifier1 0) with `vars`.
fn uwsgi_packet(vars: &[(&str, &str)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (k, v) in vars {
        for s in [k, v] {
            body.extend_from_slice(&(s.len() as u16).to_le_bytes());
            body.extend_from_slice(s.as_bytes());
        }
    }
    let mut p = vec![0u8];
    p.extend_from_slice(&(body.len() as u16).to_le_bytes());
    p.push(0);
    p.extend_from_slice(&body);
    p
}

#[test]
fn a_uwsgi_packet_is_answered_in_raw_http_without_its_code_loading_vars() {
    let rig = rig(&[]);
    let (mut conn, mut client) = pair(&rig, Proto::Uwsgi, Duration::from_secs(20), socket::no_hook);
    let packet = uwsgi_packet(&[
        ("REQUEST_METHOD", "GET"),
        ("REQUEST_URI", "/env"),
        ("PATH_INFO", "/env"),
        ("SERVER_PROTOCOL", "HTTP/1.0"),
        ("SERVER_PORT", "80"),
        ("REMOTE_ADDR", "192.0.2.9"),
        ("UWSGI_FILE", "/tmp/evil.py"),
    ]);
    // In two writes: the packet is parsed once whole.
    let (a, b) = packet.split_at(7);
    client.write_all(a).unwrap();
    assert_eq!(serve(&mut conn, &rig.ctx, 0), Verdict::Keep);
    client.write_all(b).unwrap();
    assert_eq!(serve(&mut conn, &rig.ctx, 0), Verdict::Close);
    rig.ctx.recycle_buf(conn.close());
    let (head, body) = response(&mut client);
    assert!(head.starts_with("HTTP/1.0 200 OK\r\n"), "{head}");
    assert_eq!(body, b"GET /env 80 192.0.2.9 -");
    assert!(at_eof(&mut client));
}

#[test]
fn a_panic_in_the_app_call_is_a_500_and_the_core_is_free_again() {
    let mut rig = rig(&[]);
    rig.ctx.panic_path = Some(b"/boom".to_vec());
    let (mut conn, mut client) = http(&rig);
    client
        .write_all(b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(serve(&mut conn, &rig.ctx, 0), Verdict::Close);
    let (head, _) = response(&mut client);
    assert!(head.starts_with("HTTP/1.1 500"), "{head}");
    assert_eq!(rig.ctx.core(0).in_request.load(Relaxed), 0);
    // The same thread serves the next connection.
    let (mut conn, mut client) = http(&rig);
    client
        .write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(serve(&mut conn, &rig.ctx, 0), Verdict::Keep);
    assert_eq!(response(&mut client).1, b"hello");
}

/// A body reader over the server end of a socketpair, `pending` already read with the head.
fn body_pair(pending: &[u8]) -> (Socket, crate::server::conn::ReadBuf, UnixStream) {
    let (server, client) = UnixStream::pair().unwrap();
    server.set_nonblocking(true).unwrap();
    let sock = Socket::new(server.into(), Duration::from_secs(20), socket::no_hook);
    let mut buf = crate::server::conn::ReadBuf::default();
    buf.extend(pending);
    (sock, buf, client)
}

fn read_all(body: &mut dyn python::BodySource) -> (Vec<u8>, Option<std::io::Error>) {
    let mut out = Vec::new();
    let mut chunk = [0u8; 4];
    loop {
        match body.read(&mut chunk) {
            Ok(0) => return (out, None),
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(e) => return (out, Some(e)),
        }
    }
}

#[test]
fn a_body_cut_short_is_the_clients_fault_and_breaks_the_connection() {
    use crate::server::body::{Body, ClientFault};
    let (sock, mut buf, mut client) = body_pair(b"abc");
    client.write_all(b"de").unwrap();
    drop(client);
    let mut body = Body::length(&sock, &mut buf, 10, false);
    let (got, err) = read_all(&mut body);
    assert_eq!(got, b"abcde");
    assert!(err.is_some());
    assert_eq!(body.client_fault, Some(ClientFault::Aborted));
    assert!(body.broken);
}

#[test]
fn a_bad_chunk_is_reported_to_the_framing_slot_and_what_follows_a_body_stays() {
    use crate::server::body::{Body, FramingError};
    let (sock, mut buf, _client) = body_pair(b"zz\r\nabc");
    let slot = FramingError::new();
    let mut body = Body::chunked(&sock, &mut buf, None, false).report_framing_errors(&slot);
    let (_, err) = read_all(&mut body);
    assert_eq!(err.unwrap().kind(), std::io::ErrorKind::InvalidData);
    assert_eq!(slot.get().map(|e| e.status), Some(400));
    // A well-framed body ends where it ends: the next request's bytes stay buffered.
    let (sock, mut buf, _client) = body_pair(b"2\r\nhi\r\n0\r\n\r\nGET /");
    let mut body = Body::chunked(&sock, &mut buf, None, false);
    let (got, err) = read_all(&mut body);
    assert_eq!(got, b"hi");
    assert!(err.is_none(), "{err:?}");
    drop(body);
    assert_eq!(buf.pending(), b"GET /");
}

#[test]
fn post_buffering_spools_the_body_before_the_app_reads_it() {
    use crate::server::body::Body;
    let (sock, mut buf, mut client) = body_pair(b"0123");
    client.write_all(b"456789").unwrap();
    let mut body = Body::length(&sock, &mut buf, 10, false);
    assert_eq!(body.spool(1 << 20, &|| {}).unwrap(), 10);
    drop(client); // spooled: nothing more is read from the socket
    let (got, err) = read_all(&mut body);
    assert_eq!(got, b"0123456789");
    assert!(err.is_none());
}

#[test]
fn a_body_below_post_buffering_is_awaited_parked_a_byte_at_a_time() {
    let rig = rig(&[("post-buffering", "4096")]);
    let (mut conn, mut client) = http(&rig);
    client
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n")
        .unwrap();
    assert_eq!(serve(&mut conn, &rig.ctx, 0), Verdict::Keep);
    for b in b"abcd" {
        client.write_all(&[*b]).unwrap();
        assert_eq!(serve(&mut conn, &rig.ctx, 0), Verdict::Keep);
        assert!(nothing_to_read(&client), "answered before the body was in");
    }
    client.write_all(b"e").unwrap();
    assert_eq!(serve(&mut conn, &rig.ctx, 0), Verdict::Keep);
    assert_eq!(response(&mut client).1, b"abcde");
    // Chunked: decoded as it arrives, served on its last byte.
    client
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    let body = b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    for (i, b) in body.iter().enumerate() {
        client.write_all(&[*b]).unwrap();
        assert_eq!(serve(&mut conn, &rig.ctx, 0), Verdict::Keep);
        if i + 1 < body.len() {
            assert!(nothing_to_read(&client), "answered after {} bytes", i + 1);
        }
    }
    assert_eq!(response(&mut client).1, b"abcde");
}
