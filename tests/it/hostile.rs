//! Hostile clients and resource limits (issue 17): no spin, no stall, no silent rejection.

use crate::robustness::{cpu_seconds, fd_count};
use crate::util::{wait_until, Server};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const APP: &str = r#"
import os, time

def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/barrier':
        # Waits (bounded) until N requests are in the app at once, in any worker: a request that
        # sits queued inside a busy worker never arrives, and the barrier times out.
        n = int(environ['QUERY_STRING'].split('&')[0])
        d = '{dir}/barrier-' + environ['QUERY_STRING'].split('&')[1]
        os.makedirs(d, exist_ok=True)
        open(os.path.join(d, str(os.getpid()) + '-' + str(id(environ))), 'w').close()
        deadline = time.time() + 8
        while len(os.listdir(d)) < n and time.time() < deadline:
            time.sleep(0.01)
        seen = sorted(os.listdir(d))
        body = ('%s pid=%d after %.2f s, in the app: %s ok' % (
            'all' if len(seen) >= n else 'timeout', os.getpid(), time.time() - deadline + 8,
            ','.join(seen))).encode() if len(seen) >= n else ('timeout pid=%d in the app: %s' % (
            os.getpid(), ','.join(seen))).encode()
    elif path == '/spin':
        # ~2 ms of CPU with the GIL held: a few keep-alive clients keep both threads busy.
        t = time.perf_counter()
        while time.perf_counter() - t < 0.002:
            pass
        body = b'spun'
    else:
        body = str(os.getpid()).encode()
    start_response('200 OK', [('Content-Length', str(len(body)))])
    return [body]
"#;

fn ini(extra: &str) -> String {
    format!(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{{port}}\nwsgi-file = {{dir}}/app.py\ndie-on-term = true\n{extra}\n"
    )
}

