//! An operator's bad day, against the real binary: a full log disk, a log pipe whose reader
//! exits, a broken config or app deployed before a reload, reload storms under load, a second
//! `rw serve` started by mistake, crashing and recycling workers.

use crate::serve_basic::hello_ini;
use crate::util::{run, text, wait_until, Server};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `/pid` answers the worker's pid, `/sleep/N` sleeps, `/` says which code generation runs.
const APP: &str = r#"
import os, time
GENERATION = 'gen-0'

def application(environ, start_response):
    path = environ['PATH_INFO']
    if path.startswith('/sleep/'):
        time.sleep(float(path.split('/')[2]))
    if path == '/slow':
        open('started', 'w').close()
        time.sleep(60)
    body = (str(os.getpid()) if path == '/pid' else GENERATION).encode()
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
"#;

fn app_gen(n: usize) -> String {
    APP.replace("'gen-0'", &format!("'gen-{n}'"))
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rfind(')')
            .is_some_and(|i| s[i + 1..].trim_start().starts_with('Z'))
    })
}

fn kill(pid: i32, sig: i32) {
    // SAFETY: signalling a process this test started (the master or one of its workers).
    unsafe { libc::kill(pid, sig) };
}

/// One request on a fresh connection, never panicking: the response, or why there is none.
fn try_get(port: u16, path: &str, timeout: Duration) -> Result<Vec<u8>, String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(timeout)).unwrap();
    s.set_write_timeout(Some(timeout)).unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

fn body_of(resp: &[u8]) -> String {
    let at = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(resp.len(), |p| p + 4);
    String::from_utf8_lossy(&resp[at..]).into_owned()
}

/// Clients requesting `/` in a loop until stopped (bounded to 120 s), counting what failed and
/// the longest stretch without a successful response.
pub struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<LoadReport>>,
}

#[derive(Default, Debug)]
pub struct LoadReport {
    pub ok: u64,
    pub failed: Vec<String>,
    pub longest_gap: Duration,
}

impl Load {
    pub fn start(port: u16, clients: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..clients)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut r = LoadReport::default();
                    let deadline = Instant::now() + Duration::from_secs(120);
                    let mut last_ok = Instant::now();
                    while !stop.load(Relaxed) && Instant::now() < deadline {
                        match try_get(port, "/", Duration::from_secs(20)) {
                            Ok(resp) if resp.starts_with(b"HTTP/1.1 200") => {
                                r.ok += 1;
                                r.longest_gap = r.longest_gap.max(last_ok.elapsed());
                                last_ok = Instant::now();
                            }
                            Ok(resp) => r.failed.push(String::from_utf8_lossy(&resp).into()),
                            Err(e) => r.failed.push(e),
                        }
                    }
                    r
                })
            })
            .collect();
        Load { stop, threads }
    }

    pub fn finish(self) -> LoadReport {
        self.stop.store(true, Relaxed);
        let mut all = LoadReport::default();
        for t in self.threads {
            let r = t.join().unwrap();
            all.ok += r.ok;
            all.failed.extend(r.failed);
            all.longest_gap = all.longest_gap.max(r.longest_gap);
        }
        all
    }
}

