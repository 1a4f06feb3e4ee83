//! Logging as uWSGI 2.0 defines it (issue 11): which requests are logged, the request line's
//! format options, the `log-date` stamp, log files that are reopened and rotated under load
//! (by rw itself and by the real logrotate) without losing or cutting a line, and the
//! process names `ps` shows.

use crate::util::{raw_request, split_response, wait_until, Server};
use std::path::Path;
use std::time::Duration;

/// Status, body size and duration chosen by the path: `/s/404`, `/zero`, `/big`, `/slow`.
const CHOOSY_APP: &str = r#"import time

def application(environ, start_response):
    path = environ['PATH_INFO']
    status, body = '200 OK', b'ok'
    if path.startswith('/s/'):
        status = path[3:] + ' X'
    elif path == '/zero':
        body = b''
    elif path == '/big':
        body = b'x' * 5000
    elif path == '/slow':
        time.sleep(0.3)
    start_response(status, [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
"#;

fn one_worker_ini(extra: &str) -> String {
    // One process, one thread: requests finish (and are logged or not) in the order sent.
    format!(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{{port}}\nwsgi-file = {{dir}}/app.py\nprocesses = 1\n\
         die-on-term = true\nlog-format = REQ %(uri) %(status)\n{extra}\n"
    )
}

/// The `REQ` lines of the log, as "uri status".
fn request_lines(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| l.strip_prefix("REQ "))
        .map(str::to_string)
        .collect()
}

/// Sends `paths` one after the other, then waits until the last one's line is logged: with
/// one worker thread every earlier request was decided on by then.
fn logged_after(s: &Server, paths: &[&str]) -> Vec<String> {
    for p in paths {
        let _ = s.get(p);
    }
    let last = paths.last().unwrap();
    let mut lines = Vec::new();
    wait_until(10, &format!("the line of {last}"), || {
        lines = request_lines(&s.log_text());
        lines.iter().any(|l| l.starts_with(&format!("{last} ")))
    });
    lines
}

#[test]
fn disable_logging_with_conditions_logs_only_what_they_select() {
    let cases: &[(&str, &[&str], &[&str])] = &[
        (
            "disable-logging = true\nlog-5xx = true",
            &["/a", "/s/404", "/s/503"],
            &["/s/503 503"],
        ),
        (
            "disable-logging = true\nlog-4xx = true\nlog-zero = true",
            &["/a", "/s/500", "/zero", "/s/404"],
            &["/zero 200", "/s/404 404"],
        ),
        (
            "disable-logging = true\nlog-slow = 200\nlog-big = 4000",
            &["/a", "/slow", "/zero", "/big"],
            &["/slow 200", "/big 200"],
        ),
        // Static files go out with sendfile(2).
        (
            "disable-logging = true\nlog-sendfile = true\nstatic-map = /st={dir}/st",
            &["/a", "/s/404", "/st/f.txt"],
            &["/st/f.txt 200"],
        ),
        // Without disable-logging the conditions change nothing: every request is logged.
        (
            "log-5xx = true\nlog-slow = 1",
            &["/a", "/s/404"],
            &["/a 200", "/s/404 404"],
        ),
    ];
    for (extra, sent, want) in cases {
        let s = Server::start(
            &one_worker_ini(extra),
            &[("app.py", CHOOSY_APP), ("st/f.txt", "static\n")],
        );
        let got = logged_after(&s, sent);
        assert_eq!(&got, want, "{extra}\n{}", s.log_text());
    }
}

#[test]
fn log_micros_and_x_forwarded_for_in_the_default_line() {
    let ini = "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {dir}/app.py\nprocesses = 1\n\
               die-on-term = true\nlog-micros = true\nlog-x-forwarded-for = true\n";
    let s = Server::start(ini, &[("app.py", CHOOSY_APP)]);
    let r = raw_request(
        s.port,
        b"GET /xff HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.7, 10.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(split_response(&r).0, 200);
    assert_eq!(s.get("/plain").0, 200);
    let log = s.wait_log("GET /plain =>", 10);
    let xff = log.lines().find(|l| l.contains("GET /xff =>")).unwrap();
    // The header's whole value replaces the address, as uWSGI prints it.
    assert!(xff.contains("] 203.0.113.7, 10.0.0.1 () {"), "{xff}");
    assert!(
        regex_like_micros(xff),
        "the time is in micros, not msecs: {xff}"
    );
    let plain = log.lines().find(|l| l.contains("GET /plain =>")).unwrap();
    assert!(plain.contains("] 127.0.0.1 () {"), "{plain}");
}

/// `generated N bytes in M micros (`.
fn regex_like_micros(line: &str) -> bool {
    let Some(rest) = line.split(" bytes in ").nth(1) else {
        return false;
    };
    let mut it = rest.split(' ');
    it.next().is_some_and(|n| n.parse::<u64>().is_ok()) && it.next() == Some("micros")
}

#[test]
fn log_date_stamps_server_lines_but_not_request_lines() {
    // A strftime format (`%%` is a literal `%` in uWSGI's ini), used by %(ftime) too.
    let ini = one_worker_ini(
        "log-date = [%%Y]\nlogformat-strftime = true\nlog-format = REQ %(uri) [%(ftime)]",
    );
    let s = Server::start(&ini, &[("app.py", CHOOSY_APP)]);
    assert_eq!(s.get("/d").0, 200);
    // The master may write its spawn line after the worker already served.
    s.wait_log("spawned rw worker 1", 10);
    let log = s.wait_log("REQ /d", 10);
    let year = log
        .lines()
        .find_map(|l| l.strip_prefix('['))
        .and_then(|l| l.get(..4))
        .unwrap_or_else(|| panic!("no stamped line:\n{log}"))
        .to_string();
    assert!(year.parse::<u32>().is_ok_and(|y| y >= 2024), "{log}");
    let spawned = log
        .lines()
        .find(|l| l.contains("spawned rw worker 1"))
        .unwrap();
    assert_eq!(
        spawned,
        format!(
            "[{year}] - spawned rw worker 1 (pid: {}, cores: 1)",
            s.workers(1)[0]
        )
    );
    let req = log.lines().find(|l| l.contains("REQ /d")).unwrap();
    assert_eq!(
        req,
        format!("REQ /d [[{year}]]"),
        "request lines carry no stamp"
    );

    // A bare log-date is ctime's date; without logformat-strftime %(ftime) is %(ltime).
    let s = Server::start(
        &one_worker_ini("log-date = true\nlog-format = REQ %(uri) %(ftime)"),
        &[("app.py", CHOOSY_APP)],
    );
    assert_eq!(s.get("/e").0, 200);
    s.wait_log("spawned rw worker 1", 10);
    let log = s.wait_log("REQ /e", 10);
    let spawned = log
        .lines()
        .find(|l| l.contains("spawned rw worker 1"))
        .unwrap();
    // `Wed Dec  2 06:39:09 2026 - spawned …`
    assert_eq!(spawned.find(" - spawned"), Some(24), "{spawned}");
    let req = log.lines().find(|l| l.contains("REQ /e")).unwrap();
    assert!(
        req.contains('/') && req.contains(':') && req.ends_with(|c: char| c.is_ascii_digit()),
        "{req}"
    );
}

/// Requests in a tight loop on `threads` threads until told to stop; counts the 200s.
struct Load {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<u64>>,
}

impl Load {
    fn start(port: u16, threads: usize) -> Load {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let threads = (0..threads)
            .map(|t| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut ok = 0u64;
                    // Bounded in time and count, whatever the stop flag does.
                    let deadline = std::time::Instant::now() + Duration::from_secs(120);
                    while !stop.load(std::sync::atomic::Ordering::Relaxed)
                        && std::time::Instant::now() < deadline
                        && ok < 200_000
                    {
                        let req = format!(
                            "GET /load/{t}/{ok} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                        );
                        if get_ok(port, req.as_bytes()) {
                            ok += 1;
                        }
                    }
                    ok
                })
            })
            .collect();
        Load { stop, threads }
    }

    fn finish(self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.threads.into_iter().map(|t| t.join().unwrap()).sum()
    }
}

