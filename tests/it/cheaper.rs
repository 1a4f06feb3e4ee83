//! The cheaper subsystem end to end: `cheaper = 2`, `cheaper-initial = 3`, `processes = 12`
//! with each algorithm starts 3 workers, grows under a load of slow requests (more
//! connections than workers × threads), shrinks back to 2 when the load stops, never leaves
//! [2, 12] (the stats socket is sampled throughout) and fails no request. Also: the circulating
//! production config (128/8/16/16, busyness, `; comments`) starting 16 workers; the stats JSON,
//! `rw top --once` and `/metrics` showing the cheap slots; uWSGI's startup checks refusing
//! serve and check-config alike.

use crate::util::{free_port, run, text, Server};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const APP: &str = r#"
import time

def application(environ, start_response):
    if environ['PATH_INFO'] == '/sleep':
        time.sleep(0.05)
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', '2')])
    return [b'ok']
"#;

/// GET over an open stats-http port; the stats JSON.
fn stats(port: u16) -> Option<Value> {
    let mut c = TcpStream::connect(("127.0.0.1", port)).ok()?;
    c.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    c.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
    let mut out = Vec::new();
    c.read_to_end(&mut out).ok()?;
    let at = out.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    serde_json::from_slice(&out[at..]).ok()
}

fn metrics(port: u16) -> String {
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    out
}

