//! Faults around single requests (issue 16): post-buffering failures (full spool directory,
//! stalled and aborted uploads), harakiri that interrupts the stuck thread before it kills the
//! worker, and Python threads started in the master before the fork.

use crate::util::{raw_request, split_response, wait_until, Server};
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
