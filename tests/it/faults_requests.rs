//! Faults around single requests (issue 16): post-buffering failures (full spool directory,
//! stalled and aborted uploads), harakiri that interrupts the stuck thread before it kills the
//! worker, and Python threads started in the master before the fork.

use crate::util::{free_port, raw_request, split_response, wait_until, Server};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

fn ini(extra: &str) -> String {
    format!("[uwsgi]\nhttp-socket = 127.0.0.1:{{port}}\nwsgi-file = {{dir}}/app.py\nprocesses = 1\ndie-on-term = true\n{extra}\n")
}

/// An app that starts a thread when it is imported, and answers with the threads alive.
const THREAD_AT_IMPORT_APP: &str = r#"
import threading, time

def poll():
    while True:
        time.sleep(0.05)

threading.Thread(target=poll, name="metrics-poller", daemon=True).start()

def application(environ, start_response):
    body = ",".join(sorted(t.name for t in threading.enumerate())).encode()
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
"#;

#[test]
fn a_thread_started_at_import_in_the_master_is_named_with_lazy_apps_as_the_fix() {
    let s = Server::start(&ini("processes = 2"), &[("app.py", THREAD_AT_IMPORT_APP)]);
    s.workers(2);
    let (status, body) = s.get("/");
    assert_eq!(status, 200);
    // The trap itself: the thread does not exist in the forked worker.
    let threads = String::from_utf8_lossy(&body).into_owned();
    assert!(!threads.contains("metrics-poller"), "{threads}");
    let log = s.wait_log("running in the master before fork", 10);
    let line = log
        .lines()
        .find(|l| l.contains("running in the master before fork"))
        .unwrap();
    assert!(line.contains("'metrics-poller' (daemon)"), "{line}");
    assert!(line.contains("lazy-apps = true"), "{line}");
    // Once for the instance, not once per worker.
    assert_eq!(log.matches("before fork").count(), 1, "{log}");

    // With lazy-apps the app (and its thread) starts in each worker: no warning, the thread runs.
    let s = Server::start(
        &ini("processes = 2\nlazy-apps = true"),
        &[("app.py", THREAD_AT_IMPORT_APP)],
    );
    s.workers(2);
    let (status, body) = s.get("/");
    assert_eq!(status, 200);
    assert!(
        String::from_utf8_lossy(&body).contains("metrics-poller"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    let log = s.log_text();
    assert!(!log.contains("before fork"), "{log}");
}

/// `/stuck` loops in Python (interruptible), `/csleep` sits in one long C-level sleep (CPython
/// retries it on EINTR, so only the kill ends it), `/wait` stays in flight until the test
/// creates `release`.
const HARAKIRI_APP: &str = r#"
import os, time, uuid

def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/stuck':
        open('stuck.started', 'w').close()
        while True:
            time.sleep(0.02)
    if path == '/csleep':
        time.sleep(600)
    body = str(os.getpid()).encode()
    if path == '/wait':
        open('waiting.' + uuid.uuid4().hex, 'w').close()
        deadline = time.time() + 30
        while not os.path.exists('release') and time.time() < deadline:
            time.sleep(0.02)
        body = b'released' if os.path.exists('release') else b'never released'
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
"#;

fn get_in_thread(port: u16, path: &str) -> std::thread::JoinHandle<Vec<u8>> {
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    std::thread::spawn(move || raw_request(port, req.as_bytes()))
}

fn waiting(s: &Server) -> usize {
    std::fs::read_dir(s.dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().starts_with("waiting."))
        })
        .count()
}

