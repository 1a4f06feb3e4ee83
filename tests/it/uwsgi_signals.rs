//! uWSGI signals end to end: real apps that `import uwsgi` / `uwsgidecorators` under the real
//! binary; timers, cron, file monitors and `uwsgi.signal` from a request reach the registered
//! target, run between requests, and are counted in the stats JSON.

use crate::util::{free_port, wait_until, Server};
use std::io::Read;
use std::time::Duration;

fn body(s: &Server, path: &str) -> String {
    let (status, body) = s.get(path);
    let text = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(status, 200, "{path}: {text}\n{}", s.log_text());
    text
}

/// The lines of `rel` in the server's dir ("" when it does not exist yet).
fn lines(s: &Server, rel: &str) -> Vec<String> {
    std::fs::read_to_string(s.path(rel))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn stats_json(addr: &str) -> serde_json::Value {
    let mut out = Vec::new();
    wait_until(20, "the stats socket", || {
        out.clear();
        std::net::TcpStream::connect(addr).is_ok_and(|mut c| {
            let _ = c.set_read_timeout(Some(Duration::from_secs(10)));
            c.read_to_end(&mut out).is_ok() && !out.is_empty()
        })
    });
    serde_json::from_slice(&out).expect("stats JSON")
}

/// Records `<name>` lines: the worker id and mule id the handler ran in.
const RECORD: &str = r#"
import os, time, uwsgi
D = '{dir}'
def rec(name, extra=''):
    with open(os.path.join(D, name), 'a') as f:
        f.write('%d %d%s\n' % (uwsgi.worker_id(), uwsgi.mule_id(), extra))
"#;

const TIMER_APP: &str = r#"
from uwsgidecorators import timer, rbtimer
@timer(1)
def tick(num):
    rec('tick', ' %d' % num)
@rbtimer(1)
def rbtick(num):
    rec('rbtick')
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'ok']
"#;

/// `@timer(1)` and `@rbtimer(1)` fire again and again, in a worker, with the signal number
/// `uwsgidecorators` allocated (the first free one).
#[test]
fn timers_fire_repeatedly() {
    let app = format!("{RECORD}{TIMER_APP}");
    let s = Server::start(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {dir}/app.py\nprocesses = 1\nmaster = true\n",
        &[("app.py", &app)],
    );
    wait_until(20, "three timer ticks", || {
        lines(&s, "tick").len() >= 3 && lines(&s, "rbtick").len() >= 3
    });
    for l in lines(&s, "tick") {
        assert_eq!(l, "1 0 0", "{}", s.log_text());
    }
    let log = s.log_text();
    assert!(
        log.contains(
            "[uwsgi-signal] signum 0 registered (wid: 0 modifier1: 0 target: default, any worker)"
        ),
        "{log}"
    );
    assert!(log.contains("[uwsgi-signal] signum 1 registered"), "{log}");
}

const TARGETS_APP: &str = r#"
import uwsgi
uwsgi.register_signal(17, 'workers', lambda n: rec('all'))
uwsgi.register_signal(18, 'worker2', lambda n: rec('two'))
uwsgi.register_signal(19, '', lambda n: rec('any'))
uwsgi.register_signal(20, 'active-workers', lambda n: rec('active'))
def application(environ, start_response):
    n = int(environ['QUERY_STRING'])
    uwsgi.signal(n)
    body = ('%s %s' % (uwsgi.signal_registered(n), uwsgi.signal_registered(99))).encode()
    start_response('200 OK', [('Content-Length', str(len(body)))])
    return [body]
"#;