/// One request; whether it was answered 200 (a refused or reset connection is not).
fn get_ok(port: u16, req: &[u8]) -> bool {
    use std::io::{Read, Write};
    let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = c.set_read_timeout(Some(Duration::from_secs(30)));
    let mut out = Vec::new();
    c.write_all(req).is_ok() && c.read_to_end(&mut out).is_ok() && out.starts_with(b"HTTP/1.1 200 ")
}

/// The whole lines of every file in `dir` whose name starts with `stem` (a line still being
/// written is left for the next look), and how many such files there are.
fn all_logs(dir: &Path, stem: &str) -> (String, usize) {
    let mut text = String::new();
    let mut files = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.file_name().to_string_lossy().starts_with(stem) {
            files += 1;
            let t =
                String::from_utf8_lossy(&std::fs::read(e.path()).unwrap_or_default()).into_owned();
            text.push_str(&t[..t.rfind('\n').map_or(0, |i| i + 1)]);
        }
    }
    (text, files)
}

/// The load lines of `text`: each must be whole (`LOAD /load/T/N 200`), and each request once.
fn count_load_lines(text: &str) -> usize {
    let mut seen = std::collections::HashSet::new();
    for l in text.lines().filter(|l| l.contains("/load/")) {
        assert!(
            l.starts_with("LOAD /load/") && l.ends_with(" 200") && l.matches("/load/").count() == 1,
            "a cut or mixed line: {l:?}"
        );
        assert!(seen.insert(l.to_string()), "logged twice: {l}");
    }
    seen.len()
}

