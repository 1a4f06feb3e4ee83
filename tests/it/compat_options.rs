//! The uWSGI options real configs carry over (issue 10 item 4), each driven through the real
//! binary: listeners and protocols, plugins lines, PasteDeploy, module aliases, stdin, site,
//! privileges, chdir2, umask, chown-socket, http-timeout, the PROXY protocol (through a real
//! nginx stream proxy) and the static-file options (through curl).

use crate::util::{free_port, raw_request, rw, split_response, text, wait_until, Server};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Answers what the options under test change: the peer, stdin, `site`, the cwd.
const PROBE_APP: &str = r#"import os, sys

def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/stdin':
        body = repr(sys.stdin.readline())
    elif path == '/site':
        body = str('site' in sys.modules)
    elif path == '/cwd':
        body = os.getcwd()
    elif path == '/nolength':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return iter([b'part1', b'part2'])
    else:
        body = 'app %s %s %s' % (path, environ['REMOTE_ADDR'], environ['REMOTE_PORT'])
    body = body.encode()
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
"#;

fn probe_ini(extra: &str) -> String {
    format!(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{{port}}\nwsgi-file = {{dir}}/app.py\nprocesses = 1\n\
         die-on-term = true\n{extra}\n"
    )
}

fn body_of(s: &Server, path: &str) -> String {
    let (status, body) = s.get(path);
    let body = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(status, 200, "{path}: {body}\n{}", s.log_text());
    body
}

/// `rw check-config` on `ini` (written into a temp dir with `files`): (exit code, output).
fn check_config(ini: &str, files: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let fill = |s: &str| s.replace("{dir}", &dir.path().display().to_string());
    for (rel, content) in files {
        std::fs::write(dir.path().join(rel), fill(content)).unwrap();
    }
    std::fs::write(dir.path().join("uwsgi.ini"), fill(ini)).unwrap();
    let out = rw()
        .args(["check-config", "uwsgi.ini"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), text(&out))
}

/// Runs `rw serve --ini uwsgi.ini` on a config that must refuse to start; returns
/// (exit code, output). Bounded: a server still running after 30 s is killed and fails the test.
fn serve_refuses(ini: &str, files: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let fill = |s: &str| {
        s.replace("{dir}", &dir.path().display().to_string())
            .replace("{port}", &port.to_string())
    };
    for (rel, content) in files {
        std::fs::write(dir.path().join(rel), fill(content)).unwrap();
    }
    std::fs::write(dir.path().join("uwsgi.ini"), fill(ini)).unwrap();
    let log = dir.path().join("rw.log");
    let out = std::fs::File::create(&log).unwrap();
    let mut child = rw()
        .args(["serve", "--ini", "uwsgi.ini"])
        .current_dir(dir.path())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        // The port is bound before the app loads, so only the exit tells.
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "rw serve started, but must refuse:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        status.code().unwrap_or(-1),
        std::fs::read_to_string(&log).unwrap_or_default(),
    )
}

fn require_root() {
    assert_eq!(
        nix::unistd::geteuid().as_raw(),
        0,
        "this test needs root (CI and tests/run.sh run as root)"
    );
}

fn proc_status(pid: i32, field: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string()
}

#[test]
fn http11_socket_and_protocol_http_make_http_listeners() {
    let second = free_port();
    let ini = probe_ini(&format!(
        "http11-socket = 127.0.0.1:{second}\nsocket = 127.0.0.1:{{port}}\nprotocol = http\n"
    ))
    .replace("http-socket = 127.0.0.1:{port}\n", "");
    let mut s = Server::start(&ini, &[("app.py", PROBE_APP)]);
    s.wait_port(second);
    // `socket` speaks HTTP because of `protocol = http`.
    assert!(body_of(&s, "/a").starts_with("app /a 127.0.0.1 "));
    let r = raw_request(
        second,
        b"GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let (status, body) = split_response(&r);
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).starts_with("app /b "));
    // http11-socket keeps connections alive: two requests on one connection.
    let mut c = TcpStream::connect(("127.0.0.1", second)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    c.write_all(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut all = String::new();
    c.read_to_string(&mut all).unwrap();
    assert_eq!(all.matches("HTTP/1.1 200 OK").count(), 2, "{all}");
    let log = s.log_text();
    assert!(log.contains("http socket 0 bound to 127.0.0.1:"), "{log}");
}

#[test]
fn protocols_rw_cannot_speak_are_refused_by_serve_and_check_config() {
    let ini = "[uwsgi]\nsocket = 127.0.0.1:{port}\nprotocol = fastcgi\nwsgi-file = app.py\n";
    let files = [("app.py", PROBE_APP)];
    let (code, out) = check_config(ini, &files);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("uwsgi.ini:3: error: protocol = fastcgi: rw speaks only uwsgi and HTTP"));
    let (code, out) = serve_refuses(ini, &files);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("rw speaks only uwsgi and HTTP"), "{out}");
}