#[test]
fn harakiri_interrupts_the_stuck_thread_and_spares_its_siblings() {
    let s = Server::start(
        &ini("threads = 4\nharakiri = 4\nharakiri-verbose = true\nharakiri-graceful-timeout = 20"),
        &[("app.py", HARAKIRI_APP)],
    );
    let (status, pid_before) = s.get("/pid");
    assert_eq!(status, 200);
    let stuck = get_in_thread(s.port, "/stuck");
    wait_until(20, "the stuck request to start", || {
        s.path("stuck.started").exists()
    });
    // The siblings start well after the stuck request, so that harakiri fires on it while they
    // are in flight and they stay under the limit themselves (stuck: overdue at 4-5 s; the
    // siblings at 6.5-7.5 s, and they are released as soon as the stuck one is answered).
    std::thread::sleep(Duration::from_millis(2500));
    let siblings: Vec<_> = (0..3).map(|_| get_in_thread(s.port, "/wait")).collect();
    wait_until(20, "three siblings in flight", || waiting(&s) == 3);
    let resp = stuck.join().unwrap();
    assert!(
        resp.starts_with(b"HTTP/1.1 504 Gateway Timeout"),
        "the stuck request got {:?}\n{}",
        String::from_utf8_lossy(&resp),
        s.log_text()
    );
    // Still in flight when the stuck one was answered: they cannot end before `release`.
    assert!(siblings.iter().all(|t| !t.is_finished()));
    std::fs::write(s.path("release"), "").unwrap();
    for t in siblings {
        let (status, body) = split_response(&t.join().unwrap());
        assert_eq!((status, body.as_slice()), (200, &b"released"[..]));
    }
    let (status, pid_after) = s.get("/pid");
    assert_eq!(status, 200);
    assert_eq!(
        pid_after,
        pid_before,
        "the worker was killed:\n{}",
        s.log_text()
    );
    let log = s.wait_log("lives on", 10);
    assert!(log.contains("HARAKIRI ON WORKER 1"), "{log}");
    assert!(log.contains("GET /stuck since"), "{log}");
    // harakiri-verbose: where the thread was stuck, then the exception's own traceback.
    assert!(
        log.contains("HARAKIRI: Python stack of worker 1 core"),
        "{log}"
    );
    assert!(log.contains("time.sleep(0.02)"), "{log}");
    assert!(log.contains("uwsgi.HarakiriTimeout"), "{log}");
    assert!(log.contains("GET /stuck => generated"), "{log}");
    assert!(log.contains("(HTTP/1.1 504)"), "{log}");
    assert!(
        !log.contains("GET /wait since"),
        "a sibling was harakiri'd:\n{log}"
    );
    assert!(!log.contains("killed by signal"), "{log}");
}

#[test]
fn harakiri_kills_the_worker_when_the_thread_cannot_be_interrupted_and_logs_every_core() {
    let s = Server::start(
        &ini("threads = 4\nharakiri = 2\nharakiri-graceful-timeout = 2"),
        &[("app.py", HARAKIRI_APP)],
    );
    let (status, pid_before) = s.get("/pid");
    assert_eq!(status, 200);
    let t = Instant::now();
    let stuck: Vec<_> = (0..2).map(|_| get_in_thread(s.port, "/csleep")).collect();
    for c in stuck {
        let resp = c.join().unwrap();
        assert!(resp.is_empty(), "{:?}", String::from_utf8_lossy(&resp));
    }
    // Killed only once harakiri (2 s) and the grace after the interrupt (2 s) are over.
    assert!(
        t.elapsed() >= Duration::from_secs(4),
        "the worker died after {:?}:\n{}",
        t.elapsed(),
        s.log_text()
    );
    let log = s.wait_log("Respawned rw worker 1", 10);
    // Both overdue cores are logged, not only the first one found.
    assert_eq!(log.matches("GET /csleep since").count(), 2, "{log}");
    assert_eq!(log.matches("has not returned").count(), 2, "{log}");
    assert!(log.contains("killed by signal 9"), "{log}");
    let (status, pid_after) = s.get("/pid");
    assert_eq!(status, 200);
    assert_ne!(pid_after, pid_before);
}

const BODY_APP: &str = r#"
def application(environ, start_response):
    data = environ['wsgi.input'].read()
    body = str(len(data)).encode()
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
"#;

/// The stats JSON and the /metrics text from a `stats-http` stats server.
fn stats_http(port: u16) -> (serde_json::Value, String) {
    let (status, json) = split_response(&raw_request(
        port,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ));
    assert_eq!(status, 200);
    let (status, metrics) = split_response(&raw_request(
        port,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ));
    assert_eq!(status, 200);
    (
        serde_json::from_slice(&json).unwrap(),
        String::from_utf8(metrics).unwrap(),
    )
}