fn logfile_ini(extra: &str) -> String {
    format!(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{{port}}\nwsgi-file = {{dir}}/app.py\nprocesses = 3\n\
         threads = 2\ndie-on-term = true\nlogto = {{dir}}/app.log\nlog-format = LOAD %(uri) %(status)\n{extra}\n"
    )
}

/// Waits until the log files together hold `n` load lines.
fn wait_load_lines(dir: &Path, n: u64) -> usize {
    let mut got = 0;
    wait_until(20, &format!("{n} load lines in the log files"), || {
        got = count_load_lines(&all_logs(dir, "app.log").0);
        got as u64 >= n
    });
    got
}

#[test]
fn log_maxsize_rotates_three_times_under_load_without_losing_or_cutting_a_line() {
    let s = Server::start(
        &logfile_ini("log-maxsize = 20000"),
        &[("app.py", CHOOSY_APP)],
    );
    let load = Load::start(s.port, 4);
    // Rotated files are app.log.<unix time>; wait for three of them while the load runs.
    wait_until(60, "three rotations", || {
        all_logs(s.dir.path(), "app.log.").1 >= 3
    });
    let sent = load.finish();
    let got = wait_load_lines(s.dir.path(), sent);
    assert_eq!(got as u64, sent, "every request has exactly one whole line");
    let (all, _) = all_logs(s.dir.path(), "app.log");
    assert!(all.contains("triggering rotation to"), "{all}");
}

#[test]
fn touch_logreopen_after_a_real_logrotate_loses_nothing() {
    let s = Server::start(
        &logfile_ini("touch-logreopen = {dir}/reopen\nlogfile-chmod = 604"),
        &[("app.py", CHOOSY_APP), ("reopen", "")],
    );
    let dir = s.dir.path();
    let conf = dir.join("logrotate.conf");
    // rename + create (no copytruncate), then the reopen touch, as operators write it.
    std::fs::write(
        &conf,
        format!(
            "{d}/app.log {{\n  rotate 10\n  create 0640\n  missingok\n  postrotate\n    touch {d}/reopen\n  endscript\n}}\n",
            d = dir.display()
        ),
    )
    .unwrap();
    let load = Load::start(s.port, 4);
    for round in 0..3 {
        wait_until(20, "load lines in the fresh log", || {
            std::fs::read_to_string(dir.join("app.log")).is_ok_and(|t| t.contains("LOAD /load/"))
        });
        let out = std::process::Command::new("logrotate")
            .args(["-f", "-s"])
            .arg(dir.join("logrotate.state"))
            .arg(&conf)
            .output()
            .expect("logrotate runs (tests/run.sh installs it)");
        assert!(
            out.status.success(),
            "logrotate: {}",
            crate::util::text(&out)
        );
        // The master reopens (its notice lands in the new file); workers follow.
        wait_until(20, "the reopen notice", || {
            std::fs::read_to_string(dir.join("app.log")).is_ok_and(|t| t.contains("reopened."))
        });
        assert!(dir.join(format!("app.log.{}", round + 1)).exists());
    }
    let sent = load.finish();
    let got = wait_load_lines(dir, sent);
    assert_eq!(got as u64, sent);
    // After the last reopen every process writes to the new file.
    let before = std::fs::read_to_string(dir.join("app.log"))
        .unwrap()
        .lines()
        .count();
    for i in 0..20 {
        assert_eq!(s.get(&format!("/after/{i}")).0, 200);
    }
    wait_until(10, "lines after the reopen in the new file", || {
        std::fs::read_to_string(dir.join("app.log")).is_ok_and(|t| {
            t.matches("LOAD /after/").count() == 20 && t.lines().count() >= before + 20
        })
    });
    let rotated = std::fs::read_to_string(dir.join("app.log.1")).unwrap();
    assert!(
        !rotated.contains("/after/"),
        "a process still writes to the rotated file"
    );
    // logfile-chmod applies to the files rw opens (the ones logrotate creates have its mode).
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.join("app.log.3"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o604, "the first log file, opened by rw");
}

