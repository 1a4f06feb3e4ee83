//! Robustness under hostile or heavy clients (security-cases §3.4, §3.5): reset storms,
//! disconnects mid-response, 1 GiB bodies with bounded memory, long streams next to short
//! requests, zero-loss recycling under keep-alive load, and log lines that cannot be forged.

use crate::util::{split_response, wait_until, Server};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn ini(extra: &str) -> String {
    format!("[uwsgi]\nhttp-socket = 127.0.0.1:{{port}}\nwsgi-file = {{dir}}/app.py\ndie-on-term = true\n{extra}\n")
}

/// One app for every test here; the path picks the behaviour.
const APP: &str = r#"
import os, sys, time

COUNT = 0

def application(environ, start_response):
    global COUNT
    COUNT += 1
    path = environ['PATH_INFO']
    crash_every = int(environ.get('HTTP_X_CRASH_EVERY', '0'))
    if crash_every and COUNT % crash_every == 0:
        print('rw-test crashing on', environ['REQUEST_URI'], file=sys.stderr, flush=True)
        os._exit(1)
    if path == '/stream':
        # A large body produced slowly (clients hang up long before its end).
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        def gen():
            chunk = b'x' * 65536
            for _ in range(2000):
                yield chunk
                time.sleep(0.005)
        return gen()
    if path == '/sse':
        start_response('200 OK', [('Content-Type', 'text/event-stream'), ('Cache-Control', 'no-cache')])
        def events():
            for i in range(100):
                yield b'data: %d\n\n' % i
                time.sleep(0.1)
        return events()
    if path == '/upload':
        inp = environ['wsgi.input']
        n = 0
        while True:
            b = inp.read(65536)
            if not b:
                break
            n += len(b)
        body = str(n).encode()
    elif path == '/download':
        size = int(environ['QUERY_STRING'])
        start_response('200 OK', [('Content-Type', 'application/octet-stream'), ('Content-Length', str(size))])
        def gen():
            chunk = b'y' * 65536
            for _ in range(size // 65536):
                yield chunk
        return gen()
    elif path == '/pid':
        body = str(os.getpid()).encode()
    else:
        body = b'ok'
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
"#;

fn start(extra: &str) -> Server {
    Server::start(&ini(extra), &[("app.py", APP)])
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

/// SO_LINGER 0: closing sends an RST instead of a FIN.
fn set_linger0(s: &TcpStream) {
    use std::os::fd::AsRawFd;
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on our own socket with a valid `linger` value.
    let r = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&l as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0);
}

/// utime + stime of `pid`, in seconds.
pub(crate) fn cpu_seconds(pid: i32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|x| x.parse().unwrap())
        .collect();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (f[0] + f[1]) as f64 / hz
}

pub(crate) fn fd_count(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// VmRSS of `pid` in bytes (0 once it is gone).
fn rss(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

/// Samples `pid`'s RSS every 10 ms until stopped; returns the maximum seen.
struct RssSampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl RssSampler {
    fn start(pid: i32) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut max = 0;
                while !stop.load(Relaxed) {
                    max = max.max(rss(pid));
                    std::thread::sleep(Duration::from_millis(10));
                }
                max.max(rss(pid))
            })
        };
        RssSampler { stop, thread }
    }

    fn max(self) -> u64 {
        self.stop.store(true, Relaxed);
        self.thread.join().unwrap()
    }
}

fn assert_no_panic(s: &Server) {
    let log = s.log_text();
    assert!(
        !log.contains("panicked") && !log.contains("RUST_BACKTRACE"),
        "a panic was logged:\n{log}"
    );
}

fn get_pid(s: &Server) -> i32 {
    let (status, body) = s.get("/pid");
    assert_eq!(status, 200);
    String::from_utf8(body).unwrap().parse().unwrap()
}