/// Sends a POST head announcing `len` bytes and the first `sent` of them; `then` runs on the
/// connection before the response is read.
fn partial_post(
    port: u16,
    len: usize,
    sent: usize,
    then: impl FnOnce(&std::net::TcpStream),
) -> Vec<u8> {
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        c,
        "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {len}\r\n\r\n"
    )
    .unwrap();
    c.write_all(&vec![b'x'; sent]).unwrap();
    then(&c);
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    out
}

#[test]
fn post_buffering_stalled_and_aborted_uploads_are_client_errors_408_and_400() {
    let sport = free_port();
    let s = Server::start(
        &ini(&format!(
            "post-buffering = 4096\nsocket-timeout = 1\nstats = 127.0.0.1:{sport}\nstats-http = true"
        )),
        &[("app.py", BODY_APP)],
    );
    // A client that stalls mid-upload: 408 once socket-timeout passes without a byte.
    let t = Instant::now();
    let resp = partial_post(s.port, 10_000, 100, |_| {});
    assert!(
        resp.starts_with(b"HTTP/1.1 408 Request Timeout"),
        "{:?}",
        String::from_utf8_lossy(&resp)
    );
    assert!(t.elapsed() >= Duration::from_secs(1), "{:?}", t.elapsed());
    // A client that gives up mid-upload (half-closes): 400.
    let resp = partial_post(s.port, 10_000, 100, |c| {
        c.shutdown(std::net::Shutdown::Write).unwrap();
    });
    assert!(
        resp.starts_with(b"HTTP/1.1 400 Bad Request"),
        "{:?}",
        String::from_utf8_lossy(&resp)
    );
    let log = s.wait_log("(HTTP/1.1 400)", 10);
    assert!(
        log.contains("post-buffering client error: the client stopped sending the request body after 100 of 10000 bytes (socket-timeout): answering 408"),
        "{log}"
    );
    assert!(
        log.contains("post-buffering client error: the client went away after 100 of 10000 bytes"),
        "{log}"
    );
    assert!(log.contains("(HTTP/1.1 408)"), "{log}");
    assert!(
        !log.contains("server error") && !log.contains("Traceback"),
        "{log}"
    );
    // A whole body still works.
    let mut req =
        b"POST /upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 10000\r\n\r\n"
            .to_vec();
    req.extend_from_slice(&[b'y'; 10_000]);
    assert_eq!(split_response(&s.raw(&req)), (200, b"10000".to_vec()));

    let (v, metrics) = stats_http(sport);
    let w = &v["workers"][0];
    assert_eq!(w["body_errors"]["client_timeout"], 1, "{w}");
    assert_eq!(w["body_errors"]["client_abort"], 1, "{w}");
    assert_eq!(w["body_errors"]["spool"], 0, "{w}");
    assert_eq!(w["exceptions"], 0, "{w}");
    assert!(
        metrics.contains("rw_request_body_errors_total{worker=\"1\",cause=\"client_timeout\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("rw_request_body_errors_total{worker=\"1\",cause=\"spool\"} 0"),
        "{metrics}"
    );
}

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &std::path::Path, size: &str) -> Option<Tmpfs> {
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_spool_directory_is_logged_with_its_path_and_answered_503_or_413() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: mounting a small tmpfs as the spool directory needs root");
        return;
    }
    let spool_dir = tempfile::tempdir().unwrap();
    let Some(spool) = Tmpfs::mount(spool_dir.path(), "64k") else {
        eprintln!("skipped: could not mount a tmpfs (no CAP_SYS_ADMIN here?)");
        return;
    };
    let sport = free_port();
    let tmpdir = spool.0.display().to_string();
    let s = Server::start_with(
        &ini(&format!(
            "post-buffering = 4096\nstats = 127.0.0.1:{sport}\nstats-http = true"
        )),
        &[("app.py", BODY_APP)],
        &[("TMPDIR", &tmpdir)],
    );
    let post = |n: usize| {
        let mut req = format!(
            "POST /upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {n}\r\n\r\n"
        )
        .into_bytes();
        req.extend_from_slice(&vec![b'z'; n]);
        s.raw(&req)
    };
    // Larger than the whole filesystem: it can never fit.
    let resp = post(200_000);
    assert!(
        resp.starts_with(b"HTTP/1.1 413 Content Too Large"),
        "{:?}\n{}",
        String::from_utf8_lossy(&resp),
        s.log_text()
    );
    // Would fit, but the filesystem is full: try again later.
    let filler = spool.0.join("filler");
    std::fs::write(&filler, vec![0u8; 56 << 10]).unwrap();
    let resp = post(32_000);
    assert!(
        resp.starts_with(b"HTTP/1.1 503 Service Unavailable"),
        "{:?}\n{}",
        String::from_utf8_lossy(&resp),
        s.log_text()
    );
    let log = s.wait_log("(HTTP/1.1 503)", 10);
    let needle = format!(
        "post-buffering server error: cannot spool the request body (32000 bytes) to {tmpdir}: No space left on device"
    );
    assert!(log.contains(&needle), "{needle}\n{log}");
    assert!(log.contains("(200000 bytes)"), "{log}");
    assert!(!log.contains("Traceback"), "{log}");
    // Space again: the same upload goes through.
    std::fs::remove_file(&filler).unwrap();
    assert_eq!(split_response(&post(32_000)), (200, b"32000".to_vec()));
    let (v, metrics) = stats_http(sport);
    let w = &v["workers"][0];
    assert_eq!(w["body_errors"]["spool"], 2, "{w}");
    assert_eq!(w["body_errors"]["client_abort"], 0, "{w}");
    assert!(
        metrics.contains("rw_request_body_errors_total{worker=\"1\",cause=\"spool\"} 2"),
        "{metrics}"
    );
    drop(s);
}