#[test]
fn touch_logrotate_and_log_backupname() {
    let s = Server::start(
        &logfile_ini("touch-logrotate = {dir}/rotate\nlog-backupname = {dir}/app.log.old"),
        &[("app.py", CHOOSY_APP), ("rotate", "")],
    );
    let dir = s.dir.path();
    assert_eq!(s.get("/before").0, 200);
    wait_until(10, "the first line", || {
        std::fs::read_to_string(dir.join("app.log")).is_ok_and(|t| t.contains("/before"))
    });
    // Touch with a later mtime than the one the master saw at start.
    let later = std::time::SystemTime::now() + Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(dir.join("rotate"))
        .unwrap()
        .set_modified(later)
        .unwrap();
    wait_until(10, "the backup", || dir.join("app.log.old").exists());
    assert_eq!(s.get("/after").0, 200);
    wait_until(10, "the new line in the new file", || {
        std::fs::read_to_string(dir.join("app.log")).is_ok_and(|t| t.contains("/after"))
    });
    let old = std::fs::read_to_string(dir.join("app.log.old")).unwrap();
    assert!(old.contains("/before") && !old.contains("/after"), "{old}");
}

#[test]
fn logto2_takes_over_the_log_after_binding_and_the_privilege_drop() {
    let ini = one_worker_ini("logto2 = {dir}/two.log");
    let s = Server::start(&ini, &[("app.py", CHOOSY_APP)]);
    assert_eq!(s.get("/two").0, 200);
    let two = s.path("two.log");
    wait_until(10, "the request line in logto2", || {
        std::fs::read_to_string(&two).is_ok_and(|t| t.contains("REQ /two 200"))
    });
    // Sockets are bound (and privileges dropped) before the switch; Python starts after it.
    let first = s.log_text();
    let second = std::fs::read_to_string(&two).unwrap();
    assert!(first.contains("bound to 127.0.0.1:"), "{first}");
    assert!(!first.contains("Python version"), "{first}");
    assert!(
        second.contains("Python version") && !second.contains("bound to"),
        "{second}"
    );
}

