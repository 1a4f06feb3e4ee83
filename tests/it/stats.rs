//! The stats server end to end: rw's JSON against a real uWSGI dump, counters that are true,
//! the real uwsgitop over unix, TCP and stats-http, `rw connect-and-read`, `rw top`,
//! Prometheus `/metrics`, and hostile request vars in flight.

use crate::util::{free_port, run, text, venv, wait_until, Server};
use rw::proto::uwsgi::encode_packet;
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const APP: &str = r#"
import time

def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/raise':
        raise RuntimeError('boom')
    if path == '/sleep':
        time.sleep(float((environ.get('QUERY_STRING') or '1').split('&')[0]))
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'ok']
"#;

fn ini(extra: &str) -> String {
    format!(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{{port}}\nwsgi-file = {{dir}}/app.py\nprocesses = 2\n\
         threads = 2\ndie-on-term = true\n{extra}\n"
    )
}

fn start(extra: &str) -> Server {
    Server::start(&ini(extra), &[("app.py", APP)])
}

/// Reads a stats socket until EOF (unix path or 127.0.0.1:port).
fn read_stats_raw(addr: &str) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    if addr.contains(':') {
        let mut s = std::net::TcpStream::connect(addr)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        s.read_to_end(&mut out)?;
    } else {
        let mut s = std::os::unix::net::UnixStream::connect(addr)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        s.read_to_end(&mut out)?;
    }
    Ok(out)
}