/// Workers whose slot is not `cheap` (running, starting or stopping).
fn running(v: &Value) -> usize {
    v["workers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["status"] != "cheap")
        .count()
}

/// Samples the stats socket every 50 ms and keeps the lowest and highest running count.
struct Sampler {
    stop: Arc<AtomicBool>,
    range: Arc<Mutex<(usize, usize, usize)>>,
    thread: Option<JoinHandle<()>>,
}

impl Sampler {
    fn start(port: u16) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let range = Arc::new(Mutex::new((usize::MAX, 0, 0)));
        let (s, r) = (stop.clone(), range.clone());
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(300);
            while !s.load(Relaxed) && Instant::now() < deadline {
                if let Some(v) = stats(port) {
                    let n = running(&v);
                    let mut g = r.lock().unwrap();
                    *g = (g.0.min(n), g.1.max(n), g.2 + 1);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        Sampler {
            stop,
            range,
            thread: Some(thread),
        }
    }

    /// (lowest, highest, samples taken).
    fn finish(mut self) -> (usize, usize, usize) {
        self.stop.store(true, Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        *self.range.lock().unwrap()
    }
}

/// `conns` clients sending `GET /sleep` (50 ms in the app) back to back, over keep-alive
/// connections (four requests each) or one connection per request, counting answers and
/// failures.
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failures: Arc<Mutex<Vec<String>>>,
    threads: Vec<JoinHandle<()>>,
}

impl Load {
    fn start(port: u16, conns: usize, keep_alive: bool) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let threads = (0..conns)
            .map(|_| {
                let (stop, ok, failures) = (stop.clone(), ok.clone(), failures.clone());
                std::thread::spawn(move || client(port, keep_alive, &stop, &ok, &failures))
            })
            .collect();
        Load {
            stop,
            ok,
            failures,
            threads,
        }
    }

    /// Stops the clients (each finishes the request it is in) and returns (ok, failures).
    fn finish(self) -> (u64, Vec<String>) {
        self.stop.store(true, Relaxed);
        for t in self.threads {
            t.join().unwrap();
        }
        let f = self.failures.lock().unwrap().clone();
        (self.ok.load(Relaxed), f)
    }
}

fn client(
    port: u16,
    keep_alive: bool,
    stop: &AtomicBool,
    ok: &AtomicU64,
    failures: &Mutex<Vec<String>>,
) {
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut conn: Option<TcpStream> = None;
    let req: &[u8] = if keep_alive {
        b"GET /sleep HTTP/1.1\r\nHost: t\r\n\r\n"
    } else {
        b"GET /sleep HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    };
    let mut sent = 0u64;
    while !stop.load(Relaxed) && Instant::now() < deadline && sent < 100_000 {
        sent += 1;
        let mut c = match conn.take() {
            Some(c) => c,
            None => match TcpStream::connect(("127.0.0.1", port)) {
                Ok(c) => {
                    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                    c
                }
                Err(e) => {
                    failures.lock().unwrap().push(format!("connect: {e}"));
                    continue;
                }
            },
        };
        match exchange(&mut c, req) {
            Ok(close) => {
                ok.fetch_add(1, Relaxed);
                // A few requests per connection, as a proxy's keep-alive pool churns: a
                // connection stays with the worker that accepted it, so clients that never
                // reconnect would leave new workers nothing to do.
                if keep_alive && !close && sent % 4 != 0 {
                    conn = Some(c);
                }
            }
            Err(e) => failures.lock().unwrap().push(e),
        }
    }
}

/// One request and its response (Content-Length framed); whether the server closes after it.
fn exchange(c: &mut TcpStream, req: &[u8]) -> Result<bool, String> {
    c.write_all(req).map_err(|e| format!("write: {e}"))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        match c.read(&mut chunk) {
            Ok(0) => return Err(format!("closed after {} bytes of the response", buf.len())),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(format!("read: {e}")),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    if !head.starts_with("http/1.1 200 ") {
        return Err(format!("status: {head}"));
    }
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("no length: {head}"))?;
    while buf.len() < head_end + len {
        match c.read(&mut chunk) {
            Ok(0) => return Err("closed in the body".into()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(format!("read body: {e}")),
        }
    }
    if &buf[head_end..head_end + len] != b"ok" {
        return Err("wrong body".into());
    }
    Ok(head.contains("connection: close"))
}

fn start(algo_lines: &str, stats_port: u16) -> Server {
    let ini = format!(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{{port}}\nwsgi-file = {{dir}}/app.py\nmaster = true\n\
         processes = 12\nthreads = 1\ncheaper = 2\ncheaper-initial = 3\ncheaper-step = 2\n\
         cheaper-overload = 1\n{algo_lines}\nstats = 127.0.0.1:{stats_port}\nstats-http = true\n\
         disable-logging = true\ndie-on-term = true\n"
    );
    Server::start(&ini, &[("app.py", APP)])
}

/// Waits (bounded) until the stats show `cond` of the running count; returns the stats.
fn wait_running(
    s: &Server,
    port: u16,
    secs: u64,
    what: &str,
    cond: impl Fn(usize) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = stats(port) {
            if cond(running(&v)) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "{what} not reached in {secs} s (running: {}):\n{}",
                running(&v),
                s.log_text()
            );
        }
        assert!(
            Instant::now() < deadline,
            "no stats in {secs} s:\n{}",
            s.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The whole cycle for one algorithm: start at 3, grow to at least 6 under load, back to 2.
fn grows_and_shrinks(algo: &str, algo_lines: &str, keep_alive: bool) {
    let sport = free_port();
    let s = start(algo_lines, sport);
    let first = wait_running(&s, sport, 20, "stats", |_| true);
    let w = first["workers"].as_array().unwrap();
    assert_eq!(w.len(), 12);
    // Slots 4..12 were never started; 1..3 were.
    assert!(
        w[3..]
            .iter()
            .all(|w| w["status"] == "cheap" && w["pid"] == 0),
        "{first}"
    );
    let log = s.wait_log("spawned rw worker 3 ", 20);
    assert!(!log.contains("spawned rw worker 4 "), "{log}");
    assert!(
        log.contains(&format!(
            "cheaper mode: algo {algo}, 2 to 12 workers, 3 at start"
        )),
        "{log}"
    );
    let sampler = Sampler::start(sport);
    let load = Load::start(s.port, 20, keep_alive);
    let grown = wait_running(&s, sport, 90, "growth to 6 workers", |n| n >= 6);
    let spawned: u64 = grown["cheaper"]["spawns"][algo].as_u64().unwrap_or(0);
    assert!(spawned >= 3, "spawns by {algo} counted: {grown}");
    let (ok, failures) = load.finish();
    assert!(
        failures.is_empty(),
        "{} of {} requests failed: {:?}\n{}",
        failures.len(),
        ok + failures.len() as u64,
        &failures[..failures.len().min(5)],
        s.log_text()
    );
    assert!(ok > 50, "only {ok} requests answered");
    let done = wait_running(&s, sport, 120, "shrinking back to 2 workers", |n| n == 2);
    assert!(
        done["cheaper"]["stops"][algo].as_u64().unwrap_or(0) >= 4,
        "{done}"
    );
    let (lo, hi, samples) = sampler.finish();
    assert!(samples > 20, "{samples} samples");
    assert!(
        (2..=12).contains(&lo) && (2..=12).contains(&hi),
        "running count left [2, 12]: {lo}..{hi}"
    );
    // Cheaped workers stopped gracefully and were not respawned.
    let log = s.log_text();
    assert!(
        log.contains("rw worker ") && log.contains(" cheaped."),
        "{log}"
    );
    assert!(!log.contains("DAMN"), "{log}");
    if std::env::var_os("RW_CHEAPER_LOG").is_some() {
        eprintln!("{log}");
    }
    // Stopped slots stay stopped: no process behind a cheap slot.
    assert_eq!(s.worker_pids().len(), 2, "{log}");
}

#[test]
fn spare_grows_under_load_and_shrinks_when_idle() {
    grows_and_shrinks("spare", "cheaper-algo = spare", true);
}

#[test]
fn spare2_grows_under_load_and_shrinks_when_idle() {
    grows_and_shrinks("spare2", "cheaper-algo = spare2\ncheaper-idle = 1", true);
}

#[test]
fn backlog_grows_under_load_and_shrinks_when_idle() {
    // The listen queue holds only connections no worker took: one request per connection.
    grows_and_shrinks("backlog", "cheaper-algo = backlog", false);
}

#[test]
fn busyness_grows_under_load_and_shrinks_when_idle() {
    grows_and_shrinks(
        "busyness",
        "cheaper-algo = busyness\ncheaper-busyness-multiplier = 1",
        true,
    );
}

#[test]
fn stats_top_and_metrics_show_the_cheap_slots() {
    let sport = free_port();
    let s = start("cheaper-algo = manual", sport);
    let v = wait_running(&s, sport, 20, "3 workers", |n| n == 3);
    let w = v["workers"].as_array().unwrap();
    assert_eq!(w.iter().filter(|w| w["status"] == "cheap").count(), 9);
    assert_eq!(v["cheaper"]["algo"], "manual");
    assert_eq!(
        (
            v["cheaper"]["min"].as_u64(),
            v["cheaper"]["max"].as_u64(),
            v["cheaper"]["target"].as_u64()
        ),
        (Some(2), Some(12), Some(3))
    );

    let out = run(&["top", &format!("http://127.0.0.1:{sport}/"), "--once"]);
    assert!(out.status.success(), "{}", text(&out));
    let frame = String::from_utf8(out.stdout).unwrap();
    assert!(
        frame
            .lines()
            .nth(1)
            .unwrap()
            .ends_with(" - cheaper: manual 3 of 2..12 workers"),
        "{frame}"
    );
    let cheap_rows = frame
        .lines()
        .filter(|l| l.split_whitespace().any(|c| c == "cheap"))
        .count();
    assert_eq!(cheap_rows, 9, "{frame}");

    let m = metrics(sport);
    assert!(m.contains("rw_workers{status=\"cheap\"} 9\n"), "{m}");
    assert!(m.contains("rw_workers{status=\"idle\"} 3\n"), "{m}");
    assert!(
        m.contains("rw_cheaper_workers_target{algo=\"manual\"} 3\n"),
        "{m}"
    );
    assert!(
        m.contains("rw_cheaper_spawns_total{cause=\"manual\"} 0\n"),
        "{m}"
    );
}

/// The production config that circulates in blog posts, its numbers and `; comments` kept,
/// paths adapted.
const PRODUCTION: &str = "\
[uwsgi]
strict = true
master = true
enable-threads = true
vacuum = true                        ; Delete sockets during shutdown
single-interpreter = true
die-on-term = true                   ; Shutdown when receiving SIGTERM (default is respawn)
need-app = true

disable-logging = true               ; Disable built-in logging
log-4xx = true                       ; but log 4xx's anyway
log-5xx = true                       ; and 5xx's

harakiri = 60                        ; forcefully kill workers after 60 seconds
py-callos-afterfork = true           ; allow workers to trap signals

max-requests = 1000                  ; Restart workers after this many requests
max-worker-lifetime = 3600           ; Restart workers after this many seconds
reload-on-rss = 2048                 ; Restart workers after this much resident memory
worker-reload-mercy = 60             ; How long to wait before forcefully killing workers

cheaper-algo = busyness
processes = 128                      ; Maximum number of workers allowed
cheaper = 8                          ; Minimum number of workers allowed
cheaper-initial = 16                 ; Workers created at startup
cheaper-overload = 1                 ; Length of a cycle in seconds
cheaper-step = 16                    ; How many workers to spawn at a time

cheaper-busyness-multiplier = 30     ; How many cycles to wait before killing workers
cheaper-busyness-min = 20            ; Below this threshold, kill workers (if stable for multiplier cycles)
cheaper-busyness-max = 70            ; Above this threshold, spawn new workers
cheaper-busyness-backlog-alert = 16  ; Spawn emergency workers if more than this many requests are waiting in the queue
cheaper-busyness-backlog-step = 2    ; How many emergency workers to create if there are too many requests in the queue

auto-procname = true
procname-prefix = \"myapp \"

chdir = {dir}
wsgi-file = app.py
http-socket = 127.0.0.1:{port}
";

#[test]
fn the_circulating_production_config_starts_16_of_128_workers() {
    let sport = free_port();
    let ini = format!("{PRODUCTION}stats = 127.0.0.1:{sport}\nstats-http = true\n");
    let s = Server::start(&ini, &[("app.py", APP)]);
    let pids = s.workers(16);
    assert_eq!(pids.len(), 16);
    let v = wait_running(&s, sport, 20, "16 workers", |n| n == 16);
    assert_eq!(v["workers"].as_array().unwrap().len(), 128);
    assert_eq!(v["cheaper"]["algo"], "busyness");
    assert_eq!(s.get("/").0, 200);
    let log = s.log_text();
    assert!(
        log.contains(
            "[busyness] settings: min=20%, max=70%, overload=1, multiplier=30, respawn penalty=2"
        ),
        "{log}"
    );
    assert!(
        log.contains("[busyness] backlog alert is set to 16 request(s), step is 2"),
        "{log}"
    );
    assert!(!log.contains("spawned rw worker 17 "), "{log}");
    // check-config accepts it too (warnings only).
    std::fs::write(
        s.path("check.ini"),
        std::fs::read_to_string(s.path("uwsgi.ini")).unwrap(),
    )
    .unwrap();
    let out = run(&["check-config", s.path("check.ini").to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn cheaper_not_below_processes_refuses_serve_and_check_config() {
    let dir = tempfile::tempdir().unwrap();
    let ini = dir.path().join("bad.ini");
    std::fs::write(
        &ini,
        "[uwsgi]\nhttp-socket = 127.0.0.1:1\nprocesses = 4\ncheaper = 4\ndie-on-term = true\n",
    )
    .unwrap();
    let want = "bad.ini:4: error: invalid cheaper value: must be lower than processes";
    let out = run(&["check-config", ini.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains(want), "{}", text(&out));
    let out = crate::util::rw()
        .args(["serve", "--ini", ini.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(want), "{}", text(&out));
    // The rss limits as uWSGI checks them.
    std::fs::write(
        &ini,
        "[uwsgi]\nhttp-socket = 127.0.0.1:1\nprocesses = 4\ncheaper = 2\ncheaper-rss-limit-soft = 1000000\n",
    )
    .unwrap();
    let out = run(&["check-config", ini.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("bad.ini:5: error: enabling cheaper-rss-limit-soft requires enabling also memory-report"), "{}", text(&out));
}

fn pid_of(v: &Value, id: usize) -> i64 {
    v["workers"][id - 1]["pid"].as_i64().unwrap()
}

#[test]
fn a_crashed_worker_is_respawned_within_the_target_only() {
    let sport = free_port();
    let s = start("cheaper-algo = manual", sport);
    let v = wait_running(&s, sport, 20, "3 workers", |n| n == 3);
    let victim = pid_of(&v, 2);
    // SAFETY: signalling a worker of the server this test started.
    unsafe { libc::kill(victim as i32, libc::SIGKILL) };
    s.wait_log("Respawned rw worker 2 ", 20);
    crate::util::wait_until(20, "worker 2 accepting again", || {
        stats(sport).is_some_and(|v| pid_of(&v, 2) != victim && v["workers"][1]["accepting"] == 1)
    });
    let v = stats(sport).unwrap();
    assert_eq!(running(&v), 3, "{v}");
    assert_eq!(s.worker_pids().len(), 3);
    assert!(v["workers"].as_array().unwrap()[3..]
        .iter()
        .all(|w| w["status"] == "cheap"));
}

#[test]
fn a_reload_starts_cheaper_initial_workers_and_completes() {
    let sport = free_port();
    let s = start("cheaper-algo = manual\npidfile = {dir}/rw.pid", sport);
    wait_running(&s, sport, 20, "3 workers", |n| n == 3);
    let started = Instant::now();
    // `rw reload` returns once the new generation accepts: the 3 wanted workers, not all 12.
    let out = run(&["reload", s.path("rw.pid").to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        text(&out),
        s.log_text()
    );
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "the reload waited for cheap slots"
    );
    crate::util::wait_until(30, "the old generation gone", || s.worker_pids().len() == 3);
    let v = wait_running(&s, sport, 20, "3 workers", |n| n == 3);
    assert_eq!(v["cheaper"]["target"], 3);
    assert_eq!(s.get("/").0, 200);
}

/// Slots with a process that does not accept yet (forked, importing the app).
fn starting(v: &Value) -> usize {
    v["workers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["pid"] != 0 && w["accepting"] == 0 && w["status"] != "cheap")
        .count()
}

#[test]
fn no_spawn_while_a_slow_app_imports() {
    // lazy-apps: each worker imports the app (1.5 s) before it accepts. The backlog algorithm
    // sees the queue grow every second meanwhile; uWSGI spawns a step each of those seconds.
    let sport = free_port();
    let ini = format!(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{{port}}\nwsgi-file = {{dir}}/app.py\nlazy-apps = true\n\
         processes = 12\nthreads = 1\ncheaper = 2\ncheaper-step = 2\ncheaper-overload = 1\n\
         cheaper-algo = backlog\nstats = 127.0.0.1:{sport}\nstats-http = true\n\
         disable-logging = true\ndie-on-term = true\n"
    );
    let slow = format!("import time\ntime.sleep(1.5)\n{APP}");
    let s = Server::start(&ini, &[("app.py", &slow)]);
    wait_running(&s, sport, 30, "2 workers", |n| n == 2);
    crate::util::wait_until(30, "both accepting", || {
        stats(sport).is_some_and(|v| starting(&v) == 0)
    });
    let load = Load::start(s.port, 20, false);
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut most_starting = 0;
    loop {
        let v = stats(sport).expect("stats");
        most_starting = most_starting.max(starting(&v));
        if running(&v) >= 8 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no growth to 8:\n{}",
            s.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (ok, failures) = load.finish();
    assert!(failures.is_empty(), "{failures:?}");
    assert!(ok > 0);
    assert!(
        most_starting >= 1,
        "a start was never seen (the sampling missed it)"
    );
    assert!(
        most_starting <= 2,
        "{most_starting} workers were starting at once: spawned again before the step accepted\n{}",
        s.log_text()
    );
}

#[test]
fn rss_limits_stop_growth_and_shed_workers() {
    // Soft limit of 1 byte: the workers are always over it, so busyness may not spawn and
    // says so in the plugin's words.
    let sport = free_port();
    let s = start(
        "cheaper-algo = busyness\nmemory-report = true\ncheaper-rss-limit-soft = 1",
        sport,
    );
    wait_running(&s, sport, 20, "3 workers", |n| n == 3);
    let load = Load::start(s.port, 8, true);
    let log = s.wait_log(
        "but we already started maximum number of workers available with current limits (3)",
        30,
    );
    let (_, failures) = load.finish();
    assert!(failures.is_empty(), "{failures:?}");
    assert!(!log.contains("will spawn"), "{log}");
    assert!(!log.contains("spawned rw worker 4 "), "{log}");
    drop(s);
    // A hard limit above it: uWSGI sheds workers down to one (below cheaper, as it does).
    let sport = free_port();
    let s = start(
        "cheaper-algo = manual\nmemory-report = true\ncheaper-rss-limit-soft = 1\n\
         cheaper-rss-limit-hard = 2",
        sport,
    );
    let v = wait_running(&s, sport, 30, "one worker left", |n| n == 1);
    assert_eq!(v["cheaper"]["stops"]["rss-limit-hard"], 2, "{v}");
    let log = s.log_text();
    assert!(
        log.contains("cheaper hard rss memory limit exceeded, cheap one of 3 workers"),
        "{log}"
    );
    assert!(
        log.contains("cheaper hard rss memory limit exceeded, cheap one of 2 workers"),
        "{log}"
    );
    assert_eq!(s.get("/").0, 200);
}

#[test]
fn a_worker_holding_a_keep_alive_connection_is_stopped_last() {
    let sport = free_port();
    let ini = format!(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{{port}}\nwsgi-file = {{dir}}/app.py\nprocesses = 4\n\
         cheaper = 2\ncheaper-initial = 3\ncheaper-overload = 4\nsocket-timeout = 60\n\
         stats = 127.0.0.1:{sport}\nstats-http = true\ndie-on-term = true\n"
    );
    let app = "import os\n\ndef application(environ, start_response):\n    \
               body = str(os.getpid()).encode()\n    \
               start_response('200 OK', [('Content-Length', str(len(body)))])\n    \
               return [body]\n";
    let s = Server::start(&ini, &[("app.py", app)]);
    let v = wait_running(&s, sport, 20, "3 workers", |n| n == 3);
    // uWSGI (and rw without the rule) stops the oldest idle worker: hold a connection on it.
    let oldest = pid_of(&v, 1).to_string();
    let ask = |c: &mut TcpStream| -> String {
        c.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        let mut buf = [0u8; 512];
        let n = c.read(&mut buf).unwrap();
        let resp = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert!(resp.starts_with("HTTP/1.1 200 "), "{resp}");
        resp.rsplit("\r\n\r\n").next().unwrap().to_string()
    };
    let mut tries = 0;
    let (mut c, holder) = loop {
        let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let pid = ask(&mut c);
        if pid == oldest {
            break (c, pid);
        }
        tries += 1;
        assert!(tries < 200, "no connection reached worker 1 in 200 tries");
    };
    // The spare algorithm stops one of the three idle workers (after 4 idle cycles): not ours.
    let v = wait_running(&s, sport, 30, "2 workers", |n| n == 2);
    let pids: Vec<String> = v["workers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["status"] != "cheap")
        .map(|w| w["pid"].to_string())
        .collect();
    assert!(
        pids.contains(&holder),
        "worker {holder} with our connection was stopped: {v}"
    );
    assert_eq!(ask(&mut c), holder, "the kept connection still works");
}

#[test]
fn idle_goes_cheap_and_the_next_connection_wakes_cheaper_workers() {
    let sport = free_port();
    let s = start("cheaper-algo = manual\nidle = 1", sport);
    wait_running(&s, sport, 20, "3 workers", |n| n == 3);
    assert_eq!(s.get("/").0, 200);
    s.wait_log("workers have been inactive for more than 1 seconds", 20);
    s.wait_log("cheap mode enabled: waiting for socket connection...", 5);
    let v = wait_running(&s, sport, 20, "every worker stopped", |n| n == 0);
    assert!(
        v["workers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|w| w["status"] == "cheap"),
        "{v}"
    );
    crate::util::wait_until(20, "no worker process", || s.worker_pids().is_empty());
    // The connection waits in the listen queue while `cheaper` (2) workers start.
    assert_eq!(s.get("/").0, 200, "{}", s.log_text());
    s.wait_log("leaving cheap mode, spawning 2 worker(s)", 5);
    wait_running(&s, sport, 20, "2 workers", |n| n == 2);
}

#[test]
fn cheap_starts_no_worker_and_die_on_idle_stops() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.py"), APP).unwrap();
    std::fs::write(
        dir.path().join("uwsgi.ini"),
        format!(
            "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = app.py\nprocesses = 2\n\
             cheap = true\nidle = 1\ndie-on-idle = true\ndie-on-term = true\n"
        ),
    )
    .unwrap();
    let mut s = Server::launch(dir, port, &["serve", "--ini", "uwsgi.ini"], &[]);
    // Server::launch's probe connection already woke it: no worker was spawned before.
    s.wait_log("leaving cheap mode, spawning 2 worker(s)", 20);
    let log = s.wait_log("spawned rw worker 1 ", 20);
    let cheap_at = log.find("cheap mode enabled: waiting for socket connection...");
    let first_spawn = log.find("spawned rw worker 1 ");
    assert!(cheap_at.is_some() && cheap_at < first_spawn, "{log}");
    assert_eq!(s.get("/").0, 200, "{}", s.log_text());
    // Idle for a second: the whole instance stops, as uWSGI's die-on-idle does.
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "still running:\n{}",
            s.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "{}", s.log_text());
    let log = s.log_text();
    assert!(
        log.contains("workers have been inactive for more than 1 seconds"),
        "{log}"
    );
    assert!(log.contains("goodbye to rw."), "{log}");
}

#[test]
fn master_fifo_plus_and_minus_move_the_target_by_one() {
    let stats_port = free_port();
    let s = start(
        "cheaper-algo = manual\nmaster-fifo = {dir}/m.fifo",
        stats_port,
    );
    wait_running(&s, stats_port, 30, "3 workers", |n| n == 3);
    let fifo = s.path("m.fifo");
    let send = |b: &[u8]| {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .and_then(|mut f| f.write_all(b))
            .unwrap_or_else(|e| panic!("fifo: {e}\n{}", s.log_text()));
    };
    send(b"+");
    wait_running(&s, stats_port, 30, "4 workers after +", |n| n == 4);
    send(b"-");
    wait_running(&s, stats_port, 30, "3 workers after -", |n| n == 3);
    // Never below `cheaper`.
    send(b"---");
    wait_running(&s, stats_port, 30, "2 workers (cheaper)", |n| n == 2);
    s.wait_log("one worker less", 10);
    assert_eq!(running(&stats(stats_port).unwrap()), 2);
}