/// What `ps -o args=` shows for `pid`, trimmed.
fn ps_args(pid: i32) -> String {
    let out = std::process::Command::new("ps")
        .args(["-o", "args=", "-p", &pid.to_string()])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The first string of /proc/PID/cmdline (the title rw wrote over argv).
fn cmdline_title(pid: i32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    String::from_utf8_lossy(raw.split(|&b| b == 0).next().unwrap_or_default()).into_owned()
}

fn comm(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn process_names_as_uwsgi_shows_them() {
    // (options, master, worker 1)
    let cases = [
        ("", "rw master", "rw worker 1"),
        ("auto-procname = true", "uWSGI master", "uWSGI worker 1"),
        (
            "procname-prefix-spaced = myapp",
            "myapp uWSGI master",
            "myapp uWSGI worker 1",
        ),
        (
            "procname-prefix = app-\nprocname-append = -x",
            "app-uWSGI master-x",
            "app-uWSGI worker 1-x",
        ),
        ("procname = web", "web", "web"),
        ("procname = web\nprocname-master = boss", "boss", "web"),
        ("procname-master = boss", "boss", "uWSGI worker 1"),
        // Longer than rw's command line: written over the environment block too, as uWSGI.
        (
            "procname-prefix = a-prefix-longer-than-the-command-line-that-started-rw:",
            "a-prefix-longer-than-the-command-line-that-started-rw:uWSGI master",
            "a-prefix-longer-than-the-command-line-that-started-rw:uWSGI worker 1",
        ),
    ];
    for (extra, master, worker) in cases {
        let s = Server::start(
            &format!(
                "[uwsgi]\nhttp-socket = 127.0.0.1:{{port}}\nprocesses = 1\ndie-on-term = true\n\
                 pidfile = {{dir}}/rw.pid\n{extra}\n"
            ),
            &[],
        );
        let w = s.workers(1)[0];
        wait_until(10, &format!("titles for {extra:?}"), || {
            cmdline_title(s.pid()) == master && cmdline_title(w) == worker
        });
        assert_eq!(ps_args(s.pid()), master, "{extra}");
        assert_eq!(ps_args(w), worker, "{extra}");
        // comm (top, pgrep) gets the first 15 bytes.
        let cut = |t: &str| t.chars().take(15).collect::<String>();
        assert_eq!(comm(s.pid()), cut(master), "{extra}");
        assert_eq!(comm(w), cut(worker), "{extra}");
        // `rw stop` still knows the renamed master for an rw master.
        let out = crate::util::run(&["stop", s.path("rw.pid").to_str().unwrap()]);
        assert!(out.status.success(), "{extra}: {}", crate::util::text(&out));
    }
}

#[test]
fn loggers_and_encoders_send_server_and_request_lines_their_ways() {
    let ini = one_worker_ini(
        "logger = file:{dir}/server.log\nreq-logger = file:{dir}/req.log\n\
         log-encoder = json {\"unix\":${unix},\"msg\":\"${msg}\"}\nlog-encoder = nl\n\
         log-req-encoder = format [req] ${msgnl}",
    );
    let s = Server::start(&ini, &[("app.py", CHOOSY_APP)]);
    assert_eq!(s.get("/logged?q=\"x\"").0, 200);
    let req = s.path("req.log");
    wait_until(10, "the request line in req.log", || {
        std::fs::read_to_string(&req).is_ok_and(|t| t.contains("/logged"))
    });
    let req = std::fs::read_to_string(&req).unwrap();
    assert_eq!(req.lines().count(), 1, "{req}");
    assert!(
        req.starts_with("[req] REQ /logged?q=%22x%22 200\n")
            || req.starts_with("[req] REQ /logged?q=\\x22x\\x22 200\n"),
        "{req}"
    );
    // The master may write its spawn line after the worker already served.
    wait_until(10, "the spawn line in server.log", || {
        std::fs::read_to_string(s.path("server.log"))
            .is_ok_and(|t| t.contains("spawned rw worker 1"))
    });
    let server = std::fs::read_to_string(s.path("server.log")).unwrap();
    let mut spawned = false;
    for l in server[..server.rfind('\n').map_or(0, |i| i + 1)].lines() {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}"));
        assert!(v["unix"].as_u64().is_some_and(|t| t > 1_700_000_000), "{l}");
        spawned |= v["msg"]
            .as_str()
            .is_some_and(|m| m.starts_with("spawned rw worker 1"));
    }
    assert!(spawned, "{server}");
    // Neither kind of line reaches stderr any more.
    let stderr = s.log_text();
    assert!(
        !stderr.contains("spawned rw worker") && !stderr.contains("REQ "),
        "{stderr}"
    );

    // `stdio` is the log itself; without req-logger, request lines take the server lines' way.
    let s = Server::start(
        // (the ini reader trims the value, as uWSGI's does: the prefix has no trailing space)
        &one_worker_ini("logger = stdio\nlog-encoder = prefix [srv]"),
        &[("app.py", CHOOSY_APP)],
    );
    assert_eq!(s.get("/p").0, 200);
    s.wait_log("[srv]spawned rw worker 1", 10);
    let log = s.wait_log("REQ /p", 10);
    assert!(log.contains("[srv]REQ /p 200"), "{log}");
}

/// A unix datagram socket bound at /dev/log for the test's life: the system logger that
/// syslog(3) writes to (this machine runs none).
struct DevLog(std::os::unix::net::UnixDatagram);

impl Drop for DevLog {
    fn drop(&mut self) {
        let _ = std::fs::remove_file("/dev/log");
    }
}

#[test]
fn req_logger_syslog_sends_each_line_to_dev_log() {
    if !is_root() || Path::new("/dev/log").exists() {
        eprintln!("skipped: needs root and no system logger on /dev/log");
        return;
    }
    let sock = DevLog(std::os::unix::net::UnixDatagram::bind("/dev/log").unwrap());
    sock.0
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let s = Server::start(
        &one_worker_ini("req-logger = syslog:rwtest,local3"),
        &[("app.py", CHOOSY_APP)],
    );
    assert_eq!(s.get("/sys").0, 200);
    let mut buf = [0u8; 4096];
    let n = sock.0.recv(&mut buf).expect("a datagram within 10 s");
    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
    // <local3.info> = <19*8+6>, then syslog(3)'s timestamp, the ident and the line.
    assert!(msg.starts_with("<158>"), "{msg}");
    assert!(msg.ends_with(" rwtest: REQ /sys 200"), "{msg:?}");
    assert!(
        !s.log_text().contains("REQ /sys"),
        "the line went to syslog only"
    );
    drop(s);
    // `log-syslog = IDENT` sends the server lines, at daemon.info (<30>).
    let s = Server::start(
        &one_worker_ini("log-syslog = rwident"),
        &[("app.py", CHOOSY_APP)],
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut found = String::new();
    while std::time::Instant::now() < deadline && found.is_empty() {
        let Ok(n) = sock.0.recv(&mut buf) else { break };
        let m = String::from_utf8_lossy(&buf[..n]).into_owned();
        if m.contains("rwident: spawned rw worker 1") {
            found = m;
        }
    }
    assert!(found.starts_with("<30>"), "{found:?}\n{}", s.log_text());
}

#[test]
fn log_truncate_empties_the_log_at_start_but_not_at_a_reload() {
    let dir_files = [("app.py", CHOOSY_APP), ("app.log", "OLD LINE\n")];
    let s = Server::start(
        &one_worker_ini("logto = {dir}/app.log\nlog-truncate = true"),
        &dir_files,
    );
    assert_eq!(s.get("/first").0, 200);
    let log = s.path("app.log");
    wait_until(10, "the first line", || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("REQ /first"))
    });
    assert!(!std::fs::read_to_string(&log).unwrap().contains("OLD LINE"));
    // SAFETY: signalling the rw master this test started.
    unsafe { libc::kill(s.pid(), libc::SIGHUP) };
    wait_until(30, "the reloaded generation", || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("gracefully (RE)spawned rw master"))
    });
    assert_eq!(s.get("/second").0, 200);
    wait_until(10, "the second line", || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("REQ /second"))
    });
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("REQ /first"),
        "a reload kept the log"
    );
}

