//! Faults around single requests (issue 16): post-buffering failures (full spool directory,
//! stalled and aborted uploads), harakiri that interrupts the stuck thread before it kills the
//! worker, and Python threads started in the master before the fork.

use crate::util::Server;

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