fn keep_alive_get(c: &mut TcpStream, path: &str) -> String {
    c.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") || !response_complete(&got) {
        let n = c.read(&mut buf).unwrap();
        assert!(n > 0, "closed: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

fn response_complete(got: &[u8]) -> bool {
    let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
    let cl: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    got.len() >= end + 4 + cl
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

/// With its fds exhausted a worker used to retry accept4 in a loop at 100 % CPU, silently. It
/// must pause the listener, say so (at most once a second), keep serving the connections it
/// has, and accept again once fds are free.
#[test]
fn out_of_fds_on_accept_pauses_logs_and_keeps_serving() {
    for threads in [1, 2] {
        let s = Server::start(
            &ini(&format!(
                "processes = 1\nthreads = {threads}\nsocket-timeout = 60\nlisten = 512"
            )),
            &[("app.py", APP)],
        );
        let worker = s.workers(1)[0];
        let mut kept = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        kept.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        assert!(keep_alive_get(&mut kept, "/").starts_with("HTTP/1.1 200"));
        // Room for a few more connections, then EMFILE.
        set_nofile(worker, fd_count(worker) as u64 + 4);
        // Unfinished heads: each is accepted (data arrived, so TCP_DEFER_ACCEPT passes it) and
        // parked, holding an fd, until the limit is hit; the rest wait in the listen queue.
        let hogs: Vec<TcpStream> = (0..200)
            .map(|_| {
                let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
                c.write_all(b"GET / HTTP/1.1\r\n").unwrap();
                c
            })
            .collect();
        s.wait_log("Too many open files", 20);
        let (cpu0, t0) = (cpu_seconds(worker), Instant::now());
        // The connection the worker already has is still served during the storm.
        for _ in 0..5 {
            assert!(keep_alive_get(&mut kept, "/").starts_with("HTTP/1.1 200"));
        }
        wait_until(10, "2 s of the storm", || {
            t0.elapsed() >= Duration::from_secs(2)
        });
        let (cpu, secs) = (cpu_seconds(worker) - cpu0, t0.elapsed().as_secs_f64());
        assert!(
            cpu < 0.25 * secs,
            "threads={threads}: the worker spent {cpu:.2} s of CPU in {secs:.1} s out of fds"
        );
        let lines = s.log_text().matches("Too many open files").count();
        assert!(
            lines <= 2 + secs.ceil() as usize,
            "threads={threads}: {lines} log lines in {secs:.1} s: not rate-limited\n{}",
            s.log_text()
        );
        assert!(
            s.log_text().contains("failures since the last message"),
            "{}",
            s.log_text()
        );
        // Fds come back: new connections are accepted again.
        drop(hogs);
        wait_until(20, "a new connection served after the storm", || {
            let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            keep_alive_get(&mut c, "/").starts_with("HTTP/1.1 200")
        });
        assert_eq!(s.workers(1), vec![worker], "the worker was replaced");
    }
}

/// A worker with `threads = 2` used to accept up to 64 connections per wakeup and queue them
/// whether or not a thread was free, so of four simultaneous requests on 2 × 2, some could wait
/// behind others in one worker while the other worker idled. Every request must be in the app
/// at once: each waits (bounded) for the other three.
#[test]
fn connections_wait_in_the_kernel_not_behind_a_busy_worker() {
    let s = Server::start(
        &ini("processes = 2\nthreads = 2\nsocket-timeout = 30"),
        &[("app.py", APP)],
    );
    s.workers(2);
    for round in 0..5 {
        // Connected first, requests written in one burst: all four become acceptable at once.
        let mut conns: Vec<TcpStream> = (0..4)
            .map(|_| TcpStream::connect(("127.0.0.1", s.port)).unwrap())
            .collect();
        for c in &mut conns {
            c.write_all(
                format!("GET /barrier?4&{round} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .unwrap();
        }
        for c in &mut conns {
            c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let mut out = Vec::new();
            let _ = c.read_to_end(&mut out);
            let text = String::from_utf8_lossy(&out);
            assert!(
                text.starts_with("HTTP/1.1 200") && text.ends_with("ok"),
                "round {round}: a request waited behind a busy worker: {text}\n{}",
                s.log_text()
            );
        }
    }
}

/// How many requests of `hammers` keep-alive clients (each a loop of ~2 ms requests, after 200
/// of them in all) `processes` workers of `threads` threads serve between the moment `probes` new
/// connections send one request each and the moment the last of them is answered; fails after
/// 3,000. The count, not the time, is the verdict, so a loaded machine does not move it.
fn requests_served_before_new_connections(
    processes: usize,
    threads: usize,
    hammers: usize,
    probes: usize,
) -> u64 {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
    use std::sync::Arc;
    let s = Server::start(
        &ini(&format!(
            "processes = {processes}\nthreads = {threads}\nsocket-timeout = 30\nlisten = 1024"
        )),
        &[("app.py", APP)],
    );
    s.workers(processes);
    let served = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let hammers: Vec<_> = (0..hammers)
        .map(|_| {
            let (served, stop, port) = (served.clone(), stop.clone(), s.port);
            std::thread::spawn(move || {
                let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
                c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                let deadline = Instant::now() + Duration::from_secs(60);
                while !stop.load(SeqCst) && Instant::now() < deadline {
                    assert!(keep_alive_get(&mut c, "/spin").ends_with("spun"));
                    served.fetch_add(1, SeqCst);
                }
            })
        })
        .collect();
    wait_until(30, "the keep-alive clients served", || {
        served.load(SeqCst) >= 200
    });
    let mut conns: Vec<TcpStream> = (0..probes)
        .map(|_| TcpStream::connect(("127.0.0.1", s.port)).unwrap())
        .collect();
    let before = served.load(SeqCst);
    for c in &mut conns {
        c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
    }
    // Read on a thread: the verdict is how many of the others' requests went first.
    let reader = std::thread::spawn(move || {
        conns
            .into_iter()
            .map(|mut c| {
                c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
                let mut out = Vec::new();
                let _ = c.read_to_end(&mut out);
                String::from_utf8_lossy(&out).into_owned()
            })
            .collect::<Vec<_>>()
    });
    let limit = before + 3000;
    wait_until(60, "the new connections answered, or 3,000 others", || {
        reader.is_finished() || served.load(SeqCst) >= limit
    });
    let waited = served.load(SeqCst) - before;
    stop.store(true, SeqCst);
    let answers = reader.join().unwrap();
    for h in hammers {
        h.join().unwrap();
    }
    for a in &answers {
        assert!(a.starts_with("HTTP/1.1 200"), "{a}");
    }
    waited
}

/// Keep-alive clients outnumbering threads kept every thread busy, and a new connection waited
/// in the kernel's queue for as long as they did: the worker only accepted with a thread free,
/// and the ones it already held always had a request ready first (~800 of theirs went first).
/// A new connection must be served after a fair share of theirs, not after they stop.
#[test]
fn a_new_connection_is_served_while_keep_alive_clients_keep_every_thread_busy() {
    // Two workers, so that the turn is what lets it in (a lone worker takes every connection).
    let waited = requests_served_before_new_connections(2, 2, 12, 1);
    assert!(
        waited < 200,
        "the new connection waited behind {waited} requests of the 12 accepted ones"
    );
}

/// A one-thread worker accepted one connection per wakeup, and with many connections its
/// listener is reported once every few waits: 200 arriving at once waited behind ~800
/// requests of the 4 it already served (1,000 connections took seconds to let in).
#[test]
fn a_burst_of_new_connections_is_let_in_at_once_by_a_one_thread_worker() {
    let waited = requests_served_before_new_connections(1, 1, 4, 200);
    assert!(
        waited < 400,
        "200 new connections waited behind {waited} requests of the 4 accepted ones"
    );
}

/// Reads a stats-http answer (bounded); empty when the server closes without one.
fn stats_http_get(port: u16) -> String {
    let Ok(mut c) = TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = c.write_all(b"GET / HTTP/1.0\r\n\r\n");
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// stats-http clients that connect and send nothing used to cost the master up to 1 s each per
/// loop, in poll(2), delaying respawns and harakiri. The master must never wait on one: it is
/// never found in poll(2) while they hang there, and a killed worker is replaced meanwhile.
#[test]
fn silent_stats_clients_never_hold_the_master() {
    let stats_port = crate::util::free_port();
    let s = Server::start(
        &ini(&format!(
            "processes = 2\nstats = 127.0.0.1:{stats_port}\nstats-http = true"
        )),
        &[("app.py", APP)],
    );
    let master = s.pid();
    let workers = s.workers(2);
    wait_until(20, "the stats server", || {
        stats_http_get(stats_port).starts_with("HTTP/1.0 200")
    });
    // Twenty silent clients at any time, for the whole test (each lives 300 ms).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hog = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline {
                let batch: Vec<TcpStream> = (0..20)
                    .filter_map(|_| TcpStream::connect(("127.0.0.1", stats_port)).ok())
                    .collect();
                std::thread::sleep(Duration::from_millis(300));
                drop(batch);
            }
        })
    };
    // Sampled for a while: never in poll(2) (it waits in epoll_wait, on everything at once).
    let t0 = Instant::now();
    let mut samples = 0;
    while t0.elapsed() < Duration::from_secs(3) {
        assert_eq!(
            crate::util::threads_in_poll(master),
            0,
            "the master waits on a stats client\n{}",
            s.log_text()
        );
        samples += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(samples > 20);
    // A worker killed meanwhile is replaced (and the other stats clients still answered).
    // SAFETY: signalling a worker of the server we started.
    unsafe { libc::kill(workers[0], libc::SIGKILL) };
    wait_until(10, "the killed worker replaced", || {
        let now = s.worker_pids();
        now.len() == 2 && !now.contains(&workers[0])
    });
    assert!(stats_http_get(stats_port).starts_with("HTTP/1.0 200"));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    hog.join().unwrap();
}

/// The master's stats listener out of fds: paused and logged, not spun on; answers again when
/// fds are back.
#[test]
fn stats_listener_out_of_fds_pauses_and_recovers() {
    let stats_port = crate::util::free_port();
    let s = Server::start(
        &ini(&format!(
            "processes = 1\nstats = 127.0.0.1:{stats_port}\nstats-http = true"
        )),
        &[("app.py", APP)],
    );
    let master = s.pid();
    s.workers(1);
    wait_until(20, "the stats server", || {
        stats_http_get(stats_port).starts_with("HTTP/1.0 200")
    });
    set_nofile(master, fd_count(master) as u64 + 3);
    let silent: Vec<TcpStream> = (0..40)
        .filter_map(|_| TcpStream::connect(("127.0.0.1", stats_port)).ok())
        .collect();
    s.wait_log("Too many open files", 20);
    let (cpu0, t0) = (cpu_seconds(master), Instant::now());
    wait_until(10, "2 s out of fds", || {
        t0.elapsed() >= Duration::from_secs(2)
    });
    let (cpu, secs) = (cpu_seconds(master) - cpu0, t0.elapsed().as_secs_f64());
    assert!(
        cpu < 0.25 * secs,
        "the master spent {cpu:.2} s of CPU in {secs:.1} s"
    );
    // The app is served all along (the workers' fds are their own).
    assert_eq!(s.get("/").0, 200);
    drop(silent);
    wait_until(20, "stats answered again", || {
        stats_http_get(stats_port).starts_with("HTTP/1.0 200")
    });
}
