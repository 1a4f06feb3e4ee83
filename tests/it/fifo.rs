//! The master FIFO (`master-fifo`), chain reloads and workers reloads, driven through the real
//! binary as deploy scripts drive uWSGI: `echo c > /run/app.fifo`, `touch reload-chain`.

use crate::serve_basic::{hello_ini, HELLO_APP};
use crate::util::{raw_request, wait_until, Server};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Writes `cmd` to the FIFO without ever blocking: a FIFO nobody reads is an error here, not
/// a test that hangs.
fn fifo_write(path: &Path, cmd: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    f.write_all(cmd)
}

fn send(s: &Server, fifo: &str, cmd: &[u8]) {
    fifo_write(&s.path(fifo), cmd)
        .unwrap_or_else(|e| panic!("writing {cmd:?} to {fifo}: {e}\n{}", s.log_text()));
}

fn count(s: &Server, needle: &str) -> usize {
    s.log_text().matches(needle).count()
}

/// Requests in a loop on new connections until stopped; returns (ok, failures).
struct Load {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<(u32, Vec<String>)>,
}

impl Load {
    fn start(port: u16) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let (mut ok, mut bad) = (0, Vec::new());
            let deadline = Instant::now() + Duration::from_secs(90);
            while !flag.load(Relaxed) && Instant::now() < deadline {
                let r = raw_request(
                    port,
                    b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                );
                if r.starts_with(b"HTTP/1.1 200") {
                    ok += 1;
                } else {
                    bad.push(String::from_utf8_lossy(&r).into_owned());
                }
            }
            (ok, bad)
        });
        Load { stop, thread }
    }

    fn finish(self, s: &Server) -> u32 {
        self.stop.store(true, Relaxed);
        let (ok, bad) = self.thread.join().unwrap();
        assert!(
            bad.is_empty(),
            "{} requests failed: {:?}\n{}",
            bad.len(),
            &bad[..bad.len().min(3)],
            s.log_text()
        );
        ok
    }
}

fn wait_exit(s: &mut Server, secs: u64) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            return st;
        }
        assert!(
            Instant::now() < deadline,
            "rw still running after {secs} s:\n{}",
            s.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn master_fifo_obeys_its_commands_switches_slots_and_survives_garbage() {
    let ini = hello_ini(
        "master-fifo = {dir}/a.fifo\nmaster-fifo = {dir}/b.fifo\npidfile = {dir}/rw.pid\nvacuum = true",
    );
    // A stale regular file where the FIFO goes is replaced (with a warning), as uWSGI does.
    let mut s = Server::start(&ini, &[("app.py", HELLO_APP), ("a.fifo", "stale")]);
    s.workers(2);
    let meta = std::fs::metadata(s.path("a.fifo")).unwrap();
    assert!(meta.file_type().is_fifo(), "a.fifo is not a FIFO");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert!(s.log_text().contains("was not a FIFO"), "{}", s.log_text());

    send(&s, "a.fifo", b"s\n");
    s.wait_log("workers total requests", 10);
    // Garbage, commands of subsystems rw lacks, and +/- without cheaper: logged, not fatal.
    send(&s, "a.fifo", b"\x01E+");
    s.wait_log("unknown command byte 0x01", 10);
    s.wait_log("command E ignored", 10);
    s.wait_log("+ ignored: cheaper mode is off", 10);
    assert_eq!(s.get("/").0, 200);

    // P writes the pidfile again.
    std::fs::remove_file(s.path("rw.pid")).unwrap();
    send(&s, "a.fifo", b"P");
    wait_until(10, "pidfile rewritten", || {
        std::fs::read_to_string(s.path("rw.pid")).is_ok_and(|p| p.trim() == s.pid().to_string())
    });

    // r: a graceful reload; the new image makes the FIFO again.
    let before = s.worker_pids();
    send(&s, "a.fifo", b"r");
    s.wait_log("gracefully (RE)spawned", 30);
    wait_until(30, "the new generation's FIFO", || {
        count(&s, "created (active)") >= 2
    });
    wait_until(30, "a new generation of workers", || {
        let now = s.worker_pids();
        now.len() == 2 && now.iter().all(|p| !before.contains(p))
    });
    assert_eq!(s.get("/").0, 200);

    // 1 makes b.fifo the active one: a.fifo has no reader any more.
    send(&s, "a.fifo", b"1");
    s.wait_log("active master fifo is now", 10);
    let err = fifo_write(&s.path("a.fifo"), b"s").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENXIO), "{err}");
    let stats = count(&s, "workers total requests");
    send(&s, "b.fifo", b"s");
    wait_until(10, "stats from b.fifo", || {
        count(&s, "workers total requests") > stats
    });
    send(&s, "b.fifo", b"7");
    s.wait_log("there is no master fifo 7", 10);

    // q: graceful stop; vacuum removes the active FIFO.
    send(&s, "b.fifo", b"q");
    let st = wait_exit(&mut s, 30);
    assert!(st.success(), "{st}\n{}", s.log_text());
    assert!(!s.path("b.fifo").exists(), "b.fifo not vacuumed");
}

