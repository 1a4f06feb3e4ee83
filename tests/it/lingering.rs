//! Lingering close (issue 17 item 6): a 4xx sent while the client's input is still unread is
//! followed by a shutdown of our write side and a bounded drain, never by a close that makes
//! the kernel answer that input with a reset (which can destroy the response before the
//! client reads it).

use crate::util::{wait_until, Server};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const APP: &str = r#"
def application(environ, start_response):
    body = b'hello'
    start_response('200 OK', [('Content-Length', str(len(body)))])
    return [body]
"#;

fn server(extra: &str) -> Server {
    let ini = format!(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{{port}}\nwsgi-file = {{dir}}/app.py\n\
         processes = 1\nthreads = 2\ndie-on-term = true\n{extra}\n"
    );
    Server::start(&ini, &[("app.py", APP)])
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The connection was reset: what the server answered may be lost.
    Reset,
    /// The whole response and then end of stream.
    Answered(u16),
}

/// Sends `request` in one write, then reads the response to the end.
fn attempt(port: u16, request: &[u8]) -> Outcome {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    let wrote = s.write_all(request);
    let mut got = Vec::new();
    let read = s.read_to_end(&mut got);
    let reset = |e: &std::io::Error| {
        matches!(
            e.kind(),
            ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::ConnectionAborted
        )
    };
    match (wrote, read) {
        (Err(e), _) | (_, Err(e)) if reset(&e) => Outcome::Reset,
        (_, Err(e)) => panic!("reading the response: {e}"),
        (_, Ok(_)) => {
            let text = String::from_utf8_lossy(&got);
            let status = text
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("no status line in {text:?}"));
            Outcome::Answered(status)
        }
    }
}

/// Tries `request` `n` times; returns how many were reset, checking every other one got
/// `status`.
fn resets(port: u16, request: &[u8], status: u16, n: usize) -> usize {
    let mut resets = 0;
    for _ in 0..n {
        match attempt(port, request) {
            Outcome::Reset => resets += 1,
            Outcome::Answered(s) => assert_eq!(s, status, "answered, but not with {status}"),
        }
    }
    resets
}

fn oversized_head() -> Vec<u8> {
    let mut r = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    r.resize(r.len() + 256 * 1024, b'a');
    r
}

fn garbage() -> Vec<u8> {
    let mut r = b"\x16\x03\x01\x02\x00 not http at all\r\n\r\n".to_vec();
    r.extend(std::iter::repeat_n(b'z', 128 * 1024));
    r
}

#[test]
fn refusals_with_input_pending_are_read_not_reset() {
    let s = server("");
    let head = resets(s.port, &oversized_head(), 431, 20);
    let junk = resets(s.port, &garbage(), 400, 20);
    assert_eq!(
        (head, junk),
        (0, 0),
        "resets out of 20 (oversized head, garbage):\n{}",
        s.log_text()
    );
    assert_eq!(s.get("/").0, 200, "the worker serves on");
}

#[test]
fn a_body_refused_by_limit_post_is_drained_not_reset() {
    let s = server("limit-post = 1000");
    let mut req = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 300000\r\n\r\n".to_vec();
    req.resize(req.len() + 300_000, b'b');
    let n = resets(s.port, &req, 413, 20);
    assert_eq!(n, 0, "resets out of 20:\n{}", s.log_text());
}

/// The drain is bounded: a client that never stops sending is closed after the linger time,
/// and it holds no thread meanwhile (one worker, one thread, still serving others).
#[test]
fn a_client_that_keeps_sending_is_closed_after_the_linger_time_holding_no_thread() {
    let s = server("threads = 1");
    let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    c.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    c.write_all(b"\x00\x01garbage\r\n\r\n").unwrap();
    let started = Instant::now();
    let mut got = Vec::new();
    let mut closed = false;
    let mut buf = [0u8; 4096];
    let mut served_meanwhile = false;
    let mut eof = false;
    while started.elapsed() < Duration::from_secs(20) {
        // Keeps sending; once our side is shut down for good, the writes fail.
        if c.write_all(&[b'x'; 512]).is_err() {
            closed = true;
            break;
        }
        if !served_meanwhile && got.starts_with(b"HTTP/1.1 400") {
            let t = Instant::now();
            assert_eq!(s.get("/").0, 200);
            assert!(
                t.elapsed() < Duration::from_secs(2),
                "a lingering connection held the only thread for {:?}",
                t.elapsed()
            );
            served_meanwhile = true;
        }
        if eof {
            // Paced: about 10 KB/s, far below the byte allowance, so time is what ends it.
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        match c.read(&mut buf) {
            Ok(0) => eof = true, // the server shut its side after the 400; it still reads
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    let lingered = started.elapsed();
    assert!(got.starts_with(b"HTTP/1.1 400"), "{got:?}");
    assert!(served_meanwhile);
    assert!(closed, "still open after {lingered:?}");
    assert!(
        lingered >= Duration::from_secs(4) && lingered < Duration::from_secs(12),
        "closed after {lingered:?} (linger time 5 s)"
    );
    wait_until(10, "the worker to serve on", || s.get("/").0 == 200);
}

/// An app that answers without reading a large body: rw drains 1 MiB of it for keep-alive,
/// then closes; the rest of the body must be read and dropped, not reset.
#[test]
fn a_body_the_app_left_unread_is_drained_not_reset() {
    let s = server("");
    let mut req = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4000000\r\n\r\n".to_vec();
    req.resize(req.len() + 4_000_000, b'u');
    let n = resets(s.port, &req, 200, 20);
    assert_eq!(n, 0, "resets out of 20:\n{}", s.log_text());
}
