//! Slow request bodies (issue 17 item 3): `socket-timeout` is per read, so a client sending
//! two bytes a second used to keep its thread for ever. Every body now has a total deadline
//! (`rw-body-timeout`) and a minimum rate after a grace (`rw-body-min-rate`), answered 408;
//! bodies below `post-buffering` are awaited while the connection is parked, as heads are.

use crate::util::{wait_until, Server};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const APP: &str = r#"
import os

def application(environ, start_response):
    if environ['PATH_INFO'] == '/upload':
        # Marks that a thread is in the app for this body, then reads it all.
        open('{dir}/in-%d-%d' % (os.getpid(), id(environ)), 'w').close()
        body = environ['wsgi.input'].read()
    elif environ['PATH_INFO'] == '/echo':
        body = environ['wsgi.input'].read()
    else:
        body = b'fast'
    start_response('200 OK', [('Content-Length', str(len(body)))])
    return [body]
"#;

fn server(extra: &str) -> Server {
    let ini = format!(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{{port}}\nwsgi-file = {{dir}}/app.py\ndie-on-term = true\n{extra}\n"
    );
    Server::start(&ini, &[("app.py", APP)])
}

/// A client that sends a head, then its body one byte every `every` until the server answers
/// (or `stop` is set); reports what it got and when.
struct Trickler {
    thread: JoinHandle<(Vec<u8>, Duration)>,
}

impl Trickler {
    fn start(port: u16, head: String, every: Duration, stop: Arc<AtomicBool>) -> Trickler {
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.write_all(head.as_bytes()).unwrap();
        c.set_read_timeout(Some(every)).unwrap();
        let started = Instant::now();
        let thread = std::thread::spawn(move || {
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while !stop.load(Relaxed) && started.elapsed() < Duration::from_secs(60) {
                if got.is_empty() && c.write_all(b"x").is_err() {
                    break;
                }
                match c.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        got.extend_from_slice(&buf[..n]);
                        if got.windows(4).any(|w| w == b"\r\n\r\n") {
                            break;
                        }
                    }
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(_) => break,
                }
            }
            (got, started.elapsed())
        });
        Trickler { thread }
    }

    fn answer(self) -> (String, Duration) {
        let (got, took) = self.thread.join().unwrap();
        (String::from_utf8_lossy(&got).into_owned(), took)
    }
}

fn upload_head(path: &str, len: usize) -> String {
    format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len}\r\n\r\n")
}

fn entered(s: &Server) -> usize {
    std::fs::read_dir(s.dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("in-"))
        .count()
}

/// Four clients sending 2 bytes a second of a 1 MB body hold all four threads of a 2 × 2
/// server (checked: all four are in the app). A normal request is still served once the
/// minimum rate's grace (socket-timeout, 3 s) is over, and the slow ones get a 408 naming
/// the limit — before, they held the threads for as long as they kept trickling.
#[test]
fn slow_bodies_get_408_by_the_minimum_rate_and_free_their_threads() {
    let s = server("processes = 2\nthreads = 2\nsocket-timeout = 3");
    s.workers(2);
    let stop = Arc::new(AtomicBool::new(false));
    let slow: Vec<Trickler> = (0..4)
        .map(|_| {
            let head = upload_head("/upload", 1 << 20);
            Trickler::start(s.port, head, Duration::from_millis(500), stop.clone())
        })
        .collect();
    wait_until(20, "four slow bodies in the app", || entered(&s) == 4);
    let t = Instant::now();
    let (status, body) = s.get("/");
    let normal = t.elapsed();
    stop.store(true, Relaxed);
    assert_eq!((status, body.as_slice()), (200, &b"fast"[..]));
    assert!(
        normal < Duration::from_secs(10),
        "the normal request took {normal:?}:\n{}",
        s.log_text()
    );
    for c in slow {
        let (answer, took) = c.answer();
        assert!(
            answer.starts_with("HTTP/1.1 408"),
            "after {took:?}: {answer:?}\n{}",
            s.log_text()
        );
        assert!(answer.contains("rw-body-min-rate"), "{answer}");
        assert!(took < Duration::from_secs(15), "408 after {took:?}");
    }
    s.wait_log(
        "rejected: 408 (request body slower than rw-body-min-rate)",
        10,
    );
    eprintln!("normal request served in {normal:?} with four slow bodies");
}

/// The total deadline holds even at a rate the minimum-rate rule would allow.
#[test]
fn a_body_gets_408_at_rw_body_timeout() {
    let s = server("socket-timeout = 3\nrw-body-timeout = 3\nrw-body-min-rate = 0");
    let stop = Arc::new(AtomicBool::new(false));
    let c = Trickler::start(
        s.port,
        upload_head("/upload", 1000),
        Duration::from_millis(200),
        stop,
    );
    let (answer, took) = c.answer();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(answer.contains("rw-body-timeout"), "{answer}");
    assert!(
        took >= Duration::from_millis(2900) && took < Duration::from_secs(10),
        "408 after {took:?} (rw-body-timeout 3 s)"
    );
    s.wait_log(
        "rejected: 408 (request body not received within rw-body-timeout)",
        10,
    );
}