/// `uwsgi.signal(n)` from a request goes through the master to the target the master
/// registered: every worker, worker 2 only, or exactly one worker; the stats count each
/// handled signal in its worker.
#[test]
fn signals_from_a_request_reach_their_targets() {
    let app = format!("{RECORD}{TARGETS_APP}");
    let stats_port = free_port();
    let s = Server::start(
        &format!(
            "[uwsgi]\nhttp-socket = 127.0.0.1:{{port}}\nwsgi-file = {{dir}}/app.py\nprocesses = 3\nmaster = true\nstats = 127.0.0.1:{stats_port}\n"
        ),
        &[("app.py", &app)],
    );
    s.workers(3);
    assert_eq!(body(&s, "/?17"), "True None");
    wait_until(20, "signal 17 in every worker", || {
        lines(&s, "all").len() == 3
    });
    let mut who = lines(&s, "all");
    who.sort();
    assert_eq!(who, ["1 0", "2 0", "3 0"]);
    body(&s, "/?18");
    body(&s, "/?18");
    wait_until(20, "signal 18 twice", || lines(&s, "two").len() == 2);
    assert_eq!(lines(&s, "two"), ["2 0", "2 0"]);
    body(&s, "/?19");
    wait_until(20, "signal 19 in one worker", || {
        lines(&s, "any").len() == 1
    });
    body(&s, "/?20");
    wait_until(20, "signal 20 in every active worker", || {
        lines(&s, "active").len() == 3
    });
    // Nothing more arrives later (one signal, one handler run per target).
    body(&s, "/?18");
    wait_until(20, "signal 18 a third time", || lines(&s, "two").len() == 3);
    assert_eq!(lines(&s, "any").len(), 1);
    assert_eq!(lines(&s, "all").len(), 3);
    let v = stats_json(&format!("127.0.0.1:{stats_port}"));
    let counted: Vec<u64> = v["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["signals"].as_u64().unwrap())
        .collect();
    let ran = |id: &str| {
        ["all", "two", "any", "active"]
            .iter()
            .flat_map(|f| lines(&s, f))
            .filter(|l| l.split(' ').next() == Some(id))
            .count() as u64
    };
    assert_eq!(counted, [ran("1"), ran("2"), ran("3")], "{v}");
    assert_eq!(counted.iter().sum::<u64>(), 3 + 3 + 1 + 3);
    assert_eq!(v["signal_queue"], 0);
    for w in v["workers"].as_array().unwrap() {
        assert_eq!(w["signal_queue"], 0, "{v}");
    }
}

const FILEMON_APP: &str = r#"
from uwsgidecorators import filemon, cron
@filemon('{dir}/watched')
def changed(num):
    rec('changed')
@cron(-1, -1, -1, -1, -1)
def every_minute(num):
    rec('cron')
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'ok']
"#;

/// `@filemon` fires when the watched file is touched (inotify), not before; `@cron` with
/// every field `-1` fires at once (its minute matches and it never ran) and not again within
/// the same minute.
#[test]
fn file_monitor_and_cron_fire() {
    let app = format!("{RECORD}{FILEMON_APP}");
    let s = Server::start(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {dir}/app.py\nprocesses = 1\nmaster = true\n",
        &[("app.py", &app), ("watched", "x")],
    );
    s.wait_log("added file monitor for", 20);
    wait_until(20, "the cron signal", || lines(&s, "cron").len() == 1);
    s.wait_log("[uwsgi-cron] routing signal 1", 5);
    assert!(lines(&s, "changed").is_empty(), "{}", s.log_text());
    let f = std::fs::File::options()
        .write(true)
        .open(s.path("watched"))
        .unwrap();
    f.set_modified(std::time::SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
    wait_until(20, "the file monitor", || !lines(&s, "changed").is_empty());
    assert_eq!(lines(&s, "changed")[0], "1 0");
    assert!(
        lines(&s, "cron").len() <= 2,
        "cron fired more than once a minute"
    );
}

const OVERLAP_APP: &str = r#"
import time
from uwsgidecorators import timer
def span(name, secs):
    t0 = time.monotonic()
    time.sleep(secs)
    with open(D + '/' + name, 'a') as f:
        f.write('%f %f\n' % (t0, time.monotonic()))
@timer(1)
def tick(num):
    span('handler', 0.2)
def application(environ, start_response):
    span('request', 0.15)
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'ok']
"#;