/// waitress CVE-2024-49769: connections reset before or while the head arrives must not leave
/// half-open sockets behind or a poller spinning on them.
#[test]
fn reset_storm_leaves_no_busy_loop_and_no_leaked_fds() {
    let s = start("processes = 1");
    let worker = s.workers(1)[0];
    assert_eq!(get_pid(&s), worker);
    std::thread::sleep(Duration::from_millis(200));
    let baseline = fd_count(worker);
    for i in 0..1000 {
        let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        match i % 4 {
            0 => {}
            1 => {
                let _ = c.write_all(b"GET /partial HTTP/1.1\r\nHost: x\r\nX-A: ");
            }
            2 => {
                // Let the worker park the unfinished head before the reset arrives.
                let _ = c.write_all(b"GET /parked HT");
                if i % 40 == 2 {
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
            _ => {
                let _ = c.write_all(
                    b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab",
                );
            }
        }
        set_linger0(&c);
        drop(c);
    }
    wait_until(15, "the worker's fd count back to its baseline", || {
        fd_count(worker).abs_diff(baseline) <= 2
    });
    std::thread::sleep(Duration::from_millis(300));
    let before = cpu_seconds(worker);
    std::thread::sleep(Duration::from_secs(2));
    let spent = cpu_seconds(worker) - before;
    assert!(
        spent < 0.2,
        "the idle worker burned {spent:.2} s of CPU in 2 s"
    );
    assert!(
        fd_count(worker).abs_diff(baseline) <= 2,
        "fds: {} now, {baseline} before",
        fd_count(worker)
    );
    assert_eq!(s.get("/").0, 200);
    assert_eq!(get_pid(&s), worker, "the worker was replaced");
    assert_no_panic(&s);
}

/// waitress CVE-2022-31015: clients hanging up mid-response while every thread is streaming.
#[test]
fn clients_leaving_mid_response_under_thread_load_do_not_hurt_the_worker() {
    let s = start("processes = 1\nthreads = 4");
    let worker = s.workers(1)[0];
    let port = s.port;
    let clients: Vec<_> = (0..20)
        .map(|i| {
            std::thread::spawn(move || {
                let mut c = connect(port);
                c.write_all(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
                    .unwrap();
                let mut got = 0;
                let mut buf = vec![0u8; 16 * 1024];
                let want = 20_000 + i * 10_000;
                while got < want {
                    match c.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got += n,
                    }
                }
                if i % 2 == 0 {
                    set_linger0(&c);
                }
                drop(c);
                got >= want
            })
        })
        .collect();
    let read_enough = clients
        .into_iter()
        .map(|c| c.join().unwrap())
        .filter(|&ok| ok)
        .count();
    assert_eq!(
        read_enough,
        20,
        "some streams ended early:\n{}",
        s.log_text()
    );
    // Every abandoned stream ends (the write fails) long before its 10 s of data.
    wait_until(15, "20 abandoned streams to be logged", || {
        s.log_text().matches("GET /stream =>").count() == 20
    });
    for _ in 0..8 {
        assert_eq!(s.get("/").0, 200);
    }
    assert_eq!(get_pid(&s), worker, "the worker was replaced");
    assert_eq!(s.worker_pids(), vec![worker]);
    assert_no_panic(&s);
    assert!(!s.log_text().contains("DAMN"), "{}", s.log_text());
}

const GIB: u64 = 1 << 30;

/// Granian #885, bjoern: a 1 GiB request body and a 1 GiB response stream through the worker
/// without being buffered whole.
#[test]
fn gigabyte_bodies_stream_with_bounded_memory() {
    let s = start("processes = 1");
    let worker = s.workers(1)[0];
    // Warm up both paths so the baseline includes their steady-state allocations.
    let warm = |s: &Server| {
        let mut c = connect(s.port);
        let body = vec![b'a'; 1 << 20];
        c.write_all(b"POST /upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 1048576\r\n\r\n").unwrap();
        c.write_all(&body).unwrap();
        let mut out = Vec::new();
        c.read_to_end(&mut out).unwrap();
        assert_eq!(split_response(&out), (200, b"1048576".to_vec()));
        let (status, body) = s.get("/download?1048576");
        assert_eq!((status, body.len()), (200, 1 << 20));
    };
    warm(&s);
    warm(&s);
    let baseline = rss(worker);
    assert!(baseline > 0);
    let t = Instant::now();

    let sampler = RssSampler::start(worker);
    let mut c = connect(s.port);
    c.write_all(
        format!("POST /upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {GIB}\r\n\r\n")
            .as_bytes(),
    )
    .unwrap();
    let chunk = vec![b'u'; 64 * 1024];
    for _ in 0..GIB / chunk.len() as u64 {
        c.write_all(&chunk).unwrap();
    }
    let mut out = Vec::new();
    c.read_to_end(&mut out).unwrap();
    let up_peak = sampler.max();
    assert_eq!(
        split_response(&out),
        (200, GIB.to_string().into_bytes()),
        "{}",
        s.log_text()
    );
    let up_time = t.elapsed();

    let sampler = RssSampler::start(worker);
    let mut c = connect(s.port);
    c.write_all(
        format!("GET /download?{GIB} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        match c.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => total += n as u64,
            Err(e) => panic!("download failed after {total} bytes: {e}"),
        }
    }
    let down_peak = sampler.max();
    assert!(total > GIB && total < GIB + 1024, "got {total} bytes");
    eprintln!(
        "1 GiB up in {up_time:?}, down in {:?}; RSS baseline {} MiB, peaks {} / {} MiB",
        t.elapsed() - up_time,
        baseline >> 20,
        up_peak >> 20,
        down_peak >> 20
    );
    const BOUND: u64 = 64 << 20;
    assert!(
        up_peak.saturating_sub(baseline) < BOUND,
        "upload grew RSS by {} MiB",
        (up_peak - baseline) >> 20
    );
    assert!(
        down_peak.saturating_sub(baseline) < BOUND,
        "download grew RSS by {} MiB",
        (down_peak - baseline) >> 20
    );
    assert_eq!(get_pid(&s), worker);
}

/// `limit-post` answers 413 from the head alone: the client never has to send the body.
#[test]
fn limit_post_refuses_before_reading_the_body() {
    let s = start("processes = 1\nlimit-post = 1048576");
    let mut c = connect(s.port);
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 2097152\r\n\r\n")
        .unwrap();
    let t = Instant::now();
    let mut out = Vec::new();
    let r = c.read_to_end(&mut out);
    assert!(
        r.is_ok(),
        "no answer without the body ({r:?}) after {:?}: {:?}",
        t.elapsed(),
        String::from_utf8_lossy(&out)
    );
    assert_eq!(
        split_response(&out).0,
        413,
        "{}",
        String::from_utf8_lossy(&out)
    );
    let log = s.wait_log("rejected: 413", 5);
    assert!(!log.contains("POST /upload =>"), "the app ran:\n{log}");
    // A body at the limit still goes through.
    let mut c = connect(s.port);
    c.write_all(
        b"POST /upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 1048576\r\n\r\n",
    )
    .unwrap();
    c.write_all(&vec![b'z'; 1 << 20]).unwrap();
    let mut out = Vec::new();
    c.read_to_end(&mut out).unwrap();
    assert_eq!(split_response(&out), (200, b"1048576".to_vec()));
}

/// Granian #873: long-lived streams on all threads but one; the last one still answers.
#[test]
fn long_streams_do_not_starve_other_requests() {
    let s = start("processes = 1\nthreads = 4");
    let mut streams: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut c = connect(s.port);
            c.write_all(b"GET /sse HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while !got.windows(7).any(|w| w == b"data: 0") {
                let n = c.read(&mut buf).unwrap();
                assert!(n > 0, "stream closed: {:?}", String::from_utf8_lossy(&got));
                got.extend_from_slice(&buf[..n]);
            }
            c
        })
        .collect();
    for _ in 0..5 {
        let t = Instant::now();
        let (status, body) = s.get("/health");
        let took = t.elapsed();
        assert_eq!((status, body.as_slice()), (200, &b"ok"[..]));
        assert!(took < Duration::from_secs(1), "/health took {took:?}");
        std::thread::sleep(Duration::from_millis(150));
    }
    // The streams were live all along.
    for c in &mut streams {
        let mut buf = [0u8; 4096];
        let n = c.read(&mut buf).unwrap();
        assert!(n > 0 && buf[..n].windows(6).any(|w| w == b"data: "));
    }
}