#[test]
fn logfile_chown_lets_dropped_workers_follow_a_rotation() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    // The master stays root (the embedded Python under /root is unreadable to nobody); the
    // workers drop to nobody after fork and must still reopen the rotated log.
    let s = Server::start(
        &logfile_ini(
            "uid = nobody\ngid = nogroup\nmaster-as-root = true\nlogfile-chown = true\n\
             touch-logrotate = {dir}/rotate\nlogfile-chmod = 600",
        ),
        &[("app.py", CHOOSY_APP), ("rotate", "")],
    );
    let dir = s.dir.path();
    use std::os::unix::fs::MetadataExt;
    // The socket listens before the master chowns the log (bind, pidfile, then logfile-chown),
    // so the port answering does not mean the chown happened yet (it failed so under load).
    let owner = || std::fs::metadata(dir.join("app.log")).unwrap().uid();
    wait_until(10, "logfile-chown to give the log to nobody", || {
        owner() != 0
    });
    let nobody = owner();
    assert_eq!(s.get("/one").0, 200);
    wait_until(10, "the first line", || {
        std::fs::read_to_string(dir.join("app.log")).is_ok_and(|t| t.contains("/one"))
    });
    let later = std::time::SystemTime::now() + Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(dir.join("rotate"))
        .unwrap()
        .set_modified(later)
        .unwrap();
    wait_until(10, "the rotation", || {
        all_logs(dir, "app.log.").1 == 1
            && std::fs::read_to_string(dir.join("app.log")).is_ok_and(|t| !t.contains("/one"))
    });
    assert_eq!(
        std::fs::metadata(dir.join("app.log")).unwrap().uid(),
        nobody
    );
    // Three workers, so more requests than that: each must have reopened.
    for i in 0..12 {
        assert_eq!(s.get(&format!("/two/{i}")).0, 200);
    }
    wait_until(10, "every line in the new file", || {
        std::fs::read_to_string(dir.join("app.log")).is_ok_and(|t| t.matches("/two/").count() == 12)
    });
    assert!(!s.log_text().contains("cannot reopen"), "{}", s.log_text());
}