/// A signal handler never runs while a request runs in the same (single-threaded) worker:
/// requests back to back for several timer periods, and no handler's span overlaps a
/// request's.
#[test]
fn signals_never_run_inside_a_request() {
    let app = format!("{RECORD}{OVERLAP_APP}");
    let s = Server::start(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {dir}/app.py\nprocesses = 1\nthreads = 1\nmaster = true\n",
        &[("app.py", &app)],
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while lines(&s, "handler").len() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "no 3 handler runs in 30 s:\n{}",
            s.log_text()
        );
        body(&s, "/");
    }
    let spans = |rel: &str| -> Vec<(f64, f64)> {
        lines(&s, rel)
            .iter()
            .map(|l| {
                let (a, b) = l.split_once(' ').unwrap();
                (a.parse().unwrap(), b.parse().unwrap())
            })
            .collect()
    };
    let (handlers, requests) = (spans("handler"), spans("request"));
    assert!(requests.len() >= 3);
    for h in &handlers {
        for r in &requests {
            assert!(
                h.1 <= r.0 || r.1 <= h.0,
                "handler {h:?} overlaps request {r:?}"
            );
        }
    }
}

const HARAKIRI_APP: &str = r#"
import os, time
from uwsgidecorators import harakiri
@harakiri(1)
def slow():
    time.sleep(30)
@harakiri(5)
def quick():
    time.sleep(0.05)
def application(environ, start_response):
    if environ['PATH_INFO'] == '/slow':
        slow()
    else:
        quick()
    body = str(os.getpid()).encode()
    start_response('200 OK', [('Content-Length', str(len(body)))])
    return [body]
"#;

/// `@harakiri(secs)` (`uwsgi.set_user_harakiri`): a call that overruns gets its worker killed
/// by the master and respawned; one that returns in time cancels its deadline.
#[test]
fn user_harakiri_kills_an_overrunning_call() {
    let app = format!("{RECORD}{HARAKIRI_APP}");
    let s = Server::start(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {dir}/app.py\nprocesses = 1\nmaster = true\n",
        &[("app.py", &app)],
    );
    let first = body(&s, "/quick");
    let port = s.port;
    let slow = std::thread::spawn(move || {
        crate::util::raw_request(
            port,
            b"GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
    });
    s.wait_log("user harakiri (uwsgi.set_user_harakiri) expired", 20);
    let resp = slow.join().unwrap();
    assert!(
        resp.is_empty() || !resp.starts_with(b"HTTP/1.1 200"),
        "{resp:?}"
    );
    s.wait_log("Respawned rw worker 1", 20);
    let second = body(&s, "/quick");
    assert_ne!(first, second);
    assert_eq!(
        s.log_text().matches("HARAKIRI ON WORKER").count(),
        1,
        "{}",
        s.log_text()
    );
}

const WAIT_APP: &str = r#"
import uwsgi
from uwsgidecorators import postfork
uwsgi.register_signal(50, 'worker1', lambda n: rec('handled'))
uwsgi.add_timer(50, 1)
@postfork
def in_worker():
    # Registered and timed from the worker: the timer request travels to the master.
    uwsgi.register_signal(60, 'worker1', lambda n: rec('late'))
    uwsgi.add_timer(60, 1)
def application(environ, start_response):
    before = uwsgi.signal_received()
    got = uwsgi.signal_wait(50)
    body = ('%r %r %r' % (before, got, uwsgi.signal_received())).encode()
    start_response('200 OK', [('Content-Length', str(len(body)))])
    return [body]
"#;

/// `signal_wait(num)` in a request returns `''` once that signal arrived (its handler ran, as
/// in uWSGI) and `signal_received()` names it; `add_timer` called in a worker after its fork
/// reaches the master's timers.
#[test]
fn signal_wait_and_timers_added_by_a_worker() {
    let app = format!("{RECORD}{WAIT_APP}");
    let s = Server::start(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {dir}/app.py\nprocesses = 1\nthreads = 1\nmaster = true\n",
        &[("app.py", &app)],
    );
    assert_eq!(body(&s, "/"), "0 '' 50");
    assert!(!lines(&s, "handled").is_empty());
    // Signal 60 is the worker's own: the master's table does not know it, so it goes to any
    // worker (the only one here), which has the handler.
    wait_until(20, "the worker's own timer", || {
        lines(&s, "late").len() >= 2
    });
    s.wait_log(
        "[uwsgi-signal] signum 60 registered (wid: 1 modifier1: 0 target: worker1)",
        5,
    );
}