#[test]
fn plugins_lines_python_is_silent_others_are_named() {
    let ini = "[uwsgi]\nplugins = python3\nplugin = python311,python3.11\nplugins = 0:python\n\
               plugins = gevent,http\nhttp-socket = 127.0.0.1:8000\nwsgi-file = app.py\ndie-on-term = true\n";
    let (code, out) = check_config(ini, &[("app.py", PROBE_APP)]);
    assert_eq!(code, 0, "{out}");
    assert!(
        !out.contains(":2:") && !out.contains(":3:") && !out.contains(":4:"),
        "{out}"
    );
    assert!(
        out.contains(
            "uwsgi.ini:5: warning: plugin `gevent` is not loaded: rw has only the python plugin"
        ),
        "{out}"
    );
    assert!(
        out.contains("uwsgi.ini:5: warning: plugin `http`: rw has only the python plugin; http and http-socket are built in"),
        "{out}"
    );
    // And rw serve starts with them, as uWSGI does.
    let s = Server::start(
        &probe_ini("plugins = python3,gevent"),
        &[("app.py", PROBE_APP)],
    );
    assert!(body_of(&s, "/").starts_with("app / "));
}

const PASTE_INI: &str = "[app:main]\nuse = call:pasteapp:make_app\ngreeting = hello from paste\n\n\
[loggers]\nkeys = root\n\n[handlers]\nkeys = console\n\n[formatters]\nkeys = plain\n\n\
[logger_root]\nlevel = INFO\nhandlers = console\n\n\
[handler_console]\nclass = StreamHandler\nargs = (sys.stderr,)\nformatter = plain\n\n\
[formatter_plain]\nformat = PASTELOG %(message)s\n";

const PASTE_APP: &str = "import logging\n\ndef make_app(global_conf, **local):\n    logging.getLogger('pasteapp').info('factory called')\n    greeting = local['greeting'].encode()\n    def app(environ, start_response):\n        start_response('200 OK', [('Content-Length', str(len(greeting)))])\n        return [greeting]\n    return app\n";

#[test]
fn paste_loads_the_app_with_pastedeploy_and_paste_logger_configures_logging() {
    let ini =
        "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nhome = {venv}\npaste = config:{dir}/paste.ini\n\
               paste-logger = true\nprocesses = 1\ndie-on-term = true\n";
    let files = [("paste.ini", PASTE_INI), ("pasteapp.py", PASTE_APP)];
    let s = Server::start(ini, &files);
    assert_eq!(body_of(&s, "/"), "hello from paste");
    let log = s.log_text();
    assert!(log.contains("Loading paste environment: config:"), "{log}");
    assert!(log.contains("PASTELOG factory called"), "{log}");

    // A paste app that does not load stops the server (uWSGI exits too), need-app or not.
    let broken = "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\npaste = config:{dir}/missing.ini\n";
    let (code, out) = serve_refuses(broken, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("the paste app did not load"), "{out}");
    // A relative config path is refused by PasteDeploy: check-config says so up front.
    let (code, out) = check_config(
        "[uwsgi]\nhttp-socket = :8000\npaste = config:paste.ini\n",
        &[],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("uwsgi.ini:3: error: paste = config:paste.ini: PasteDeploy refuses a relative config path"), "{out}");
}

#[test]
fn ini_paste_reads_uwsgi_and_the_app_from_one_pyramid_style_file() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let production = format!(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nhome = {}\nprocesses = 1\ndie-on-term = true\n\n{PASTE_INI}",
        crate::util::venv().display()
    );
    std::fs::write(dir.path().join("production.ini"), production).unwrap();
    std::fs::write(dir.path().join("pasteapp.py"), PASTE_APP).unwrap();
    let s = Server::launch(
        dir,
        port,
        &["serve", "--ini-paste-logged", "production.ini"],
        &[],
    );
    assert_eq!(body_of(&s, "/"), "hello from paste");
    let log = s.log_text();
    let abs = s.path("production.ini").display().to_string();
    assert!(
        log.contains(&format!("Loading paste environment: config:{abs}")),
        "{log}"
    );
    assert!(log.contains("PASTELOG factory called"), "{log}");
}

