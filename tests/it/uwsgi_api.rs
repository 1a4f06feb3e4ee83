//! Apps that `import uwsgi` and `uwsgidecorators`, end to end: the real binary, a real app,
//! real requests. Expected values come from uWSGI 2.0.30 (pyuwsgi) run on the same configs.

use crate::util::{children_of, free_port, wait_until, Server};
use std::time::{Duration, Instant};

/// Writes `files` and `uwsgi.ini` (with `{dir}` and `{port}` filled) into a temp dir and starts
/// `rw ARGS` there.
fn launch(ini: &str, files: &[(&str, &str)], args: &[&str], env: &[(&str, &str)]) -> Server {
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
    Server::launch(dir, port, args, env)
}

fn body(s: &Server, path: &str) -> String {
    let (status, body) = s.get(path);
    let text = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(status, 200, "{path}: {text}\n{}", s.log_text());
    text
}

/// Signals the master and waits (bounded) for it to exit; returns its exit code.
fn stop_and_wait(s: &mut Server, sig: i32) -> Option<i32> {
    // SAFETY: signalling the rw master this test started.
    unsafe { libc::kill(s.pid(), sig) };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            return st.code();
        }
        assert!(
            Instant::now() < deadline,
            "rw did not exit:\n{}",
            s.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

const OPT_APP: &str = r#"
import uwsgi
def application(environ, start_response):
    body = repr(list(uwsgi.opt.items())).encode()
    start_response('200 OK', [('Content-Length', str(len(body)))])
    return [body]
"#;

/// `uwsgi.opt` holds every option read, in order, as uWSGI exports it: the key as written,
/// bytes values after expansion, `True` for a command-line flag without value, `b''` for a
/// bare ini key, the last value of a repeated key (uWSGI 2.0 under Python 3 keeps only that),
/// and the keys uWSGI consumes itself (`ini`, `include`, config logic, placeholders).
#[test]
fn uwsgi_opt_is_every_option_as_uwsgi_exports_it() {
    let ini = "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nmaster\nprocesses = 1\nwsgi-file = app.py\n\
               myph = hello\nenv = A=%(myph)\nenv = B=2\nif-env = PY15_SET\nvacuum = true\nendif =\n\
               if-env = PY15_NOT_SET\nharakiri = 99\nendif =\nfor = x y\npythonpath = /tmp/%(_)\n\
               endfor =\nset-placeholder = zz=1\ninclude = extra.ini\n";
    let s = launch(
        ini,
        &[
            ("app.py", OPT_APP),
            ("extra.ini", "[uwsgi]\nharakiri = 30\n"),
        ],
        &["serve", "--ini", "uwsgi.ini", "--need-app"],
        &[("UWSGI_BUFFER_SIZE", "8192"), ("PY15_SET", "1")],
    );
    let want = format!(
        "[('buffer-size', b'8192'), ('ini', b'uwsgi.ini'), ('http-socket', b'127.0.0.1:{}'), \
         ('master', b''), ('processes', b'1'), ('wsgi-file', b'app.py'), ('myph', b'hello'), \
         ('env', b'B=2'), ('if-env', b'PY15_NOT_SET'), ('vacuum', b'true'), ('endif', b''), \
         ('for', b'x y'), ('pythonpath', b'/tmp/y'), ('endfor', b''), \
         ('set-placeholder', b'zz=1'), ('zz', b'1'), ('include', b'extra.ini'), \
         ('harakiri', b'30'), ('need-app', True)]",
        s.port
    );
    assert_eq!(body(&s, "/"), want);
}

const LOGVAR_APP: &str = r#"
import uwsgi
def application(environ, start_response):
    if environ['PATH_INFO'] == '/set':
        uwsgi.set_logvar('who', 'alice')
        uwsgi.set_logvar(b'k', b'v1')
        uwsgi.set_logvar('k', 'v2\n')
    body = repr((uwsgi.get_logvar('who'), uwsgi.get_logvar('k'))).encode()
    start_response('200 OK', [('Content-Length', str(len(body)))])
    return [body]
"#;

/// `uwsgi.set_logvar` values show in the request's `log-format` line as `%(name)` (escaped),
/// only in the request that set them; unset names are `-`; built-in names win.
#[test]
fn set_logvar_reaches_that_requests_log_line() {
    let s = Server::start(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {dir}/app.py\nprocesses = 1\n\
         log-format = LOGLINE %(uri) who=%(who) k=%(k) none=%(nosuch) status=%(status)\n",
        &[("app.py", LOGVAR_APP)],
    );
    assert_eq!(body(&s, "/set"), "(b'alice', b'v2\\n')");
    assert_eq!(body(&s, "/after"), "(None, None)");
    let log = s.wait_log("LOGLINE /after", 10);
    assert!(
        log.contains("LOGLINE /set who=alice k=v2\\x0a none=- status=200"),
        "{log}"
    );
    assert!(
        log.contains("LOGLINE /after who=- k=- none=- status=200"),
        "{log}"
    );
}

const INFO_APP: &str = r#"
import json, os, uwsgi
def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/accepting-off':
        uwsgi.accepting(False)
    elif path == '/accepting-on':
        uwsgi.accepting()
    elif path == '/log':
        uwsgi.log('hello from the app via uwsgi.log')
    workers = uwsgi.workers()
    out = {
        'pid': os.getpid(),
        'worker_id': uwsgi.worker_id(),
        'mule_id': uwsgi.mule_id(),
        'masterpid': uwsgi.masterpid(),
        'numproc': uwsgi.numproc,
        'cores': uwsgi.cores,
        'has_threads': uwsgi.has_threads,
        'buffer_size': uwsgi.buffer_size,
        'hostname': uwsgi.hostname.decode(),
        'version': uwsgi.version.decode(),
        'version_info': list(uwsgi.version_info[:4]),
        'started_on': uwsgi.started_on,
        'is_a_reload': uwsgi.is_a_reload,
        'total_requests': uwsgi.total_requests(),
        'request_id': uwsgi.request_id(),
        'mem': list(uwsgi.mem()),
        'ready': uwsgi.ready(),
        'workers': [{k: (v.decode() if isinstance(v, bytes) else v) for k, v in w.items() if k != 'apps'}
                    for w in workers],
        'apps': [[a['id'], a['mountpoint'].decode(), a['requests']] for a in workers[0]['apps']],
    }
    body = json.dumps(out).encode()
    start_response('200 OK', [('Content-Type', 'application/json'), ('Content-Length', str(len(body)))])
    return [body]
"#;

fn info(s: &Server, path: &str) -> serde_json::Value {
    serde_json::from_str(&body(s, path)).unwrap()
}

/// Process and request facts: ids and pids match the real processes, counters move with the
/// requests served, `workers()` shows every worker from the scoreboard.
#[test]
fn process_and_request_info_match_the_running_instance() {
    let s = Server::start(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {dir}/app.py\nprocesses = 2\n\
         threads = 2\nbuffer-size = 8192\n",
        &[("app.py", INFO_APP)],
    );
    let pids = s.workers(2);
    // ready(): True once every worker accepts.
    wait_until(20, "uwsgi.ready()", || info(&s, "/")["ready"] == true);
    let before = info(&s, "/");
    for _ in 0..6 {
        info(&s, "/");
    }
    // A request is counted after its response is written, so the count of the ones finished
    // before this one can lag by those still being accounted: ask again until every earlier
    // request is in it (each ask is one more earlier request).
    let mut asked = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    let i = loop {
        let i = info(&s, "/log");
        asked += 1;
        if i["total_requests"].as_u64().unwrap()
            >= before["total_requests"].as_u64().unwrap() + 6 + asked
        {
            break i;
        }
        assert!(
            Instant::now() < deadline,
            "requests never all counted:\n{before}\n{i}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let total = i["total_requests"].as_u64().unwrap();
    let me = i["pid"].as_i64().unwrap() as i32;
    assert!(pids.contains(&me), "{i} {pids:?}");
    assert_eq!(i["masterpid"], s.pid());
    assert_eq!(i["mule_id"], 0);
    assert_eq!(
        (
            &i["numproc"],
            &i["cores"],
            &i["has_threads"],
            &i["buffer_size"]
        ),
        (&2.into(), &2.into(), &1.into(), &8192.into())
    );
    assert_eq!(i["version"], "2.0.30");
    assert_eq!(i["version_info"], serde_json::json!([2, 0, 30, 0]));
    assert_eq!(i["hostname"], rw::sys::host::hostname());
    assert_eq!(i["is_a_reload"], false);
    let started = i["started_on"].as_u64().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(started <= now && now - started < 120, "{started} {now}");
    let (rss, vsz) = (i["mem"][0].as_u64().unwrap(), i["mem"][1].as_u64().unwrap());
    assert!(rss > 1 << 20 && vsz > rss, "{i}");
    let workers = i["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 2, "{i}");
    let mut seen: Vec<i32> = workers
        .iter()
        .map(|w| w["pid"].as_i64().unwrap() as i32)
        .collect();
    seen.sort();
    let mut want = pids.clone();
    want.sort();
    assert_eq!(seen, want, "{i}");
    let mine = &workers[i["worker_id"].as_u64().unwrap() as usize - 1];
    assert_eq!(mine["pid"], me, "{i}");
    assert_eq!(mine["id"], i["worker_id"], "{i}");
    assert_eq!(mine["status"], "busy", "{i}");
    let served: u64 = workers
        .iter()
        .map(|w| w["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(served, total, "{i}");
    assert_eq!(i["apps"][0][0], 0);
    assert_eq!(i["apps"][0][1], "");
    s.wait_log("hello from the app via uwsgi.log", 10);
}

/// `uwsgi.accepting(False)` tells the master this worker is not ready: `uwsgi.ready()` says so
/// until it accepts again.
#[test]
fn accepting_is_what_ready_reports() {
    let s = Server::start(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {dir}/app.py\nprocesses = 1\n",
        &[("app.py", INFO_APP)],
    );
    wait_until(20, "uwsgi.ready()", || info(&s, "/")["ready"] == true);
    info(&s, "/accepting-off");
    assert_eq!(info(&s, "/")["ready"], serde_json::Value::Null);
    assert_eq!(info(&s, "/accepting-on")["ready"], true);
}

const CONTROL_APP: &str = r#"
import os, uwsgi
def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/reload':
        body = repr(uwsgi.reload())
    elif path == '/chain':
        body = repr(uwsgi.chain_reload())
    elif path == '/stop':
        body = repr(uwsgi.stop())
    else:
        body = '%d %r' % (os.getpid(), uwsgi.is_a_reload)
    body = body.encode()
    start_response('200 OK', [('Content-Length', str(len(body)))])
    return [body]
"#;

fn control_server() -> Server {
    Server::start(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {dir}/app.py\nprocesses = 1\n\
         pidfile = {dir}/rw.pid\n",
        &[("app.py", CONTROL_APP)],
    )
}

/// Waits (bounded) until a new generation serves: another worker pid, `is_a_reload` true.
fn wait_new_generation(s: &Server, old: &str) {
    wait_until(30, "a new generation", || {
        let (status, b) = s.get("/");
        status == 200 && {
            let b = String::from_utf8_lossy(&b);
            b != old && b.ends_with(" True")
        }
    });
}

/// `uwsgi.reload()` from a request is a graceful reload of the master (as SIGHUP): it answers
/// True, the request completes, and a new generation takes over with the same master.
#[test]
fn uwsgi_reload_from_a_request_reloads_the_master_gracefully() {
    let s = control_server();
    let first = body(&s, "/");
    assert!(first.ends_with(" False"), "{first}");
    assert_eq!(body(&s, "/reload"), "True");
    wait_new_generation(&s, &first);
    let log = s.log_text();
    assert!(log.contains("...gracefully killing workers..."), "{log}");
    assert!(children_of(s.pid()).len() <= 2, "{log}");
}

/// rw has no chain reload yet: `uwsgi.chain_reload()` says so and does a graceful reload.
#[test]
fn chain_reload_logs_and_reloads_gracefully() {
    let s = control_server();
    let first = body(&s, "/");
    assert_eq!(body(&s, "/chain"), "True");
    wait_new_generation(&s, &first);
    s.wait_log(
        "chain reload is not implemented in rw; doing a graceful reload",
        10,
    );
}

/// `uwsgi.stop()` shuts the whole instance down gracefully: the request that asked is answered.
#[test]
fn uwsgi_stop_from_a_request_shuts_down_gracefully() {
    let mut s = control_server();
    assert_eq!(body(&s, "/stop"), "True");
    let deadline = Instant::now() + Duration::from_secs(30);
    let code = loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            break st.code();
        }
        assert!(
            Instant::now() < deadline,
            "rw did not stop:\n{}",
            s.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(code, Some(0), "{}", s.log_text());
    assert!(s.log_text().contains("goodbye to rw."));
}

const POSTFORK_APP: &str = r#"
import os, sqlite3, uwsgi
from uwsgidecorators import postfork, thread

DB = None

@postfork
def connect():
    # The classic use: one database connection per worker, opened after the fork.
    global DB
    DB = sqlite3.connect(':memory:')
    DB.execute('create table t (pid int)')
    DB.execute('insert into t values (?)', (os.getpid(),))
    with open('{dir}/postfork-%d' % uwsgi.worker_id(), 'w') as f:
        f.write(str(os.getpid()))

@postfork(2)
def only_two():
    open('{dir}/only-%d' % uwsgi.worker_id(), 'w').close()

@thread
def background(path):
    with open(path, 'w') as f:
        f.write('done')

def at_exit():
    open('{dir}/atexit-%d' % os.getpid(), 'w').close()

uwsgi.atexit = at_exit
with open('{dir}/imported-in', 'a') as f:
    f.write('%d\n' % os.getpid())

def application(environ, start_response):
    if environ['PATH_INFO'] == '/thread':
        background('{dir}/thread-ran')
    row = DB.execute('select pid from t').fetchone()
    body = ('%d %d' % (os.getpid(), row[0])).encode()
    start_response('200 OK', [('Content-Length', str(len(body)))])
    return [body]
"#;

/// `@postfork` functions run in every worker after the fork (not in the master), `@postfork(N)`
/// only in worker N; `@thread` runs in the background; `uwsgi.atexit` runs when a worker exits.
#[test]
fn uwsgidecorators_postfork_runs_in_each_worker_and_atexit_at_exit() {
    let mut s = Server::start(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {dir}/app.py\nprocesses = 2\n",
        &[("app.py", POSTFORK_APP)],
    );
    let mut pids = s.workers(2);
    pids.sort();
    let read = |rel: &str| std::fs::read_to_string(s.path(rel)).unwrap_or_default();
    wait_until(20, "both postfork files", || {
        !read("postfork-1").is_empty() && !read("postfork-2").is_empty()
    });
    let mut ran_in: Vec<i32> = ["postfork-1", "postfork-2"]
        .iter()
        .map(|f| read(f).parse().unwrap())
        .collect();
    ran_in.sort();
    assert_eq!(ran_in, pids);
    // The app was imported once, in the master, which ran no postfork function.
    assert_eq!(read("imported-in").trim(), s.pid().to_string());
    assert!(s.path("only-2").exists() && !s.path("only-1").exists());
    // The request uses the per-worker connection its worker opened.
    let b = body(&s, "/");
    let (pid, db_pid) = b.split_once(' ').unwrap();
    assert_eq!(pid, db_pid);
    body(&s, "/thread");
    wait_until(10, "the @thread function", || read("thread-ran") == "done");
    assert_eq!(stop_and_wait(&mut s, libc::SIGINT), Some(0));
    for pid in pids {
        assert!(
            s.path(&format!("atexit-{pid}")).exists(),
            "worker {pid} ran no atexit:\n{}",
            s.log_text()
        );
    }
}

const MISSING_APP: &str = r#"
import uwsgidecorators
def application(environ, start_response):
    try:
        uwsgidecorators.rpc('hello')(lambda: None)
        body = b'no error'
    except NotImplementedError as e:
        body = str(e).encode()
    start_response('200 OK', [('Content-Length', str(len(body)))])
    return [body]
"#;

/// A decorator whose backend rw lacks fails loudly, naming what is missing.
#[test]
fn uwsgidecorators_without_a_backend_raise_not_implemented() {
    let s = Server::start(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {dir}/app.py\nprocesses = 1\n",
        &[("app.py", MISSING_APP)],
    );
    assert_eq!(
        body(&s, "/"),
        "uwsgidecorators.rpc needs uWSGI RPC, which rw does not implement yet"
    );
}

const LOCK_APP: &str = r#"
import os, time, uwsgi
from uwsgidecorators import lock

@lock
def critical():
    # Exactly one caller at a time across every worker and thread: a second one inside would
    # find the marker file already there.
    try:
        fd = os.open('{dir}/inside', os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        with open('{dir}/violations', 'a') as f:
            f.write('x')
        return
    os.close(fd)
    n = int(open('{dir}/counter').read() or '0')
    time.sleep(0.002)
    with open('{dir}/counter', 'w') as f:
        f.write(str(n + 1))
    os.unlink('{dir}/inside')

def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/critical':
        critical()
        body = 'ok'
    elif path == '/die-holding-1':
        uwsgi.lock(1)
        os._exit(3)
    elif path == '/take-1':
        uwsgi.lock(1)
        body = repr(uwsgi.is_locked(1))
        uwsgi.unlock(1)
        body += ' ' + repr(uwsgi.is_locked(1))
    elif path == '/relock':
        uwsgi.lock(0)
        try:
            uwsgi.lock(0)
            body = 'relocked'
        except RuntimeError as e:
            body = str(e)
        finally:
            uwsgi.unlock(0)
    else:
        try:
            uwsgi.lock(2)
            body = 'no error'
        except ValueError as e:
            body = str(e)
    body = body.encode()
    start_response('200 OK', [('Content-Length', str(len(body)))])
    return [body]
"#;

/// `@lock` (uwsgi.lock/unlock on lock 0) serialises a critical section across 4 workers × 2
/// threads; `locks = 1` adds lock 1; a worker that dies holding a lock does not leave it locked.
#[test]
fn user_locks_serialise_across_workers_and_survive_a_dead_holder() {
    let s = Server::start(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {dir}/app.py\nprocesses = 4\n\
         threads = 2\nlocks = 1\n",
        &[("app.py", LOCK_APP), ("counter", "0")],
    );
    s.workers(4);
    let port = s.port;
    let clients: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                for _ in 0..10 {
                    let r = crate::util::raw_request(
                        port,
                        b"GET /critical HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                    );
                    assert!(
                        r.starts_with(b"HTTP/1.1 200"),
                        "{}",
                        String::from_utf8_lossy(&r)
                    );
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    assert!(
        !s.path("violations").exists(),
        "two callers were inside at once"
    );
    assert_eq!(std::fs::read_to_string(s.path("counter")).unwrap(), "80");
    assert_eq!(body(&s, "/bad-number"), "Invalid lock number");
    assert_eq!(
        body(&s, "/relock"),
        "this thread already holds lock 0 (locking it again would deadlock the thread)"
    );
    // A worker dies holding lock 1: whoever asks next gets it.
    let dead = s.raw(b"GET /die-holding-1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert!(dead.is_empty(), "{}", String::from_utf8_lossy(&dead));
    s.wait_log("died, exit code 3", 20);
    assert_eq!(body(&s, "/take-1"), "True False");
    s.wait_log("user lock 1: the process holding it died; recovered it", 10);
}

const CACHE_APP: &str = r#"
import os, time, uwsgi

# At import time, in the master: caches and locks exist already (apps warm caches here).
uwsgi.lock()
WARMED = uwsgi.cache_update('warm', 'by %d' % os.getpid())
uwsgi.unlock()

def application(environ, start_response):
    path = environ['PATH_INFO']
    qs = environ['QUERY_STRING']
    if path == '/set-and-hold':
        # Set, then stay busy until the test says so: with one thread per worker, the next
        # request must be served by another worker.
        ok = uwsgi.cache_set('shared', 'from %d' % os.getpid())
        deadline = time.time() + 20
        while not os.path.exists('{dir}/release') and time.time() < deadline:
            time.sleep(0.01)
        body = '%r %d' % (ok, os.getpid())
    elif path == '/get':
        body = '%r %d' % (uwsgi.cache_get('shared'), os.getpid())
    elif path == '/warm':
        body = '%r %r' % (WARMED, uwsgi.cache_get('warm'))
    elif path == '/inc':
        body = repr((uwsgi.cache_inc('hits'), uwsgi.cache_num('hits')))
    elif path == '/api':
        r = []
        r.append(uwsgi.cache_set('k', b'v1'))
        r.append(uwsgi.cache_set('k', 'v2'))            # exists: None
        r.append(uwsgi.cache_get('k'))
        r.append(uwsgi.cache_update('k', 'v3'))
        r.append(uwsgi.cache_get('k'))
        r.append(uwsgi.cache_exists('k'))
        r.append(uwsgi.cache_exists('nope'))
        r.append(uwsgi.cache_get('k', 'other'))         # another cache
        r.append(uwsgi.cache_set('k', 'o', 0, 'other'))
        r.append(uwsgi.cache_get('k', 'other'))
        r.append(sorted(uwsgi.cache_keys()))
        r.append(uwsgi.cache_inc('n', 10))
        r.append(uwsgi.cache_mul('n'))
        r.append(uwsgi.cache_dec('n', 5))
        r.append(uwsgi.cache_div('n', 3))
        r.append(uwsgi.cache_num('n'))
        r.append(uwsgi.cache_inc('k'))                  # not a number: None
        r.append(uwsgi.cache_set('big', b'x' * 65))     # larger than blocksize: None
        r.append(uwsgi.cache_del('k'))
        r.append(uwsgi.cache_del('k'))
        r.append(uwsgi.cache_get('k'))
        r.append(uwsgi.cache_get('k', 'nosuchcache'))
        r.append([uwsgi.cache_set('f%d' % i, 'x', 0, 'other') for i in range(4)])
        r.append(uwsgi.cache_clear('other'))
        r.append(uwsgi.cache_keys('other'))
        try:
            uwsgi.cache_keys('nosuchcache')
        except ValueError as e:
            r.append(str(e))
        body = repr(r)
    elif path == '/expiring':
        # Set and read back in one request: expiry counts in whole seconds, so a read in a later
        # request could already fall past a 1-second deadline.
        body = repr((uwsgi.cache_set('short', 'x', 2), uwsgi.cache_get('short')))
    elif path == '/short':
        body = repr(uwsgi.cache_get('short'))
    else:
        body = 'no route'
    body = body.encode()
    start_response('200 OK', [('Content-Length', str(len(body)))])
    return [body]
"#;

fn cache_server(extra: &str) -> Server {
    Server::start(
        &format!(
            "[uwsgi]\nhttp-socket = 127.0.0.1:{{port}}\nwsgi-file = {{dir}}/app.py\n\
             processes = 4\ncache2 = name=main,items=10,blocksize=64\n\
             cache2 = name=other,items=4,blocksize=16,ignore_full=1\n{extra}"
        ),
        &[("app.py", CACHE_APP)],
    )
}

/// A value set by one worker is read by another: the cache is shared memory made before fork.
#[test]
fn the_cache_is_shared_by_every_worker() {
    let s = cache_server("");
    s.workers(4);
    let port = s.port;
    let holder = std::thread::spawn(move || {
        crate::util::raw_request(
            port,
            b"GET /set-and-hold HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        )
    });
    // The holder's value appears; the request that sees it is served by another worker.
    let mut seen = String::new();
    wait_until(20, "the value set by the holding worker", || {
        seen = body(&s, "/get");
        seen.starts_with("b'from ")
    });
    std::fs::write(s.path("release"), "").unwrap();
    let held = String::from_utf8_lossy(&holder.join().unwrap()).into_owned();
    let holder_pid = held.rsplit(' ').next().unwrap().to_string();
    let (value, reader_pid) = seen.rsplit_once(' ').unwrap();
    assert_eq!(value, format!("b'from {holder_pid}'"), "{held}");
    assert_ne!(reader_pid, holder_pid, "{held} / {seen}");
    assert!(held.contains("\r\n\r\nTrue "), "{held}");
    // Counters add up across workers.
    for i in 1..=8 {
        assert_eq!(body(&s, "/inc"), format!("(True, {i})"));
    }
}

/// A cache filled while the app is imported (in the master, before fork) is there in every
/// worker, and locks work at import time too.
#[test]
fn a_cache_filled_at_import_time_is_seen_by_the_workers() {
    let s = cache_server("");
    assert_eq!(body(&s, "/warm"), format!("True b'by {}'", s.pid()));
}

/// The whole `cache_*` API on named caches, as uWSGI answers each call.
#[test]
fn cache_api_answers_as_uwsgi() {
    let s = cache_server("");
    assert_eq!(
        body(&s, "/api"),
        "[True, None, b'v1', True, b'v3', True, None, None, True, b'o', [b'k', b'warm'], True, True, True, \
         True, 5, None, None, True, None, None, None, [True, True, None, None], True, [], \
         'no local uWSGI cache available']"
    );
}

/// An item set with `expires` is gone once its deadline passes.
#[test]
fn cache_items_expire() {
    let s = cache_server("");
    assert_eq!(body(&s, "/expiring"), "(True, b'x')");
    wait_until(15, "the item to expire", || body(&s, "/short") == "None");
}

/// The stats JSON lists the caches as uWSGI does (`caches[]`), with live counters.
#[test]
fn stats_show_the_caches() {
    let stats_port = free_port();
    let s = cache_server(&format!("stats = 127.0.0.1:{stats_port}\n"));
    body(&s, "/api");
    let addr = format!("127.0.0.1:{stats_port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let v: serde_json::Value = loop {
        use std::io::Read;
        let mut out = Vec::new();
        if let Ok(mut c) = std::net::TcpStream::connect(&addr) {
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let _ = c.read_to_end(&mut out);
        }
        if !out.is_empty() {
            break serde_json::from_slice(&out).unwrap();
        }
        assert!(Instant::now() < deadline, "no stats:\n{}", s.log_text());
        std::thread::sleep(Duration::from_millis(50));
    };
    let caches = v["caches"].as_array().expect("caches[]");
    assert_eq!(caches.len(), 2, "{v}");
    let main = &caches[0];
    assert_eq!(main["name"], "main");
    assert_eq!(main["hash"], "djb33x");
    assert_eq!(
        (
            &main["max_items"],
            &main["blocksize"],
            &main["keysize"],
            &main["hashsize"]
        ),
        (&10.into(), &64.into(), &2048.into(), &65536.into())
    );
    // After /api: `warm` (set at import) and `n` are left in main; two of `other`'s 3 slots
    // were filled, then cleared.
    assert_eq!(main["items"], 2, "{main}");
    // Three get()s found their key (cache_num is one), one did not.
    assert_eq!(
        (&main["hits"], &main["miss"]),
        (&3.into(), &1.into()),
        "{main}"
    );
    assert!(main["last_modified_at"].as_u64().unwrap() > 0, "{main}");
    let other = &caches[1];
    assert_eq!(
        (&other["name"], &other["items"], &other["full"]),
        (&"other".into(), &0.into(), &2.into())
    );
}

/// The legacy `cache = N` makes the `default` cache; a broken `cache2` is refused at startup
/// (rw check-config says the same).
#[test]
fn legacy_cache_and_bad_definitions() {
    let s = Server::start(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {dir}/app.py\ncache = 5\n",
        &[("app.py", CACHE_APP)],
    );
    assert_eq!(body(&s, "/inc"), "(True, 1)");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.ini"),
        "[uwsgi]\nhttp-socket = 127.0.0.1:1\ncache2 = name=x\n",
    )
    .unwrap();
    let out = crate::util::rw()
        .args(["check-config", "bad.ini"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = crate::util::text(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("bad.ini:3")
            && text.contains("you have to specify the maximum number of cache items"),
        "{text}"
    );
}

/// Every public name of uWSGI 2.0.30's `uwsgi` module (dir() of pyuwsgi 2.0.30 in a worker,
/// plus the spooler's, which uWSGI adds when a spooler is configured).
const UWSGI_NAMES: &str = "SPOOL_IGNORE SPOOL_OK SPOOL_RETRY accepting add_cron add_file_monitor \
    add_rb_timer add_timer add_var alarm applications async_connect async_sleep buffer_size \
    cache_clear cache_dec cache_del cache_div cache_exists cache_get cache_inc cache_keys cache_mul \
    cache_num cache_set cache_update call chunked_read chunked_read_nb cl close connect \
    connection_fd cores disconnect embedded_data extract farm_get_msg farm_msg get_logvar \
    green_schedule has_threads hostname i_am_the_spooler in_farm is_a_reload is_connected \
    is_locked listen_queue lock log log_this_request logsize loop masterpid mem metric_dec \
    metric_div metric_get metric_inc metric_mul metric_set metric_set_max metric_set_min micros \
    mule_get_msg mule_id mule_msg numproc offload opt parsefile ready ready_fd recv register_rpc \
    register_signal reload request_id route rpc rpc_list send sendfile set_logvar \
    set_user_harakiri set_warning_message setprocname signal signal_received signal_registered \
    signal_wait sockets start_response started_on stop suspend total_requests unbit unlock \
    version version_info wait_fd_read wait_fd_write websocket_handshake websocket_recv \
    websocket_recv_nb websocket_send websocket_send_binary worker_id workers spool send_to_spooler";

// Left out on purpose: `magic_table` (uWSGI's own %-variables, which rw resolves while reading
// the config and does not keep) and `SymbolsImporter`/`SymbolsZipImporter`/`ZipImporter`
// (importers for Python code linked into a uWSGI binary, which rw cannot have).

const NAMES_APP: &str = r#"
import uwsgi
def application(environ, start_response):
    names = environ['QUERY_STRING'].split('+')
    missing = [n for n in names if not hasattr(uwsgi, n)]
    try:
        uwsgi.metric_get('requests')
        err = 'no error'
    except NotImplementedError as e:
        err = str(e)
    body = ('%r %s' % (missing, err)).encode()
    start_response('200 OK', [('Content-Length', str(len(body)))])
    return [body]
"#;

/// Every name of uWSGI 2.0's `uwsgi` module exists; what rw lacks says so when called.
#[test]
fn every_public_name_of_the_uwsgi_module_exists() {
    let s = Server::start(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {dir}/app.py\nprocesses = 1\n",
        &[("app.py", NAMES_APP)],
    );
    let q: Vec<&str> = UWSGI_NAMES.split_whitespace().collect();
    assert_eq!(
        body(&s, &format!("/?{}", q.join("+"))),
        "[] uwsgi.metric_get: metrics is not implemented in rw"
    );
}