/// Bodies below post-buffering are awaited parked: eight tricklers on one worker with one
/// thread hold no thread (a normal request is served while they trickle, and none of them
/// reached the app), and they get their 408 from the sweep.
#[test]
fn small_slow_bodies_wait_parked_and_hold_no_thread() {
    let sport = crate::util::free_port();
    let s = server(&format!(
        "processes = 1\nthreads = 1\nsocket-timeout = 6\npost-buffering = 65536\n\
         stats = 127.0.0.1:{sport}\nstats-http = true"
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let slow: Vec<Trickler> = (0..8)
        .map(|_| {
            let head = upload_head("/upload", 1000);
            Trickler::start(s.port, head, Duration::from_millis(500), stop.clone())
        })
        .collect();
    // Their heads went out before the normal request connects: the worker accepts and
    // reads them first (one worker: the kernel's queue is first in, first out).
    let t = Instant::now();
    let (status, body) = s.get("/");
    let normal = t.elapsed();
    assert_eq!((status, body.as_slice()), (200, &b"fast"[..]));
    assert!(
        // Well before the rate's grace (6 s), which would free a thread held by a body.
        normal < Duration::from_secs(4),
        "the normal request waited {normal:?} behind parked bodies:\n{}",
        s.log_text()
    );
    for c in slow {
        let (answer, took) = c.answer();
        assert!(
            answer.starts_with("HTTP/1.1 408"),
            "after {took:?}: {answer:?}"
        );
        assert!(answer.contains("rw-body-min-rate"), "{answer}");
    }
    assert_eq!(entered(&s), 0, "a slow body reached the app");
    s.wait_log(
        "rejected: 408 (request body slower than rw-body-min-rate)",
        10,
    );
    // Counted as the client's body errors, as a thread's 408s are.
    let timeouts = || {
        let (status, json) = crate::util::split_response(&crate::util::raw_request(
            sport,
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        ));
        assert_eq!(status, 200);
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        v["workers"][0]["body_errors"]["client_timeout"].clone()
    };
    wait_until(10, "8 client timeouts in the stats", || timeouts() == 8);
}

/// A body awaited parked is served whole once it arrives, and `Expect: 100-continue` gets
/// its go-ahead while the connection is parked.
#[test]
fn parked_bodies_are_served_whole_with_100_continue() {
    let s = server("processes = 1\nthreads = 1\npost-buffering = 65536");
    let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = c.read(&mut buf).unwrap();
        assert!(n > 0, "closed: {got:?}");
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, b"HTTP/1.1 100 Continue\r\n\r\n");
    c.write_all(b"01234").unwrap();
    // The rest later, in another read: the connection waits parked in between.
    wait_until(10, "the worker to park the connection", || {
        crate::util::threads_in_poll(s.worker_pids()[0]) == 0
    });
    c.write_all(b"56789").unwrap();
    got.clear();
    while !got.ends_with(b"0123456789") {
        let n = c.read(&mut buf).unwrap();
        assert!(n > 0, "closed: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    assert!(got.starts_with(b"HTTP/1.1 200"), "{got:?}");
}

// ---------------------------------------------------------------------------------------
// Chunked request bodies reach every framework (issue 17 item 11)
// ---------------------------------------------------------------------------------------

/// What each app answers for a body: its length and digest as the framework read it, and the
/// CONTENT_LENGTH / HTTP_TRANSFER_ENCODING it was given.
const REPORT: &str = r#"
import hashlib

def report(body, environ):
    return '%d %s cl=%s te=%s' % (len(body), hashlib.sha256(body).hexdigest(),
                                  environ.get('CONTENT_LENGTH'),
                                  environ.get('HTTP_TRANSFER_ENCODING'))
"#;

const FRAMEWORK_APPS: &[(&str, &str)] = &[
    (
        "flask",
        r#"
from report import report
from flask import Flask, request
app = Flask(__name__)

@app.post('/echo')
def echo():
    return report(request.get_data(), request.environ)

application = app
"#,
    ),
    (
        "django",
        r#"
from report import report
from django.conf import settings
settings.configure(DEBUG=False, ALLOWED_HOSTS=['*'], ROOT_URLCONF=__name__, SECRET_KEY='t',
                   DATA_UPLOAD_MAX_MEMORY_SIZE=None)
from django.http import HttpResponse
from django.urls import path

def echo(request):
    return HttpResponse(report(request.body, request.META))

urlpatterns = [path('echo', echo)]
from django.core.wsgi import get_wsgi_application
application = get_wsgi_application()
"#,
    ),
    (
        "falcon",
        r#"
from report import report
import falcon

class Echo:
    def on_post(self, req, resp):
        resp.text = report(req.bounded_stream.read(), req.env)

application = falcon.App()
application.add_route('/echo', Echo())
"#,
    ),
    (
        "bottle",
        r#"
from report import report
import bottle

@bottle.post('/echo')
def echo():
    return report(bottle.request.body.read(), bottle.request.environ)

application = bottle.default_app()
"#,
    ),
    (
        "pyramid",
        r#"
from report import report
from pyramid.config import Configurator
from pyramid.response import Response

def echo(request):
    return Response(report(request.body, request.environ))

with Configurator() as config:
    config.add_route('echo', '/echo')
    config.add_view(echo, route_name='echo', request_method='POST')
    application = config.make_wsgi_app()
"#,
    ),
];

/// A framework's app from the test venv, one worker.
fn framework(name: &str, extra: &str) -> Server {
    let (_, code) = FRAMEWORK_APPS.iter().find(|(n, _)| *n == name).unwrap();
    let module = format!("{name}_app");
    let file = format!("{module}.py");
    let ini = format!(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{{port}}\nchdir = {{dir}}\nmodule = {module}:application\n\
         home = {{venv}}\nneed-app = true\ndie-on-term = true\n{extra}\n"
    );
    Server::start(&ini, &[(file.as_str(), code), ("report.py", REPORT)])
}

/// A deterministic body of `n` bytes.
fn blob(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// `body` chunked in pieces of varied sizes (1 byte up to 8 KiB).
fn chunked(path: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\
         Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    let mut rest = body;
    let mut i = 0usize;
    while !rest.is_empty() {
        let n = [1, 100, 8192, 4000, 17][i % 5].min(rest.len());
        r.extend_from_slice(format!("{n:x}\r\n").as_bytes());
        r.extend_from_slice(&rest[..n]);
        r.extend_from_slice(b"\r\n");
        rest = &rest[n..];
        i += 1;
    }
    r.extend_from_slice(b"0\r\n\r\n");
    r
}

/// (status, body) of a response, de-chunked when the app's answer was chunked (Django's).
fn answer(resp: &[u8]) -> (u16, Vec<u8>) {
    let (status, body) = crate::util::split_response(resp);
    let head_end = resp.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0);
    let head = String::from_utf8_lossy(&resp[..head_end]).to_ascii_lowercase();
    if !head.contains("transfer-encoding: chunked") {
        return (status, body);
    }
    let (mut rest, mut out) = (&body[..], Vec::new());
    loop {
        let eol = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size = usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap().trim(), 16)
            .expect("hex chunk size");
        if size == 0 {
            return (status, out);
        }
        out.extend_from_slice(&rest[eol + 2..eol + 2 + size]);
        rest = &rest[eol + 4 + size..];
    }
}

fn sha256_hex(b: &[u8]) -> String {
    let out = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(b)?;
            c.wait_with_output()
        })
        .expect("sha256sum runs");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// Flask, Django, Falcon, Bottle and Pyramid each read a chunked body whole, in memory
/// (100 KB) and spooled to a file (3 MiB), and see it as a body with CONTENT_LENGTH and no
/// HTTP_TRANSFER_ENCODING, as waitress presents it. On main Django and Falcon read 0 bytes
/// and Bottle answered 400 (it de-chunked the already de-chunked body).
#[test]
fn chunked_bodies_reach_every_framework_with_a_content_length() {
    for (name, _) in FRAMEWORK_APPS {
        let s = framework(name, "");
        for n in [100_000, 3 << 20] {
            let body = blob(n);
            let resp = s.raw(&chunked("/echo", &body));
            let (status, got) = answer(&resp);
            let got = String::from_utf8_lossy(&got);
            assert_eq!(
                (status, got.as_ref()),
                (
                    200,
                    format!("{n} {} cl={n} te=None", sha256_hex(&body)).as_str()
                ),
                "{name}, {n} bytes:\n{}",
                s.log_text()
            );
        }
    }
}

/// `rw-stream-chunked` keeps the streaming presentation: no CONTENT_LENGTH, the
/// Transfer-Encoding header, the body read to its end through wsgi.input_terminated (Flask
/// reads it so; Django then sees an empty body, which is why it is not the default).
#[test]
fn rw_stream_chunked_passes_chunked_bodies_as_they_arrive() {
    let s = framework("flask", "rw-stream-chunked = true");
    let body = blob(200_000);
    let (status, got) = answer(&s.raw(&chunked("/echo", &body)));
    assert_eq!(
        (status, String::from_utf8_lossy(&got).as_ref()),
        (
            200,
            format!("200000 {} cl=None te=chunked", sha256_hex(&body)).as_str()
        )
    );
    let d = framework("django", "rw-stream-chunked = true");
    let (status, got) = answer(&d.raw(&chunked("/echo", &body)));
    assert_eq!(status, 200);
    assert!(
        String::from_utf8_lossy(&got).starts_with("0 "),
        "Django reads no body without CONTENT_LENGTH: {got:?}"
    );
}

/// A chunked body over limit-post is refused with 413 before the app runs (read, not reset).
#[test]
fn a_chunked_body_over_limit_post_gets_413() {
    let s = framework("flask", "limit-post = 50000");
    let (status, _) = answer(&s.raw(&chunked("/echo", &blob(60_000))));
    assert_eq!(status, 413, "{}", s.log_text());
    let body = blob(50_000);
    let (status, got) = answer(&s.raw(&chunked("/echo", &body)));
    assert_eq!(status, 200);
    assert!(
        String::from_utf8_lossy(&got).starts_with("50000 "),
        "{got:?}"
    );
}