#[test]
fn pymodule_alias_maps_modules_and_files() {
    let app = "import fakejson, helper\n\ndef application(environ, start_response):\n    body = (fakejson.dumps([1]) + ' ' + helper.NAME).encode()\n    start_response('200 OK', [('Content-Length', str(len(body)))])\n    return [body]\n";
    let ini = probe_ini(
        "pymodule-alias = fakejson=json\npymodule-alias = helper={dir}/lib/helper_impl.py",
    );
    let s = Server::start(
        &ini,
        &[("app.py", app), ("lib/helper_impl.py", "NAME = 'impl'\n")],
    );
    assert_eq!(body_of(&s, "/"), "[1] impl");
    let log = s.log_text();
    assert!(
        log.contains("mapped virtual pymodule \"fakejson\" to real pymodule \"json\""),
        "{log}"
    );
    let (code, out) = serve_refuses(
        &probe_ini("pymodule-alias = x=no_such_module_anywhere"),
        &[("app.py", PROBE_APP)],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("No module named 'no_such_module_anywhere'"),
        "{out}"
    );
}

/// Starts rw with a pipe as stdin holding one line (kept open, so a read waits rather than
/// seeing EOF).
fn start_with_stdin(ini: &str) -> (Server, std::process::ChildStdin) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    std::fs::write(dir.path().join("app.py"), PROBE_APP).unwrap();
    std::fs::write(
        dir.path().join("uwsgi.ini"),
        ini.replace("{dir}", &dir.path().display().to_string())
            .replace("{port}", &port.to_string()),
    )
    .unwrap();
    let log = dir.path().join("rw.log");
    let out = std::fs::File::create(&log).unwrap();
    let mut child = rw()
        .args(["serve", "--ini", "uwsgi.ini"])
        .current_dir(dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"typed line\n").unwrap();
    let mut s = Server {
        child,
        dir,
        port,
        log,
    };
    s.wait_port(port);
    (s, stdin)
}

#[test]
fn stdin_is_dev_null_unless_honour_stdin() {
    let (s, _keep) = start_with_stdin(&probe_ini(""));
    assert_eq!(body_of(&s, "/stdin"), "''");
    drop(s);
    let (s, _keep) = start_with_stdin(&probe_ini("honour-stdin = true"));
    assert_eq!(body_of(&s, "/stdin"), "'typed line\\n'");
}

#[test]
fn no_site_skips_the_site_module() {
    let s = Server::start(&probe_ini(""), &[("app.py", PROBE_APP)]);
    assert_eq!(body_of(&s, "/site"), "True");
    drop(s);
    let s = Server::start(&probe_ini("no-site = true"), &[("app.py", PROBE_APP)]);
    assert_eq!(body_of(&s, "/site"), "False");
}

#[test]
fn master_as_root_keeps_the_master_root_and_drops_the_workers() {
    require_root();
    let nobody = nix::unistd::User::from_name("nobody")
        .unwrap()
        .unwrap()
        .uid
        .as_raw()
        .to_string();
    let s = Server::start(
        &probe_ini("uid = nobody\ngid = nogroup\nmaster-as-root = true"),
        &[("app.py", PROBE_APP)],
    );
    let worker = s.workers(1)[0];
    assert_eq!(proc_status(s.pid(), "Uid:"), "0");
    wait_until(10, "the worker to drop to nobody", || {
        proc_status(worker, "Uid:") == nobody
    });
    assert!(body_of(&s, "/").starts_with("app / "));
    assert!(s.log_text().contains(&format!("setuid() to {nobody}")));
}

#[test]
fn chdir2_moves_each_worker_after_its_apps_load() {
    let s = Server::start(
        &probe_ini("chdir = {dir}\nchdir2 = sub\nlazy-apps = true"),
        &[("app.py", PROBE_APP), ("sub/.keep", "")],
    );
    assert_eq!(body_of(&s, "/cwd"), s.path("sub").display().to_string());
    assert!(s.log_text().contains("chdir() to "), "{}", s.log_text());
    let (code, out) = check_config(
        "[uwsgi]\nhttp-socket = :8000\nwsgi-file = app.py\nchdir2 = missing\n",
        &[("app.py", PROBE_APP)],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("uwsgi.ini:4: error: chdir2: directory"),
        "{out}"
    );
}