/// The outcome of one request on a keep-alive connection.
enum Outcome {
    /// A whole response; `close` when the server said the connection ends with it.
    Full { status: u16, close: bool },
    /// The connection ended before any byte of the response.
    Nothing(String),
    /// The connection ended part way through the response.
    Partial(Vec<u8>),
}

/// Sends `req` and reads one Content-Length-framed response.
fn exchange(c: &mut TcpStream, req: &[u8]) -> Outcome {
    if let Err(e) = c.write_all(req) {
        return Outcome::Nothing(format!("write: {e}"));
    }
    let mut got: Vec<u8> = Vec::new();
    let mut buf = [0u8; 4096];
    let fail = |got: Vec<u8>, why: String| {
        if got.is_empty() {
            Outcome::Nothing(why)
        } else {
            Outcome::Partial(got)
        }
    };
    let head_end = loop {
        if let Some(p) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        match c.read(&mut buf) {
            Ok(0) => return fail(got, "eof".into()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return fail(got, format!("read: {e}")),
        }
    };
    let head = String::from_utf8_lossy(&got[..head_end]).to_ascii_lowercase();
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let Some(len) = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
    else {
        return Outcome::Partial(got); // every answer here carries a length
    };
    let close = head.contains("\r\nconnection: close") || head.starts_with("http/1.0");
    while got.len() < head_end + len {
        match c.read(&mut buf) {
            Ok(0) | Err(_) => return Outcome::Partial(got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    Outcome::Full { status, close }
}

/// Runs `clients` threads sending `per_client` keep-alive requests each; returns the
/// descriptions of failed requests (by request id) and how many succeeded.
fn keep_alive_load(
    port: u16,
    clients: usize,
    per_client: usize,
    reconnect_every: usize,
    extra_header: &'static str,
) -> (Vec<(usize, String)>, u64) {
    let ok = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..clients)
        .map(|t| {
            let ok = ok.clone();
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(90);
                let mut failures = Vec::new();
                let mut conn: Option<TcpStream> = None;
                for i in 0..per_client {
                    assert!(Instant::now() < deadline, "the load took over 90 s");
                    let id = t * per_client + i;
                    let mut c = conn.take().unwrap_or_else(|| connect(port));
                    let last = reconnect_every > 0 && i % reconnect_every == reconnect_every - 1;
                    let req = format!(
                        "GET /r/{id} HTTP/1.1\r\nHost: x\r\n{extra_header}{}\r\n",
                        if last { "Connection: close\r\n" } else { "" }
                    );
                    match exchange(&mut c, req.as_bytes()) {
                        Outcome::Full { status, close } => {
                            if (200..300).contains(&status) {
                                ok.fetch_add(1, Relaxed);
                            } else {
                                failures.push((id, format!("status {status}")));
                            }
                            if !close && !last {
                                conn = Some(c);
                            }
                        }
                        Outcome::Nothing(why) => {
                            failures.push((id, format!("closed before any response byte ({why})")))
                        }
                        Outcome::Partial(got) => failures.push((
                            id,
                            format!("partial response {:?}", String::from_utf8_lossy(&got)),
                        )),
                    }
                }
                failures
            })
        })
        .collect();
    let failures = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    (failures, ok.load(Relaxed))
}

/// §3.5 zero-loss deploys: `max-requests` recycling under keep-alive load fails nothing.
#[test]
fn max_requests_recycling_under_keep_alive_load_loses_nothing() {
    let s = start("processes = 2\nmax-requests = 50\nmin-worker-lifetime = 0");
    s.workers(2);
    let (failures, ok) = keep_alive_load(s.port, 4, 500, 0, "");
    let log = s.log_text();
    let recycles = log.matches("The work of process").count();
    assert!(
        failures.is_empty(),
        "{} of 2000 requests failed ({ok} ok, {recycles} recycles): {:?}\n{}",
        failures.len(),
        &failures[..failures.len().min(5)],
        tail(&log)
    );
    assert_eq!(ok, 2000);
    assert!(recycles >= 20, "only {recycles} recycles:\n{}", tail(&log));
    assert_no_panic(&s);
}

/// §3.5 crash respawn: a worker dying on a request fails that request only.
#[test]
fn crash_respawn_under_keep_alive_load_fails_only_the_crashing_requests() {
    let s = start("processes = 2");
    s.workers(2);
    // Sequential client: a crashing worker also drops idle keep-alive connections it holds,
    // which no server can avoid; one client has only the connection of the crashing request.
    let (failures, ok) = keep_alive_load(s.port, 1, 2000, 10, "X-Crash-Every: 100\r\n");
    let log = s.log_text();
    let crashed: Vec<usize> = log
        .lines()
        .filter_map(|l| l.strip_prefix("rw-test crashing on /r/"))
        .map(|id| id.trim().parse().unwrap())
        .collect();
    let failed: Vec<usize> = failures.iter().map(|(id, _)| *id).collect();
    assert!(
        crashed.len() >= 10,
        "only {} crashes:\n{}",
        crashed.len(),
        tail(&log)
    );
    let others: Vec<_> = failures
        .iter()
        .filter(|(id, _)| !crashed.contains(id))
        .collect();
    assert!(
        others.is_empty(),
        "{} requests failed that did not crash ({ok} ok, crashes {crashed:?}): {:?}\n{}",
        others.len(),
        &others[..others.len().min(5)],
        tail(&log)
    );
    assert_eq!(failed, crashed, "every crashing request fails");
    assert_eq!(ok as usize, 2000 - crashed.len());
    assert!(log.contains("Respawned rw worker"));
    assert_no_panic(&s);
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(12)..].join("\n")
}

