//! Requests refused before the app (issue 17 item 5): each kind is logged with its peer and
//! reason, a storm of them costs a bounded number of lines plus `N more` summaries that add up,
//! and the stats JSON (`workers[].rejections`) and `/metrics` (`rw_rejections_total`) count
//! every one.

use crate::util::{free_port, raw_request, split_response, wait_until, Server};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const APP: &str = r#"
def application(environ, start_response):
    start_response('200 OK', [('Content-Length', '2')])
    return [b'ok']
"#;

/// Lines a worker writes per second before it only counts (`log::limit::BURST`).
const BURST: usize = 10;

fn ini(sport: u16, extra: &str) -> String {
    format!(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{{port}}\nwsgi-file = {{dir}}/app.py\nprocesses = 1\n\
         die-on-term = true\nstats = 127.0.0.1:{sport}\nstats-http = true\n{extra}\n"
    )
}

fn stats(sport: u16) -> serde_json::Value {
    let (status, json) = split_response(&raw_request(
        sport,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ));
    assert_eq!(status, 200);
    serde_json::from_slice(&json).unwrap()
}

fn metrics(sport: u16) -> String {
    let (status, text) = split_response(&raw_request(
        sport,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ));
    assert_eq!(status, 200);
    String::from_utf8(text).unwrap()
}

/// The value of one sample of `/metrics`, by its whole name-and-labels text.
fn sample(metrics: &str, series: &str) -> Option<u64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn rejections(sport: u16) -> serde_json::Value {
    stats(sport)["workers"][0]["rejections"].clone()
}

/// Sends `bytes` on a new connection and reads until the server closes (bounded).
fn send(port: u16, bytes: &[u8]) -> Vec<u8> {
    raw_request(port, bytes)
}

/// Rejection lines (`rejected: `) and the events the `N more rejections` summaries stand for.
fn logged(log: &str) -> (usize, u64) {
    let lines = log.lines().filter(|l| l.contains(" rejected: ")).count();
    let more = log
        .lines()
        .filter(|l| l.contains(" more rejections in the last "))
        .map(|l| {
            let after = l.split("] ").nth(1).unwrap_or("");
            after.split(' ').next().unwrap().parse::<u64>().unwrap()
        })
        .sum();
    (lines, more)
}

