//! Real frameworks behind `rw serve`: Flask, a `wsgiref.validate` app, Django (reference config).

use crate::util::{self, text, wait_until, Server};
use std::io::{Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// A response as curl saw it (de-chunked, with the header blocks it received).
struct Reply {
    status: u16,
    /// Every header block curl saw (a `100 Continue` block comes first when there is one).
    head: String,
    body: Vec<u8>,
}

impl Reply {
    /// The value of header `name` in the final header block, if present.
    fn header(&self, name: &str) -> Option<String> {
        let last = self.head.trim_end().rsplit("\r\n\r\n").next().unwrap_or("");
        last.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Runs curl against 127.0.0.1:`port` with `args`; curl decodes chunked bodies and speaks
/// HTTP/1.1, so a framing bug shows up as a curl error or a wrong body.
fn curl(port: u16, path: &str, args: &[&str]) -> Reply {
    let tmp = tempfile::tempdir().unwrap();
    let (head, body) = (tmp.path().join("head"), tmp.path().join("body"));
    let out = Command::new("curl")
        .args(["-sS", "--noproxy", "*", "--max-time", "30", "-D"])
        .arg(&head)
        .arg("-o")
        .arg(&body)
        .args(["-w", "%{http_code}"])
        .args(args)
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .expect("curl runs");
    assert!(
        out.status.success(),
        "curl {path} {args:?} failed: {}",
        text(&out)
    );
    Reply {
        status: String::from_utf8_lossy(&out.stdout).trim().parse().unwrap(),
        head: std::fs::read_to_string(&head).unwrap_or_default(),
        body: std::fs::read(&body).unwrap_or_default(),
    }
}

/// Runs `cmd` to completion, killing it after `secs` so a hung tool cannot hang the suite.
fn run_bounded(cmd: &mut Command, secs: u64) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let deadline = Instant::now() + Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("{cmd:?} did not finish in {secs} s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// `n` deterministic, incompressible-looking bytes (an LCG), written to `path`.
fn write_blob(path: &Path, n: usize) -> Vec<u8> {
    let mut x: u32 = 0x2545_f491;
    let data: Vec<u8> = (0..n)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8
        })
        .collect();
    std::fs::write(path, &data).unwrap();
    data
}

/// The sha256 of a file, from coreutils (no hashing crate in dev-dependencies).
fn sha256_file(path: &Path) -> String {
    let out = run_bounded(Command::new("sha256sum").arg(path), 30);
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// Decodes an HTTP/1.1 chunked body (strict: a framing error panics with the bytes).
fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = b
            .windows(2)
            .position(|w| w == b"\r\n")
            .unwrap_or_else(|| panic!("no chunk size line in {:?}", String::from_utf8_lossy(b)));
        let size_text = std::str::from_utf8(&b[..eol]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16)
            .unwrap_or_else(|_| panic!("bad chunk size {size_text:?}"));
        b = &b[eol + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[..size]);
        assert_eq!(&b[size..size + 2], b"\r\n", "chunk not followed by CRLF");
        b = &b[size + 2..];
    }
}

/// The process title `ps` shows for `pid` (argv area, where procname-prefix writes).
fn ps_args(pid: i32) -> String {
    let out = run_bounded(
        Command::new("ps").args(["-o", "args=", "-p", &pid.to_string()]),
        10,
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Waits (bounded) until rw has logged `n` finished requests, so everything a request does
/// after its response (close(), garbage collection, tracebacks) is in the log.
fn wait_requests_logged(s: &Server, n: usize) -> String {
    let mut log = String::new();
    wait_until(20, &format!("{n} request log lines"), || {
        log = s.log_text();
        log.matches(" => generated ").count() >= n
    });
    log
}

// ---------------------------------------------------------------------------------------
// Flask
// ---------------------------------------------------------------------------------------

/// Flask app: routes for params, forms, JSON, uploads, streams, a unicode path.
const FLASK_APP: &str = include_str!("../fixtures/apps/flaskapp.py");

/// Flask from the test venv (`home`), loaded as a module from `chdir`, with the reference
/// config's process shape. `extra` adds ini lines.
fn flask(extra: &str) -> Server {
    let ini = format!(
        "[uwsgi]
http-socket = 127.0.0.1:{{port}}
chdir = {{dir}}
module = flaskapp:app
home = {{venv}}
master = true
processes = 2
threads = 2
buffer-size = 32768
die-on-term = true
{extra}
"
    );
    Server::start(&ini, &[("flaskapp.py", FLASK_APP)])
}

#[test]
fn flask_path_params_and_query_string() {
    let s = flask("");
    let r = curl(s.port, "/user/ada/item/42?q=a%20b%26c&tag=x&tag=y", &[]);
    assert_eq!(r.status, 200, "{}", s.log_text());
    assert_eq!(r.body_text(), "name=ada n=42 q='a b&c' tags=['x', 'y']");
    // A converter mismatch is Flask's 404, not ours.
    assert_eq!(curl(s.port, "/user/ada/item/x", &[]).status, 404);
}

#[test]
fn flask_form_post() {
    let s = flask("");
    let r = curl(
        s.port,
        "/form",
        &["--data", "a=1&b=hello+world&c=%C3%A9t%C3%A9&a=2"],
    );
    assert_eq!(r.status, 200, "{}", s.log_text());
    assert_eq!(
        r.body_text(),
        "ct=application/x-www-form-urlencoded form=[('a', '1'), ('a', '2'), ('b', 'hello world'), ('c', 'été')]"
    );
}

#[test]
fn flask_json_in_and_out() {
    let s = flask("");
    let r = curl(
        s.port,
        "/json",
        &[
            "-H",
            "Content-Type: application/json",
            "--data",
            r#"{"name": "rw", "numbers": [1, 2, 3]}"#,
        ],
    );
    assert_eq!(r.status, 200, "{}", s.log_text());
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        r.body_text(),
        "{\"name\":\"rw\",\"sum\":6,\"upper\":\"RW\"}\n"
    );
}

/// A 1 MB multipart upload, both read as the app pulls it and spooled by post-buffering
/// (over 8192 bytes, so to a temp file). At this size curl also sends `Expect: 100-continue`.
#[test]
fn flask_multipart_upload() {
    let tmp = tempfile::tempdir().unwrap();
    let blob = tmp.path().join("blob.bin");
    write_blob(&blob, 1 << 20);
    let want = format!(
        "filename=blob.bin size=1048576 sha256={} note=hi",
        sha256_file(&blob)
    );
    let field = format!("file=@{}", blob.display());
    for extra in ["", "post-buffering = 8192"] {
        let s = flask(extra);
        let r = curl(s.port, "/upload", &["-F", &field, "-F", "note=hi"]);
        assert_eq!(
            (r.status, r.body_text()),
            (200, want.clone()),
            "[{extra}]\n{}",
            s.log_text()
        );
    }
}

#[test]
fn flask_streamed_response_is_chunked_and_whole() {
    let s = flask("");
    let r = curl(s.port, "/stream?n=2000&tag=t", &[]);
    assert_eq!(r.status, 200, "{}", s.log_text());
    assert_eq!(
        r.header("transfer-encoding").as_deref(),
        Some("chunked"),
        "{}",
        r.head
    );
    assert_eq!(r.header("content-length"), None);
    let want: String = (0..2000).map(|i| format!("line {i} t\n")).collect();
    assert_eq!(r.body_text(), want);
}

/// The first chunk must reach the client while the generator is still running.
#[test]
fn flask_stream_is_sent_before_the_generator_ends() {
    let s = flask("");
    let mut c = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"GET /stream-wait HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("part1;") {
        match c.read(&mut buf) {
            Ok(0) => panic!("closed before part1: {:?}", String::from_utf8_lossy(&got)),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!(
                "part1 not received while the app waits ({e}): {:?}\n{}",
                String::from_utf8_lossy(&got),
                s.log_text()
            ),
        }
    }
    std::fs::write(s.path("go"), "").unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    c.read_to_end(&mut got).unwrap();
    let at = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&got[..at]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    assert_eq!(dechunk(&got[at + 4..]), b"part1;part2");
}

#[test]
fn flask_404_comes_from_the_app() {
    let s = flask("");
    let r = curl(s.port, "/no/such/page", &[]);
    assert_eq!(r.status, 404);
    // Werkzeug's NotFound page, so the request went through Flask's routing.
    assert!(
        r.body_text()
            .contains("The requested URL was not found on the server"),
        "{}",
        r.body_text()
    );
    s.wait_log("GET /no/such/page => generated", 10);
}

/// PEP 3333: PATH_INFO holds the URL-decoded bytes as latin-1; Werkzeug re-decodes UTF-8.
#[test]
fn flask_unicode_path_reaches_the_route_decoded() {
    let s = flask("");
    let r = curl(s.port, "/caf%C3%A9", &[]);
    assert_eq!(r.status, 200, "{}", s.log_text());
    assert_eq!(r.body_text(), "path=/café raw=2f636166c3a9");
}

// ---------------------------------------------------------------------------------------
// wsgiref.validate
// ---------------------------------------------------------------------------------------

/// A `wsgiref.validate`-wrapped app, warnings raised as errors.
const VALIDATOR_APP: &str = include_str!("../fixtures/apps/validator_app.py");

/// Every feature of PEP 3333 a server must get right, checked by `wsgiref.validate` (which
/// raises on any violation, and warns, here turned into errors, on doubtful ones).
#[test]
fn wsgiref_validator_sees_no_violation() {
    let s = Server::start(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {dir}/app.py\nmaster = true\nprocesses = 2\nthreads = 2\ndie-on-term = true\n",
        &[("app.py", VALIDATOR_APP)],
    );
    let blob = s.path("blob.bin");
    let data = write_blob(&blob, 300_000);
    let sha = sha256_file(&blob);
    let lines_file = s.path("lines.txt");
    let lines: String = (0..500).map(|i| format!("line number {i}\n")).collect();
    std::fs::write(&lines_file, &lines).unwrap();
    let lines_sha = sha256_file(&lines_file);
    let body_arg = format!("@{}", blob.display());
    let lines_arg = format!("@{}", lines_file.display());
    let chunked = ["-H", "Transfer-Encoding: chunked"];
    let empty_sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let requests = std::cell::Cell::new(0);
    let send = |path: &str, args: &[&str]| {
        requests.set(requests.get() + 1);
        curl(s.port, path, args)
    };
    let check = |path: &str, args: &[&str], want: &str| {
        let r = send(path, args);
        assert_eq!(
            (r.status, r.body_text().as_str()),
            (200, want),
            "{path} {args:?}\n{}",
            s.log_text()
        );
    };

    check("/get", &[], "hello validator");
    let reads = data.len().div_ceil(1000);
    let want_read = format!("size={} sha256={sha} reads={reads}", data.len());
    check("/read?n=1000", &["--data-binary", &body_arg], &want_read);
    // read(n) returns n bytes until the end, however the client chunked the body.
    let reads = data.len().div_ceil(4096);
    let want_chunked = format!("size={} sha256={sha} reads={reads}", data.len());
    check(
        "/read?n=4096",
        &[&chunked[..], &["--data-binary", &body_arg]].concat(),
        &want_chunked,
    );
    check(
        "/read?n=10",
        &["-X", "POST", "-H", "Content-Length: 0"],
        &format!("size=0 sha256={empty_sha} reads=0"),
    );
    check(
        "/read?n=10",
        &[],
        &format!("size=0 sha256={empty_sha} reads=0"),
    );
    let want_lines = format!(
        "size={} sha256={lines_sha} first=b'line' lines=500",
        lines.len()
    );
    check("/readline", &["--data-binary", &lines_arg], &want_lines);
    let want_iter = format!("size={} sha256={lines_sha} lines=500", lines.len());
    check("/iter", &["--data-binary", &lines_arg], &want_iter);
    check(
        "/iter",
        &[&chunked[..], &["--data-binary", &lines_arg]].concat(),
        &want_iter,
    );
    check("/gen", &[], "one,two,three");
    check("/closing", &[], "closing body");
    check("/write", &[], "written;again;returned");

    // HEAD: the validator sees a normal request; the server must send no body bytes.
    requests.set(requests.get() + 1);
    let head = "HEAD /get HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    let (status, body) = util::split_response(&s.raw(head.as_bytes()));
    assert_eq!(
        (status, body.as_slice()),
        (200, &b""[..]),
        "{}",
        s.log_text()
    );

    let log = wait_requests_logged(&s, requests.get());
    wait_until(10, "close() of every body", || {
        let c = std::fs::read_to_string(s.path("closed.log")).unwrap_or_default();
        ["gen", "closing", "write"]
            .iter()
            .all(|t| c.lines().any(|l| l == *t))
    });
    let closed = std::fs::read_to_string(s.path("closed.log")).unwrap();
    assert!(
        !closed.contains("gen-early"),
        "generator closed before it was exhausted: {closed}"
    );
    for bad in [
        "AssertionError",
        "WSGIWarning",
        "Traceback",
        "Exception ignored",
    ] {
        assert!(!log.contains(bad), "`{bad}` in the log:\n{log}");
    }
    assert!(!log.contains("(HTTP/1.1 500)"), "{log}");
}

// ---------------------------------------------------------------------------------------
// Django, reference config shape
// ---------------------------------------------------------------------------------------

/// Creates `mysite` with django-admin, tweaks settings for serving (any Host, DEBUG off,
/// STATIC_ROOT), and collects the admin's static files. Returns the project dir.
fn django_project(root: &Path) -> PathBuf {
    let venv = util::venv();
    let site = root.join("site");
    std::fs::create_dir_all(&site).unwrap();
    let out = run_bounded(
        Command::new(venv.join("bin/django-admin"))
            .args(["startproject", "mysite"])
            .arg(&site),
        120,
    );
    assert!(out.status.success(), "startproject: {}", text(&out));
    let settings = site.join("mysite/settings.py");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&settings)
        .unwrap();
    writeln!(
        f,
        "\nDEBUG = False\nALLOWED_HOSTS = ['*']\nSTATIC_ROOT = BASE_DIR / 'static'"
    )
    .unwrap();
    let out = run_bounded(
        Command::new(venv.join("bin/python"))
            .args(["manage.py", "collectstatic", "--noinput"])
            .current_dir(&site),
        120,
    );
    assert!(out.status.success(), "collectstatic: {}", text(&out));
    assert!(
        site.join("static/admin/css/base.css").is_file(),
        "{}",
        text(&out)
    );
    // The reference config keeps its socket and pidfile here; uWSGI does not create it.
    std::fs::create_dir_all(site.join("uwsgi")).unwrap();
    site
}

