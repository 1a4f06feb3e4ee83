//! uWSGI options of `rw serve` beyond the process model: mounts, logging options, SIGUSR1,
//! touch-reload, lazy-apps, file_wrapper/sendfile, reload-on-rss, add-header.

use crate::serve_basic::{hello_ini, HELLO_APP};
use crate::util::{raw_request, split_response, wait_until, Server};

const NAMED_APP: &str = "import os\nNAME = os.path.basename(__file__)\n\ndef application(environ, start_response):\n    body = ('%s %s %s' % (NAME, environ.get('SCRIPT_NAME'), environ['PATH_INFO'])).encode()\n    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])\n    return [body]\n";

#[test]
fn mounts_with_manage_script_name_pick_the_longest_prefix() {
    let ini = "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {dir}/root.py\nmount = /api={dir}/api.py\nmount = /api/v2={dir}/v2.py\nmanage-script-name = true\ndie-on-term = true\n";
    let s = Server::start(
        ini,
        &[
            ("api.py", NAMED_APP),
            ("v2.py", NAMED_APP),
            ("root.py", NAMED_APP),
        ],
    );
    assert_eq!(
        String::from_utf8(s.get("/api/users").1).unwrap(),
        "api.py /api /users"
    );
    assert_eq!(
        String::from_utf8(s.get("/api/v2/x").1).unwrap(),
        "v2.py /api/v2 /x"
    );
    assert_eq!(
        String::from_utf8(s.get("/apis").1).unwrap(),
        "root.py  /apis",
        "prefix must end at a /"
    );
    assert_eq!(
        String::from_utf8(s.get("/other").1).unwrap(),
        "root.py  /other"
    );
}

