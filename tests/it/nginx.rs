//! The uwsgi protocol behind a real nginx (`uwsgi_pass`), a second client (`uwsgi_curl`),
//! scale-out over two rw instances, malformed packets, and systemd notify/activation.

use crate::util::{free_port, raw_request, run, split_response, text, venv, wait_until, Server};
use rw::proto::uwsgi::encode_packet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// An app that reports what it saw: environ as JSON for /env, body digest for POST, a stream
/// for /stream, a 404 for /missing, its pid for /pid.
const PROBE_APP: &str = r#"
import hashlib, json, os, time

def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/missing':
        start_response('404 Not Found', [('Content-Type', 'text/plain')])
        return [b'nope']
    if path == '/stream':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return (('part %d\n' % i).encode() for i in range(5))
    if path == '/pid':
        body = str(os.getpid()).encode()
        start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
        return [body]
    if path == '/slow':
        time.sleep(0.05)
    data = environ['wsgi.input'].read()
    env = {k: v for k, v in environ.items() if isinstance(v, str)}
    env['body_len'] = len(data)
    env['body_sha256'] = hashlib.sha256(data).hexdigest()
    body = json.dumps(env, sort_keys=True).encode()
    start_response('200 OK', [('Content-Type', 'application/json'), ('Content-Length', str(len(body)))])
    return [body]
"#;