#[test]
fn umask_and_chown_socket_apply_to_unix_sockets() {
    require_root();
    use std::os::unix::fs::MetadataExt;
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    let nogroup = nix::unistd::Group::from_name("nogroup").unwrap().unwrap();
    let s = Server::start(
        &probe_ini("socket = {dir}/app.sock\numask = 027\nchown-socket = nobody:nogroup"),
        &[("app.py", PROBE_APP)],
    );
    let meta = std::fs::metadata(s.path("app.sock")).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o750, "socket created under umask 027");
    assert_eq!(meta.uid(), nobody.uid.as_raw());
    assert_eq!(meta.gid(), nogroup.gid.as_raw());

    // uWSGI's reading of short or long umasks, warned about.
    let (code, out) = check_config(
        "[uwsgi]\nhttp-socket = :8000\nwsgi-file = app.py\ndie-on-term = true\numask = 22\n",
        &[("app.py", PROBE_APP)],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("uwsgi.ini:5: warning: umask = 22 is too short"),
        "{out}"
    );
    // An owner that does not exist stops uWSGI; rw too.
    let (code, out) = check_config(
        "[uwsgi]\nsocket = app.sock\nwsgi-file = app.py\nchown-socket = no-such-user-here\n",
        &[("app.py", PROBE_APP)],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("chown-socket: no such user `no-such-user-here`"),
        "{out}"
    );
    let (code, out) = serve_refuses(
        "[uwsgi]\nsocket = {dir}/app.sock\nwsgi-file = app.py\nchown-socket = no-such-user-here\n",
        &[("app.py", PROBE_APP)],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("unable to find user no-such-user-here"),
        "{out}"
    );
}

