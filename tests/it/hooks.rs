//! uWSGI 2.0's hooks (`hook-*`, `exec-*`) and the signals left (SIGUSR2, SIGTSTP, SIGWINCH),
//! driven through the real binary: each phase writes to a file at its point, a failing hook
//! refuses the start with its line, `unix_signal:15 gracefully_kill_them_all` turns SIGTERM
//! into a graceful stop, SIGUSR2 makes workers say what they serve, SIGTSTP pauses them.

use crate::util::{raw_request, rw, text, wait_until, Server};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};

/// An app that answers `/slow` only once the file `{dir}/go` exists (bounded: 20 s), so a
/// test holds a request in flight for exactly as long as it needs, and `/env` the variable
/// a hook set.
const APP: &str = r#"import os, time
def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/slow':
        # Says which worker is inside the app (written whole: a reader never sees half).
        with open('{dir}/.in-slow', 'w') as f:
            f.write(str(os.getpid()))
        os.rename('{dir}/.in-slow', '{dir}/in-slow')
        deadline = time.time() + 20
        while not os.path.exists('{dir}/go') and time.time() < deadline:
            time.sleep(0.02)
    body = os.environ.get('HOOKED', 'unset').encode() if path == '/env' else b'ok'
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
"#;

fn signal(pid: i32, sig: libc::c_int) {
    // SAFETY: signalling a process this test started.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "kill({pid}, {sig})");
}

fn lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn position(order: &[String], what: &str) -> usize {
    order
        .iter()
        .position(|l| l == what)
        .unwrap_or_else(|| panic!("`{what}` never ran: {order:?}"))
}