/// Waits (bounded) for the stats socket to answer, then returns the parsed JSON.
fn stats(s: &Server, addr: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match read_stats_raw(addr) {
            Ok(raw) if !raw.is_empty() => {
                let text = std::str::from_utf8(&raw).expect("stats JSON is UTF-8");
                return serde_json::from_str(text)
                    .unwrap_or_else(|e| panic!("invalid stats JSON ({e}):\n{text}"));
            }
            r => assert!(
                Instant::now() < deadline,
                "the stats socket {addr} did not answer in 20 s ({:?}; is the stats server \
                 wired into the master?):\n{}",
                r.err(),
                s.log_text()
            ),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn workers(v: &Value) -> &Vec<Value> {
    v["workers"].as_array().expect("workers is a list")
}

fn sum(v: &Value, key: &str) -> u64 {
    workers(v).iter().map(|w| w[key].as_u64().unwrap()).sum()
}

fn get(s: &Server, path: &str) -> u16 {
    s.get(path).0
}

/// Starts a request that sleeps `secs` in the app; returns the connection (keep it open).
fn in_flight(port: u16, secs: u32) -> std::net::TcpStream {
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        c,
        "GET /sleep?{secs} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    c
}

fn busy_cores(v: &Value) -> usize {
    workers(v)
        .iter()
        .flat_map(|w| w["cores"].as_array().unwrap())
        .filter(|c| c["in_request"] == 1)
        .count()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

/// Every `path: type` of a document; array elements merge under `path[]`.
fn shape(v: &Value, path: &str, out: &mut BTreeSet<String>) {
    out.insert(format!("{path}: {}", kind(v)));
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                shape(x, &format!("{path}.{k}"), out);
            }
        }
        Value::Array(a) => {
            for x in a {
                shape(x, &format!("{path}[]"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn json_has_every_key_of_real_uwsgi_with_the_same_types_and_nesting() {
    let s = start("stats = {dir}/stats.sock\nmemory-report = false");
    let addr = s.path("stats.sock").display().to_string();
    stats(&s, &addr);
    for _ in 0..5 {
        assert_eq!(get(&s, "/"), 200);
    }
    // As in the sample: a request in flight (filled vars and req_info).
    let _c = in_flight(s.port, 3);
    let mut ours = Value::Null;
    // The in-flight request's core busy, and no other: a core that answered one of the GETs
    // above may still be finishing it (its log line, its counters) after the client has read
    // the response.
    wait_until(10, "only the sleeping request's core in a request", || {
        ours = stats(&s, &addr);
        let sleeping = workers(&ours)
            .iter()
            .flat_map(|w| w["cores"].as_array().cloned().unwrap_or_default())
            .filter(|c| {
                c["vars"]
                    .as_array()
                    .is_some_and(|v| v.iter().any(|x| x == "REQUEST_URI=/sleep?3"))
            })
            .count();
        busy_cores(&ours) == 1 && sleeping == 1
    });
    let sample: Value = serde_json::from_str(
        &std::fs::read_to_string(crate::util::fixture("stats-sample.json")).unwrap(),
    )
    .unwrap();
    let (mut want, mut got) = (BTreeSet::new(), BTreeSet::new());
    shape(&sample, "", &mut want);
    shape(&ours, "", &mut got);
    let missing: Vec<&String> = want.difference(&got).collect();
    assert!(
        missing.is_empty(),
        "keys/types of the uWSGI sample missing from rw's stats: {missing:#?}\nrw:\n{ours:#}"
    );
    // Top-level keys in uWSGI's order (each first appears at the top level, before `workers`).
    let raw = String::from_utf8(read_stats_raw(&addr).unwrap()).unwrap();
    let sample_raw = std::fs::read_to_string(crate::util::fixture("stats-sample.json")).unwrap();
    let mut keys: Vec<&String> = sample.as_object().unwrap().keys().collect();
    keys.sort_by_key(|k| sample_raw.find(&format!("\"{k}\"")).unwrap());
    let at: Vec<usize> = keys
        .iter()
        .map(|k| raw.find(&format!("\"{k}\"")).unwrap())
        .collect();
    let mut sorted = at.clone();
    sorted.sort();
    assert_eq!(
        at, sorted,
        "top-level key order differs from uWSGI's:\n{raw}"
    );
    // Figures that must be right.
    assert_eq!(ours["pid"], s.pid());
    let mut pids: Vec<i64> = workers(&ours)
        .iter()
        .map(|w| w["pid"].as_i64().unwrap())
        .collect();
    pids.sort();
    let mut real: Vec<i64> = s.workers(2).into_iter().map(i64::from).collect();
    real.sort();
    assert_eq!(pids, real);
    for w in workers(&ours) {
        assert!(
            w["rss"].as_u64().unwrap() > 0,
            "rss without memory-report: {w:#}"
        );
        assert!(w["vsz"].as_u64().unwrap() > 0);
        assert_eq!(w["cores"].as_array().unwrap().len(), 2);
        for c in w["cores"].as_array().unwrap() {
            if c["in_request"] == 1 {
                let vars = c["vars"].as_array().unwrap();
                assert_eq!(vars.last().unwrap(), "", "vars end with an empty string");
                assert!(vars.iter().any(|v| v == "REQUEST_URI=/sleep?3"), "{vars:?}");
                assert!(c["req_info"]["request_start"].as_u64().unwrap() > 1_600_000_000);
            } else {
                assert_eq!(c["vars"], serde_json::json!([]));
                assert_eq!(c["req_info"], serde_json::json!({}));
            }
        }
    }
    assert_eq!(ours["sockets"][0]["name"], format!("127.0.0.1:{}", s.port));
    assert_eq!(ours["sockets"][0]["proto"], "http");
    assert_eq!(ours["sockets"][0]["max_queue"], 100);
    assert!(workers(&ours).iter().any(|w| w["status"] == "busy"));
}

#[test]
fn counters_are_true_and_survive_respawns() {
    let s = start("stats = {dir}/stats.sock\nharakiri = 1");
    let addr = s.path("stats.sock").display().to_string();
    let v = stats(&s, &addr);
    assert_eq!(sum(&v, "requests"), 0);
    assert_eq!(sum(&v, "respawn_count"), 2);
    for _ in 0..20 {
        assert_eq!(get(&s, "/"), 200);
    }
    wait_until(10, "20 requests counted", || {
        sum(&stats(&s, &addr), "requests") == 20
    });
    let v = stats(&s, &addr);
    assert_eq!(sum(&v, "exceptions"), 0);
    assert!(sum(&v, "tx") > 20 * 30);

    assert_eq!(get(&s, "/raise"), 500);
    wait_until(10, "the exception counted", || {
        let v = stats(&s, &addr);
        sum(&v, "exceptions") == 1 && sum(&v, "requests") == 21
    });

    // Harakiri: a request sleeping past `harakiri = 1` kills its worker.
    let before = stats(&s, &addr);
    let _ = crate::util::raw_request(
        s.port,
        b"GET /sleep?30 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    wait_until(15, "harakiri counted", || {
        sum(&stats(&s, &addr), "harakiri_count") == 1
    });
    s.wait_log("HARAKIRI ON WORKER", 5);
    wait_until(15, "the harakiri'd worker respawned", || {
        let v = stats(&s, &addr);
        sum(&v, "respawn_count") == 3 && workers(&v).iter().all(|w| w["pid"].as_i64().unwrap() > 0)
    });
    let v = stats(&s, &addr);
    assert!(
        sum(&v, "requests") >= sum(&before, "requests"),
        "requests stay monotonic"
    );
    assert_eq!(sum(&v, "exceptions"), 1);

    // A killed worker: same slot, new pid, one more respawn; counters kept.
    let w1 = &workers(&v)[0];
    let (old_pid, old_respawns, old_requests) = (
        w1["pid"].as_i64().unwrap(),
        w1["respawn_count"].as_u64().unwrap(),
        w1["requests"].as_u64().unwrap(),
    );
    // SAFETY: signalling a worker of the server this test started.
    unsafe { libc::kill(old_pid as i32, libc::SIGKILL) };
    wait_until(15, "worker 1 respawned", || {
        let v = stats(&s, &addr);
        let w = &workers(&v)[0];
        let pid = w["pid"].as_i64().unwrap();
        pid > 0 && pid != old_pid && w["respawn_count"].as_u64().unwrap() == old_respawns + 1
    });
    let v = stats(&s, &addr);
    assert!(workers(&v)[0]["requests"].as_u64().unwrap() >= old_requests);
    assert_eq!(workers(&v)[0]["id"], 1);
}

/// A tmux server on its own socket, killed when dropped.
struct Tmux {
    bin: &'static str,
    sock: PathBuf,
}

impl Tmux {
    fn start(dir: &Path, cmd: &str) -> Option<Tmux> {
        let tmux = ["/usr/bin/tmux", "/bin/tmux", "/usr/local/bin/tmux"]
            .into_iter()
            .find(|p| Path::new(p).exists())?;
        let t = Tmux {
            bin: tmux,
            sock: dir.join("tmux.sock"),
        };
        let st = Command::new(tmux)
            .arg("-S")
            .arg(&t.sock)
            .args(["new-session", "-d", "-x", "220", "-y", "50", cmd])
            .env("TERM", "xterm")
            .status()
            .unwrap();
        assert!(st.success(), "tmux new-session failed");
        Some(t)
    }

    fn screen(&self) -> String {
        let out = Command::new(self.bin)
            .arg("-S")
            .arg(&self.sock)
            .args(["capture-pane", "-p"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new(self.bin)
            .arg("-S")
            .arg(&self.sock)
            .arg("kill-server")
            .status();
    }
}

/// Runs the real uwsgitop on `addr` under a terminal and checks a row per worker with its pid
/// and request count.
fn uwsgitop_shows(s: &Server, addr: &str, json_addr: &str) {
    let top = venv().join("bin/uwsgitop");
    let v = stats(s, json_addr);
    let cmd = format!("{} {addr}; sleep 30", top.display());
    let t = Tmux::start(s.dir.path(), &cmd)
        .expect("tmux is not installed: run tests/run.sh (it installs tmux for the uwsgitop test)");
    let want: Vec<(String, String)> = workers(&v)
        .iter()
        .map(|w| (w["pid"].to_string(), w["requests"].to_string()))
        .collect();
    let mut screen = String::new();
    let ok = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        screen = t.screen();
        want.iter().all(|(pid, req)| {
            screen.lines().any(|l| {
                let c: Vec<&str> = l.split_whitespace().collect();
                c.len() >= 16 && c[2] == pid && c[3] == req
            })
        })
    });
    assert!(ok, "uwsgitop {addr} did not show {want:?}:\n{screen}");
    assert!(screen.contains("uwsgi-2.0.30 - "), "{screen}");
    assert!(
        screen.contains(&format!("masterpid: {}", s.pid())),
        "{screen}"
    );
    assert!(!screen.contains("Traceback"), "{screen}");
}

#[test]
fn real_uwsgitop_reads_unix_tcp_and_http_stats() {
    let s = start("stats = {dir}/stats.sock");
    let addr = s.path("stats.sock").display().to_string();
    stats(&s, &addr);
    for _ in 0..7 {
        get(&s, "/");
    }
    wait_until(10, "7 requests counted", || {
        sum(&stats(&s, &addr), "requests") == 7
    });
    uwsgitop_shows(&s, &addr, &addr);
    drop(s);

    let port = free_port();
    let s = start(&format!("stats = 127.0.0.1:{port}"));
    let addr = format!("127.0.0.1:{port}");
    stats(&s, &addr);
    for _ in 0..3 {
        get(&s, "/");
    }
    wait_until(10, "3 requests counted", || {
        sum(&stats(&s, &addr), "requests") == 3
    });
    uwsgitop_shows(&s, &addr, &addr);
    drop(s);

    let port = free_port();
    let s = start(&format!("stats = 127.0.0.1:{port}\nstats-http = true"));
    let url = format!("http://127.0.0.1:{port}");
    get(&s, "/");
    wait_until(10, "1 request counted", || {
        sum(&http_json(&s, port), "requests") == 1
    });
    let v = http_json(&s, port);
    let top = venv().join("bin/uwsgitop");
    let Some(t) = Tmux::start(s.dir.path(), &format!("{} {url}; sleep 30", top.display())) else {
        return;
    };
    let pids: Vec<String> = workers(&v).iter().map(|w| w["pid"].to_string()).collect();
    let mut screen = String::new();
    let ok = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        screen = t.screen();
        pids.iter().all(|p| screen.contains(p.as_str())) && screen.contains("req: 1 ")
    });
    assert!(ok, "uwsgitop {url}:\n{screen}");
}

/// GET `path` on a stats-http socket; returns (head, body).
fn http_get(port: u16, path: &str) -> (String, Vec<u8>) {
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(c, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut out = Vec::new();
    c.read_to_end(&mut out).unwrap();
    let at = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head: {:?}", String::from_utf8_lossy(&out)));
    (
        String::from_utf8_lossy(&out[..at]).into_owned(),
        out[at + 4..].to_vec(),
    )
}

fn http_json(s: &Server, port: u16) -> Value {
    wait_until(20, "the stats-http socket", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let (head, body) = http_get(port, "/");
    assert_eq!(
        head,
        "HTTP/1.0 200 OK\r\nConnection: close\r\nAccess-Control-Allow-Origin: *\r\nContent-Type: application/json",
        "{}",
        s.log_text()
    );
    serde_json::from_slice(&body).unwrap()
}

#[test]
fn connect_and_read_prints_the_json_and_fails_cleanly() {
    let port = free_port();
    let s = start(&format!("stats = 127.0.0.1:{port}"));
    let tcp = format!("127.0.0.1:{port}");
    let v = stats(&s, &tcp);
    let out = run(&["connect-and-read", &tcp]);
    assert!(out.status.success(), "{}", text(&out));
    let got: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(got["pid"], v["pid"]);
    drop(s);

    let s = start("stats = stats.sock");
    let unix = s.path("stats.sock").display().to_string();
    stats(&s, &unix);
    let out = run(&["connect-and-read", &unix]);
    assert!(out.status.success(), "{}", text(&out));
    let got: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(got["pid"], s.pid());
    assert_eq!(workers(&got).len(), 2);

    // `| head` ends quietly.
    let sh = format!(
        "{} connect-and-read {unix} | head -c 10 >/dev/null; echo \"${{PIPESTATUS[0]}}\"",
        env!("CARGO_BIN_EXE_rw")
    );
    let out = Command::new("bash").args(["-c", &sh]).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "0",
        "{}",
        text(&out)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));

    let nothing = format!("127.0.0.1:{}", free_port());
    let out = run(&["connect-and-read", &nothing]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!("rw: cannot connect to {nothing}: ")),
        "{err}"
    );
    let out = run(&["connect-and-read", "/nonexistent/stats.sock"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("rw: cannot connect to /nonexistent/stats.sock: "));
}

#[test]
fn rw_top_once_and_json_show_the_same_figures_as_the_socket() {
    let s = start("stats = {dir}/stats.sock");
    let addr = s.path("stats.sock").display().to_string();
    stats(&s, &addr);
    for _ in 0..4 {
        get(&s, "/");
    }
    get(&s, "/raise");
    wait_until(10, "5 requests counted", || {
        sum(&stats(&s, &addr), "requests") == 5
    });
    let v = stats(&s, &addr);

    let out = run(&["top", &addr, "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["pid"], v["pid"]);
    for (a, b) in workers(&j).iter().zip(workers(&v)) {
        for k in ["id", "pid", "requests", "exceptions", "tx", "respawn_count"] {
            assert_eq!(a[k], b[k], "{k}");
        }
    }

    let out = run(&["top", &addr, "--once"]);
    assert!(out.status.success(), "{}", text(&out));
    let frame = String::from_utf8(out.stdout).unwrap();
    assert!(
        !frame.contains('\u{1b}'),
        "escape codes in --once output:\n{frame}"
    );
    let lines: Vec<&str> = frame.lines().collect();
    assert!(
        lines[0].starts_with(&format!(
            "rw-{} (uwsgi 2.0.30) - ",
            env!("CARGO_PKG_VERSION")
        )),
        "{frame}"
    );
    assert!(
        lines[0].contains(" - req: 5 - RPS: 0 - lq: 0 - tx: "),
        "{frame}"
    );
    assert!(
        lines[1].contains(&format!("- masterpid: {}", s.pid())),
        "{frame}"
    );
    assert!(lines[2].split_whitespace().eq([
        "WID", "%", "PID", "REQ", "RPS", "EXC", "SIG", "STATUS", "AVG", "RSS", "VSZ", "TX",
        "ReSpwn", "HC", "RunT", "LastSpwn", "P50", "P99", "BUSY"
    ]));
    for w in workers(&v) {
        let row = lines[3..]
            .iter()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|c| c[0].parse::<u64>().ok() == w["id"].as_u64())
            .unwrap_or_else(|| panic!("no row for worker {}:\n{frame}", w["id"]));
        assert_eq!(row[2], w["pid"].to_string(), "{frame}");
        assert_eq!(row[3], w["requests"].to_string(), "{frame}");
        assert_eq!(row[5], w["exceptions"].to_string(), "{frame}");
        assert_eq!(row[12], w["respawn_count"].to_string(), "{frame}");
    }

    let nothing = s.path("nothing.sock").display().to_string();
    let out = run(&["top", &nothing, "--once"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("cannot read stats from"),
        "{}",
        text(&out)
    );
}

/// A strict parser for the Prometheus text format 0.0.4: returns (name, labels, value) per
/// sample and checks HELP/TYPE placement, names, label syntax, values and histograms.
/// One sample: metric name, labels, value.
type Sample = (String, Vec<(String, String)>, f64);

fn parse_prometheus(text: &str) -> Vec<Sample> {
    fn valid_name(n: &str) -> bool {
        let mut ch = n.chars();
        ch.next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && ch.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    }
    let mut types: Vec<(String, String)> = Vec::new();
    let mut helped: BTreeSet<String> = BTreeSet::new();
    let mut samples = Vec::new();
    assert!(text.ends_with('\n'), "exposition must end with a newline");
    for (no, line) in text.lines().enumerate() {
        let ctx = || format!("line {}: {line:?}", no + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kw, name, arg) = (
                parts.next().unwrap(),
                parts.next().unwrap_or(""),
                parts.next(),
            );
            match kw {
                "HELP" => {
                    assert!(valid_name(name), "{}", ctx());
                    assert!(helped.insert(name.to_string()), "second HELP: {}", ctx());
                    assert!(arg.is_some_and(|h| !h.is_empty()), "empty HELP: {}", ctx());
                }
                "TYPE" => {
                    assert!(valid_name(name), "{}", ctx());
                    let t = arg.unwrap_or("");
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&t),
                        "{}",
                        ctx()
                    );
                    assert!(
                        !types.iter().any(|(n, _)| n == name),
                        "second TYPE: {}",
                        ctx()
                    );
                    assert!(
                        !samples.iter().any(|(n, _, _): &Sample| n == name),
                        "TYPE after samples: {}",
                        ctx()
                    );
                    types.push((name.to_string(), t.to_string()));
                }
                _ => {}
            }
            continue;
        }
        assert!(!line.starts_with('#'), "{}", ctx());
        // name{labels} value
        let name_end = line.find(['{', ' ']).unwrap_or_else(|| panic!("{}", ctx()));
        let name = &line[..name_end];
        assert!(valid_name(name), "{}", ctx());
        let mut rest = &line[name_end..];
        let mut labels = Vec::new();
        if let Some(r) = rest.strip_prefix('{') {
            let mut r = r;
            loop {
                if let Some(after) = r.strip_prefix('}') {
                    r = after;
                    break;
                }
                let eq = r.find('=').unwrap_or_else(|| panic!("{}", ctx()));
                let lname = &r[..eq];
                assert!(valid_name(lname) && !lname.contains(':'), "{}", ctx());
                r = r[eq + 1..]
                    .strip_prefix('"')
                    .unwrap_or_else(|| panic!("{}", ctx()));
                let mut value = String::new();
                let mut chars = r.char_indices();
                let end = loop {
                    match chars.next() {
                        Some((i, '"')) => break i,
                        Some((_, '\\')) => match chars.next() {
                            Some((_, 'n')) => value.push('\n'),
                            Some((_, '\\')) => value.push('\\'),
                            Some((_, '"')) => value.push('"'),
                            _ => panic!("bad escape: {}", ctx()),
                        },
                        Some((_, '\n')) | None => panic!("unterminated label: {}", ctx()),
                        Some((_, c)) => value.push(c),
                    }
                };
                labels.push((lname.to_string(), value));
                r = &r[end + 1..];
                if let Some(after) = r.strip_prefix(',') {
                    r = after;
                }
            }
            rest = r;
        }
        let value = rest
            .strip_prefix(' ')
            .unwrap_or_else(|| panic!("{}", ctx()));
        let mut vt = value.split(' ');
        let v = vt.next().unwrap();
        let v: f64 = match v {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            x => x.parse().unwrap_or_else(|_| panic!("bad value: {}", ctx())),
        };
        if let Some(ts) = vt.next() {
            ts.parse::<i64>()
                .unwrap_or_else(|_| panic!("bad timestamp: {}", ctx()));
        }
        assert!(vt.next().is_none(), "{}", ctx());
        let family = types
            .iter()
            .find(|(n, t)| {
                n == name
                    || (t == "histogram"
                        && [
                            format!("{n}_bucket"),
                            format!("{n}_sum"),
                            format!("{n}_count"),
                        ]
                        .contains(&name.to_string()))
            })
            .unwrap_or_else(|| panic!("sample without TYPE: {}", ctx()));
        if family.1 == "counter" {
            assert!(v >= 0.0, "negative counter: {}", ctx());
        }
        samples.push((name.to_string(), labels, v));
    }
    // Histograms: cumulative buckets with increasing `le`, +Inf == _count, a _sum.
    for (fam, _) in types.iter().filter(|(_, t)| t == "histogram") {
        let buckets: Vec<(f64, f64)> = samples
            .iter()
            .filter(|(n, _, _)| *n == format!("{fam}_bucket"))
            .map(|(_, l, v)| {
                let le = &l.iter().find(|(k, _)| k == "le").expect("le label").1;
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap()
                };
                (le, *v)
            })
            .collect();
        assert!(!buckets.is_empty(), "{fam}: no buckets");
        assert!(
            buckets
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
            "{fam}: {buckets:?}"
        );
        assert_eq!(
            buckets.last().unwrap().0,
            f64::INFINITY,
            "{fam}: no +Inf bucket"
        );
        let count = samples
            .iter()
            .find(|(n, _, _)| *n == format!("{fam}_count"))
            .expect("_count")
            .2;
        assert_eq!(buckets.last().unwrap().1, count, "{fam}: +Inf != _count");
        assert!(
            samples.iter().any(|(n, _, _)| *n == format!("{fam}_sum")),
            "{fam}: no _sum"
        );
    }
    for (n, _) in &types {
        assert!(helped.contains(n), "{n} has TYPE but no HELP");
    }
    samples
}

#[test]
fn metrics_parse_as_prometheus_text() {
    let port = free_port();
    let s = start(&format!("stats = 127.0.0.1:{port}\nstats-http = true"));
    http_json(&s, port);
    for _ in 0..6 {
        get(&s, "/");
    }
    get(&s, "/raise");
    wait_until(10, "7 requests counted", || {
        sum(&http_json(&s, port), "requests") == 7
    });
    let (head, body) = http_get(port, "/metrics");
    assert!(head.starts_with("HTTP/1.0 200 OK\r\n"), "{head}");
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4"),
        "{head}"
    );
    let text = String::from_utf8(body).expect("UTF-8");
    let samples = parse_prometheus(&text);
    let total = |name: &str| -> f64 {
        samples
            .iter()
            .filter(|(n, _, _)| n == name)
            .map(|(_, _, v)| v)
            .sum()
    };
    let by = |name: &str, k: &str, val: &str| -> f64 {
        samples
            .iter()
            .find(|(n, l, _)| n == name && l.iter().any(|(a, b)| a == k && b == val))
            .unwrap_or_else(|| panic!("no {name}{{{k}=\"{val}\"}}:\n{text}"))
            .2
    };
    assert_eq!(total("rw_requests_total"), 7.0, "{text}");
    assert_eq!(total("rw_exceptions_total"), 1.0);
    assert_eq!(by("rw_responses_total", "class", "2xx"), 6.0);
    assert_eq!(by("rw_responses_total", "class", "5xx"), 1.0);
    assert_eq!(
        by("rw_responses_total", "class", "4xx"),
        0.0,
        "zeros are emitted"
    );
    assert_eq!(total("rw_request_duration_seconds_count"), 7.0);
    assert_eq!(
        by("rw_workers", "status", "idle") + by("rw_workers", "status", "busy"),
        2.0
    );
    assert_eq!(total("rw_worker_respawns_total"), 2.0);
    assert_eq!(total("rw_harakiri_total"), 0.0);
    assert!(total("rw_worker_rss_bytes") > 0.0);
    assert!(samples.iter().any(|(n, _, _)| n == "rw_listen_queue"));

    // Optional second opinion: the reference Python parser, when installed in the venv.
    let py = venv().join("bin/python");
    let has_client = Command::new(&py)
        .args(["-c", "import prometheus_client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if has_client {
        let path = s.path("metrics.txt");
        std::fs::write(&path, &text).unwrap();
        let out = Command::new(&py)
            .args([
                "-c",
                "import sys\nfrom prometheus_client.parser import text_string_to_metric_families as p\n\
                 n = sum(len(f.samples) for f in p(open(sys.argv[1]).read()))\nprint(n)",
            ])
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text_of(&out));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            samples.len().to_string()
        );
    }
}