/// Sends the hostile requests to `s` (HTTP) and `uwsgi_port` (uwsgi), checking each is answered.
fn send_hostile_requests(s: &Server, uwsgi_port: u16) {
    // HTTP: quotes, backslashes, invalid UTF-8 and encoded control bytes (PATH_INFO decodes them).
    let mut req = b"GET /a\"b\\c/\xff\xfe/\xc3\x28/%1b[31m%0d%0aLOG%20fake?q=\"x\" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n".to_vec();
    req.extend_from_slice(
        b"User-Agent: ua\"\\\xff\x80\t\"end\r\nReferer: http://r/\xc3\x28\"\r\n\r\n",
    );
    let (status, body) = split_response(&crate::util::raw_request(s.port, &req));
    assert_eq!((status, body.as_slice()), (200, &b"ok"[..]));
    // uwsgi: any byte can arrive in a var, ESC CR LF included.
    let vars: &[(&[u8], &[u8])] = &[
        (b"REQUEST_METHOD", b"GET"),
        (b"REQUEST_URI", b"/u\x1b[2J\r\nLOG fake\x07\xff\"q"),
        (b"PATH_INFO", b"/u\x1b[2J\r\nLOG fake\x07\xff\"q"),
        (b"QUERY_STRING", b""),
        (b"SERVER_PROTOCOL", b"HTTP/1.1"),
        (b"REMOTE_ADDR", b"10.0.0.1\r\nLOG peer"),
        (b"HTTP_USER_AGENT", b"\x1b]0;pwned\x07\r\nLOG forged"),
        (b"HTTP_REFERER", b"\x00\x7f\x9b"),
    ];
    let mut payload = Vec::new();
    for (k, v) in vars {
        payload.extend_from_slice(&(k.len() as u16).to_le_bytes());
        payload.extend_from_slice(k);
        payload.extend_from_slice(&(v.len() as u16).to_le_bytes());
        payload.extend_from_slice(v);
    }
    let mut packet = vec![0u8];
    packet.extend_from_slice(&(payload.len() as u16).to_le_bytes());
    packet.push(0);
    packet.extend_from_slice(&payload);
    let resp = crate::util::raw_request(uwsgi_port, &packet);
    assert_eq!(split_response(&resp), (200, b"ok".to_vec()));
    // Raw control bytes in the head itself are refused (400) and logged escaped as well.
    let resp = crate::util::raw_request(
        s.port,
        b"GET /esc\x1b[31m HTTP/1.1\r\nHost: x\r\nUser-Agent: a\x1bb\r\n\r\n",
    );
    assert_eq!(split_response(&resp).0, 400);
}

