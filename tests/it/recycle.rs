//! Worker recycling end to end (issue 11): max-worker-lifetime (+ delta), min-worker-lifetime
//! holding back max-requests, reload-on-as, reload-on-rss, evil-reload-on-rss / -as with
//! mem-collector-freq and worker-reload-mercy; each one's log line, the new pid, the counter
//! by cause in the stats JSON and in /metrics; zero loss under keep-alive load; the startup
//! checks.

use crate::util::{free_port, text, venv, wait_until, Server};
use serde_json::Value;
use std::io::{Read, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const APP: &str = r#"
import mmap, os, time

KEEP = []

def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/grow':
        # Touched pages: resident memory.
        KEEP.append(bytearray(128 * 1024 * 1024))
    elif path == '/reserve':
        # Address space only: a private read-only mapping is neither committed nor resident.
        KEEP.append(mmap.mmap(-1, 4096 * 1024 * 1024, flags=mmap.MAP_PRIVATE | 0x4000,
                              prot=mmap.PROT_READ))
    elif path == '/grow-and-hang':
        KEEP.append(bytearray(128 * 1024 * 1024))
        time.sleep(60)
    body = str(os.getpid()).encode()
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(body)))])
    return [body]
"#;

/// Starts rw with `extra` options and a stats-http socket; returns it and the stats port.
fn start(extra: &str) -> (Server, u16) {
    let stats = free_port();
    let ini = format!(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{{port}}\nwsgi-file = {{dir}}/app.py\n\
         stats = 127.0.0.1:{stats}\nstats-http = true\n{extra}\n"
    );
    let s = Server::start(&ini, &[("app.py", APP)]);
    wait_until(20, "the stats socket", || {
        std::net::TcpStream::connect(("127.0.0.1", stats)).is_ok()
    });
    (s, stats)
}

/// GET `path` on 127.0.0.1:`port` over a new connection: (head, body).
fn http_get(port: u16, path: &str) -> (String, String) {
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    let out = String::from_utf8_lossy(&out).into_owned();
    match out.split_once("\r\n\r\n") {
        Some((h, b)) => (h.to_string(), b.to_string()),
        None => (out, String::new()),
    }
}

/// The pid of the worker that answered `path` (the app returns it).
fn pid_of(s: &Server, path: &str) -> i32 {
    let (head, body) = http_get(s.port, path);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}\n{}", s.log_text());
    body.trim().parse().unwrap()
}

