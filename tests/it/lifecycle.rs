//! The process model end to end: stop/reload, respawn, harakiri, recycling, signals,
//! daemonize, privileges and vacuum — each driving the real binary.

use crate::serve_basic::{hello_ini, HELLO_APP};
use crate::util::{raw_request, run, text, wait_until, Server};
use std::time::{Duration, Instant};

/// An app whose behaviour is chosen by the path: /sleep/N, /exit, /pid, / (hello).
const CONTROL_APP: &str = r#"
import os, time

def application(environ, start_response):
    path = environ['PATH_INFO']
    if path.startswith('/sleep/'):
        time.sleep(float(path.split('/')[2]))
    if path == '/exit':
        os._exit(1)
    body = str(os.getpid()).encode() if path == '/pid' else b'Hello, World!'
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
"#;

/// Runs `rw serve` on `app` with `args` in a temp dir, for configurations that must make it
/// exit at startup; returns its output.
fn serve_until_exit(app: &str, args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.py"), app).unwrap();
    let listen = format!("127.0.0.1:{}", crate::util::free_port());
    crate::util::rw()
        .args(["serve", "--http-socket", &listen, "--wsgi-file", "app.py"])
        .args(args)
        .current_dir(dir.path())
        .output()
        .unwrap()
}

fn pid_of(s: &Server) -> i32 {
    let (status, body) = s.get("/pid");
    assert_eq!(status, 200);
    String::from_utf8(body).unwrap().parse().unwrap()
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rfind(')')
            .is_some_and(|i| s[i + 1..].trim_start().starts_with('Z'))
    })
}