fn is_root() -> bool {
    // SAFETY: geteuid has no arguments and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// rw with its stderr on a pipe read by a thread (as under docker or systemd), killed on drop.
struct Piped {
    child: std::process::Child,
    out: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    reader: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Piped {
    fn start(ini: &str, port: u16) -> Piped {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app.py"), CHOOSY_APP).unwrap();
        let ini = ini
            .replace("{dir}", &dir.path().display().to_string())
            .replace("{port}", &port.to_string());
        std::fs::write(dir.path().join("uwsgi.ini"), ini).unwrap();
        let mut child = crate::util::rw()
            .args(["serve", "--ini", "uwsgi.ini"])
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = child.stderr.take().unwrap();
        let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = out.clone();
        let reader = std::thread::spawn(move || {
            use std::io::Read;
            let mut buf = vec![0u8; 1 << 16];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        let p = Piped {
            child,
            out,
            reader: Some(reader),
            _dir: dir,
        };
        wait_until(30, "rw to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        p
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }
}

impl Drop for Piped {
    fn drop(&mut self) {
        let workers = crate::util::children_of(self.child.id() as i32);
        let _ = self.child.kill();
        let _ = self.child.wait();
        for w in workers {
            // SAFETY: signalling a worker of the master this test started.
            unsafe { libc::kill(w, libc::SIGKILL) };
        }
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

#[test]
fn log_master_keeps_long_lines_whole_on_a_pipe_and_loses_none_across_a_reload() {
    let port = crate::util::free_port();
    let p = Piped::start(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {dir}/app.py\nprocesses = 3\n\
         threads = 2\nbuffer-size = 32768\nlog-master = true\nlog-format = LONG %(uri) %(status)\n",
        port,
    );
    // Lines of 6 KiB: more than a pipe writes atomically, so without a single writer they
    // could mix.
    let pad = "p".repeat(6000);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load: Vec<_> = (0..4)
        .map(|t| {
            let (stop, pad) = (stop.clone(), pad.clone());
            std::thread::spawn(move || {
                let mut ok = 0u64;
                let deadline = std::time::Instant::now() + Duration::from_secs(60);
                while !stop.load(std::sync::atomic::Ordering::Relaxed)
                    && std::time::Instant::now() < deadline
                {
                    let req = format!(
                        "GET /long/{t}/{ok}/{pad} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                    );
                    if get_ok(port, req.as_bytes()) {
                        ok += 1;
                    }
                }
                ok
            })
        })
        .collect();
    let lines_now = |p: &Piped| p.text().matches("LONG /long/").count();
    wait_until(20, "lines before the reload", || lines_now(&p) > 200);
    // SAFETY: signalling the rw master this test started.
    unsafe { libc::kill(p.child.id() as i32, libc::SIGHUP) };
    wait_until(30, "the new generation", || {
        p.text().contains("gracefully (RE)spawned rw master")
            && p.text().matches("Gracefully killing old worker").count() >= 3
    });
    let after = lines_now(&p);
    wait_until(20, "lines after the reload", || lines_now(&p) > after + 200);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent: u64 = load.into_iter().map(|t| t.join().unwrap()).sum();
    let mut seen = std::collections::HashSet::new();
    wait_until(20, "every request's line", || {
        let text = p.text();
        // The reader may hold the first part of a line still being written.
        let whole = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
        seen.clear();
        for l in whole.lines().filter(|l| l.contains("/long/")) {
            assert!(
                l.starts_with("LONG /long/")
                    && l.ends_with(" 200")
                    && l.matches("/long/").count() == 1,
                "a cut or mixed line: {}…",
                &l[..l.len().min(120)]
            );
            assert_eq!(
                l.len(),
                "LONG ".len() + l[5..].find(' ').unwrap() + " 200".len(),
                "mixed"
            );
            seen.insert(l.to_string());
        }
        seen.len() as u64 >= sent
    });
    assert_eq!(seen.len() as u64, sent, "one line per request, none lost");
}

#[test]
fn check_config_names_the_logging_traps() {
    let dir = tempfile::tempdir().unwrap();
    let check = |body: &str| {
        let p = dir.path().join("u.ini");
        std::fs::write(&p, format!("[uwsgi]\nhttp-socket = :8000\n{body}\n")).unwrap();
        let out = crate::util::run(&["check-config", p.to_str().unwrap()]);
        (out.status.code(), crate::util::text(&out))
    };
    let (code, out) = check("logfile-chmod = 64");
    assert_eq!(code, Some(1), "uWSGI exits on it: {out}");
    assert!(out.contains("u.ini:3: error: logfile-chmod `64`"), "{out}");
    let (code, out) = check(
        "log-date = false\nlogger = rsyslog:127.0.0.1:514\nlogger = named file:/tmp/x\n\
         log-encoder = gzip\nlog-ioerror = true\nlog-req-encoder = nl",
    );
    assert_eq!(code, Some(0), "{out}");
    for needle in [
        "u.ini:3: warning: log-date = false does not turn the date off",
        "u.ini:4: warning: logger: rw has no `rsyslog` logger",
        "u.ini:5: warning: logger `named file:/tmp/x` is a named logger",
        "u.ini:6: warning: log-encoder: rw has no `gzip` encoder",
        "u.ini:7: warning: log-ioerror logs",
        "u.ini:8: warning: log-req-encoder only rewrites req-logger lines",
    ] {
        assert!(out.contains(needle), "{needle}\n{out}");
    }
    // The options of issue 11 are no longer "not implemented".
    let (code, out) = check(
        "log-4xx = true\nlog-date = true\nlog-maxsize = 100\ntouch-logreopen = /tmp/x\n\
         procname-master = boss\nauto-procname = true\nlog-master = true\nreq-logger = stdio",
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(!out.contains("not implemented"), "{out}");
}

#[test]
fn log_drain_and_log_filter_pick_lines_by_regexp() {
    let s = Server::start(
        &one_worker_ini("log-drain = ^REQ /health"),
        &[("app.py", CHOOSY_APP)],
    );
    assert_eq!(
        logged_after(&s, &["/health", "/healthz", "/a"]),
        ["/a 200"],
        "{}",
        s.log_text()
    );
    s.wait_log("spawned rw worker 1", 10);
    let s = Server::start(
        &one_worker_ini("log-filter = ^REQ /keep\nlog-filter = Python version"),
        &[("app.py", CHOOSY_APP)],
    );
    assert_eq!(logged_after(&s, &["/drop", "/keep"]), ["/keep 200"]);
    let log = s.log_text();
    assert!(
        log.contains("Python version") && !log.contains("spawned rw worker"),
        "{log}"
    );
}

#[test]
fn log_route_sends_matching_lines_to_a_named_logger_with_its_encoders() {
    let s = Server::start(
        &one_worker_ini(
            "logger = audit file:{dir}/audit.log\nlog-route = audit ^REQ /audit\n\
             log-encoder = prefix [all]\nlog-encoder = prefix:audit [audit]",
        ),
        &[("app.py", CHOOSY_APP)],
    );
    assert_eq!(s.get("/audit/1").0, 200);
    assert_eq!(s.get("/a").0, 200);
    let log = s.wait_log("[all]REQ /a 200", 10);
    assert!(!log.contains("/audit/1"), "{log}");
    let audit = s.path("audit.log");
    wait_until(10, "the routed line", || {
        std::fs::read_to_string(&audit).is_ok_and(|t| t.contains("/audit/1"))
    });
    // The encoders for every logger, then those for `audit`, in their order.
    assert_eq!(
        std::fs::read_to_string(&audit).unwrap(),
        "[audit][all]REQ /audit/1 200\n"
    );
}

#[test]
fn logto_host_port_sends_each_line_as_a_udp_datagram() {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let port = sock.local_addr().unwrap().port();
    let s = Server::start(
        &one_worker_ini(&format!("logto = 127.0.0.1:{port}")),
        &[("app.py", CHOOSY_APP)],
    );
    assert_eq!(s.get("/udp").0, 200);
    let mut buf = [0u8; 65536];
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    while std::time::Instant::now() < deadline {
        let Ok(n) = sock.recv(&mut buf) else { break };
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        // The master's spawn line may come after the worker's request line.
        if got.iter().any(|d| d == "REQ /udp 200\n")
            && got.iter().any(|d| d.starts_with("spawned rw worker 1"))
        {
            break;
        }
    }
    assert!(got.iter().any(|d| d == "REQ /udp 200\n"), "{got:?}");
    assert!(
        got.iter().any(|d| d.starts_with("spawned rw worker 1")),
        "{got:?}"
    );
    assert!(!s.log_text().contains("REQ /udp"), "{}", s.log_text());
    assert!(
        !s.path(&format!("127.0.0.1:{port}")).exists(),
        "no file of that name"
    );
}
