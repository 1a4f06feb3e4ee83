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
    let s = server("processes = 1\nthreads = 1\nsocket-timeout = 3\npost-buffering = 65536");
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
        normal < Duration::from_millis(2500),
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