fn text_of(o: &std::process::Output) -> String {
    text(o)
}

#[test]
fn json_stays_valid_with_hostile_vars_in_flight() {
    let uport = free_port();
    let s = start(&format!(
        "socket = 127.0.0.1:{uport}\nstats = {{dir}}/stats.sock"
    ));
    let addr = s.path("stats.sock").display().to_string();
    stats(&s, &addr);
    // uwsgi vars carry any bytes: quotes, backslashes, control characters, invalid UTF-8.
    let evil: &[u8] = b"\"q\" \\ \x01\x02\x1b[2J\n\r\t\x7f \xff\xfe\xc3( end";
    let vars: Vec<(&[u8], &[u8])> = vec![
        (b"REQUEST_METHOD", b"GET"),
        (b"REQUEST_URI", b"/sleep?3"),
        (b"PATH_INFO", b"/sleep"),
        (b"QUERY_STRING", b"3"),
        (b"SERVER_PROTOCOL", b"HTTP/1.1"),
        (b"SERVER_NAME", b"x"),
        (b"SERVER_PORT", b"80"),
        (b"REMOTE_ADDR", b"127.0.0.1"),
        (b"HTTP_X_EVIL", evil),
        (b"HTTP_X_\xff\"KEY", b"v"),
    ];
    let mut c = std::net::TcpStream::connect(("127.0.0.1", uport)).unwrap();
    c.write_all(&encode_packet(0, &vars, 0)).unwrap();
    // A hostile HTTP request too (as far as the HTTP parser lets it through).
    let mut h = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    h.write_all(b"GET /sleep?3&x=%22%01 HTTP/1.1\r\nHost: x\r\nX-Evil: \"\\\xff\xfe\t'\r\n\r\n")
        .unwrap();
    let mut found = None;
    wait_until(10, "the hostile request in a core slot", || {
        let raw = read_stats_raw(&addr).unwrap();
        let text = std::str::from_utf8(&raw).expect("stats JSON must be UTF-8");
        assert!(
            !text.bytes().any(|b| b < 0x20 && b != b'\n' && b != b' '),
            "raw control characters in the JSON"
        );
        let v: Value = serde_json::from_str(text).expect("stats JSON must parse");
        found = workers(&v)
            .iter()
            .flat_map(|w| w["cores"].as_array().unwrap().clone())
            .flat_map(|c| c["vars"].as_array().unwrap().clone())
            .filter_map(|x| x.as_str().map(str::to_string))
            .find(|x| x.starts_with("HTTP_X_EVIL=\"q\""));
        found.is_some()
    });
    let got = found.unwrap();
    assert!(
        got.starts_with("HTTP_X_EVIL=\"q\" \\ \u{1}\u{2}\u{1b}[2J\n\r\t\u{7f} \u{fffd}"),
        "{got:?}"
    );
    // The same document through the real uwsgitop's parser (json.loads after utf-8 decode).
    let out = Command::new(venv().join("bin/python"))
        .args([
            "-c",
            "import json,socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\n\
             d=b''\nwhile True:\n  x=s.recv(4096)\n  if not x: break\n  d+=x\n\
             j=json.loads(d.decode('utf8'))\nprint(len(j['workers']))",
            &addr,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2");
    // rw top renders it without passing escape codes through.
    let out = run(&["top", &addr, "--once"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!out.stdout.contains(&0x1b));
}

#[test]
fn listen_queue_is_true_on_unix_and_tcp_sockets_under_overload() {
    let s = Server::start(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nsocket = {dir}/app.sock\nwsgi-file = {dir}/app.py\n\
         processes = 1\nthreads = 1\ndie-on-term = true\nstats = {dir}/stats.sock\n",
        &[("app.py", APP)],
    );
    let addr = s.path("stats.sock").display().to_string();
    // Empty once the worker accepts (the readiness probe may wait there until then).
    wait_until(10, "an empty accept queue", || {
        stats(&s, &addr)["listen_queue"] == 0
    });
    // The only core sleeps; what arrives meanwhile waits in the kernel's accept queues.
    let _busy = in_flight(s.port, 4);
    wait_until(10, "the worker busy", || busy_cores(&stats(&s, &addr)) == 1);
    let _unix: Vec<_> = (0..5)
        .map(|_| std::os::unix::net::UnixStream::connect(s.path("app.sock")).unwrap())
        .collect();
    // They send a first byte: the listener has TCP_DEFER_ACCEPT (as uWSGI's), so a silent
    // connection is not in the accept queue yet.
    let _tcp: Vec<_> = (0..3)
        .map(|_| {
            let mut c = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
            std::io::Write::write_all(&mut c, b"G").unwrap();
            c
        })
        .collect();
    let mut v = Value::Null;
    wait_until(5, "queues seen", || {
        v = stats(&s, &addr);
        v["listen_queue"] == 5
    });
    let queue = |name: &str| {
        v["sockets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("no socket {name}: {v:#}"))
            .clone()
    };
    let unix = queue("app.sock");
    assert_eq!(
        (unix["queue"].as_u64(), unix["max_queue"].as_u64()),
        (Some(5), Some(100))
    );
    assert_eq!(unix["proto"], "uwsgi");
    let tcp = queue(&format!(":{}", s.port));
    assert_eq!(
        (tcp["queue"].as_u64(), tcp["max_queue"].as_u64()),
        (Some(3), Some(100))
    );
    assert_eq!(v["load"], v["listen_queue"]);
}

#[test]
fn stats_socket_survives_a_graceful_reload() {
    let port = free_port();
    let s = start(&format!(
        "stats = {{dir}}/stats.sock\nstats-http = false\npidfile = {{dir}}/rw.pid\n\
         socket = 127.0.0.1:{port}"
    ));
    let addr = s.path("stats.sock").display().to_string();
    let old: BTreeSet<i64> = workers(&stats(&s, &addr))
        .iter()
        .map(|w| w["pid"].as_i64().unwrap())
        .collect();
    // A request in flight keeps an old worker alive while the new master binds again.
    let _c = in_flight(s.port, 2);
    let out = run(&["reload", s.path("rw.pid").to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    wait_until(20, "new workers in the stats", || {
        let v = stats(&s, &addr);
        v["pid"] == s.pid()
            && workers(&v).iter().all(|w| {
                w["pid"]
                    .as_i64()
                    .is_some_and(|p| p > 0 && !old.contains(&p))
            })
    });
    assert!(
        !s.log_text().contains("another server is listening"),
        "{}",
        s.log_text()
    );
}