#[test]
fn django_in_the_reference_config_shape() {
    let root = tempfile::tempdir().unwrap();
    let site = django_project(root.path());
    let ini = format!(
        "[uwsgi]
chdir = {site}
module = mysite.wsgi:application
home = {{venv}}
static-map = /static={site}/static
threads = 2
http-socket = 127.0.0.1:{{port}}
master = true
vacuum = true
harakiri = 30
post-buffering = 8192
socket = %(chdir)/uwsgi/uwsgi.sock
pidfile = %(chdir)/uwsgi/uwsgi.pid
processes = 2
buffer-size = 32768
listen = 128
max-requests = 1000
procname-prefix-spaced = myapp
die-on-term = true
",
        site = site.display()
    );
    let mut s = Server::start(&ini, &[]);
    let sock = site.join("uwsgi/uwsgi.sock");
    let pidfile = site.join("uwsgi/uwsgi.pid");

    let r = curl(s.port, "/admin/login/", &[]);
    assert_eq!(r.status, 200, "{}\n{}", r.body_text(), s.log_text());
    let page = r.body_text();
    assert!(
        page.contains("<form")
            && page.contains("name=\"username\"")
            && page.contains("csrfmiddlewaretoken"),
        "{page}"
    );

    let css = curl(s.port, "/static/admin/css/base.css", &[]);
    assert_eq!(css.status, 200, "{}", s.log_text());
    assert_eq!(
        css.header("content-type")
            .as_deref()
            .map(|c| c.split(';').next().unwrap()),
        Some("text/css"),
        "{}",
        css.head
    );
    assert_eq!(
        css.body,
        std::fs::read(site.join("static/admin/css/base.css")).unwrap()
    );

    // DEBUG is off and `/` has no route: Django's own 404 page.
    let home = curl(s.port, "/", &[]);
    assert_eq!(home.status, 404);
    assert!(
        home.body_text().contains("<h1>Not Found</h1>"),
        "{}",
        home.body_text()
    );

    // The unix uwsgi socket exists while serving (its protocol is tested elsewhere).
    assert!(
        std::fs::metadata(&sock).is_ok_and(|m| m.file_type().is_socket()),
        "no socket {}\n{}",
        sock.display(),
        s.log_text()
    );

    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(pid, s.pid(), "pidfile names the master");
    wait_until(10, "process titles", || {
        let mut workers: Vec<String> = util::children_of(pid).into_iter().map(ps_args).collect();
        workers.sort();
        ps_args(pid) == "myapp uWSGI master"
            && workers == ["myapp uWSGI worker 1", "myapp uWSGI worker 2"]
    });

    let out = util::run(&["stop", pidfile.to_str().unwrap(), "--timeout", "30"]);
    assert!(
        out.status.success(),
        "rw stop: {}\n{}",
        text(&out),
        s.log_text()
    );
    let mut status = None;
    wait_until(30, "rw to exit", || {
        status = s.child.try_wait().unwrap();
        status.is_some()
    });
    assert!(status.unwrap().success(), "{:?}\n{}", status, s.log_text());
    assert!(
        !pidfile.exists(),
        "vacuum left the pidfile\n{}",
        s.log_text()
    );
    assert!(
        !sock.exists(),
        "vacuum left the unix socket\n{}",
        s.log_text()
    );
}

