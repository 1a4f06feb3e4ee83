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

/// Bytes waiting in a socket's receive queue.
fn unread(fd: &impl std::os::fd::AsRawFd) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) };
    assert!(r == 0, "FIONREAD: {}", std::io::Error::last_os_error());
    n as usize
}

/// The peer closed its end (POLLHUP), whatever is still unread.
fn hung_up(fd: &impl std::os::fd::AsRawFd) -> bool {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: 0,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no wait.
    unsafe { libc::poll(&mut pfd, 1, 0) };
    pfd.revents & libc::POLLHUP != 0
}

/// Reads one Content-Length response from a keep-alive connection.
fn read_response(c: &mut impl Read) -> Vec<u8> {
    let mut resp = Vec::new();
    let mut b = [0u8; 1];
    while !resp.ends_with(b"\r\n\r\n") {
        assert_eq!(c.read(&mut b).unwrap(), 1, "EOF in a response head");
        resp.push(b[0]);
    }
    let head = String::from_utf8_lossy(&resp).to_ascii_lowercase();
    let len: usize = head
        .split("content-length: ")
        .nth(1)
        .and_then(|r| r.split("\r\n").next())
        .and_then(|n| n.parse().ok())
        .expect("a Content-Length");
    let mut body = vec![0u8; len];
    c.read_exact(&mut body).unwrap();
    resp.extend_from_slice(&body);
    resp
}

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

#[test]
fn the_idle_sweep_never_blocks_on_a_client_that_does_not_read() {
    use std::os::unix::net::UnixStream;
    use std::sync::atomic::{AtomicBool, Ordering};
    let s = Server::start(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nhttp-socket = {dir}/h.sock\nwsgi-file = {dir}/app.py\nprocesses = 1\nthreads = 2\nsocket-timeout = 3\ndie-on-term = true\n",
        &[(
            "app.py",
            "def application(e, sr):\n    body = b'x' * 2000\n    sr('200 OK', [('Content-Length', str(len(body)))])\n    return [body]\n",
        )],
    );
    let worker = s.workers(1)[0];
    let sock = s.path("h.sock");
    // How many responses the server's socket holds for a client that reads nothing: on a unix
    // socket each response is one buffer, written whole or not at all, so the count is the
    // same on every connection. The probe asks until a response cannot be written (its
    // thread then waits in poll(2)).
    let mut probe = UnixStream::connect(&sock).unwrap();
    probe
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    probe.write_all(REQUEST).unwrap();
    let resp_len = read_response(&mut probe).len();
    let mut fits = 0;
    loop {
        assert!(fits < 10_000, "the server never stopped taking responses");
        probe.write_all(REQUEST).unwrap();
        let want = (fits + 1) * resp_len;
        crate::util::wait_until(
            20,
            "the response, or the server waiting to write it",
            || unread(&probe) == want || crate::util::threads_in_poll(worker) > 0,
        );
        if unread(&probe) != want {
            break;
        }
        fits += 1;
    }
    assert!(fits > 0, "not even one response fits");
    drop(probe);
    crate::util::wait_until(20, "the probe's thread to give up", || {
        crate::util::threads_in_poll(worker) == 0
    });
    // The client that does not read: its server socket full, then the start of a head that
    // the sweep answers with a 408 after socket-timeout.
    let stalled = UnixStream::connect(&sock).unwrap();
    for i in 1..=fits {
        (&stalled).write_all(REQUEST).unwrap();
        crate::util::wait_until(20, "a response to the stalled client", || {
            unread(&stalled) == i * resp_len
        });
    }
    (&stalled)
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    // Meanwhile another client's requests: no worker thread may wait in poll(2) (the only
    // place rw waits for a peer) while they are answered, until the sweep has closed the
    // stalled client. Before the fix the sweep waited there, holding the leader lock, for up
    // to socket-timeout, and every thread of the worker waited behind it.
    let done = AtomicBool::new(false);
    let stall_seen = AtomicBool::new(false);
    let mut answered = 0;
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                if crate::util::threads_in_poll(worker) > 0 {
                    stall_seen.store(true, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        let mut other = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        other
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !hung_up(&stalled) {
            assert!(
                std::time::Instant::now() < deadline,
                "the sweep never closed the stalled client:\n{}",
                s.log_text()
            );
            other.write_all(REQUEST).unwrap();
            let resp = read_response(&mut other);
            assert!(resp.starts_with(b"HTTP/1.1 200"), "{resp:?}");
            answered += 1;
        }
        done.store(true, Ordering::Relaxed);
    });
    assert!(answered > 0);
    assert!(
        !stall_seen.load(Ordering::Relaxed),
        "a worker thread waited in poll(2) while another client was being served: the sweep \
         blocked writing its 408 to a client that does not read\n{}",
        s.log_text()
    );
    // The worker serves on.
    assert_eq!(get(s.port, "/").0, 200);
}