#[test]
fn log_format_disable_logging_and_logto() {
    let s = Server::start(
        &hello_ini("log-format = %(addr) - %(user) \"%(method) %(uri) %(proto)\" %(status) %(size) \"%(uagent)\" %(var.HTTP_X_TEST)\nlogto = {dir}/requests.log"),
        &[("app.py", HELLO_APP)],
    );
    let r = raw_request(s.port, b"GET /f?x=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: probe/1\r\nX-Test: yes\r\nConnection: close\r\n\r\n");
    assert_eq!(split_response(&r).0, 200);
    let log = s.path("requests.log");
    wait_until(10, "the request line in the logto file", || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("GET /f?x=1")
    });
    let text = std::fs::read_to_string(&log).unwrap();
    let line = text.lines().find(|l| l.contains("GET /f?x=1")).unwrap();
    assert!(
        line.starts_with("127.0.0.1 - - \"GET /f?x=1 HTTP/1.1\" 200 "),
        "{line}"
    );
    assert!(line.ends_with("\"probe/1\" yes"), "{line}");

    let quiet = Server::start(
        &hello_ini("disable-logging = true"),
        &[("app.py", HELLO_APP)],
    );
    assert_eq!(quiet.get("/quiet").0, 200);
    // A later marker in the master's own log proves the worker's line would have been there. The
    // worker counts the request after the response has left, so ask again until the count shows it.
    let mut t = String::new();
    wait_until(10, "the master to report the counted request", || {
        // SAFETY: signalling the rw master we started.
        unsafe { libc::kill(quiet.pid(), libc::SIGUSR1) };
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
        let before = t.matches("workers total requests:").count();
        while std::time::Instant::now() < deadline {
            t = quiet.log_text();
            if t.matches("workers total requests:").count() > before {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        t.contains("workers total requests: 1")
    });
    assert!(!t.contains("GET /quiet"), "{t}");
}

#[test]
fn touch_reload_reloads_gracefully() {
    let s = Server::start(
        &hello_ini("touch-reload = {dir}/reload.trigger\nprocesses = 1"),
        &[("app.py", HELLO_APP), ("reload.trigger", "")],
    );
    let before = s.workers(1);
    std::fs::write(
        s.path("app.py"),
        HELLO_APP.replace("Hello, World!", "Touched here!"),
    )
    .unwrap();
    // mtime granularity: make sure the trigger's mtime really changes.
    let t = std::time::SystemTime::now() + std::time::Duration::from_secs(2);
    std::fs::File::options()
        .write(true)
        .open(s.path("reload.trigger"))
        .unwrap()
        .set_modified(t)
        .unwrap();
    s.wait_log("touch-reload", 10);
    wait_until(15, "new code", || s.get("/").1 == b"Touched here!");
    assert_ne!(s.workers(1), before);
}

#[test]
fn lazy_apps_load_in_each_worker() {
    let app = "import os\nLOADED_IN = os.getpid()\n\ndef application(e, s):\n    body = ('%d %d' % (LOADED_IN, os.getpid())).encode()\n    s('200 OK', [('Content-Length', str(len(body)))])\n    return [body]\n";
    let s = Server::start(
        &hello_ini("lazy-apps = true\nprocesses = 2"),
        &[("app.py", app)],
    );
    let body = String::from_utf8(s.get("/").1).unwrap();
    let (loaded, serving) = body.split_once(' ').unwrap();
    assert_eq!(
        loaded, serving,
        "with lazy-apps the worker itself imports the app"
    );
    let prefork = Server::start(&hello_ini("processes = 2"), &[("app.py", app)]);
    let body = String::from_utf8(prefork.get("/").1).unwrap();
    let (loaded, serving) = body.split_once(' ').unwrap();
    assert_eq!(
        loaded,
        prefork.pid().to_string(),
        "by default the master imports the app"
    );
    assert_ne!(loaded, serving);
}

#[test]
fn file_wrapper_goes_through_sendfile_and_add_header_applies() {
    let app = "def application(environ, start_response):\n    f = open(__file__.replace('app.py', 'big.bin'), 'rb')\n    start_response('200 OK', [('Content-Type', 'application/octet-stream')])\n    return environ['wsgi.file_wrapper'](f, 65536)\n";
    let big: String = "0123456789abcdef".repeat(64 * 1024);
    let s = Server::start(
        &hello_ini("add-header = X-Served-By: rw"),
        &[("app.py", app), ("big.bin", &big)],
    );
    let r = raw_request(
        s.port,
        b"GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let head_end = r.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&r[..head_end]).to_lowercase();
    assert!(head.contains("x-served-by: rw"), "{head}");
    // No Content-Length from the app: chunked on HTTP/1.1; decode and compare.
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    let body = dechunk(&r[head_end + 4..]);
    assert_eq!(body.len(), big.len());
    assert!(body == big.as_bytes());
    let log = s.wait_log("GET /big", 10);
    assert!(log.contains("via sendfile()"), "{log}");
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = b
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size = usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap(), 16).unwrap();
        b = &b[eol + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

#[test]
fn reload_on_rss_recycles_a_fat_worker() {
    let app = "BALLAST = []\n\ndef application(environ, start_response):\n    if environ['PATH_INFO'] == '/grow':\n        BALLAST.append(bytearray(64 * 1024 * 1024))\n    start_response('200 OK', [('Content-Length', '2')])\n    return [b'ok']\n";
    let s = Server::start(
        &hello_ini("reload-on-rss = 48\nprocesses = 1\nmin-worker-lifetime = 0"),
        &[("app.py", app)],
    );
    let before = s.workers(1);
    assert_eq!(s.get("/grow").0, 200);
    let log = s.wait_log("Seeya", 10);
    assert!(log.contains("RSS"), "{log}");
    wait_until(10, "a fresh worker", || {
        let now = s.worker_pids();
        now.len() == 1 && now != before
    });
}

const GC_APP: &str = "import gc\nLOADED = [{'n': i} for i in range(5000)]\n\ndef application(environ, start_response):\n    body = ('%d %s' % (gc.get_freeze_count(), gc.isenabled())).encode()\n    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])\n    return [body]\n";

/// rw-gc-freeze (default on): what the master loaded is in the permanent generation of every
/// worker, so the workers' collections leave those pages shared; the collector itself stays on.
#[test]
fn gc_freeze_before_fork_keeps_the_preloaded_app_out_of_collections() {
    let frozen = |extra: &str| -> (u64, String) {
        let s = Server::start(
            &format!("[uwsgi]\nhttp-socket = 127.0.0.1:{{port}}\nwsgi-file = {{dir}}/app.py\nmaster = true\nprocesses = 2\ndie-on-term = true\n{extra}"),
            &[("app.py", GC_APP)],
        );
        let (status, body) = s.get("/");
        assert_eq!(status, 200);
        let body = String::from_utf8(body).unwrap();
        let (n, enabled) = body.split_once(' ').unwrap();
        (n.parse().unwrap(), enabled.to_string())
    };
    let (on, enabled) = frozen("");
    assert!(
        on > 5000,
        "the 5,000 dicts the app made at import must be frozen: {on}"
    );
    assert_eq!(
        enabled, "True",
        "the collector must still run in the worker"
    );
    let (off, _) = frozen("rw-gc-freeze = false\n");
    assert_eq!(off, 0, "rw-gc-freeze = false freezes nothing");
}