#[test]
fn without_post_buffering_a_stalled_or_aborted_body_is_the_clients_408_or_400_not_a_500() {
    let sport = free_port();
    let s = Server::start(
        &ini(&format!(
            "socket-timeout = 1\nstats = 127.0.0.1:{sport}\nstats-http = true"
        )),
        &[("app.py", BODY_APP)],
    );
    // The app's read raises (its traceback is logged), but the answer is the client's error.
    let resp = partial_post(s.port, 10_000, 100, |_| {});
    assert!(
        resp.starts_with(b"HTTP/1.1 408 Request Timeout"),
        "{:?}",
        String::from_utf8_lossy(&resp)
    );
    let resp = partial_post(s.port, 10_000, 100, |c| {
        c.shutdown(std::net::Shutdown::Write).unwrap();
    });
    assert!(
        resp.starts_with(b"HTTP/1.1 400 Bad Request"),
        "{:?}",
        String::from_utf8_lossy(&resp)
    );
    let log = s.wait_log("(HTTP/1.1 400)", 10);
    assert!(
        log.contains("rejected: 408 (timed out reading the request)"),
        "{log}"
    );
    assert!(
        log.contains("rejected: 400 (the request body ended before its length)"),
        "{log}"
    );
    assert!(!log.contains("(HTTP/1.1 500)"), "{log}");
    let (v, _) = stats_http(sport);
    let w = &v["workers"][0];
    assert_eq!(w["body_errors"]["client_timeout"], 1, "{w}");
    assert_eq!(w["body_errors"]["client_abort"], 1, "{w}");
}

#[test]
fn harakiri_does_not_count_a_post_buffered_upload_that_keeps_coming() {
    let s = Server::start(
        &ini("post-buffering = 4096\nharakiri = 2"),
        &[("app.py", BODY_APP)],
    );
    let mut c = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        c,
        "POST /upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 6000\r\n\r\n"
    )
    .unwrap();
    // A slow client: the upload takes 6 s in all, longer than harakiri, but never pauses long.
    let t = Instant::now();
    for _ in 0..12 {
        c.write_all(&[b'u'; 500]).unwrap();
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(t.elapsed() > Duration::from_secs(2));
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    assert_eq!(
        split_response(&out),
        (200, b"6000".to_vec()),
        "{}",
        s.log_text()
    );
    let log = s.wait_log("POST /upload =>", 10);
    assert!(!log.contains("HARAKIRI"), "{log}");
}