#[test]
fn each_kind_of_rejection_is_logged_with_its_peer_and_reason_and_counted() {
    let sport = free_port();
    let uport = free_port();
    let s = Server::start(
        &ini(
            sport,
            &format!("socket = 127.0.0.1:{uport}\nsocket-timeout = 1"),
        ),
        &[("app.py", APP)],
    );
    s.workers(1);

    // Malformed heads: each gets its status, then close.
    let cases: [(&[u8], u16, &str); 4] = [
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
            400,
            "rejected: 400 (",
        ),
        (
            b"GET / HTTP/2.5\r\nHost: x\r\n\r\n",
            505,
            "rejected: 505 (unsupported HTTP version)",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            501,
            "rejected: 501 (unsupported transfer coding)",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n\r\n",
            417,
            "rejected: 417 (unsupported expectation)",
        ),
    ];
    for (req, status, line) in cases {
        let resp = send(s.port, req);
        assert_eq!(split_response(&resp).0, status, "{}", req.escape_ascii());
        s.wait_log(&format!("] 127.0.0.1 {line}"), 10);
    }
    let long = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(8000));
    assert_eq!(split_response(&send(s.port, long.as_bytes())).0, 414);
    s.wait_log("] 127.0.0.1 rejected: 414 (request line too long)", 10);

    // A head that never completes: 408 after socket-timeout, without the client's help.
    let mut slow = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let mut resp = Vec::new();
    let _ = slow.read_to_end(&mut resp);
    assert!(
        resp.starts_with(b"HTTP/1.1 408"),
        "{:?}",
        String::from_utf8_lossy(&resp)
    );
    s.wait_log(
        "] 127.0.0.1 rejected: 408 (timed out reading the request): the head was incomplete after 1 s, 25 bytes received",
        10,
    );
    // An idle keep-alive connection closing is not a rejection.
    let mut idle = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    idle.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 256];
    assert!(idle.read(&mut first).unwrap() > 0);
    let mut rest = Vec::new();
    let _ = idle.read_to_end(&mut rest);

    // uwsgi: a packet for a modifier rw does not run is dropped without an answer.
    let out = send(uport, &[5, 6, 0, 0, 1, 0, b'A', 1, 0, b'b']);
    assert!(out.is_empty(), "{out:?}");
    s.wait_log(
        "-- unavailable modifier requested: 5 -- (from 127.0.0.1)",
        10,
    );

    let r = rejections(sport);
    for (key, n) in [
        ("400", 1),
        ("408", 1),
        ("414", 1),
        ("417", 1),
        ("501", 1),
        ("505", 1),
        ("uwsgi", 1),
        ("413", 0),
        ("431", 0),
        ("other", 0),
        ("accept", 0),
    ] {
        assert_eq!(r[key], n, "{key}: {r}");
    }
    assert_eq!(stats(sport)["stats_accept_failures"], 0);
    let m = metrics(sport);
    for (series, n) in [
        (r#"rw_rejections_total{worker="1",status="408"}"#, 1),
        (r#"rw_rejections_total{worker="1",status="400"}"#, 1),
        (r#"rw_rejections_total{worker="1",status="505"}"#, 1),
        (r#"rw_rejections_total{worker="1",cause="uwsgi"}"#, 1),
        (r#"rw_rejections_total{worker="1",cause="accept"}"#, 0),
        (r#"rw_rejections_total{cause="stats_accept"}"#, 0),
    ] {
        assert_eq!(sample(&m, series), Some(n), "{series}\n{m}");
    }
    // Every line written is one of the rejections counted, none more.
    let total: u64 = r
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    let log = s.log_text();
    let (lines, more) = logged(&log);
    assert_eq!((lines + 1) as u64 + more, total, "{log}"); // + the uwsgi line
                                                           // The app was never called for any of them, and served on.
    assert_eq!(s.get("/after").0, 200);
}

#[test]
fn a_burst_of_rejections_costs_a_bounded_number_of_lines_and_the_summaries_add_up() {
    let sport = free_port();
    let s = Server::start(&ini(sport, "socket-timeout = 5"), &[("app.py", APP)]);
    s.workers(1);
    const N: usize = 200;
    let t0 = Instant::now();
    for i in 0..N {
        let req = format!("GET /{i} HTTP/1.1\r\nHost: x\r\nbad header {i}\r\n\r\n");
        assert_eq!(split_response(&send(s.port, req.as_bytes())).0, 400);
    }
    let secs = t0.elapsed().as_secs_f64();
    // The last window's summary comes with the worker's 1 s sweep, not with a next rejection.
    wait_until(15, "the summaries to account for every rejection", || {
        let (lines, more) = logged(&s.log_text());
        lines as u64 + more == N as u64
    });
    let log = s.log_text();
    let (lines, more) = logged(&log);
    // At most BURST lines per window; a window opens at most once per second of the burst
    // (plus the one it began in).
    assert!(
        lines <= BURST * (secs.ceil() as usize + 1),
        "{lines} lines for {N} rejections in {secs:.1} s: not rate limited\n{log}"
    );
    assert!(lines >= BURST, "{log}");
    assert!(more > 0, "{log}");
    let summaries: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(" more rejections in the last "))
        .collect();
    assert!(summaries.len() <= secs.ceil() as usize + 1, "{log}");
    assert!(
        summaries
            .iter()
            .all(|l| l.starts_with("[pid: ") && l.contains("(400: ")),
        "{log}"
    );
    assert_eq!(rejections(sport)["400"], N as u64);
    assert_eq!(
        sample(
            &metrics(sport),
            r#"rw_rejections_total{worker="1",status="400"}"#
        ),
        Some(N as u64)
    );
}

#[test]
fn an_fd_storm_on_accept_is_counted_in_stats_and_metrics() {
    let sport = free_port();
    let s = Server::start(
        &ini(sport, "socket-timeout = 60\nlisten = 256"),
        &[("app.py", APP)],
    );
    let worker = s.workers(1)[0];
    let fds = std::fs::read_dir(format!("/proc/{worker}/fd"))
        .unwrap()
        .count() as u64;
    set_nofile(worker, fds + 3);
    // Unfinished heads hold the worker's last fds; the rest make accept(2) fail.
    let hogs: Vec<TcpStream> = (0..40)
        .map(|_| {
            let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
            c.write_all(b"GET / HTTP/1.1\r\n").unwrap();
            c
        })
        .collect();
    s.wait_log("Too many open files", 20);
    wait_until(10, "accept failures counted", || {
        rejections(sport)["accept"].as_u64().unwrap() > 0
    });
    // Each failure is counted before its log line is written, so reading the log first, then
    // the JSON, then /metrics, each figure is at least the one before.
    let log = s.log_text();
    let claimed: u64 = log
        .lines()
        .filter_map(|l| {
            let (_, after) = l.split_once("ms (")?;
            after.split(' ').next()?.parse::<u64>().ok()
        })
        .sum();
    let counted = rejections(sport)["accept"].as_u64().unwrap();
    let m = metrics(sport);
    let exported = sample(&m, r#"rw_rejections_total{worker="1",cause="accept"}"#).unwrap();
    assert!(claimed >= 1, "{log}");
    assert!(
        claimed <= counted,
        "the log claims {claimed} failures, stats count {counted}\n{log}"
    );
    assert!(exported >= counted, "{exported} < {counted}\n{m}");
    drop(hogs);
}

/// The master's stats listener out of fds: its failures are counted too, apart from the
/// workers' (they are the master's).
#[test]
fn the_stats_listeners_fd_storm_is_counted() {
    let sport = free_port();
    let s = Server::start(&ini(sport, ""), &[("app.py", APP)]);
    let master = s.pid();
    s.workers(1);
    wait_until(20, "the stats server", || {
        TcpStream::connect(("127.0.0.1", sport)).is_ok()
    });
    let fds = std::fs::read_dir(format!("/proc/{master}/fd"))
        .unwrap()
        .count() as u64;
    set_nofile(master, fds + 3);
    let silent: Vec<TcpStream> = (0..40)
        .filter_map(|_| TcpStream::connect(("127.0.0.1", sport)).ok())
        .collect();
    s.wait_log("stats 127.0.0.1", 20);
    s.wait_log("Too many open files", 20);
    drop(silent);
    // Answered again once the silent clients are gone (each is closed after 1 s).
    let mut counted = 0;
    wait_until(20, "the stats document with the failures", || {
        let Ok(mut c) = TcpStream::connect(("127.0.0.1", sport)) else {
            return false;
        };
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut out = Vec::new();
        let _ = c.read_to_end(&mut out);
        let body = out
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|p| &out[p + 4..]);
        let v: Option<serde_json::Value> = body.and_then(|b| serde_json::from_slice(b).ok());
        counted = v
            .and_then(|v| v["stats_accept_failures"].as_u64())
            .unwrap_or(0);
        counted > 0
    });
    let exported = sample(
        &metrics(sport),
        r#"rw_rejections_total{cause="stats_accept"}"#,
    );
    assert!(
        exported.is_some_and(|n| n >= counted),
        "{exported:?} < {counted}"
    );
    // The workers' own counters are untouched by the master's limit.
    assert_eq!(rejections(sport)["accept"], 0);
}

fn set_nofile(pid: i32, n: u64) {
    let lim = libc::rlimit {
        rlim_cur: n,
        rlim_max: n,
    };
    // SAFETY: prlimit on a process we started, with a valid new limit and no old-limit output.
    let rc = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, &lim, std::ptr::null_mut()) };
    assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
}