/// A real nginx started from Debian's package with a config in a temp dir; killed on drop.
struct Nginx {
    child: std::process::Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl Nginx {
    /// `locations` is the body of the `server {}` block after `listen`; `upstreams` goes in
    /// `http {}`.
    fn start(upstreams: &str, locations: &str) -> Nginx {
        let bin = which("nginx")
            .expect("nginx is not installed: run tests/run.sh (it installs nginx-light)");
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let d = dir.path().display();
        let conf = format!(
            "daemon off;\nmaster_process on;\nworker_processes 1;\nuser root;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  client_max_body_size 20m;\n  client_body_buffer_size 1m;\n  {upstreams}\n  server {{\n    listen 127.0.0.1:{port};\n    {locations}\n  }}\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
        let child = std::process::Command::new(bin)
            .args(["-p", &d.to_string(), "-c", &format!("{d}/nginx.conf")])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut n = Nginx { child, dir, port };
        wait_until(15, "nginx to listen", || {
            if let Ok(Some(st)) = n.child.try_wait() {
                let mut err = String::new();
                let _ = n.child.stderr.take().unwrap().read_to_string(&mut err);
                panic!("nginx exited ({st}): {err}");
            }
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        n
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM is nginx's fast shutdown; the master takes its workers with it.
        // SAFETY: signalling the nginx we started.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn which(name: &str) -> Option<PathBuf> {
    [
        "/usr/sbin",
        "/usr/bin",
        "/usr/local/sbin",
        "/usr/local/bin",
        "/sbin",
        "/bin",
    ]
    .iter()
    .map(|d| Path::new(d).join(name))
    .find(|p| p.exists())
}

fn uwsgi_location(target: &str) -> String {
    format!("location / {{ include /etc/nginx/uwsgi_params; uwsgi_pass {target}; uwsgi_next_upstream error timeout; }}")
}

fn rw_ini(extra: &str) -> String {
    format!("[uwsgi]\nwsgi-file = {{dir}}/app.py\nprocesses = 2\nthreads = 2\ndie-on-term = true\nhttp-socket = 127.0.0.1:{{port}}\n{extra}\n")
}

fn curl(args: &[&str]) -> (String, Vec<u8>) {
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "30", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl runs (installed by tests/run.sh)");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut body = out.stdout;
    let nl = body.iter().rposition(|&b| b == b'\n').unwrap();
    let code = String::from_utf8_lossy(&body[nl + 1..]).into_owned();
    body.truncate(nl);
    (code, body)
}

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
}

/// Everything the issue lists, through nginx to `target`, compared with the same request
/// over rw's own http-socket.
fn exercise_through_nginx(s: &Server, target: &str) {
    let static_dir = s.path("static");
    std::fs::create_dir_all(&static_dir).unwrap();
    std::fs::write(static_dir.join("site.css"), "body { color: red }\n").unwrap();
    let locations = format!(
        "location /static/ {{ alias {}/; }}\n    {}",
        static_dir.display(),
        uwsgi_location(target)
    );
    let n = Nginx::start("", &locations);
    let base = format!("http://127.0.0.1:{}", n.port);

    let (code, body) = curl(&[&format!("{base}/caf%C3%A9/x?q=1&r=%20s")]);
    assert_eq!(code, "200", "{}", n.error_log());
    let via_nginx = json(&body);
    assert_eq!(
        via_nginx["PATH_INFO"], "/caf\u{c3}\u{a9}/x",
        "PATH_INFO is the decoded bytes as latin-1"
    );
    assert_eq!(via_nginx["QUERY_STRING"], "q=1&r=%20s");
    assert_eq!(via_nginx["REQUEST_URI"], "/caf%C3%A9/x?q=1&r=%20s");
    assert_eq!(via_nginx["REQUEST_METHOD"], "GET");
    assert_eq!(via_nginx["wsgi.url_scheme"], "http");
    let (_, direct) = curl(&[&format!(
        "http://127.0.0.1:{}/caf%C3%A9/x?q=1&r=%20s",
        s.port
    )]);
    let direct = json(&direct);
    for key in [
        "PATH_INFO",
        "QUERY_STRING",
        "REQUEST_URI",
        "REQUEST_METHOD",
        "SERVER_PROTOCOL",
        "HTTP_USER_AGENT",
        "HTTP_ACCEPT",
        "wsgi.url_scheme",
        "body_len",
    ] {
        assert_eq!(
            via_nginx[key], direct[key],
            "{key} differs between nginx and http-socket"
        );
    }

    let (code, body) = curl(&["-d", "a=1&b=%C3%A9", &format!("{base}/form")]);
    assert_eq!(code, "200");
    let env = json(&body);
    assert_eq!(env["CONTENT_TYPE"], "application/x-www-form-urlencoded");
    assert_eq!(env["body_len"], 12);
    assert_eq!(env["REQUEST_METHOD"], "POST");

    let upload = s.path("upload.bin");
    let data: Vec<u8> = (0..10 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    std::fs::write(&upload, &data).unwrap();
    let (code, body) = curl(&[
        "--data-binary",
        &format!("@{}", upload.display()),
        "-H",
        "Content-Type: application/octet-stream",
        &format!("{base}/upload"),
    ]);
    assert_eq!(code, "200", "{}", n.error_log());
    let env = json(&body);
    assert_eq!(env["body_len"], data.len());
    use sha2_free::sha256_hex;
    assert_eq!(env["body_sha256"], sha256_hex(&data));

    let (code, body) = curl(&[&format!("{base}/stream")]);
    assert_eq!(
        (code.as_str(), body.as_slice()),
        ("200", &b"part 0\npart 1\npart 2\npart 3\npart 4\n"[..])
    );
    let (code, body) = curl(&["-I", &format!("{base}/head")]);
    assert_eq!(code, "200");
    assert!(String::from_utf8_lossy(&body).contains("Content-Type: application/json"));
    let (code, body) = curl(&[&format!("{base}/missing")]);
    assert_eq!((code.as_str(), body.as_slice()), ("404", &b"nope"[..]));
    let (code, body) = curl(&[&format!("{base}/static/site.css")]);
    assert_eq!(
        (code.as_str(), body.as_slice()),
        ("200", &b"body { color: red }\n"[..])
    );
    assert!(
        !s.log_text().contains("site.css"),
        "static files must be served by nginx, not rw"
    );
}

/// sha256 through the test venv's Python (no extra crate for one digest).
mod sha2_free {
    pub fn sha256_hex(data: &[u8]) -> String {
        use std::io::Write;
        let mut c = std::process::Command::new("python3")
            .args([
                "-c",
                "import sys,hashlib;print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(data).unwrap();
        let out = c.wait_with_output().unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }
}

#[test]
fn nginx_over_a_unix_socket() {
    let s = Server::start(
        &rw_ini("socket = {dir}/app.sock\nchmod-socket = 660"),
        &[("app.py", PROBE_APP)],
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(s.path("app.sock"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o660
    );
    exercise_through_nginx(&s, &format!("unix:{}", s.path("app.sock").display()));
}

#[test]
fn nginx_over_a_tcp_uwsgi_socket() {
    let uport = free_port();
    let s = Server::start(
        &rw_ini(&format!("socket = 127.0.0.1:{uport}")),
        &[("app.py", PROBE_APP)],
    );
    exercise_through_nginx(&s, &format!("127.0.0.1:{uport}"));
}

#[test]
fn uwsgi_curl_is_a_second_independent_client() {
    let uport = free_port();
    let s = Server::start(
        &rw_ini(&format!("socket = 127.0.0.1:{uport}")),
        &[("app.py", PROBE_APP)],
    );
    let bin = venv().join("bin/uwsgi_curl");
    assert!(
        bin.exists(),
        "uwsgi_curl missing: run tests/run.sh (uwsgi-tools)"
    );
    let out = std::process::Command::new(&bin)
        .args([&format!("127.0.0.1:{uport}"), "/env?x=1"])
        .output()
        .unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("HTTP/1.1 200 OK") || t.contains("200 OK"), "{t}");
    assert!(t.contains("\"QUERY_STRING\": \"x=1\""), "{t}");
    let out = std::process::Command::new(&bin)
        .args([&format!("127.0.0.1:{uport}"), "/missing"])
        .output()
        .unwrap();
    assert!(text(&out).contains("404 Not Found"), "{}", text(&out));
    drop(s);
}

/// Sends raw bytes to the uwsgi socket and returns what came back (bounded).
fn uwsgi_raw(port: u16, bytes: &[u8], close_write: bool) -> Vec<u8> {
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = c.write_all(bytes);
    if close_write {
        let _ = c.shutdown(std::net::Shutdown::Write);
    }
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    out
}

fn good_packet(path: &str) -> Vec<u8> {
    let vars: Vec<(&[u8], &[u8])> = vec![
        (b"REQUEST_METHOD", b"GET"),
        (b"PATH_INFO", path.as_bytes()),
        (b"REQUEST_URI", path.as_bytes()),
        (b"QUERY_STRING", b""),
        (b"SERVER_PROTOCOL", b"HTTP/1.1"),
        (b"SERVER_NAME", b"localhost"),
        (b"SERVER_PORT", b"80"),
        (b"REMOTE_ADDR", b"127.0.0.1"),
    ];
    encode_packet(0, &vars, 0)
}

#[test]
fn malformed_packets_close_with_a_log_line_and_the_worker_serves_on() {
    let uport = free_port();
    let s = Server::start(
        &rw_ini(&format!(
            "socket = 127.0.0.1:{uport}\nprocesses = 1\nthreads = 1"
        )),
        &[("app.py", PROBE_APP)],
    );
    let ok = uwsgi_raw(uport, &good_packet("/pid"), false);
    assert!(
        ok.starts_with(b"HTTP/1.1 200 OK"),
        "{}",
        String::from_utf8_lossy(&ok)
    );
    let pid_before = split_response(&ok).1;
    // The status line says HTTP/1.0 to a 1.0 frontend (or one that sent no protocol) and HTTP/1.1
    // to anything else: the frontend's bytes are never copied there, so CR/LF cannot inject a
    // header (uWSGI copies them verbatim), and nginx in front of HTTP/2 gets a line it parses.
    let injected = &b"HTTP/1.1\r\nSet-Cookie: injected=1"[..];
    for (proto, line) in [
        (Some(&b"HTTP/1.0"[..]), &b"HTTP/1.0 200 OK\r\n"[..]),
        (None, b"HTTP/1.0 200 OK\r\n"),
        (Some(b"HTTP/2.0"), b"HTTP/1.1 200 OK\r\n"),
        (Some(injected), b"HTTP/1.1 200 OK\r\n"),
    ] {
        let vars: Vec<(&[u8], &[u8])> = [
            (&b"REQUEST_METHOD"[..], &b"GET"[..]),
            (b"PATH_INFO", b"/pid"),
            (b"REQUEST_URI", b"/pid"),
        ]
        .into_iter()
        .chain(proto.map(|p| (&b"SERVER_PROTOCOL"[..], p)))
        .collect();
        let out = uwsgi_raw(uport, &encode_packet(0, &vars, 0), false);
        assert!(out.starts_with(line), "{}", String::from_utf8_lossy(&out));
        let text = String::from_utf8_lossy(&out);
        assert!(!text.contains("injected"), "header injected: {text}");
        assert_eq!(split_response(&out).1, pid_before);
    }
    wait_until(5, "a log line for the injected SERVER_PROTOCOL", || {
        s.log_text()
            .contains("uwsgi: SERVER_PROTOCOL `HTTP/1.1\\r\\nSet-Cookie: injected=1`")
    });

    let mut size_past_data = vec![0u8, 100, 0, 0];
    size_past_data.extend_from_slice(b"\x05\x00ABCDE");
    let mut truncated_var = vec![0u8, 9, 0, 0];
    truncated_var.extend_from_slice(b"\x05\x00ABCDE\x09");
    let mut var_past_block = vec![0u8, 9, 0, 0];
    var_past_block.extend_from_slice(b"\x05\x00ABC\x50\x00xy");
    let zero_block = vec![0u8, 0, 0, 0];
    let noise: Vec<u8> = (0..64 * 1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8 | 1)
        .collect();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("size larger than the data", size_past_data),
        ("truncated var", truncated_var),
        ("var length past the block", var_past_block),
        ("zero-length block", zero_block),
        ("64 KiB of noise", noise),
    ];
    for (name, bytes) in cases {
        let before = s.log_text().lines().count();
        let t = Instant::now();
        let out = uwsgi_raw(uport, &bytes, true);
        assert!(
            out.is_empty(),
            "{name}: got a response {:?}",
            String::from_utf8_lossy(&out)
        );
        assert!(
            t.elapsed() < Duration::from_secs(8),
            "{name}: the connection was held"
        );
        wait_until(5, &format!("a log line for {name}"), || {
            s.log_text()
                .lines()
                .skip(before)
                .any(|l| l.contains("uwsgi:"))
        });
        let ok = uwsgi_raw(uport, &good_packet("/pid"), false);
        assert!(
            ok.starts_with(b"HTTP/1.1 200 OK"),
            "{name}: next request failed: {}",
            String::from_utf8_lossy(&ok)
        );
        assert_eq!(
            split_response(&ok).1,
            pid_before,
            "{name}: the worker changed"
        );
    }
    // One byte at a time still parses (gunicorn #3552).
    let mut c = std::net::TcpStream::connect(("127.0.0.1", uport)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    for b in good_packet("/pid") {
        c.write_all(&[b]).unwrap();
        c.flush().unwrap();
    }
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    assert!(
        out.starts_with(b"HTTP/1.1 200 OK"),
        "{}",
        String::from_utf8_lossy(&out)
    );
}

#[test]
fn block_larger_than_buffer_size_and_code_loading_vars_are_refused() {
    let uport = free_port();
    let s = Server::start(
        &rw_ini(&format!("socket = 127.0.0.1:{uport}\nbuffer-size = 512")),
        &[("app.py", PROBE_APP)],
    );
    let big = vec![b'x'; 1000];
    let vars: Vec<(&[u8], &[u8])> = vec![
        (b"REQUEST_METHOD", b"GET"),
        (b"PATH_INFO", b"/"),
        (b"HTTP_X_BIG", &big),
    ];
    assert!(uwsgi_raw(uport, &encode_packet(0, &vars, 0), false).is_empty());
    s.wait_log("invalid request block size: 1", 5);

    let vars: Vec<(&[u8], &[u8])> = vec![
        (b"REQUEST_METHOD", b"GET"),
        (b"PATH_INFO", b"/env"),
        (b"REQUEST_URI", b"/env"),
        (b"SERVER_PROTOCOL", b"HTTP/1.1"),
        (b"UWSGI_FILE", b"exec://touch /tmp/rw-pwned"),
        (b"UWSGI_SCHEME", b"https"),
    ];
    let out = uwsgi_raw(uport, &encode_packet(0, &vars, 0), false);
    let env = json(&split_response(&out).1);
    assert!(
        env.get("UWSGI_FILE").is_none(),
        "code-loading var reached the app"
    );
    assert_eq!(env["wsgi.url_scheme"], "https", "UWSGI_SCHEME is honoured");
    assert!(
        s.log_text().contains("ignoring uwsgi var UWSGI_FILE"),
        "{}",
        s.log_text()
    );

    // modifier1 other than 0 is refused with a log line.
    let out = uwsgi_raw(uport, &encode_packet(5, &vars[..2], 0), false);
    assert!(out.is_empty());
    s.wait_log("unavailable modifier requested: 5", 5);
}

#[test]
fn two_instances_behind_one_upstream_survive_a_stop() {
    let a = Server::start(
        &rw_ini("socket = {dir}/app.sock\npidfile = {dir}/rw.pid\nvacuum = true"),
        &[("app.py", PROBE_APP)],
    );
    let b = Server::start(
        &rw_ini("socket = {dir}/app.sock\npidfile = {dir}/rw.pid\nvacuum = true"),
        &[("app.py", PROBE_APP)],
    );
    let upstream = format!(
        "upstream rw {{ server unix:{} max_fails=0; server unix:{} max_fails=0; }}",
        a.path("app.sock").display(),
        b.path("app.sock").display()
    );
    let n = Nginx::start(&upstream, &uwsgi_location("rw"));
    let pid_a: Vec<i32> = a.workers(2);
    let pid_b: Vec<i32> = b.workers(2);
    let mut seen = std::collections::HashSet::new();
    for _ in 0..40 {
        let (code, body) = split_response(&raw_request(
            n.port,
            b"GET /pid HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        ));
        assert_eq!(code, 200);
        seen.insert(String::from_utf8(body).unwrap().parse::<i32>().unwrap());
    }
    assert!(
        seen.iter().any(|p| pid_a.contains(p)) && seen.iter().any(|p| pid_b.contains(p)),
        "requests were not spread: {seen:?}"
    );

    let port = n.port;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let served = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (stop, served) = (stop.clone(), served.clone());
            std::thread::spawn(move || {
                let (mut ok, mut bad) = (0u32, Vec::new());
                let deadline = Instant::now() + Duration::from_secs(60);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline
                {
                    let r = raw_request(
                        port,
                        b"GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                    );
                    if r.starts_with(b"HTTP/1.1 200") {
                        ok += 1;
                        served.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    } else {
                        bad.push(String::from_utf8_lossy(&r[..r.len().min(200)]).into_owned());
                    }
                }
                (ok, bad)
            })
        })
        .collect();
    let served_now = || served.load(std::sync::atomic::Ordering::Relaxed);
    wait_until(30, "requests flowing through nginx", || served_now() >= 8);
    let out = run(&["stop", a.path("rw.pid").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // The stopped instance is gone: what is served from here on went to the other one.
    let after_stop = served_now();
    wait_until(30, "requests served after the stop", || {
        served_now() >= after_stop + 8
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0;
    for c in clients {
        let (ok, bad) = c.join().unwrap();
        total += ok;
        assert!(
            bad.is_empty(),
            "{} failed requests while one instance stopped: {:?}\nnginx: {}",
            bad.len(),
            &bad[..bad.len().min(3)],
            n.error_log()
        );
    }
    assert!(total > 20, "only {total} requests");
    assert!(!a.path("app.sock").exists(), "vacuum left the socket");
}

#[test]
fn systemd_notify_reports_ready_reloading_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify.sock");
    let listener = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    listener
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut s = Server::start_with(
        &rw_ini("pidfile = {dir}/rw.pid"),
        &[("app.py", PROBE_APP)],
        &[("NOTIFY_SOCKET", sock_path.to_str().unwrap())],
    );
    let recv = || {
        let mut buf = [0u8; 512];
        let n = listener.recv(&mut buf).expect("a notification within 20 s");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let m = recv();
    assert!(
        m.starts_with("READY=1") && m.contains(&format!("MAINPID={}", s.pid())),
        "{m}"
    );
    let out = run(&["reload", s.path("rw.pid").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let m = recv();
    assert!(
        m.starts_with("RELOADING=1") && m.contains("MONOTONIC_USEC="),
        "{m}"
    );
    let m = recv();
    assert!(m.starts_with("READY=1"), "{m}");
    let out = run(&["stop", s.path("rw.pid").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(recv().starts_with("STOPPING=1"));
    assert_eq!(s.child.wait().unwrap().code(), Some(0));
}

#[test]
fn socket_activation_adopts_the_passed_listener() {
    let bin = which("systemd-socket-activate")
        .expect("systemd-socket-activate missing: run tests/run.sh (package systemd)");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.py"), PROBE_APP).unwrap();
    let sock = dir.path().join("act.sock");
    let port = free_port();
    let ini = format!(
        "[uwsgi]\nwsgi-file = {d}/app.py\nsocket = {s}\nhttp-socket = 127.0.0.1:{port}\nprocesses = 1\ndie-on-term = true\nvacuum = true\n",
        d = dir.path().display(),
        s = sock.display()
    );
    std::fs::write(dir.path().join("uwsgi.ini"), ini).unwrap();
    let log = std::fs::File::create(dir.path().join("rw.log")).unwrap();
    let mut child = std::process::Command::new(bin)
        .args([
            "-l",
            sock.to_str().unwrap(),
            env!("CARGO_BIN_EXE_rw"),
            "serve",
            "--ini",
        ])
        .arg(dir.path().join("uwsgi.ini"))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    struct Kill(i32);
    impl Drop for Kill {
        fn drop(&mut self) {
            // SAFETY: the activator execs rw in place, so this is the rw master we started.
            unsafe { libc::kill(self.0, libc::SIGKILL) };
        }
    }
    let _guard = Kill(child.id() as i32);
    wait_until(15, "the activation socket", || sock.exists());
    // The first connection makes the activator exec rw with the listener as fd 3.
    let out = uwsgi_raw_unix(&sock, &good_packet("/pid"));
    assert!(
        out.starts_with(b"HTTP/1.1 200 OK"),
        "{}\n{}",
        String::from_utf8_lossy(&out),
        std::fs::read_to_string(dir.path().join("rw.log")).unwrap_or_default()
    );
    let log = std::fs::read_to_string(dir.path().join("rw.log")).unwrap();
    assert!(
        log.contains(&format!("uwsgi socket 0 inherited {}", sock.display())),
        "{log}"
    );
    // A graceful reload (exec) hands the listener to the next generation, which must still
    // know systemd owns it.
    // SAFETY: as above.
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    let needle = format!("uwsgi socket 0 inherited {}", sock.display());
    wait_until(30, "the reloaded generation", || {
        std::fs::read_to_string(dir.path().join("rw.log"))
            .unwrap_or_default()
            .matches(&needle)
            .count()
            >= 2
    });
    let out = uwsgi_raw_unix(&sock, &good_packet("/pid"));
    assert!(
        out.starts_with(b"HTTP/1.1 200 OK"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    // SAFETY: as above.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(0));
    assert!(sock.exists(), "vacuum removed a socket systemd owns");
}

fn uwsgi_raw_unix(path: &Path, bytes: &[u8]) -> Vec<u8> {
    let mut c = std::os::unix::net::UnixStream::connect(path).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    c.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    out
}

#[test]
fn static_map_post_buffering_harakiri_and_logging_work_on_uwsgi_sockets() {
    let uport = free_port();
    let app = "import time\n\ndef application(environ, start_response):\n    if environ['PATH_INFO'] == '/sleep':\n        time.sleep(100)\n    data = environ['wsgi.input'].read()\n    body = ('%d %s' % (len(data), environ['wsgi.input'].seekable() if hasattr(environ['wsgi.input'], 'seekable') else '-')).encode()\n    start_response('200 OK', [('Content-Length', str(len(body)))])\n    return [body]\n";
    let ini = rw_ini(&format!(
        "socket = 127.0.0.1:{uport}\nstatic-map = /static={{dir}}/static\npost-buffering = 4096\nharakiri = 1\nprocesses = 1"
    ));
    let s = Server::start(
        &ini,
        &[("app.py", app), ("static/a.txt", "static over uwsgi\n")],
    );
    // Static file through the uwsgi protocol, never entering Python.
    let vars: Vec<(&[u8], &[u8])> = vec![
        (b"REQUEST_METHOD", b"GET"),
        (b"REQUEST_URI", b"/static/a.txt"),
        (b"PATH_INFO", b"/static/a.txt"),
        (b"SERVER_PROTOCOL", b"HTTP/1.1"),
        (b"REMOTE_ADDR", b"127.0.0.1"),
    ];
    let out = uwsgi_raw(uport, &encode_packet(0, &vars, 0), false);
    let text_out = String::from_utf8_lossy(&out);
    assert!(
        text_out.starts_with("HTTP/1.1 200 OK") && text_out.ends_with("static over uwsgi\n"),
        "{text_out}"
    );
    assert!(s
        .wait_log("GET /static/a.txt", 5)
        .contains("via sendfile()"));
    // A body larger than post-buffering is spooled before the app runs.
    let body = vec![b'z'; 100_000];
    let len = body.len().to_string();
    let vars: Vec<(&[u8], &[u8])> = vec![
        (b"REQUEST_METHOD", b"POST"),
        (b"REQUEST_URI", b"/post"),
        (b"PATH_INFO", b"/post"),
        (b"SERVER_PROTOCOL", b"HTTP/1.1"),
        (b"CONTENT_LENGTH", len.as_bytes()),
    ];
    let mut packet = encode_packet(0, &vars, 0);
    packet.extend_from_slice(&body);
    let out = uwsgi_raw(uport, &packet, false);
    assert!(
        split_response(&out).1.starts_with(b"100000 "),
        "{}",
        String::from_utf8_lossy(&out)
    );
    // The log line is written after the response (which ends with the FIN): wait for it.
    s.wait_log("POST /post => generated", 5);
    // Harakiri applies to uwsgi requests too.
    let vars: Vec<(&[u8], &[u8])> = vec![
        (b"REQUEST_METHOD", b"GET"),
        (b"REQUEST_URI", b"/sleep"),
        (b"PATH_INFO", b"/sleep"),
        (b"SERVER_PROTOCOL", b"HTTP/1.1"),
        (b"REMOTE_ADDR", b"127.0.0.1"),
    ];
    let t = Instant::now();
    let out = uwsgi_raw(uport, &encode_packet(0, &vars, 0), false);
    assert!(
        out.is_empty() && t.elapsed() < Duration::from_secs(10),
        "{:?}",
        t.elapsed()
    );
    let log = s.wait_log("HARAKIRI ON WORKER 1", 10);
    assert!(log.contains("GET /sleep"), "{log}");
}