fn state_of(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

#[test]
fn master_fifo_pause_stops_the_workers_and_resume_serves_what_waited() {
    let ini = hello_ini("master-fifo = {dir}/m.fifo");
    let s = Server::start(&ini, &[("app.py", HELLO_APP)]);
    let pids = s.workers(2);
    send(&s, "m.fifo", b"p");
    wait_until(10, "every worker stopped (state T)", || {
        pids.iter().all(|p| state_of(*p) == Some('T'))
    });
    let port = s.port;
    let waiting = std::thread::spawn(move || {
        raw_request(
            port,
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
    });
    // The request is in the listen queue; the workers are still stopped while it waits.
    assert!(pids.iter().all(|p| state_of(*p) == Some('T')));
    send(&s, "m.fifo", b"p");
    s.wait_log("resuming workers", 10);
    let r = waiting.join().unwrap();
    assert!(
        r.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&r)
    );
    assert_eq!(s.worker_pids(), pids, "pause must not replace workers");
}

/// Answers the version its module read at import: lazy-apps re-imports it per worker.
const VERSION_APP: &str = r#"
VERSION = open(__file__.replace('app.py', 'VERSION')).read().strip().encode()

def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(VERSION)))])
    return [VERSION]
"#;

#[test]
fn chain_reload_replaces_workers_one_at_a_time_and_fails_no_request() {
    let ini = hello_ini(
        "processes = 3\nlazy-apps = true\nmaster-fifo = {dir}/m.fifo\ntouch-chain-reload = {dir}/chain",
    );
    let s = Server::start(&ini, &[("app.py", VERSION_APP), ("VERSION", "v1")]);
    let first = s.workers(3);
    let load = Load::start(s.port);
    std::fs::write(s.path("VERSION"), "v2").unwrap();
    send(&s, "m.fifo", b"c");
    s.wait_log("chain reloading complete", 60);
    let log = s.log_text();
    // One at a time: worker N+1 is told to stop only after worker N's replacement spawned.
    let pos = |needle: &str| {
        log.find(needle)
            .unwrap_or_else(|| panic!("`{needle}` not logged:\n{log}"))
    };
    let mut last = pos("chain reload starting");
    for id in 1..=3 {
        let victim = pos(&format!("chain next victim is worker {id} "));
        assert!(victim > last, "worker {id} out of order:\n{log}");
        last = log[victim..]
            .find(&format!("Respawned rw worker {id} "))
            .map(|i| victim + i)
            .unwrap_or_else(|| panic!("worker {id} not respawned:\n{log}"));
    }
    let second = s.workers(3);
    assert!(
        second.iter().all(|p| !first.contains(p)),
        "{first:?} {second:?}"
    );
    for _ in 0..6 {
        assert_eq!(s.get("/").1, b"v2");
    }

    // touch-chain-reload starts the same chain.
    let chains = count(&s, "chain reloading complete");
    std::fs::write(s.path("chain"), "").unwrap();
    wait_until(60, "a second chain reload", || {
        count(&s, "chain reloading complete") > chains
    });
    let ok = load.finish(&s);
    assert!(ok > 0);
}

#[test]
fn workers_reload_by_fifo_and_by_touch_replaces_every_worker() {
    let ini = hello_ini(
        "processes = 2\nmaster-fifo = {dir}/m.fifo\ntouch-workers-reload = {dir}/workers\npidfile = {dir}/rw.pid",
    );
    let mut s = Server::start(&ini, &[("app.py", HELLO_APP)]);
    let first = s.workers(2);
    let load = Load::start(s.port);
    send(&s, "m.fifo", b"w");
    s.wait_log("gracefully reloading workers", 10);
    wait_until(30, "every worker replaced (w)", || {
        let now = s.worker_pids();
        now.len() == 2 && now.iter().all(|p| !first.contains(p))
    });
    assert!(
        s.log_text().contains("without lazy-apps"),
        "{}",
        s.log_text()
    );
    let second = s.worker_pids();
    std::fs::write(s.path("workers"), "").unwrap();
    s.wait_log("touch-workers-reload", 10);
    wait_until(30, "every worker replaced (touch)", || {
        let now = s.worker_pids();
        now.len() == 2 && now.iter().all(|p| !second.contains(p))
    });
    load.finish(&s);
    assert_eq!(
        std::fs::read_to_string(s.path("rw.pid")).unwrap().trim(),
        s.pid().to_string(),
        "a workers reload keeps the master"
    );
    // W kills them now; Q stops the instance brutally.
    let third = s.worker_pids();
    send(&s, "m.fifo", b"W");
    wait_until(30, "every worker replaced (W)", || {
        let now = s.worker_pids();
        now.len() == 2 && now.iter().all(|p| !third.contains(p))
    });
    send(&s, "m.fifo", b"Q");
    let st = wait_exit(&mut s, 30);
    assert!(st.success(), "{st}\n{}", s.log_text());
}

#[test]
fn master_fifo_reopens_and_rotates_the_log_file() {
    let ini = hello_ini("master-fifo = {dir}/m.fifo\nlogto = {dir}/app.log");
    let s = Server::start(&ini, &[("app.py", HELLO_APP)]);
    let log = s.path("app.log");
    let read =
        |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    wait_until(20, "the first requests logged", || {
        s.get("/first");
        read(&log).contains("GET /first")
    });
    // L: rotated to app.log.<unix time>; the path gets a fresh file.
    send(&s, "m.fifo", b"L");
    let backup = || {
        std::fs::read_dir(s.dir.path())
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.to_string_lossy().contains("app.log."))
    };
    wait_until(20, "a rotated backup", || backup().is_some());
    let backup = backup().unwrap();
    assert!(read(&backup).contains("GET /first"), "{}", read(&backup));
    wait_until(20, "requests logged to the new file", || {
        s.get("/second");
        read(&log).contains("GET /second")
    });
    assert!(!read(&backup).contains("GET /second"));
    // l after logrotate's rename: the path is opened again.
    let moved = s.path("moved.log");
    std::fs::rename(&log, &moved).unwrap();
    send(&s, "m.fifo", b"l");
    wait_until(20, "requests logged to the reopened file", || {
        s.get("/third");
        read(&log).contains("GET /third")
    });
}