/// Waits (bounded) for the master to exit; its exit status.
fn wait_exit(s: &mut Server, secs: u64) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            return st;
        }
        assert!(
            Instant::now() < deadline,
            "rw still runs after {secs} s:\n{}",
            s.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `rw ARGS` in `dir`, killed if it runs longer than 30 s; (exit code, output).
fn run_in(dir: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let mut child = rw()
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (out.status.code(), text(&out))
}

#[test]
fn each_phase_runs_at_its_point_in_uwsgi_order() {
    let ini = "[uwsgi]
http-socket = 127.0.0.1:{port}
wsgi-file = {dir}/app.py
processes = 2
die-on-term = true
hook-asap = appendn:{dir}/order asap
hook-asap = putenv:HOOKED=by-asap
exec-asap = echo exec-asap >> {dir}/order
hook-pre-jail = appendn:{dir}/order pre-jail
exec-in-jail = echo in-jail >> {dir}/order
exec-post-jail = echo post-jail >> {dir}/order
hook-as-root = appendn:{dir}/order as-root
exec-as-user = echo as-user >> {dir}/order
hook-pre-app = mkdir:{dir}/made
exec-pre-app = test -d {dir}/made && echo pre-app >> {dir}/order
hook-post-app = appendn:{dir}/order post-app
hook-post-fork = appendn:{dir}/order post-fork
hook-accepting = appendn:{dir}/order accepting
hook-accepting-once = appendn:{dir}/order accepting-once
hook-accepting1 = appendn:{dir}/order accepting1
hook-accepting1-once = appendn:{dir}/order accepting1-once
hook-master-start = appendn:{dir}/order master-start
hook-master-start = !write:{dir}/secret s3cret
exec-as-user-atexit = echo atexit >> {dir}/order
hook-touch = {dir}/touchme write:{dir}/touched yes
";
    let mut s = Server::start(ini, &[("app.py", APP)]);
    let order_file = s.path("order");
    let count = |what: &str| lines(&order_file).iter().filter(|l| *l == what).count();
    wait_until(20, "both workers accepting", || count("accepting") == 2);
    wait_until(20, "master-start", || count("master-start") == 1);
    let order = lines(&order_file);
    let root = nix_is_root();
    let mut expected = vec!["asap", "exec-asap", "pre-jail", "in-jail"];
    if root {
        expected.extend(["as-root", "as-user"]);
    }
    expected.extend(["pre-app", "post-app"]);
    assert_eq!(&order[..expected.len()], &expected[..], "{order:?}");
    if !root {
        assert!(!order.iter().any(|l| l.starts_with("as-")), "{order:?}");
    }
    assert!(
        !order.contains(&"post-jail".to_string()),
        "no jail: {order:?}"
    );
    // Each worker: post-fork, then accepting; worker 1 alone runs the accepting1 steps.
    assert_eq!(count("post-fork"), 2, "{order:?}");
    assert!(position(&order, "post-fork") < position(&order, "accepting"));
    assert!(position(&order, "post-app") < position(&order, "master-start"));
    assert_eq!(
        (
            count("accepting-once"),
            count("accepting1"),
            count("accepting1-once")
        ),
        (2, 1, 1),
        "{order:?}"
    );
    // putenv before Python starts reaches os.environ; a private hook's value is not logged.
    assert_eq!(s.get("/env"), (200, b"by-asap".to_vec()));
    assert_eq!(std::fs::read_to_string(s.path("secret")).unwrap(), "s3cret");
    let log = s.log_text();
    assert!(log.contains("running \"appendn:"), "{log}");
    assert!(log.contains(" (pre app)...") && log.contains(" (accepting1-once)..."));
    assert!(
        log.contains("running --- PRIVATE HOOK --- (master-start)..."),
        "{log}"
    );
    assert!(!log.contains("s3cret"), "{log}");
    // A respawned worker 1 runs accepting and accepting1 again, never the -once steps.
    let w1 = *s
        .workers(2)
        .iter()
        .find(|&&w| {
            std::fs::read(format!("/proc/{w}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("worker 1"))
        })
        .expect("worker 1 by its title");
    signal(w1, libc::SIGKILL);
    wait_until(20, "respawned worker accepting", || count("accepting") == 3);
    wait_until(20, "respawned worker 1 accepting1", || {
        count("accepting1") == 2
    });
    assert_eq!((count("accepting-once"), count("accepting1-once")), (2, 1));
    // hook-touch runs when the file's mtime changes.
    std::fs::write(s.path("touchme"), "x").unwrap();
    wait_until(10, "the hook-touch step", || s.path("touched").exists());
    s.wait_log("*** hook-touch: ", 5);
    // atexit steps run when the master exits.
    signal(s.pid(), libc::SIGTERM);
    assert!(wait_exit(&mut s, 20).success(), "{}", s.log_text());
    assert_eq!(
        lines(&order_file).last().map(String::as_str),
        Some("atexit")
    );
}

fn nix_is_root() -> bool {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() == 0 }
}

#[test]
fn a_failing_hook_stops_the_start_with_its_line() {
    for (line, says) in [
        (
            "exec-asap = exit 3",
            "command \"exit 3\" exited with non-zero code: 3",
        ),
        ("hook-pre-app = exec:false", "exited with non-zero code: 1"),
        (
            "hook-post-app = write:/nonexistent-dir/x y",
            "open() /nonexistent-dir/x",
        ),
        (
            "hook-in-jail = chdir:/nonexistent-dir",
            "chdir() to /nonexistent-dir",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let port = crate::util::free_port();
        let ini = format!(
            "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = app.py\n{line}\nhook-master-start = write:started yes\n"
        );
        std::fs::write(dir.path().join("uwsgi.ini"), ini).unwrap();
        std::fs::write(dir.path().join("app.py"), APP).unwrap();
        let (code, out) = run_in(dir.path(), &["serve", "--ini", "uwsgi.ini"]);
        assert_eq!(code, Some(1), "{line}: {out}");
        assert!(out.contains("uwsgi.ini:4: "), "{line}: {out}");
        assert!(out.contains(says), "{line}: {out}");
        assert!(
            !dir.path().join("started").exists(),
            "{line}: the master started"
        );
    }
}

#[test]
fn a_failing_worker_or_master_start_hook_stops_the_instance() {
    for line in [
        "hook-accepting = exec:false",
        "hook-master-start = exec:false",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let port = crate::util::free_port();
        let ini = format!(
            "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = app.py\nprocesses = 2\n{line}\n"
        );
        std::fs::write(dir.path().join("uwsgi.ini"), ini).unwrap();
        std::fs::write(dir.path().join("app.py"), APP).unwrap();
        let (code, out) = run_in(dir.path(), &["serve", "--ini", "uwsgi.ini"]);
        assert_eq!(code, Some(1), "{line}: {out}");
        assert!(out.contains("uwsgi.ini:5: "), "{line}: {out}");
        assert!(
            out.contains("exited with non-zero code: 1"),
            "{line}: {out}"
        );
    }
}

#[test]
fn check_config_refuses_the_lines_serve_refuses() {
    for (line, says) in [
        (
            "hook-asap = frobnicate:x",
            "hook action not found: frobnicate",
        ),
        ("hook-asap = touch /tmp/x", "must be action:args"),
        ("call-asap = my_init", "rw cannot call C functions"),
        (
            "hook-pre-app = call:my_init",
            "cannot call the C function `my_init`",
        ),
        (
            "hook-master-start = unix_signal:15 end_me",
            "unable to find function \"end_me\"",
        ),
        (
            "hook-accepting = unix_signal:15 gracefully_kill_them_all",
            "runs in the workers",
        ),
        ("hook-touch = lonely", "must be <file> <action>:<args>"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let port = crate::util::free_port();
        let ini = format!("[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = app.py\n{line}\n");
        std::fs::write(dir.path().join("uwsgi.ini"), ini).unwrap();
        std::fs::write(dir.path().join("app.py"), APP).unwrap();
        let (code, out) = run_in(dir.path(), &["check-config", "uwsgi.ini"]);
        assert_eq!(code, Some(1), "{line}: {out}");
        assert!(out.contains("uwsgi.ini:4: error: "), "{line}: {out}");
        assert!(out.contains(says), "{line}: {out}");
        let (code, out) = run_in(dir.path(), &["serve", "--ini", "uwsgi.ini"]);
        assert_eq!(code, Some(1), "serve, {line}: {out}");
        assert!(
            out.contains("uwsgi.ini:4: error: ") && out.contains(says),
            "{out}"
        );
    }
}

#[test]
fn unix_signal_gracefully_kill_them_all_makes_sigterm_a_graceful_stop() {
    let ini = "[uwsgi]
http-socket = 127.0.0.1:{port}
wsgi-file = {dir}/app.py
processes = 1
hook-master-start = unix_signal:15 gracefully_kill_them_all
";
    let mut s = Server::start(ini, &[("app.py", APP)]);
    // What die-on-term configs write: check-config no longer warns that SIGTERM reloads.
    let (code, out) = run_in(s.dir.path(), &["check-config", "uwsgi.ini"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(!out.contains("SIGTERM will reload"), "{out}");
    s.wait_log(
        "running \"unix_signal:15 gracefully_kill_them_all\" (master-start)...",
        10,
    );
    let port = s.port;
    let slow = std::thread::spawn(move || {
        raw_request(
            port,
            b"GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
    });
    let worker = s.workers(1)[0];
    assert_eq!(in_slow(&s), worker);
    signal(s.pid(), libc::SIGTERM);
    s.wait_log("SIGTERM received...stopping workers", 10);
    std::fs::write(s.path("go"), "").unwrap();
    let resp = slow.join().unwrap();
    assert!(
        resp.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&resp)
    );
    assert!(wait_exit(&mut s, 20).success(), "{}", s.log_text());
    let log = s.log_text();
    assert!(!log.contains("(RE)spawned"), "SIGTERM reloaded:\n{log}");
}

/// The pid of the worker inside `/slow` (the app writes it on entry), waited for (bounded).
/// Counting a worker's sockets cannot tell: the uwsgi signal channels are sockets too.
fn in_slow(s: &Server) -> i32 {
    let path = s.path("in-slow");
    let mut pid = 0;
    wait_until(10, "a worker in the slow request", || {
        pid = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0);
        pid > 0
    });
    pid
}

#[test]
fn sigusr2_makes_each_worker_log_what_it_serves() {
    // harakiri records each request's vars in the scoreboard (the URI SIGUSR2 shows).
    let ini = "[uwsgi]
http-socket = 127.0.0.1:{port}
wsgi-file = {dir}/app.py
processes = 2
harakiri = 60
die-on-term = true
";
    let s = Server::start(ini, &[("app.py", APP)]);
    let workers = s.workers(2);
    let port = s.port;
    let slow = std::thread::spawn(move || {
        raw_request(
            port,
            b"GET /slow?q=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
    });
    assert!(workers.contains(&in_slow(&s)));
    signal(s.pid(), libc::SIGUSR2);
    let log = s.wait_log("is managing request /slow?q=1 since ", 10);
    s.wait_log("is managing no request", 10);
    let busy = log
        .lines()
        .find(|l| l.contains("is managing request /slow"))
        .unwrap();
    assert!(busy.starts_with("SIGUSR2: --- rw worker "), "{busy}");
    // Sent to a worker itself (as `kill -USR2 <worker>` with uWSGI), it logs and lives on.
    let before = s.log_text().matches("SIGUSR2: ---").count();
    signal(workers[0], libc::SIGUSR2);
    wait_until(10, "the worker's own SIGUSR2 line", || {
        s.log_text().matches("SIGUSR2: ---").count() > before
    });
    std::fs::write(s.path("go"), "").unwrap();
    assert!(slow.join().unwrap().starts_with(b"HTTP/1.1 200"));
    assert_eq!(s.workers(2), workers, "a worker died of SIGUSR2");
    assert_eq!(s.get("/").0, 200);
}

#[test]
fn sigtstp_pauses_the_workers_and_resumes_them_and_sigwinch_changes_nothing() {
    let s = Server::start(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {dir}/app.py\nprocesses = 2\ndie-on-term = true\n",
        &[("app.py", APP)],
    );
    let workers = s.workers(2);
    signal(s.pid(), libc::SIGWINCH);
    for &w in &workers {
        signal(w, libc::SIGWINCH);
    }
    assert_eq!(s.get("/").0, 200);
    // A request in flight when the pause comes is finished first (uWSGI's workers suspend
    // after the request they serve); its worker stops then.
    let port = s.port;
    let slow = std::thread::spawn(move || {
        raw_request(
            port,
            b"GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
    });
    let busy = in_slow(&s);
    assert!(workers.contains(&busy), "{busy} / {workers:?}");
    signal(s.pid(), libc::SIGTSTP);
    s.wait_log("*** PAUSE", 10);
    wait_until(10, "the idle worker stopped", || {
        workers
            .iter()
            .filter(|&&w| w != busy)
            .all(|&w| rw::sys::proc::state(w) == Some('T'))
    });
    assert_ne!(rw::sys::proc::state(busy), Some('T'), "stopped mid-request");
    std::fs::write(s.path("go"), "").unwrap();
    let resp = slow.join().unwrap();
    assert!(
        resp.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&resp)
    );
    wait_until(10, "every worker stopped", || {
        workers
            .iter()
            .all(|&w| rw::sys::proc::state(w) == Some('T'))
    });
    s.wait_log("*** worker 2 suspended ***", 5);
    s.wait_log("*** worker 1 suspended ***", 5);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = raw_request(
            port,
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        let _ = tx.send(r);
    });
    // Every worker is stopped: nothing can answer until they resume.
    assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
    signal(s.pid(), libc::SIGTSTP);
    s.wait_log("*** resuming workers ***", 10);
    let resp = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("served after resume");
    assert!(
        resp.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&resp)
    );
    assert_eq!(s.workers(2), workers, "workers were replaced");
    assert!(workers
        .iter()
        .all(|&w| rw::sys::proc::state(w) != Some('T')));
}

#[test]
fn writefifo_writes_to_a_reader_and_does_not_fail_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("deploy.fifo");
    let path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo on a NUL-terminated path we own.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
    let mut reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    let port = crate::util::free_port();
    let ini = format!(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = app.py\ndie-on-term = true\nhook-post-app = writefifo:{} ready\nhook-post-app = writefifo:{}/nobody.fifo x\n",
        fifo.display(),
        dir.path().display()
    );
    let nobody = std::ffi::CString::new(format!("{}/nobody.fifo", dir.path().display())).unwrap();
    // SAFETY: as above.
    assert_eq!(unsafe { libc::mkfifo(nobody.as_ptr(), 0o600) }, 0);
    std::fs::write(dir.path().join("uwsgi.ini"), ini).unwrap();
    std::fs::write(dir.path().join("app.py"), APP).unwrap();
    let mut s = Server::launch(dir, port, &["serve", "--ini", "uwsgi.ini"], &[]);
    let mut got = Vec::new();
    wait_until(10, "the FIFO line", || {
        let mut buf = [0u8; 64];
        if let Ok(n) = reader.read(&mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        got == b"ready"
    });
    s.wait_log("has no reader; nothing written", 5);
    assert_eq!(s.get("/").0, 200);
    signal(s.pid(), libc::SIGTERM);
    assert!(wait_exit(&mut s, 20).success());
}

#[test]
fn a_reload_runs_asap_and_in_jail_again_but_not_pre_jail() {
    let ini = "[uwsgi]
http-socket = 127.0.0.1:{port}
wsgi-file = {dir}/app.py
die-on-term = true
hook-asap = appendn:{dir}/order asap
hook-pre-jail = appendn:{dir}/order pre-jail
hook-in-jail = appendn:{dir}/order in-jail
hook-master-start = appendn:{dir}/order master-start
exec-as-user-atexit = echo atexit >> {dir}/order
";
    let s = Server::start(ini, &[("app.py", APP)]);
    let order_file = s.path("order");
    wait_until(20, "master-start", || lines(&order_file).len() == 4);
    signal(s.pid(), libc::SIGHUP);
    wait_until(30, "the reloaded master's master-start", || {
        lines(&order_file)
            .iter()
            .filter(|l| *l == "master-start")
            .count()
            == 2
    });
    assert_eq!(
        lines(&order_file),
        [
            "asap",
            "pre-jail",
            "in-jail",
            "master-start",
            "atexit",
            "asap",
            "in-jail",
            "master-start"
        ],
        "{}",
        s.log_text()
    );
    assert_eq!(s.get("/").0, 200);
}

#[test]
fn sigusr1_to_a_worker_logs_its_counters_instead_of_killing_it() {
    let s = Server::start(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {dir}/app.py\nprocesses = 1\ndie-on-term = true\n",
        &[("app.py", APP)],
    );
    let worker = s.workers(1)[0];
    for _ in 0..3 {
        assert_eq!(s.get("/").0, 200);
    }
    // The request counter is bumped as the request ends, after its answer.
    s.wait_log("req: 3/3]", 10);
    signal(worker, libc::SIGUSR1);
    s.wait_log("worker 1 total requests: 3", 10);
    assert_eq!(s.workers(1), vec![worker], "the worker died of SIGUSR1");
    assert_eq!(s.get("/").0, 200);
}

#[test]
fn as_root_runs_before_the_uid_drop_and_as_user_after_it() {
    assert!(
        nix_is_root(),
        "this test needs root (CI and tests/run.sh run as root)"
    );
    let dir = tempfile::tempdir().unwrap();
    // `nobody` writes here after the drop.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let port = crate::util::free_port();
    let d = dir.path().display();
    let ini = format!(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {d}/app.py\nuid = nobody\ngid = nogroup\ndie-on-term = true\nhook-as-root = exec:id -u > {d}/as-root\nexec-as-user = id -u > {d}/as-user.tmp && mv {d}/as-user.tmp {d}/as-user\n"
    );
    std::fs::write(dir.path().join("uwsgi.ini"), ini).unwrap();
    std::fs::write(dir.path().join("app.py"), APP).unwrap();
    let log = std::fs::File::create(dir.path().join("rw.log")).unwrap();
    let mut child = rw()
        .args(["serve", "--ini", "uwsgi.ini"])
        .current_dir(dir.path())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    // Whether the embedded Python is readable by `nobody` decides what follows the drop; the
    // as-user step runs before Python starts either way.
    let user_file = dir.path().join("as-user");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !user_file.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    let logged = std::fs::read_to_string(dir.path().join("rw.log")).unwrap_or_default();
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap().uid;
    let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap_or_default();
    assert_eq!(read("as-root").trim(), "0", "{logged}");
    assert_eq!(read("as-user").trim(), nobody.to_string(), "{logged}");
    assert!(logged.contains("running \"exec:id -u > "), "{logged}");
    assert!(
        logged.contains("as-root\" (as root)...")
            && logged.contains(&format!("as-user\" (as uid: {nobody} gid: ")),
        "{logged}"
    );
}

#[test]
fn a_hook_that_fails_in_a_reloaded_image_leaves_the_old_generation_serving() {
    let ini = "[uwsgi]
http-socket = 127.0.0.1:{port}
wsgi-file = {dir}/app.py
processes = 1
die-on-term = true
exec-asap = test ! -e {dir}/broken
";
    let s = Server::start(ini, &[("app.py", APP)]);
    let worker = s.workers(1)[0];
    std::fs::write(s.path("broken"), "").unwrap();
    signal(s.pid(), libc::SIGHUP);
    s.wait_log("uwsgi.ini:6: exec-asap = test ! -e ", 20);
    s.wait_log("exited with non-zero code: 1", 5);
    // The previous generation still answers, from the same worker.
    assert_eq!(s.get("/").0, 200);
    assert_eq!(s.workers(1), vec![worker]);
    // Fixed, the next reload goes through.
    std::fs::remove_file(s.path("broken")).unwrap();
    signal(s.pid(), libc::SIGHUP);
    wait_until(30, "a new worker", || {
        s.worker_pids() != vec![worker] && s.worker_pids().len() == 1
    });
    assert_eq!(s.get("/").0, 200);
}

/// Unmounts (lazily) a path a test mounted on, whatever the test's outcome.
struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

fn mounted(path: &std::path::Path) -> bool {
    std::fs::read_to_string("/proc/self/mounts")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(1) == Some(path.to_str().unwrap()))
}

#[test]
fn mount_asap_mounts_before_the_exec_steps_and_umount_at_exit_takes_it_off() {
    assert!(
        nix_is_root(),
        "this test needs root (CI and tests/run.sh run as root)"
    );
    let ini = "[uwsgi]
http-socket = 127.0.0.1:{port}
wsgi-file = {dir}/app.py
die-on-term = true
hook-asap = mkdir:{dir}/mnt
mount-asap = tmpfs none {dir}/mnt nosuid,nodev size=1m
exec-asap = touch {dir}/mnt/inside
hook-as-user-atexit = umount:{dir}/mnt rec
";
    let mut s = Server::start(ini, &[("app.py", APP)]);
    let mnt = s.path("mnt");
    let _guard = Unmount(mnt.clone());
    assert!(mounted(&mnt), "{}", s.log_text());
    assert!(
        mnt.join("inside").exists(),
        "the exec step ran before the mount"
    );
    s.wait_log("mounting \"tmpfs none ", 5);
    signal(s.pid(), libc::SIGTERM);
    assert!(wait_exit(&mut s, 20).success(), "{}", s.log_text());
    assert!(!mounted(&mnt), "{}", s.log_text());
    assert!(!mnt.join("inside").exists());
}

#[test]
fn a_pause_under_load_fails_no_request() {
    let s = Server::start(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {dir}/app.py\nprocesses = 2\nthreads = 2\ndie-on-term = true\n",
        &[("app.py", APP)],
    );
    let workers = s.workers(2);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (port, stop) = (s.port, stop.clone());
            std::thread::spawn(move || {
                let (mut ok, mut bad) = (0u32, Vec::new());
                let deadline = Instant::now() + Duration::from_secs(60);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline
                {
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
            })
        })
        .collect();
    wait_until(10, "requests served before the pause", || {
        s.log_text().matches("GET / =>").count() >= 20
    });
    for _ in 0..3 {
        signal(s.pid(), libc::SIGTSTP);
        wait_until(10, "every worker stopped", || {
            workers
                .iter()
                .all(|&w| rw::sys::proc::state(w) == Some('T'))
        });
        signal(s.pid(), libc::SIGTSTP);
        wait_until(10, "every worker running", || {
            workers
                .iter()
                .all(|&w| rw::sys::proc::state(w) != Some('T'))
        });
    }
    let served = s.log_text().matches("GET / =>").count();
    wait_until(20, "requests served after the pauses", || {
        s.log_text().matches("GET / =>").count() >= served + 20
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0;
    for c in clients {
        let (ok, bad) = c.join().unwrap();
        assert!(bad.is_empty(), "failed requests: {bad:?}");
        total += ok;
    }
    assert!(total > 40, "{total}");
    assert_eq!(s.workers(2), workers);
}

#[test]
fn wait_for_file_holds_the_start_until_the_file_exists_and_wait_for_socket_times_out() {
    assert!(
        nix_is_root(),
        "this test needs root (CI and tests/run.sh run as root)"
    );
    let ini = "[uwsgi]
http-socket = 127.0.0.1:{port}
wsgi-file = {dir}/app.py
die-on-term = true
wait-for-file = {dir}/ready
hook-as-root = appendn:{dir}/order as-root
hook-pre-app = appendn:{dir}/order pre-app
";
    // rw binds before the as-root steps, so the port answers while it waits.
    let s = Server::start(ini, &[("app.py", APP)]);
    s.wait_log("ready (max 60 seconds) ...", 10);
    let order = s.path("order");
    assert!(!order.exists(), "a step ran before the wait ended");
    std::fs::write(s.path("ready"), "").unwrap();
    s.wait_log("ready found", 10);
    wait_until(20, "the app steps", || {
        lines(&order) == ["as-root", "pre-app"]
    });
    s.workers(1);
    assert_eq!(s.get("/").0, 200);
    // A socket nobody listens on: the start fails after the timeout, naming the line.
    let dir = tempfile::tempdir().unwrap();
    let (port, dead) = (crate::util::free_port(), crate::util::free_port());
    let ini = format!(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = app.py\nwait-for-socket-timeout = 1\nwait-for-socket = 127.0.0.1:{dead}\n"
    );
    std::fs::write(dir.path().join("uwsgi.ini"), ini).unwrap();
    std::fs::write(dir.path().join("app.py"), APP).unwrap();
    let (code, out) = run_in(dir.path(), &["serve", "--ini", "uwsgi.ini"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!("uwsgi.ini:5: wait-for-socket = 127.0.0.1:{dead}")),
        "{out}"
    );
    assert!(out.contains("unavailable after 1 seconds"), "{out}");
}