#[test]
fn http_timeout_governs_http_listeners_not_socket_timeout() {
    let ini = "[uwsgi]\nhttp = 127.0.0.1:{port}\nwsgi-file = {dir}/app.py\nprocesses = 1\n\
               die-on-term = true\nsocket-timeout = 30\nhttp-timeout = 1\n";
    let s = Server::start(ini, &[("app.py", PROBE_APP)]);
    let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(25))).unwrap();
    let started = Instant::now();
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let mut got = Vec::new();
    let _ = c.read_to_end(&mut got);
    let took = started.elapsed();
    assert!(
        String::from_utf8_lossy(&got).starts_with("HTTP/1.1 408"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    // socket-timeout would have waited 30 s.
    assert!(took < Duration::from_secs(15), "{took:?}");
}

#[test]
fn http_auto_chunked_is_what_rw_does_on_http11() {
    let s = Server::start(
        &probe_ini("http-auto-chunked = true"),
        &[("app.py", PROBE_APP)],
    );
    let r = s.raw(b"GET /nolength HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let t = String::from_utf8_lossy(&r);
    assert!(t.contains("Transfer-Encoding: chunked"), "{t}");
    assert!(t.contains("5\r\npart1\r\n5\r\npart2\r\n0\r\n\r\n"), "{t}");
}

/// A real nginx `stream` proxy with `proxy_protocol on` in front of `upstream`.
struct StreamProxy {
    child: std::process::Child,
    _dir: tempfile::TempDir,
    port: u16,
}

impl StreamProxy {
    fn start(upstream: u16) -> StreamProxy {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let d = dir.path().display();
        let conf = format!(
            "load_module /usr/lib/nginx/modules/ngx_stream_module.so;\ndaemon off;\nmaster_process on;\n\
             worker_processes 1;\nuser root;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
             events {{ worker_connections 64; }}\n\
             stream {{\n  server {{\n    listen 127.0.0.1:{port};\n    proxy_pass 127.0.0.1:{upstream};\n    proxy_protocol on;\n  }}\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
        let child = std::process::Command::new("nginx")
            .args(["-p", &d.to_string(), "-c", &format!("{d}/nginx.conf")])
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nginx (tests/run.sh installs nginx-light and libnginx-mod-stream)");
        let mut p = StreamProxy {
            child,
            _dir: dir,
            port,
        };
        wait_until(15, "nginx to listen", || {
            assert!(
                p.child.try_wait().unwrap().is_none(),
                "nginx exited: is libnginx-mod-stream installed?"
            );
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        p
    }
}

impl Drop for StreamProxy {
    fn drop(&mut self) {
        // SAFETY: signalling the nginx we started; SIGTERM is its fast shutdown.
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

fn exchange(port: u16, bytes: &[u8]) -> (String, u16) {
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let local = c.local_addr().unwrap().port();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    c.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    (String::from_utf8_lossy(&out).into_owned(), local)
}

#[test]
fn proxy_protocol_gives_the_client_address_behind_nginx_and_raw_headers() {
    let socket_port = free_port();
    let ini = format!(
        "[uwsgi]\nhttp = 127.0.0.1:{{port}}\nhttp-socket = 127.0.0.1:{socket_port}\n\
         wsgi-file = {{dir}}/app.py\nprocesses = 1\ndie-on-term = true\nhttp-enable-proxy-protocol = true\n"
    );
    let mut s = Server::start(&ini, &[("app.py", PROBE_APP)]);
    s.wait_port(socket_port);
    let req = b"GET /who HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

    // Through nginx: REMOTE_PORT is our client's port, not nginx's.
    let proxy = StreamProxy::start(s.port);
    let (resp, client_port) = exchange(proxy.port, req);
    assert!(
        resp.ends_with(&format!("app /who 127.0.0.1 {client_port}")),
        "{resp}\n{}",
        s.log_text()
    );

    // Version 1 and version 2 headers written by hand, then a keep-alive second request.
    let mut v1 = b"PROXY TCP4 192.0.2.7 10.0.0.1 51234 8000\r\n".to_vec();
    v1.extend_from_slice(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n");
    v1.extend_from_slice(req);
    let (resp, _) = exchange(s.port, &v1);
    assert!(resp.contains("app /1 192.0.2.7 51234"), "{resp}");
    assert!(resp.ends_with("app /who 192.0.2.7 51234"), "{resp}");
    let mut v2 = b"\r\n\r\n\0\r\nQUIT\n\x21\x21\x00\x24".to_vec();
    v2.extend_from_slice(
        &"2001:db8::7"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    v2.extend_from_slice(&[0; 16]);
    v2.extend_from_slice(&443u16.to_be_bytes());
    v2.extend_from_slice(&80u16.to_be_bytes());
    v2.extend_from_slice(req);
    let (resp, _) = exchange(s.port, &v2);
    assert!(resp.ends_with("app /who 2001:db8::7 443"), "{resp}");
    // Optional, as in uWSGI: a plain request is served with the socket's peer.
    let (resp, local) = exchange(s.port, req);
    assert!(
        resp.ends_with(&format!("app /who 127.0.0.1 {local}")),
        "{resp}"
    );
    // Malformed: 400, logged, and the worker serves on.
    let (resp, _) = exchange(
        s.port,
        b"PROXY TCP4 999.1.1.1 10.0.0.1 1 2\r\nGET / HTTP/1.1\r\n\r\n",
    );
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    s.wait_log("PROXY protocol: v1 TCP4 address", 10);
    // http-enable-proxy-protocol is for `http` only: on http-socket the header is a bad request.
    let (resp, _) = exchange(socket_port, &v1);
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    assert!(body_of(&s, "/after").starts_with("app /after 127.0.0.1"));

    let (code, out) = check_config(&ini.replace("{dir}/", ""), &[("app.py", PROBE_APP)]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(
            "warning: http-enable-proxy-protocol: as in uWSGI the PROXY header is optional"
        ),
        "{out}"
    );
}

#[test]
fn static_index_gzip_expires_skip_and_safe_through_curl() {
    let ini = probe_ini(
        "static-map = /static={dir}/www\nstatic-index = index.html\nstatic-gzip-all = true\n\
         static-expires-type = text/css=3600\nstatic-expires-uri = ^/static/$ 60\n\
         static-skip-ext = .tmpl\nstatic-safe = {dir}/shared",
    );
    let s = Server::start(
        &ini,
        &[
            ("app.py", PROBE_APP),
            ("www/index.html", "<h1>home</h1>"),
            ("www/app.css", "body{color:red}"),
            ("www/page.tmpl", "{{ template }}"),
            ("shared/logo.txt", "logo"),
        ],
    );
    std::os::unix::fs::symlink(s.path("shared"), s.path("www/shared")).unwrap();
    let gz = std::process::Command::new("gzip")
        .args(["-k", "-n"])
        .arg(s.path("www/app.css"))
        .status()
        .unwrap();
    assert!(gz.success());
    let curl = |args: &[&str]| -> String {
        let out = std::process::Command::new("curl")
            .args(["-sS", "-D", "-", "--max-time", "30"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n")
    };
    let url = |p: &str| format!("http://127.0.0.1:{}{p}", s.port);
    let header = |resp: &str, name: &str| -> Option<String> {
        resp.lines()
            .find(|l| {
                l.to_ascii_lowercase()
                    .starts_with(&format!("{}:", name.to_ascii_lowercase()))
            })
            .map(|l| l.split_once(':').unwrap().1.trim().to_string())
    };
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    };
    let expires_in = |resp: &str| -> i64 {
        let e = header(resp, "Expires").unwrap_or_else(|| panic!("no Expires in {resp}"));
        rw::server::static_files::parse_http_date(e.as_bytes()).unwrap() - now()
    };

    // A directory gets its index file; the URI rule gives it an Expires.
    let r = curl(&[&url("/static/")]);
    assert!(
        r.starts_with("HTTP/1.1 200") && r.ends_with("<h1>home</h1>"),
        "{r}"
    );
    assert!((50..=61).contains(&expires_in(&r)), "{r}");
    // The precompressed file for a client that takes gzip (curl decodes it back).
    let r = curl(&["--compressed", &url("/static/app.css")]);
    assert_eq!(
        header(&r, "Content-Encoding").as_deref(),
        Some("gzip"),
        "{r}"
    );
    assert_eq!(
        header(&r, "Vary").as_deref(),
        Some("Accept-Encoding"),
        "{r}"
    );
    assert!(r.ends_with("body{color:red}"), "{r}");
    assert!((3590..=3601).contains(&expires_in(&r)), "{r}");
    let r = curl(&[&url("/static/app.css")]);
    assert_eq!(header(&r, "Content-Encoding"), None, "{r}");
    assert!(r.ends_with("body{color:red}"), "{r}");
    // Skipped extensions go to the app; a symlink into a static-safe path is served.
    let r = curl(&[&url("/static/page.tmpl")]);
    assert!(
        r.ends_with("app /static/page.tmpl 127.0.0.1 ") || r.contains("app /static/page.tmpl"),
        "{r}"
    );
    let r = curl(&[&url("/static/shared/logo.txt")]);
    assert!(r.starts_with("HTTP/1.1 200") && r.ends_with("logo"), "{r}");
}

#[test]
fn no_orphans_workers_die_with_a_killed_master() {
    let s = Server::start(&probe_ini("no-orphans = true"), &[("app.py", PROBE_APP)]);
    let worker = s.workers(1)[0];
    let (code, out) = check_config(
        "[uwsgi]\nhttp-socket = :8000\nwsgi-file = app.py\ndie-on-term = true\nno-orphans = true\npy-call-osafterfork = true\nmaster-as-root = true\nhttp-auto-chunked = true\n",
        &[("app.py", PROBE_APP)],
    );
    assert_eq!((code, out.contains(": warning:")), (0, false), "{out}");
    // SAFETY: SIGKILL to the master we started.
    unsafe { libc::kill(s.pid(), libc::SIGKILL) };
    wait_until(10, "the worker to die with its master", || {
        std::fs::read_to_string(format!("/proc/{worker}/stat")).map_or(true, |st| {
            st.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
    });
}

#[test]
fn python_signal_handlers_work_in_workers_with_py_call_osafterfork() {
    let app = "import os, signal\nGOT = []\nsignal.signal(signal.SIGUSR2, lambda n, f: GOT.append(n))\n\ndef application(environ, start_response):\n    body = ('%d %d' % (os.getpid(), len(GOT))).encode()\n    start_response('200 OK', [('Content-Length', str(len(body)))])\n    return [body]\n";
    // The circulating misspelling is a placeholder in uWSGI: warned about, never refused.
    let (code, out) = check_config(
        "[uwsgi]\nhttp-socket = :8000\nwsgi-file = app.py\ndie-on-term = true\npy-callos-afterfork = true\n",
        &[("app.py", app)],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("uwsgi.ini:5: warning: `py-callos-afterfork` is a widespread misspelling of `py-call-osafterfork`"),
        "{out}"
    );
    let s = Server::start(
        &probe_ini("lazy-apps = true\npy-call-osafterfork = true\npy-callos-afterfork = true"),
        &[("app.py", app)],
    );
    let first = body_of(&s, "/");
    let (pid, got) = first.split_once(' ').unwrap();
    assert_eq!(got, "0");
    let pid: i32 = pid.parse().unwrap();
    // SAFETY: signalling the worker we started.
    unsafe { libc::kill(pid, libc::SIGUSR2) };
    // The handler runs in the worker's main thread at its next Python code.
    wait_until(10, "the Python handler to run", || {
        body_of(&s, "/") == format!("{pid} 1")
    });
}
