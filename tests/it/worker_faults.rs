//! Faults that used to cost a worker more than one request (issue 15): a panic in a request
//! thread, and a client that does not read while the idle sweep answers it.

use crate::util::{raw_request, split_response, Server};
use std::io::{Read, Write};
use std::time::Duration;

/// `/pair` waits (bounded) until a second `/pair` is in the app too: both threads serve.
const PAIR_APP: &str = r#"
import threading
pair = threading.Barrier(2)

def application(environ, start_response):
    if environ['PATH_INFO'] == '/pair':
        try:
            pair.wait(timeout=20)
            body = b'paired'
        except threading.BrokenBarrierError:
            body = b'alone'
    else:
        body = b'hello'
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
"#;

fn get(port: u16, path: &str) -> (u16, Vec<u8>) {
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    split_response(&raw_request(port, req.as_bytes()))
}

#[test]
fn a_panic_in_a_request_thread_costs_that_request_not_the_thread() {
    // RW_DEBUG_PANIC_PATH: debug builds only (the tests run one), see server/context.rs.
    let s = Server::start_with(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {dir}/app.py\nprocesses = 1\nthreads = 2\ndie-on-term = true\n",
        &[("app.py", PAIR_APP)],
        &[("RW_DEBUG_PANIC_PATH", "/boom")],
    );
    let worker = s.workers(1)[0];
    // Before the app: nothing was sent, so a 500. More than once, so that both threads get one.
    for _ in 0..4 {
        let (status, _) = get(s.port, "/boom");
        assert_eq!(status, 500, "{}", s.log_text());
    }
    // After the app answered: the client has its whole response, then the connection closes
    // (read_to_end returns), although it asked for keep-alive.
    let mut c = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    c.write_all(b"GET /boom-late HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut resp = Vec::new();
    c.read_to_end(&mut resp).unwrap();
    assert_eq!(split_response(&resp), (200, b"hello".to_vec()));
    // Both threads still serve: two requests are in the app at once.
    let pair: Vec<_> = (0..2)
        .map(|_| {
            let port = s.port;
            std::thread::spawn(move || get(port, "/pair"))
        })
        .collect();
    for t in pair {
        assert_eq!(
            t.join().unwrap(),
            (200, b"paired".to_vec()),
            "a thread is gone:\n{}",
            s.log_text()
        );
    }
    assert_eq!(s.worker_pids(), vec![worker], "{}", s.log_text());
    let log = s.wait_log(
        "(GET /boom-late HTTP/1.1) panicked in the request thread",
        10,
    );
    assert!(
        log.contains("(GET /boom HTTP/1.1) panicked in the request thread: RW_DEBUG_PANIC_PATH asked for a panic; answered 500"),
        "{log}"
    );
    assert!(
        log.contains("connection closed (the response had begun)"),
        "{log}"
    );
    // The panicking requests are logged and counted like any other.
    assert!(log.contains("GET /boom => generated"), "{log}");
}