/// The seed's reference `uwsgi.ini` itself (tests/fixtures/reference/uwsgi.ini), with only what
/// this machine forces changed: its paths point at a temp Django project, the router address
/// is a free loopback port, and `uid`/`gid` are dropped (the embedded pyenv Python lives under
/// /root, unreadable to www-data; the uid drop has its own test in lifecycle.rs). `daemonize`,
/// `stats`, `pidfile`, `vacuum` and the rest are exercised as written.
#[test]
fn django_with_the_reference_config_file() {
    let root = tempfile::tempdir().unwrap();
    let site = django_project(root.path());
    std::os::unix::fs::symlink(util::venv(), site.join(".venv")).unwrap();
    std::fs::write(site.join("app.py"), "from mysite.wsgi import application\n").unwrap();
    let port = util::free_port();
    let reference = std::fs::read_to_string(util::fixture("reference/uwsgi.ini")).unwrap();
    let ini: String = reference
        .replace("/srv/app", &site.display().to_string())
        .replace("0.0.0.0:8080", &format!("127.0.0.1:{port}"))
        .lines()
        .filter(|l| !l.starts_with("uid") && !l.starts_with("gid"))
        .map(|l| format!("{l}\n"))
        .collect();
    let ini_path = site.join("uwsgi.ini");
    std::fs::write(&ini_path, ini).unwrap();
    let check = util::run(&["check-config", ini_path.to_str().unwrap()]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));

    let out = util::run(&["serve", "--ini", ini_path.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "daemonize returns at once: {}",
        text(&out)
    );
    let pidfile = site.join("uwsgi/uwsgi.pid");
    let log = site.join("uwsgi/uwsgi.log");
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    // The pidfile is written once the sockets are bound, so it may come just after the port.
    wait_until(30, "the daemon to listen and write its pidfile", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && std::fs::read_to_string(&pidfile).is_ok_and(|p| p.ends_with('\n'))
    });
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    struct Kill(i32);
    impl Drop for Kill {
        fn drop(&mut self) {
            // SAFETY: the daemonized master this test started (killed only if the test fails).
            unsafe { libc::kill(self.0, libc::SIGKILL) };
        }
    }
    let guard = Kill(pid);
    wait_until(30, "4 workers", || util::children_of(pid).len() == 4);

    let r = curl(port, "/admin/login/", &[]);
    assert_eq!(r.status, 200, "{}\n{}", r.body_text(), log_text());
    assert!(r.body_text().contains("csrfmiddlewaretoken"));
    let css = curl(port, "/static/admin/css/base.css", &[]);
    assert_eq!(css.status, 200, "{}", log_text());
    assert_eq!(
        css.body,
        std::fs::read(site.join("static/admin/css/base.css")).unwrap()
    );
    assert_eq!(curl(port, "/", &[]).status, 404);
    assert!(
        ps_args(pid).starts_with("myapp uWSGI master"),
        "{}",
        ps_args(pid)
    );
    let l = log_text();
    assert!(l.contains("wsgi-file ignored"), "{l}");
    assert!(l.contains("GET /admin/login/ => generated"), "{l}");

    let out = util::run(&["stop", pidfile.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    std::mem::forget(guard);
    assert!(!pidfile.exists(), "vacuum left the pidfile");
    assert!(
        !site.join("uwsgi/uwsgi.sock").exists(),
        "vacuum left the socket"
    );
    assert!(log_text().contains("goodbye to rw."));
}