#[test]
fn reload_serves_new_code_without_failing_a_request() {
    let ini = hello_ini("pidfile = {dir}/rw.pid\nthreads = 2");
    let s = Server::start(&ini, &[("app.py", HELLO_APP)]);
    let port = s.port;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let served = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let hammer = {
        let (stop, served) = (stop.clone(), served.clone());
        std::thread::spawn(move || {
            let (mut ok, mut bad) = (0u32, Vec::new());
            let deadline = Instant::now() + Duration::from_secs(60);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline {
                let r = raw_request(
                    port,
                    b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                );
                if r.starts_with(b"HTTP/1.1 200") {
                    ok += 1;
                    served.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                } else {
                    bad.push(String::from_utf8_lossy(&r).into_owned());
                }
            }
            (ok, bad)
        })
    };
    let served_now = || served.load(std::sync::atomic::Ordering::Relaxed);
    wait_until(30, "load flowing before the reload", || served_now() >= 20);
    let app = s.path("app.py");
    std::fs::write(&app, HELLO_APP.replace("Hello, World!", "Hello, Reload")).unwrap();
    let out = run(&["reload", s.path("rw.pid").to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        text(&out),
        s.log_text()
    );
    assert!(text(&out).contains("reloaded"), "{}", text(&out));
    // The old workers are told to stop once the new ones accept (when `rw reload` returns), so
    // one may still answer a connection it took just before its SIGHUP: wait for the new code.
    wait_until(10, "the new code answering", || {
        s.get("/").1 == b"Hello, Reload"
    });
    let after_reload = served_now();
    wait_until(30, "load flowing after the reload", || {
        served_now() >= after_reload + 20
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (ok, bad) = hammer.join().unwrap();
    assert!(ok >= 40, "only {ok} requests went through");
    assert!(
        bad.is_empty(),
        "{} failed requests during the reload: {:?}\n{}",
        bad.len(),
        &bad[..bad.len().min(3)],
        s.log_text()
    );
}

#[test]
fn stop_waits_for_exit_and_vacuums() {
    let ini = hello_ini("pidfile = {dir}/rw.pid\nvacuum = true\nsocket = {dir}/app.sock");
    let mut s = Server::start(&ini, &[("app.py", HELLO_APP)]);
    assert!(s.path("app.sock").exists());
    // The pidfile is written once every socket is bound: just after the port answers.
    wait_until(10, "the pidfile", || {
        std::fs::read_to_string(s.path("rw.pid")).is_ok_and(|t| t.ends_with('\n'))
    });
    let out = run(&["stop", s.path("rw.pid").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("stopped"));
    let st = s.child.wait().unwrap();
    assert_eq!(st.code(), Some(0), "{}", s.log_text());
    assert!(!s.path("rw.pid").exists(), "pidfile left behind");
    assert!(!s.path("app.sock").exists(), "unix socket left behind");
    assert!(s.log_text().contains("goodbye to rw."));
}

#[test]
fn stop_refuses_missing_stale_and_foreign_pidfiles() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.pid");
    let out = run(&["stop", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("cannot read pidfile"), "{}", text(&out));

    let empty = dir.path().join("empty.pid");
    std::fs::write(&empty, "").unwrap();
    let out = run(&["reload", empty.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("is empty"), "{}", text(&out));

    // A pid that certainly is not running: a child we reaped.
    let mut c = std::process::Command::new("true").spawn().unwrap();
    let dead = c.id();
    c.wait().unwrap();
    let stale = dir.path().join("stale.pid");
    std::fs::write(&stale, format!("{dead}\n")).unwrap();
    let out = run(&["stop", stale.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("stale pidfile"), "{}", text(&out));

    // A live process that is not rw must not be signalled.
    let mut sleeper = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let foreign = dir.path().join("foreign.pid");
    std::fs::write(&foreign, format!("{}\n", sleeper.id())).unwrap();
    let out = run(&["stop", foreign.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("not an rw master"), "{}", text(&out));
    assert!(
        sleeper.try_wait().unwrap().is_none(),
        "the foreign process was signalled"
    );
    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
}

#[test]
fn harakiri_kills_a_stuck_request_and_the_worker_comes_back() {
    let ini = hello_ini("harakiri = 2\nprocesses = 1");
    let s = Server::start(&ini, &[("app.py", CONTROL_APP)]);
    let before = pid_of(&s);
    let t = Instant::now();
    let r = raw_request(s.port, b"GET /sleep/100 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "the client hung for {:?}",
        t.elapsed()
    );
    assert!(
        !r.starts_with(b"HTTP/1.1 200"),
        "the stuck request was answered: {:?}",
        String::from_utf8_lossy(&r)
    );
    let log = s.wait_log("HARAKIRI ON WORKER 1", 10);
    assert!(log.contains("GET /sleep/100"), "{log}");
    wait_until(10, "a respawned worker", || {
        s.worker_pids().len() == 1 && !s.worker_pids().contains(&before)
    });
    assert_ne!(pid_of(&s), before);
}

#[test]
fn a_worker_that_exits_is_respawned() {
    let ini = hello_ini("processes = 1");
    let s = Server::start(&ini, &[("app.py", CONTROL_APP)]);
    let before = pid_of(&s);
    let _ = raw_request(s.port, b"GET /exit HTTP/1.1\r\nHost: x\r\n\r\n");
    let log = s.wait_log("Respawned rw worker 1", 10);
    assert!(
        log.contains(&format!(
            "DAMN ! worker 1 (pid: {before}) died, exit code 1"
        )),
        "{log}"
    );
    assert_ne!(pid_of(&s), before);
}

#[test]
fn max_requests_recycles_the_worker() {
    let ini = hello_ini("processes = 1\nmax-requests = 3\nmin-worker-lifetime = 0");
    let s = Server::start(&ini, &[("app.py", CONTROL_APP)]);
    let first = pid_of(&s);
    s.get("/");
    s.get("/");
    s.wait_log("The work of process", 10);
    wait_until(10, "a new worker", || pid_of(&s) != first);
}

#[test]
fn killing_the_master_leaves_no_worker() {
    let ini = hello_ini("processes = 3");
    let mut s = Server::start(&ini, &[("app.py", HELLO_APP)]);
    let workers = s.workers(3);
    s.child.kill().unwrap();
    s.child.wait().unwrap();
    wait_until(10, "workers to die with the master", || {
        workers.iter().all(|&w| !alive(w))
    });
}

#[test]
fn sigterm_reloads_unless_die_on_term() {
    let ini = "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {dir}/app.py\nprocesses = 1\n";
    let mut s = Server::start(ini, &[("app.py", CONTROL_APP)]);
    let before = pid_of(&s);
    // SAFETY: signalling the rw master we started.
    unsafe { libc::kill(s.pid(), libc::SIGTERM) };
    wait_until(15, "a new generation after SIGTERM", || {
        let now = s.worker_pids();
        now.len() == 1 && now[0] != before
    });
    assert!(
        s.child.try_wait().unwrap().is_none(),
        "SIGTERM stopped the master"
    );
    assert_eq!(s.get("/").0, 200);

    let ini = hello_ini("processes = 1");
    let mut s2 = Server::start(&ini, &[("app.py", HELLO_APP)]);
    // SAFETY: as above.
    unsafe { libc::kill(s2.pid(), libc::SIGTERM) };
    let st = s2.child.wait().unwrap();
    assert_eq!(st.code(), Some(0), "{}", s2.log_text());
    drop(s);
}

#[test]
fn need_app_exits_with_the_traceback_and_without_it_requests_get_500() {
    let broken = "import no_such_module_rw\n";
    let out = serve_until_exit(broken, &["--need-app", "--die-on-term"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("ModuleNotFoundError: No module named 'no_such_module_rw'"),
        "{}",
        text(&out)
    );

    let s = Server::start(&hello_ini(""), &[("app.py", broken)]);
    assert_eq!(s.get("/").0, 500);
    assert!(s.log_text().contains("no app loaded"), "{}", s.log_text());
}

#[test]
fn daemonize_detaches_and_logs_to_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.py"), HELLO_APP).unwrap();
    let port = crate::util::free_port();
    let ini = format!(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = %dapp.py\ndaemonize = %drw.log\npidfile = %drw.pid\nvacuum = true\ndie-on-term = true\n"
    );
    let ini_path = dir.path().join("uwsgi.ini");
    std::fs::write(&ini_path, ini).unwrap();
    let t = Instant::now();
    let out = run(&["serve", "--ini", ini_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(t.elapsed() < Duration::from_secs(5));
    let pidfile = dir.path().join("rw.pid");
    // The socket listens before the pidfile is written (the pidfile comes once every socket
    // is bound), so a connection alone does not mean the pidfile is there yet.
    let read_pid = || {
        std::fs::read_to_string(&pidfile)
            .ok()
            .filter(|t| t.ends_with('\n')) // written whole, not half way
            .and_then(|t| t.trim().parse::<i32>().ok())
    };
    wait_until(15, "the daemon to serve and write its pidfile", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() && read_pid().is_some()
    });
    let pid = read_pid().unwrap();
    let guard = KillOnDrop(pid);
    let (status, _) = crate::util::split_response(&raw_request(
        port,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ));
    assert_eq!(status, 200);
    let out = run(&["stop", pidfile.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let log = std::fs::read_to_string(dir.path().join("rw.log")).unwrap();
    assert!(
        log.contains("GET / => generated 13 bytes") && log.contains("goodbye to rw."),
        "{log}"
    );
    assert!(!pidfile.exists());
    std::mem::forget(guard);
}

/// Kills a daemonized master if a test fails half way.
struct KillOnDrop(i32);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // SAFETY: signalling the daemon this test started.
        unsafe { libc::kill(self.0, libc::SIGKILL) };
    }
}

fn require_root() {
    assert_eq!(
        nix::unistd::geteuid().as_raw(),
        0,
        "this test needs root (CI and tests/run.sh run as root)"
    );
}

fn status_field(pid: i32, field: &str) -> Vec<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap()
        .to_string();
    line.split_whitespace()
        .skip(1)
        .map(str::to_string)
        .collect()
}

#[test]
fn gid_is_dropped_with_supplementary_groups() {
    require_root();
    let ini = hello_ini("gid = nogroup\nprocesses = 1");
    let s = Server::start(&ini, &[("app.py", CONTROL_APP)]);
    let nogroup = nix::unistd::Group::from_name("nogroup")
        .unwrap()
        .unwrap()
        .gid
        .as_raw()
        .to_string();
    for pid in [s.pid(), s.workers(1)[0]] {
        assert!(
            status_field(pid, "Gid:").iter().all(|g| *g == nogroup),
            "pid {pid}"
        );
        assert_eq!(
            status_field(pid, "Groups:"),
            vec![nogroup.clone()],
            "pid {pid}"
        );
    }
    assert!(s.log_text().contains("setgid() to"), "{}", s.log_text());
    assert_eq!(s.get("/").0, 200);
}

#[test]
fn uid_is_dropped_after_binding_or_refused_with_a_reason() {
    require_root();
    let nobody = nix::unistd::User::from_name("nobody")
        .unwrap()
        .unwrap()
        .uid
        .as_raw()
        .to_string();
    // The port is bound before the drop; where the embedded Python is unreadable to `nobody`
    // (pyenv under /root), rw must say so instead of CPython's cryptic path errors.
    let python_readable = std::process::Command::new("su")
        .args([
            "nobody",
            "-s",
            "/bin/sh",
            "-c",
            &format!("{} -c 'import os'", env!("RW_BUILD_PYTHON")),
        ])
        .status()
        .is_ok_and(|s| s.success());
    if python_readable {
        let ini = hello_ini("uid = nobody\ngid = nogroup\nprocesses = 1");
        let s = Server::start(&ini, &[("app.py", CONTROL_APP)]);
        for pid in [s.pid(), s.workers(1)[0]] {
            assert!(
                status_field(pid, "Uid:").iter().all(|u| *u == nobody),
                "pid {pid}"
            );
        }
        assert_eq!(s.get("/").0, 200);
    } else {
        let out = serve_until_exit(HELLO_APP, &["--uid", "nobody", "--gid", "nogroup"]);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(1), "{t}");
        assert!(
            t.contains(&format!("setuid() to {nobody}"))
                && t.contains("cannot read")
                && t.contains("Python rw embeds"),
            "{t}"
        );
    }
}