/// Starts a server with an extra uwsgi socket; returns it and the uwsgi port.
fn start_with_uwsgi_socket(extra: &str) -> (Server, u16) {
    let uwsgi_port = crate::util::free_port();
    let mut s = Server::start(
        &ini(&format!(
            "processes = 1\nsocket = 127.0.0.1:{uwsgi_port}\n{extra}"
        )),
        &[("app.py", APP)],
    );
    s.wait_port(uwsgi_port);
    (s, uwsgi_port)
}

/// No raw control, DEL or non-ASCII byte anywhere in the log file.
fn assert_log_bytes_clean(s: &Server) {
    let raw = std::fs::read(&s.log).unwrap();
    if let Some(p) = raw
        .iter()
        .position(|&b| (b < 0x20 && b != b'\n') || b >= 0x7f)
    {
        panic!(
            "raw byte {:#04x} at {p} in the log:\n{}",
            raw[p],
            String::from_utf8_lossy(&raw)
        );
    }
}

/// §3.5 / uwsgitop #4, #40: request bytes that could drive a terminal or forge a log line are
/// escaped in the log, and the request is still answered.
#[test]
fn hostile_bytes_in_uri_and_headers_are_escaped_in_the_log() {
    let (s, uwsgi_port) = start_with_uwsgi_socket(
        "log-format = LOG %(method) %(uri) [%(var.PATH_INFO)] \"%(uagent)\" \"%(referer)\" %(addr) %(status)",
    );
    send_hostile_requests(&s, uwsgi_port);
    let log = wait_for_count(&s, "LOG GET ", 2);
    assert_log_bytes_clean(&s);
    assert!(
        !log.lines()
            .any(|l| l.starts_with("LOG ") && !l.starts_with("LOG GET ")),
        "a forged line:\n{log}"
    );
    let lines: Vec<&str> = log.lines().filter(|l| l.starts_with("LOG GET ")).collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert_eq!(
        lines[0],
        "LOG GET /a\\x22b\\x5cc/\\xff\\xfe/\\xc3(/%1b[31m%0d%0aLOG%20fake?q=\\x22x\\x22 \
         [/a\\x22b\\x5cc/\\xff\\xfe/\\xc3(/\\x1b[31m\\x0d\\x0aLOG fake] \
         \"ua\\x22\\x5c\\xff\\x80\\x09\\x22end\" \"http://r/\\xc3(\\x22\" 127.0.0.1 200"
    );
    assert_eq!(
        lines[1],
        "LOG GET /u\\x1b[2J\\x0d\\x0aLOG fake\\x07\\xff\\x22q [/u\\x1b[2J\\x0d\\x0aLOG fake\\x07\\xff\\x22q] \
         \"\\x1b]0;pwned\\x07\\x0d\\x0aLOG forged\" \"\\x00\\x7f\\x9b\" 10.0.0.1\\x0d\\x0aLOG peer 200"
    );
    assert_no_panic(&s);

    // The default (uWSGI) line format escapes the same way.
    let (s, uwsgi_port) = start_with_uwsgi_socket("");
    send_hostile_requests(&s, uwsgi_port);
    let log = wait_for_count(&s, " => generated ", 2);
    assert_log_bytes_clean(&s);
    assert!(
        log.contains("GET /u\\x1b[2J\\x0d\\x0aLOG fake\\x07\\xff\\x22q => generated 2 bytes"),
        "{log}"
    );
    assert!(
        log.contains("GET /a\\x22b\\x5cc/\\xff\\xfe/\\xc3(/%1b[31m%0d%0aLOG%20fake?q=\\x22x\\x22 => generated 2 bytes"),
        "{log}"
    );
    assert!(!log.lines().any(|l| l.starts_with("LOG ")), "{log}");
    assert_no_panic(&s);
}

fn wait_for_count(s: &Server, needle: &str, n: usize) -> String {
    wait_until(10, &format!("{n} log lines with {needle:?}"), || {
        s.log_text().matches(needle).count() >= n
    });
    s.log_text()
}