fn stats_json(port: u16) -> Value {
    let (head, body) = http_get(port, "/");
    assert!(head.starts_with("HTTP/1.0 200"), "{head}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("bad stats JSON ({e}): {body}"))
}

/// The stats JSON's recycle counter for `cause`.
fn recycles(port: u16, cause: &str) -> u64 {
    let v = stats_json(port);
    v["recycles"][cause]
        .as_u64()
        .unwrap_or_else(|| panic!("no recycles.{cause} in {}", v["recycles"]))
}

/// `rw_worker_recycles_total{cause="…"}` in /metrics.
fn metric(port: u16, cause: &str) -> u64 {
    let (_, body) = http_get(port, "/metrics");
    let key = format!("rw_worker_recycles_total{{cause=\"{cause}\"}} ");
    body.lines()
        .find_map(|l| l.strip_prefix(&key))
        .unwrap_or_else(|| panic!("no `{key}` in:\n{body}"))
        .parse()
        .unwrap()
}

/// The whole seconds of the first "worker N lifetime reached" line of worker `id`.
fn lifetime_line(log: &str, id: usize) -> Option<u64> {
    let prefix = format!("worker {id} lifetime reached, it was running for ");
    log.lines().find_map(|l| {
        l.strip_prefix(&prefix)?
            .strip_suffix(" second(s)")?
            .parse()
            .ok()
    })
}

fn assert_counted(stats: u16, cause: &str, at_least: u64) {
    let n = recycles(stats, cause);
    assert!(n >= at_least, "recycles.{cause} = {n}, want >= {at_least}");
    assert!(metric(stats, cause) >= n, "/metrics behind the JSON");
}

#[test]
fn max_worker_lifetime_recycles_each_worker_after_its_lifetime_plus_delta() {
    let (s, stats) = start(
        "processes = 2\nmax-worker-lifetime = 2\nmax-worker-lifetime-delta = 3\n\
         min-worker-lifetime = 0",
    );
    let first = s.workers(2);
    // Worker 1 lives 2 s, worker 2 lives 2 + 3 s: each is over once a whole second more ran.
    let log = s.wait_log("worker 2 lifetime reached", 30);
    let one = lifetime_line(&log, 1).unwrap_or_else(|| panic!("worker 1 not recycled:\n{log}"));
    let two = lifetime_line(&log, 2).unwrap();
    assert!(one >= 3, "worker 1 recycled after {one} s:\n{log}");
    assert!(two >= 6, "worker 2 recycled after {two} s:\n{log}");
    assert!(
        log.find("worker 1 lifetime reached") < log.find("worker 2 lifetime reached"),
        "{log}"
    );
    wait_until(20, "both workers replaced", || {
        let now = s.worker_pids();
        now.len() == 2 && now.iter().all(|p| !first.contains(p))
    });
    assert!(
        s.log_text().contains("Respawned rw worker 2"),
        "{}",
        s.log_text()
    );
    assert_counted(stats, "max-worker-lifetime", 2);
    assert_eq!(recycles(stats, "max-requests"), 0);
}

#[test]
fn min_worker_lifetime_holds_back_max_requests() {
    let (s, stats) = start("processes = 1\nmax-requests = 1\nmin-worker-lifetime = 6");
    let first = pid_of(&s, "/");
    let spawned = stats_json(stats)["workers"][0]["last_spawn"]
        .as_u64()
        .unwrap();
    // max-requests = 1 would retire the worker after each request: for 6 s it serves on.
    let mut served_by_first = 1;
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    let second = loop {
        assert!(std::time::Instant::now() < deadline, "{}", s.log_text());
        let pid = pid_of(&s, "/");
        if pid != first {
            break pid;
        }
        served_by_first += 1;
        std::thread::sleep(Duration::from_millis(100));
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(served_by_first > 1, "recycled after one request");
    // Whole seconds on both sides: at least 6 - 1 s after the spawn.
    assert!(
        now >= spawned + 5,
        "worker recycled {} s after its spawn",
        now - spawned
    );
    assert!(s.log_text().contains("The work of process"));
    // The new worker is held back too.
    assert_eq!(pid_of(&s, "/"), second);
    assert_counted(stats, "max-requests", 1);
}

#[test]
fn reload_on_as_recycles_a_worker_with_a_large_address_space() {
    let (s, stats) = start("processes = 1\nreload-on-as = 3072\nmin-worker-lifetime = 0");
    let before = s.workers(1)[0];
    assert_eq!(pid_of(&s, "/"), before, "a small worker is not recycled");
    assert_eq!(pid_of(&s, "/reserve"), before);
    let log = s.wait_log("Seeya!", 20);
    assert!(
        log.contains(&format!(
            "...The work of process {before} is done (address space "
        )),
        "{log}"
    );
    wait_until(20, "a fresh worker", || {
        let now = s.worker_pids();
        now.len() == 1 && now[0] != before
    });
    assert_counted(stats, "reload-on-as", 1);
    assert_eq!(recycles(stats, "reload-on-rss"), 0);
}

#[test]
fn reload_on_rss_is_counted() {
    let (s, stats) = start("processes = 1\nreload-on-rss = 96\nmin-worker-lifetime = 0");
    let before = pid_of(&s, "/");
    assert_eq!(pid_of(&s, "/grow"), before);
    let log = s.wait_log("Seeya!", 20);
    assert!(log.contains(&format!("...The work of process {before} is done (RSS ")));
    wait_until(20, "a fresh worker", || pid_of(&s, "/") != before);
    assert_counted(stats, "reload-on-rss", 1);
}

#[test]
fn evil_reload_on_rss_stops_a_fat_idle_worker_gracefully() {
    let (s, stats) = start(
        "processes = 1\nevil-reload-on-rss = 96\nmem-collector-freq = 1\n\
         worker-reload-mercy = 30",
    );
    let before = pid_of(&s, "/grow");
    let log = s.wait_log("*** EVIL RELOAD ON WORKER 1 RSS: ", 20);
    assert!(log.contains(&format!("(pid: {before}) ***")), "{log}");
    let log = s.wait_log(&format!("worker 1 killed successfully (pid: {before})"), 20);
    assert!(!log.contains("NO MERCY"), "{log}");
    wait_until(20, "a fresh worker", || pid_of(&s, "/") != before);
    assert_counted(stats, "evil-reload-on-rss", 1);
    // The fresh worker is small: no second evil reload.
    assert_eq!(s.log_text().matches("EVIL RELOAD").count(), 1);
}

#[test]
fn evil_reload_on_rss_kills_a_stuck_worker_after_the_mercy() {
    let (s, stats) = start(
        "processes = 1\nthreads = 2\nevil-reload-on-rss = 96\nmem-collector-freq = 1\n\
         worker-reload-mercy = 2",
    );
    let before = s.workers(1)[0];
    let port = s.port;
    // This request never gets its answer: its worker is killed in it.
    let hung = std::thread::spawn(move || http_get(port, "/grow-and-hang"));
    let log = s.wait_log("*** EVIL RELOAD ON WORKER 1 RSS: ", 20);
    assert!(log.contains(&format!("(pid: {before}) ***")), "{log}");
    s.wait_log(
        &format!("worker 1 (pid: {before}) is taking too much time to die...NO MERCY !!!"),
        20,
    );
    wait_until(20, "a fresh worker", || {
        let now = s.worker_pids();
        now.len() == 1 && now[0] != before
    });
    let (head, _) = hung.join().unwrap();
    assert!(!head.starts_with("HTTP/1.1 200"), "{head}");
    assert_counted(stats, "evil-reload-on-rss", 1);
}

#[test]
fn evil_reload_on_as_stops_a_worker_with_a_large_address_space() {
    let (s, stats) = start("processes = 1\nevil-reload-on-as = 3072\nmem-collector-freq = 1");
    let before = pid_of(&s, "/reserve");
    let log = s.wait_log("*** EVIL RELOAD ON WORKER 1 ADDRESS SPACE: ", 20);
    assert!(log.contains(&format!("(pid: {before}) ***")), "{log}");
    wait_until(20, "a fresh worker", || pid_of(&s, "/") != before);
    assert_counted(stats, "evil-reload-on-as", 1);
    assert_eq!(recycles(stats, "evil-reload-on-rss"), 0);
}

/// A keep-alive client per thread (Python's http.client), for `secs` seconds: every request
/// is counted, answered or failed. A connection the server closes between two requests is a
/// failure here, as it is for any client that does not retry.
const CLIENT: &str = r#"
import http.client, json, sys, threading, time

port, threads, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
ok, failed, errors, pids = [0], [0], [], set()
lock = threading.Lock()

def run():
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=30)
    end = time.monotonic() + secs
    while time.monotonic() < end:
        try:
            conn.request('GET', '/')
            r = conn.getresponse()
            body = r.read()
            good = r.status == 200
            with lock:
                if good:
                    ok[0] += 1
                    pids.add(body.decode())
                else:
                    failed[0] += 1
                    errors.append('status %d' % r.status)
        except Exception as e:
            with lock:
                failed[0] += 1
                errors.append(repr(e))
            conn.close()

ts = [threading.Thread(target=run) for _ in range(threads)]
for t in ts: t.start()
for t in ts: t.join()
print(json.dumps({'ok': ok[0], 'failed': failed[0], 'errors': errors[:5], 'pids': len(pids)}))
"#;

#[test]
fn lifetime_recycles_under_keep_alive_load_lose_nothing() {
    let (s, stats) =
        start("processes = 2\nthreads = 2\nmax-worker-lifetime = 2\nmin-worker-lifetime = 0");
    s.workers(2);
    let script = s.path("client.py");
    std::fs::write(&script, CLIENT).unwrap();
    let out = std::process::Command::new(venv().join("bin/python"))
        .arg(&script)
        .args([&s.port.to_string(), "4", "10"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let n = recycles(stats, "max-worker-lifetime");
    assert_eq!(
        r["failed"],
        0,
        "{r} ({n} recycles)\n{}",
        s.log_text()
            .lines()
            .rev()
            .take(15)
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(r["ok"].as_u64().unwrap() > 100, "{r}");
    // 10 s of 3 s lives: at least two recycles per worker, seen as new pids by the client.
    assert!(n >= 4, "only {n} lifetime recycles in 10 s");
    assert!(r["pids"].as_u64().unwrap() >= 4, "{r}");
    assert_eq!(
        metric(stats, "max-worker-lifetime"),
        recycles(stats, "max-worker-lifetime")
    );
}

#[test]
fn a_minimum_lifetime_not_below_the_maximum_is_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    // (extra lines, wanted diagnostic, exit status). Values uWSGI's atoi reads another way
    // are warnings with their line (errors under --strict), as for every numeric option.
    let cases = [
        // uWSGI's default minimum (10 s) is not below a 5 s maximum.
        (
            "max-worker-lifetime = 5\n",
            "t.ini:3: error: invalid min-worker-lifetime value (10), must be lower than max-worker-lifetime (5)",
            1,
        ),
        (
            "max-worker-lifetime = 30\nmin-worker-lifetime = 30\n",
            "t.ini:4: error: invalid min-worker-lifetime value (30)",
            1,
        ),
        ("max-worker-lifetime = -1\n", "t.ini:3: error: max-worker-lifetime: `-1` is negative", 1),
        ("mem-collector-freq = 100000\n", "t.ini:3: error: mem-collector-freq: 100000 is out of range", 1),
        ("reload-on-as = lots\n", "t.ini:3: warning: reload-on-as: `lots` is not a number", 0),
        ("evil-reload-on-rss = 1.5\n", "t.ini:3: warning: evil-reload-on-rss: `1.5` is read as 1", 0),
        (
            "max-worker-lifetime-delta = 30\n",
            "t.ini:3: warning: max-worker-lifetime-delta has no effect without max-worker-lifetime",
            0,
        ),
    ];
    for (extra, want, code) in cases {
        let ini = dir.path().join("t.ini");
        std::fs::write(
            &ini,
            format!("[uwsgi]\nhttp-socket = 127.0.0.1:0\n{extra}wsgi-file = app.py\ndie-on-term = true\n"),
        )
        .unwrap();
        std::fs::write(dir.path().join("app.py"), APP).unwrap();
        for strict in [false, true] {
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_rw"));
            cmd.arg("check-config");
            if strict {
                cmd.arg("--strict");
            }
            let out = cmd.arg("t.ini").current_dir(dir.path()).output().unwrap();
            let all = text(&out);
            let want_code = if strict { 1 } else { code };
            assert_eq!(
                out.status.code(),
                Some(want_code),
                "{extra} (strict: {strict}):\n{all}"
            );
            assert!(all.contains(want), "want `{want}` in:\n{all}");
        }
    }
    // A good one passes, even under --strict, and serve refuses what check-config refuses.
    let ini = dir.path().join("t.ini");
    std::fs::write(
        &ini,
        "[uwsgi]\nhttp-socket = 127.0.0.1:0\nwsgi-file = app.py\ndie-on-term = true\nmax-worker-lifetime = 3600\n\
         max-worker-lifetime-delta = 60\nmin-worker-lifetime = 0\nreload-on-as = 2048\n\
         evil-reload-on-rss = 512\nmem-collector-freq = 2\n",
    )
    .unwrap();
    let ok = std::process::Command::new(env!("CARGO_BIN_EXE_rw"))
        .args(["check-config", "--strict", "t.ini"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    let port = free_port();
    std::fs::write(
        &ini,
        format!("[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = app.py\nmax-worker-lifetime = 5\n"),
    )
    .unwrap();
    let out = std::process::Command::new("timeout")
        .args([
            "-s",
            "INT",
            "20",
            env!("CARGO_BIN_EXE_rw"),
            "serve",
            "--ini",
            "t.ini",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("t.ini:4: error: invalid min-worker-lifetime value (10)"));
}

const DUMPING_APP: &str = r#"
import faulthandler, os, signal, time

# What harakiri-graceful-signal is for in rw: the app's own handler, here every thread's stack.
faulthandler.register(signal.SIGUSR2, all_threads=True)

def stuck_in_here():
    # Short sleeps: the harakiri exception is delivered between two of them.
    for _ in range(300):
        time.sleep(0.1)

def application(environ, start_response):
    if environ['PATH_INFO'] == '/hang':
        stuck_in_here()
    body = str(os.getpid()).encode()
    start_response('200 OK', [('Content-Length', str(len(body)))])
    return [body]
"#;

#[test]
fn harakiri_graceful_signal_reaches_the_apps_handler() {
    let s = Server::start(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {dir}/app.py\nprocesses = 1\n\
         threads = 2\nharakiri = 1\nharakiri-graceful-timeout = 10\nharakiri-graceful-signal = 12\n",
        &[("app.py", DUMPING_APP)],
    );
    let before = pid_of(&s, "/");
    let (head, _) = http_get(s.port, "/hang");
    assert!(head.starts_with("HTTP/1.1 504"), "{head}\n{}", s.log_text());
    let log = s.wait_log(
        "HARAKIRI: graceful termination attempt on worker 1 with signal 12",
        20,
    );
    // faulthandler's dump of the stuck thread, written by the worker on SIGUSR2.
    let log = if log.contains("in stuck_in_here") {
        log
    } else {
        s.wait_log("in stuck_in_here", 20)
    };
    assert!(log.contains("(most recent call first)"), "{log}");
    // The handled signal did not stop the worker: the interrupted request returned, it lives on.
    s.wait_log("lives on", 20);
    assert_eq!(pid_of(&s, "/"), before);
}