/// A tmpfs mounted for one test (unmounted when dropped).
struct Tmpfs(PathBuf, #[allow(dead_code)] tempfile::TempDir);

impl Tmpfs {
    /// None (after saying why) when not root: only root may mount.
    fn mount(size: &str) -> Option<Tmpfs> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            println!("skipped: mounting a small tmpfs to fill needs root");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(st.success(), "mount tmpfs failed");
        Some(Tmpfs(dir.path().to_owned(), dir))
    }

    /// Writes a file until the filesystem is full, then pads `log` to the end of its last
    /// page (a line would still fit there); returns the filler's path.
    fn fill(&self, log: &Path) -> PathBuf {
        let p = self.0.join("filler");
        let mut f = std::fs::File::create(&p).unwrap();
        let block = [b'x'; 4096];
        while f.write(&block).is_ok_and(|n| n > 0) {}
        let mut l = std::fs::OpenOptions::new().append(true).open(log).unwrap();
        while l.write(b"\n").is_ok_and(|n| n > 0) {}
        let e = l.write(b"\n").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
        p
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

fn read(p: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned()
}

fn wait_file(p: &Path, needle: &str, secs: u64) -> String {
    let mut t = String::new();
    wait_until(secs, &format!("`{needle}` in {}", p.display()), || {
        t = read(p);
        t.contains(needle)
    });
    t
}

/// Kills one worker and waits until the master has replaced it: the master logged the death
/// (or tried to) and is still there to respawn.
fn kill_worker_and_wait_respawn(s: &mut Server, n: usize) {
    let before = s.workers(n);
    kill(before[0], libc::SIGKILL);
    wait_until(20, "the killed worker to be replaced", || {
        if let Some(st) = s.child.try_wait().unwrap() {
            panic!("the master died ({st}):\n{}", tail(s));
        }
        let now = s.worker_pids();
        now.len() == n && !now.contains(&before[0])
    });
}

#[test]
fn a_full_log_disk_loses_lines_not_the_master() {
    let Some(fs) = Tmpfs::mount("256k") else {
        return;
    };
    let log = fs.0.join("rw.log");
    let ini = hello_ini(&format!("logto = {}", log.display()));
    let mut s = Server::start(&ini, &[("app.py", APP)]);
    wait_file(&log, "spawned rw worker 2", 20);
    let filler = fs.fill(&log);
    // Workers' request lines and the master's lines all fail now.
    for _ in 0..5 {
        assert_eq!(s.get("/").0, 200);
    }
    kill_worker_and_wait_respawn(&mut s, 2);
    kill_worker_and_wait_respawn(&mut s, 2);
    assert_eq!(s.get("/").0, 200);
    std::fs::remove_file(&filler).unwrap();
    // The log works again: the next master line is preceded by what was lost.
    kill_worker_and_wait_respawn(&mut s, 2);
    let t = wait_file(&log, "logging again", 20);
    assert!(
        t.contains(
            "log lines were lost while the log could not be written (No space left on device"
        ),
        "{t}"
    );
    // A worker that lost lines says so too, before its next request line.
    wait_until(20, "a worker's notice", || {
        let _ = s.get("/");
        read(&log).matches("logging again").count() >= 2
    });
    let t = read(&log);
    assert!(t.contains("GET / => generated"), "{t}");
}

#[test]
fn a_log_pipe_closed_by_its_reader_loses_lines_not_the_master() {
    // `rw serve 2>&1 | tee` and tee exits: the pipe's read end is closed here.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.py"), APP).unwrap();
    let port = crate::util::free_port();
    let mut child = crate::util::rw()
        .args(["serve", "--http-socket", &format!("127.0.0.1:{port}")])
        .args(["--wsgi-file", "app.py", "--processes", "2", "--die-on-term"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stderr.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("spawned rw worker 2") {
        let n = pipe.read(&mut buf).unwrap();
        assert!(n > 0, "rw exited:\n{}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    drop(pipe);
    let mut s = Server {
        child,
        port,
        log: dir.path().join("no-log"),
        dir,
    };
    s.wait_port(port);
    for _ in 0..3 {
        assert_eq!(s.get("/").0, 200);
    }
    kill_worker_and_wait_respawn(&mut s, 2);
    kill_worker_and_wait_respawn(&mut s, 2);
    for _ in 0..3 {
        assert_eq!(s.get("/").0, 200);
    }
}

/// The end of the server's log (a storm's whole log is megabytes of request lines).
fn tail(s: &Server) -> String {
    let t = s.log_text();
    let cut = t.len().saturating_sub(6000);
    let cut = (cut..t.len())
        .find(|&i| t.is_char_boundary(i))
        .unwrap_or(t.len());
    t[cut..].to_string()
}

fn pidfile_pid(s: &Server) -> i32 {
    std::fs::read_to_string(s.path("rw.pid"))
        .unwrap_or_default()
        .trim()
        .parse()
        .unwrap_or(0)
}

/// `rw reload` on the server's pidfile: (exit code, output, seconds it took).
fn reload(s: &Server) -> (Option<i32>, String, f64) {
    let t = Instant::now();
    let out = run(&["reload", s.path("rw.pid").to_str().unwrap()]);
    (out.status.code(), text(&out), t.elapsed().as_secs_f64())
}

fn generation(s: &Server) -> String {
    body_of(&try_get(s.port, "/", Duration::from_secs(20)).unwrap())
}

/// `rw reload` exits 0 once every new worker accepts; the old workers are told to stop at that
/// moment, and one may still take a connection before it handles its SIGHUP (it answers it, as
/// the old code). So the new generation's answer is waited for, never assumed at once (it failed
/// under load); the old one must be gone within a few seconds.
fn new_generation_answers(s: &Server, want: &str) {
    wait_until(10, &format!("{want} answering after the reload"), || {
        generation(s) == want
    });
}

/// The reload failed as it should: `rw reload` said why (with `needle`), the master and its
/// pidfile stay, and the generation that served before still serves.
fn assert_refused(s: &mut Server, needle: &str, serving: &str) {
    let (code, out, _) = reload(s);
    assert_eq!(code, Some(1), "{out}\n{}", tail(s));
    assert!(
        out.contains("reload of pid") && out.contains(needle),
        "{out}"
    );
    assert!(
        s.child.try_wait().unwrap().is_none(),
        "the master died:\n{}",
        tail(s)
    );
    assert_eq!(pidfile_pid(s), s.pid(), "pidfile lost");
    assert_eq!(generation(s), serving, "{}", tail(s));
}

const STORM_INI: &str = "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {dir}/app.py\n\
    processes = 2\nthreads = 2\ndie-on-term = true\npidfile = {dir}/rw.pid\n";

#[test]
fn a_reload_with_a_broken_config_is_refused_and_the_old_generation_serves() {
    let mut s = Server::start(STORM_INI, &[("app.py", APP)]);
    let workers = s.workers(2);
    assert_eq!(generation(&s), "gen-0");
    let ini = s.path("uwsgi.ini");
    let good = std::fs::read_to_string(&ini).unwrap();
    std::fs::write(&ini, format!("{good}processes = 99999999\n")).unwrap();
    std::fs::write(s.path("app.py"), app_gen(1)).unwrap();
    assert_refused(
        &mut s,
        "uwsgi.ini:8: error: processes: 99999999 is out of range",
        "gen-0",
    );
    assert_eq!(s.workers(2), workers, "the old workers were replaced");
    s.wait_log("reload refused: ", 5);
    // What every new worker would fail on is refused before exec too, at its line.
    std::fs::write(&ini, format!("{good}static-map = /static=missing-dir\n")).unwrap();
    assert_refused(
        &mut s,
        "uwsgi.ini:8: error: static-map: unable to resolve",
        "gen-0",
    );
    assert_eq!(s.workers(2), workers, "the old workers were replaced");
    // Fixed: the next reload goes through.
    std::fs::write(&ini, &good).unwrap();
    let (code, out, _) = reload(&s);
    assert_eq!(code, Some(0), "{out}\n{}", tail(&s));
    new_generation_answers(&s, "gen-1");
    assert_eq!(pidfile_pid(&s), s.pid());
}

#[test]
fn a_new_image_that_cannot_start_hands_back_to_the_old_generation() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port();
    let mut s = Server::start(STORM_INI, &[("app.py", APP)]);
    let workers = s.workers(2);
    let ini = s.path("uwsgi.ini");
    let good = std::fs::read_to_string(&ini).unwrap();
    // A socket that cannot be bound: only the new image can find out.
    std::fs::write(&ini, format!("{good}http-socket = 127.0.0.1:{busy_port}\n")).unwrap();
    std::fs::write(s.path("app.py"), app_gen(1)).unwrap();
    assert_refused(&mut s, &format!("127.0.0.1:{busy_port}"), "gen-0");
    assert_eq!(s.workers(2), workers, "the old workers were replaced");
    // Then an app that fails to import, from the rescued state.
    std::fs::write(&ini, &good).unwrap();
    std::fs::write(s.path("app.py"), "import no_such_module_rw\n").unwrap();
    assert_refused(&mut s, "the app did not load", "gen-0");
    s.wait_log(
        "ModuleNotFoundError: No module named 'no_such_module_rw'",
        5,
    );
    // Then a config error, refused before exec.
    std::fs::write(&ini, format!("{good}threads = 4294967296\n")).unwrap();
    assert_refused(&mut s, "uwsgi.ini:8: error: threads", "gen-0");
    // Fixed: the next reload goes through and the old workers are retired.
    std::fs::write(&ini, &good).unwrap();
    std::fs::write(s.path("app.py"), app_gen(2)).unwrap();
    let (code, out, _) = reload(&s);
    assert_eq!(code, Some(0), "{out}\n{}", tail(&s));
    new_generation_answers(&s, "gen-2");
    let now = s.workers(2);
    assert!(
        now.iter().all(|w| !workers.contains(w)),
        "{now:?} {workers:?}"
    );
    drop(busy);
}

#[test]
fn a_second_serve_leaves_the_live_pidfile_alone() {
    let s = Server::start(STORM_INI, &[("app.py", APP)]);
    let master = s.pid();
    wait_until(10, "the pidfile", || pidfile_pid(&s) == master);
    // The same command again, by mistake.
    let out = crate::util::rw()
        .args(["serve", "--ini", "uwsgi.ini"])
        .current_dir(s.dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("names a running rw master (pid {master})")),
        "{}",
        text(&out)
    );
    assert_eq!(
        pidfile_pid(&s),
        master,
        "the pidfile no longer names the live master"
    );
    // A second instance on another port but the same pidfile is refused too.
    let port = crate::util::free_port();
    let out = crate::util::rw()
        .args(["serve", "--ini", "uwsgi.ini"])
        .args(["--http-socket", &format!("127.0.0.1:{port}")])
        .current_dir(s.dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(pidfile_pid(&s), master);
    // So `rw stop` still finds the live master.
    let out = run(&["stop", s.path("rw.pid").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!alive(master));
}

/// Reloads under load: `RW_STORM_RELOADS` good ones (default 20), each of which must finish in
/// under 5 s, with `RW_STORM_BROKEN` (default 10) broken deployments in between, each refused
/// while the running generation keeps serving. No request may fail, and the service may never
/// stop answering (an outage: 3 s without a successful response). `benches/reload-storm.sh`
/// runs it and prints the report.
#[test]
fn reload_storm_under_load_fails_no_request() {
    let count = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let (good_n, broken_n) = (count("RW_STORM_RELOADS", 20), count("RW_STORM_BROKEN", 10));
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port();
    let mut s = Server::start(STORM_INI, &[("app.py", APP)]);
    let master = s.pid();
    let ini = s.path("uwsgi.ini");
    let good = std::fs::read_to_string(&ini).unwrap();
    let load = Load::start(s.port, 4);
    let (mut times, mut refused) = (Vec::new(), 0);
    for i in 1..=good_n {
        if i * broken_n / good_n > (i - 1) * broken_n / good_n {
            let (broken_ini, broken_app, needle) = match refused % 4 {
                0 => (
                    format!("{good}processes = 99999999\n"),
                    app_gen(i),
                    "uwsgi.ini:8".to_string(),
                ),
                1 => (
                    format!("{good}chdir = {{dir}}/gone\n")
                        .replace("{dir}", &s.dir.path().display().to_string()),
                    app_gen(i),
                    "gone".into(),
                ),
                2 => (
                    good.clone(),
                    "import no_such_module_rw\n".into(),
                    "the app did not load".into(),
                ),
                _ => (
                    format!("{good}http-socket = 127.0.0.1:{busy_port}\n"),
                    app_gen(i),
                    format!("127.0.0.1:{busy_port}"),
                ),
            };
            std::fs::write(&ini, broken_ini).unwrap();
            std::fs::write(s.path("app.py"), broken_app).unwrap();
            assert_refused(&mut s, &needle, &format!("gen-{}", i - 1));
            refused += 1;
        }
        std::fs::write(&ini, &good).unwrap();
        std::fs::write(s.path("app.py"), app_gen(i)).unwrap();
        let (code, out, secs) = reload(&s);
        assert_eq!(code, Some(0), "reload {i}: {out}\n{}", tail(&s));
        // How long reloads take is the bench's business (benches/reload-storm.sh), not a
        // test's: on a loaded machine one can take seconds. `rw reload` returns once the new
        // generation accepts; the old workers, told to stop at that moment, may still take a
        // connection or two before their SIGHUP lands, so the new code is waited for.
        let want = format!("gen-{i}");
        wait_until(20, &format!("{want} answering"), || generation(&s) == want);
        times.push(secs);
    }
    let report = load.finish();
    assert!(s.child.try_wait().unwrap().is_none(), "the master died");
    assert_eq!(s.pid(), master);
    assert_eq!(pidfile_pid(&s), master);
    let outages = u32::from(report.longest_gap >= Duration::from_secs(3));
    times.sort_by(f64::total_cmp);
    println!(
        "reload storm: {} reloads (slowest {:.2} s, median {:.2} s), {refused} broken deployments refused; \
         {} requests ok, {} failed, {outages} outages (longest wait for a response {} ms)",
        times.len(),
        times.last().copied().unwrap_or(0.0),
        times.get(times.len() / 2).copied().unwrap_or(0.0),
        report.ok,
        report.failed.len(),
        report.longest_gap.as_millis()
    );
    assert!(
        report.failed.is_empty(),
        "{} failed requests: {:?}",
        report.failed.len(),
        &report.failed[..report.failed.len().min(3)]
    );
    assert_eq!(outages, 0, "an outage: {report:?}");
    assert!(report.ok > 100, "only {} requests went through", report.ok);
    drop(busy);
}

#[test]
fn deliberate_recycles_respawn_at_once() {
    // max-requests = 1: every request retires its worker after a life far under 1 s.
    let s = Server::start(
        &hello_ini("processes = 1\nmax-requests = 1\nmin-worker-lifetime = 0"),
        &[("app.py", APP)],
    );
    let t = Instant::now();
    let mut pids = Vec::new();
    for _ in 0..8 {
        let resp = try_get(s.port, "/pid", Duration::from_secs(20)).unwrap();
        assert!(
            resp.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&resp)
        );
        pids.push(body_of(&resp));
    }
    let took = t.elapsed();
    pids.dedup();
    assert_eq!(pids.len(), 8, "not one worker per request: {pids:?}");
    // The old guard paused 1 s before each of the 7 respawns.
    assert!(
        took < Duration::from_secs(5),
        "8 recycles took {took:?}:\n{}",
        tail(&s)
    );
    assert!(!s.log_text().contains("fork-bomb"), "{}", tail(&s));
}

#[test]
fn a_crashing_worker_is_respawned_with_an_exponential_backoff() {
    let app = "import os\nos._exit(3)\n";
    let s = Server::start(
        &hello_ini("processes = 1\nlazy-apps = true"),
        &[("app.py", app)],
    );
    let t = Instant::now();
    let log = s.wait_log("crashed 3 times in a row", 30);
    for (n, pause) in [(1, 1), (2, 2), (3, 4)] {
        let s = if n == 1 { "" } else { "s" };
        assert!(
            log.contains(&format!("worker 1 crashed {n} time{s} in a row within 1 s of its start, before serving a request: respawning in {pause} s (fork-bomb guard)")),
            "{log}"
        );
    }
    // The pauses were taken: 1 s and 2 s before the 2nd and 3rd respawns.
    assert!(t.elapsed() >= Duration::from_secs(3), "{log}");
    assert_eq!(log.matches("exit code 3").count(), 3, "{log}");
}

#[test]
fn the_work_of_a_recycled_worker_is_done_once() {
    // Two requests in flight when the memory limit is reached: both finish, one message.
    let ini = hello_ini("processes = 1\nthreads = 2\nreload-on-rss = 1\nmin-worker-lifetime = 0");
    let s = Server::start(&ini, &[("app.py", APP)]);
    let first = s.workers(1)[0];
    let port = s.port;
    let clients: Vec<_> = (0..2)
        .map(|_| std::thread::spawn(move || try_get(port, "/sleep/1", Duration::from_secs(20))))
        .collect();
    for c in clients {
        let resp = c.join().unwrap().unwrap();
        assert!(
            resp.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&resp)
        );
    }
    wait_until(20, "the worker to be recycled", || {
        !s.worker_pids().contains(&first)
    });
    let log = s.log_text();
    assert_eq!(
        log.matches(&format!("The work of process {first} is done"))
            .count(),
        1,
        "{log}"
    );
    assert_eq!(log.matches("GET /sleep/1 => generated").count(), 2, "{log}");
}

#[test]
fn a_request_killed_with_its_worker_is_still_logged() {
    let ini = hello_ini("processes = 1\nharakiri = 60");
    let s = Server::start(&ini, &[("app.py", APP)]);
    let worker = s.workers(1)[0];
    let port = s.port;
    let client = std::thread::spawn(move || try_get(port, "/slow?x=1", Duration::from_secs(30)));
    wait_until(20, "the request to start", || s.path("started").exists());
    kill(worker, libc::SIGKILL);
    let log = s.wait_log("no response: worker 1 killed by signal 9", 20);
    let line = log.lines().find(|l| l.contains("no response")).unwrap();
    assert!(line.contains(&format!("[pid: {worker}|")), "{line}");
    assert!(line.contains("127.0.0.1 () ["), "{line}");
    assert!(line.contains("GET /slow?x=1 => no response"), "{line}");
    // The client got no response; the worker is replaced.
    let r = client.join().unwrap();
    assert!(r.as_ref().map_or(true, |b| b.is_empty()), "{r:?}");
    wait_until(20, "a new worker", || {
        s.worker_pids().iter().any(|p| *p != worker)
    });
}
