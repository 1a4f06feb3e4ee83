//! uWSGI's spooler, end to end: the real binary, an app using `uwsgi.spool` and the
//! `uwsgidecorators` spool decorators, the spooler processes the master supervises, spool
//! files written by the real uWSGI 2.0.30 (tests/fixtures/uwsgi-spool). Evidence of a task
//! having run is a file it writes, with the pid of the process it ran in.

use crate::util::{fixture, free_port, run, text, wait_until, Server};
use serde_json::Value;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

const APP: &str = r#"
import os, time, uwsgi
from uwsgidecorators import spool, spoolraw
OUT = '{dir}/out'
os.makedirs(OUT, exist_ok=True)

def note(name, text):
    tmp = os.path.join(OUT, '.' + name)
    with open(tmp, 'w') as f:
        f.write(text)
    os.rename(tmp, os.path.join(OUT, name))

def append(name, line):
    with open(os.path.join(OUT, name), 'a') as f:
        f.write(line + '\n')

@spool
def plain(args):
    note('plain-' + args['name'], '%d %r %r %r' % (os.getpid(), uwsgi.i_am_the_spooler(),
         sorted(k for k in args if k != 'spooler_task_name'), args.get('body')))

@spool(pass_arguments=True)
def with_args(a, b=None):
    note('args-' + a, '%d %r' % (os.getpid(), b))

@spoolraw
def retry(args):
    append('retry', str(os.getpid()))
    runs = len(open(os.path.join(OUT, 'retry')).read().split())
    return uwsgi.SPOOL_OK if runs >= 3 else uwsgi.SPOOL_RETRY

@spool
def flaky(args):
    append('flaky', str(os.getpid()))
    if len(open(os.path.join(OUT, 'flaky')).read().split()) < 2:
        raise RuntimeError('first run fails')

@spool
def at_task(args):
    note('at', '%f %s' % (time.time(), args['at']))

@spool
def counted(args):
    append('counted', str(os.getpid()))

@spool
def stuck(args):
    if not os.path.exists(os.path.join(OUT, 'stuck-started')):
        note('stuck-started', str(os.getpid()))
        while True:
            time.sleep(0.05)
    note('stuck-done', str(os.getpid()))

def on_signal(num):
    note('signal-%d' % num, str(os.getpid()))

# A uWSGI signal for the spooler, registered by the master at import (as apps do).
uwsgi.register_signal(17, 'spooler', on_signal)

def application(environ, start_response):
    path, q = environ['PATH_INFO'], environ['QUERY_STRING']
    if path == '/signal':
        r = str(uwsgi.signal(17)).encode()
    elif path == '/plain':
        r = plain.spool(name=q)
    elif path == '/body':
        r = plain.spool(name=q, body=b'BODY-BYTES')
    elif path == '/args':
        r = with_args(q, b=[1, 2])
    elif path == '/retry':
        r = retry.spool({'x': '1'})
    elif path == '/flaky':
        r = flaky.spool({'x': '1'})
    elif path == '/at':
        r = at_task.spool(name='at', at=str(int(time.time()) + int(q)))
    elif path == '/counted':
        r = b','.join(counted.spool(n=str(i)) for i in range(int(q)))
    elif path == '/stuck':
        r = stuck.spool()
    elif path == '/raw':
        try:
            r = uwsgi.spool({'str-key': b'x'})
        except ValueError as e:
            r = str(e).encode()
    elif path == '/pids':
        r = repr((uwsgi.spooler_pids(), uwsgi.spooler_pid(), os.getpid(),
                  uwsgi.i_am_the_spooler())).encode()
    else:
        r = b'?'
    start_response('200 OK', [('Content-Length', str(len(r)))])
    return [r]
"#;

fn start(extra: &str) -> Server {
    Server::start(
        &format!(
            "[uwsgi]\nhttp-socket = 127.0.0.1:{{port}}\nwsgi-file = {{dir}}/app.py\n\
             processes = 2\nspooler = {{dir}}/spool\nspooler-frequency = 1\n{extra}\n"
        ),
        &[("app.py", APP)],
    )
}

fn get(s: &Server, path: &str) -> String {
    let (status, body) = s.get(path);
    let text = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(status, 200, "{path}: {text}\n{}", s.log_text());
    text
}

fn out(s: &Server, name: &str) -> Option<String> {
    std::fs::read_to_string(s.path("out").join(name)).ok()
}

/// Waits (bounded) for the task evidence file `name`.
fn wait_out(s: &Server, name: &str, secs: u64) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(t) = out(s, name) {
            return t;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {name} after {secs} s:\n{}",
            s.log_text()
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Spool files left in `dir` (not in priority subdirectories).
fn spool_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("uwsgi_spoolfile_on_"))
                .collect()
        })
        .unwrap_or_default()
}

/// `(spooler_pids, spooler_pid, worker pid, i_am_the_spooler)` as the app sees them.
fn pids(s: &Server) -> (Vec<i32>, i32) {
    let t = get(s, "/pids");
    let inner = t.trim_start_matches("([").to_string();
    let (list, rest) = inner.split_once("], ").unwrap();
    let list = list.split(", ").filter_map(|p| p.parse().ok()).collect();
    let first = rest.split(", ").next().unwrap().parse().unwrap();
    assert!(t.ends_with(", None)"), "a worker is no spooler: {t}");
    (list, first)
}

fn stats(addr: &str) -> Value {
    let mut raw = Vec::new();
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.read_to_end(&mut raw).unwrap();
    serde_json::from_slice(&raw).unwrap()
}

/// A request's `@spool`, `@spool(pass_arguments=True)` and `body` jobs run in the spooler
/// process (not the worker), which says it is the spooler; done tasks' files are deleted.
#[test]
fn jobs_from_a_request_run_in_the_spooler() {
    let s = start("");
    let (spoolers, first) = pids(&s);
    assert_eq!(spoolers.len(), 1);
    assert_eq!(spoolers[0], first);
    let file = get(&s, "/plain?one");
    assert!(
        file.starts_with(&format!(
            "{}/uwsgi_spoolfile_on_",
            s.path("spool").canonicalize().unwrap().display()
        )),
        "{file}"
    );
    let t = wait_out(&s, "plain-one", 20);
    assert_eq!(
        t,
        format!("{first} True ['name', 'ud_spool_func', 'ud_spool_ret'] None")
    );
    get(&s, "/args?two");
    assert_eq!(wait_out(&s, "args-two", 20), format!("{first} [1, 2]"));
    get(&s, "/body?three");
    assert_eq!(
        wait_out(&s, "plain-three", 20),
        format!("{first} True ['body', 'name', 'ud_spool_func', 'ud_spool_ret'] 'BODY-BYTES'")
    );
    wait_until(10, "the done tasks' files deleted", || {
        spool_files(&s.path("spool")).is_empty()
    });
    assert!(!s.worker_pids().is_empty());
    assert_eq!(
        get(&s, "/raw"),
        "spooler callable dictionary must contains only bytes"
    );
    let log = s.log_text();
    assert!(log.contains("[spooler] written "), "{log}");
    assert!(log.contains("done with task uwsgi_spoolfile_on_"), "{log}");
}

/// SPOOL_RETRY keeps the task: it runs again at each scan until it returns SPOOL_OK. A
/// `@spool` function that raises is retried too (its traceback logged), even though `@spool`
/// answers SPOOL_OK for every run that returns.
#[test]
fn retry_runs_the_task_again() {
    let s = start("");
    get(&s, "/flaky");
    get(&s, "/retry");
    wait_until(30, "three runs", || {
        out(&s, "retry").is_some_and(|t| t.lines().count() >= 3)
    });
    wait_until(10, "the file deleted after SPOOL_OK", || {
        spool_files(&s.path("spool")).is_empty()
    });
    assert_eq!(out(&s, "retry").unwrap().lines().count(), 3);
    assert_eq!(out(&s, "flaky").unwrap().lines().count(), 2);
    let log = s.log_text();
    assert!(log.contains("RuntimeError: first run fails"), "{log}");
}

/// `at` holds a task until that unix time (uWSGI sets the file's mtime).
#[test]
fn at_delays_a_task() {
    let s = start("");
    get(&s, "/at?3");
    let t = wait_out(&s, "at", 30);
    let (ran, at) = t.split_once(' ').unwrap();
    let (ran, at): (f64, f64) = (ran.parse().unwrap(), at.parse().unwrap());
    assert!(ran >= at, "ran at {ran}, before its at {at}");
}

const ORDER_APP: &str = r#"
import os, uwsgi
from uwsgidecorators import spool
OUT = '{dir}/order'

@spool
def order(args):
    with open(OUT, 'a') as f:
        f.write(args['name'] + '\n')

# Spooled in the master, at import: the spooler starts after and finds them all at once.
for name, prio in [('p3', '3'), ('none', None), ('p10', '10'), ('p1', '1')]:
    if prio is None:
        order.spool(name=name)
    else:
        order.spool(name=name, priority=prio)

def application(environ, start_response):
    start_response('200 OK', [('Content-Length', '2')])
    return [b'ok']
"#;

/// With spooler-ordered, priority directories run first, in version order (1, 3, 10), then
/// the tasks of the spooler's own directory.
#[test]
fn priority_order_with_spooler_ordered() {
    let s = Server::start(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {dir}/app.py\nspooler = {dir}/spool\n\
         spooler-ordered = true\n",
        &[("app.py", ORDER_APP)],
    );
    wait_until(30, "four tasks", || {
        std::fs::read_to_string(s.path("order")).is_ok_and(|t| t.lines().count() == 4)
    });
    assert_eq!(
        std::fs::read_to_string(s.path("order")).unwrap(),
        "p1\np3\np10\nnone\n"
    );
    assert!(s.path("spool/10").is_dir());
}

/// spooler-max-tasks: a spooler exits after N tasks and the master starts another.
#[test]
fn max_tasks_recycles_the_spooler() {
    let s = start("spooler-max-tasks = 2");
    get(&s, "/counted?5");
    wait_until(40, "five tasks", || {
        out(&s, "counted").is_some_and(|t| t.lines().count() >= 5)
    });
    let t = out(&s, "counted").unwrap();
    let mut per_pid = std::collections::BTreeMap::new();
    for p in t.lines() {
        *per_pid.entry(p.to_string()).or_insert(0) += 1;
    }
    assert!(per_pid.len() >= 3, "{per_pid:?}");
    assert!(per_pid.values().all(|&n| n <= 2), "{per_pid:?}");
    let log = s.log_text();
    assert!(
        log.contains("maximum number of tasks reached (2) recycling ..."),
        "{log}"
    );
    assert!(log.contains("is no more...trying respawn"), "{log}");
}

/// spooler-harakiri: the master SIGKILLs a spooler stuck in a task; the respawned spooler
/// runs the task again (its file stayed).
#[test]
fn harakiri_kills_a_stuck_task() {
    let s = start("spooler-harakiri = 1");
    get(&s, "/stuck");
    let first = wait_out(&s, "stuck-started", 20);
    let done = wait_out(&s, "stuck-done", 30);
    assert_ne!(first, done, "the task ran again in a new spooler");
    let log = s.log_text();
    assert!(
        log.contains(&format!("*** HARAKIRI ON THE SPOOLER (pid: {first}) ***")),
        "{log}"
    );
}

/// A spooler killed with SIGKILL is respawned; the stats JSON lists the spoolers as uWSGI
/// does (dir, pid, tasks, respawns, running) and the new one runs jobs.
#[test]
fn spooler_respawned_after_kill_9_and_shown_in_stats() {
    let stats_port = free_port();
    let addr = format!("127.0.0.1:{stats_port}");
    let s = start(&format!("stats = {addr}"));
    let (_, first) = pids(&s);
    get(&s, "/plain?before");
    wait_out(&s, "plain-before", 20);
    let dir = s
        .path("spool")
        .canonicalize()
        .unwrap()
        .display()
        .to_string();
    wait_until(10, "tasks counted", || {
        stats(&addr)["spoolers"][0]["tasks"] == 1
    });
    let st = stats(&addr);
    let sp = &st["spoolers"][0];
    assert_eq!(sp["dir"], dir.as_str());
    assert_eq!(sp["pid"], first);
    assert_eq!(sp["respawns"], 0);
    assert_eq!(sp["running"], 0);
    // SAFETY: signalling the spooler process this test's rw started.
    unsafe { libc::kill(first, libc::SIGKILL) };
    wait_until(20, "a new spooler", || {
        let sp = &stats(&addr)["spoolers"][0];
        sp["respawns"] == 1
            && sp["pid"]
                .as_i64()
                .is_some_and(|p| p > 0 && p != i64::from(first))
    });
    let (now, _) = pids(&s);
    assert_ne!(now[0], first);
    get(&s, "/plain?after");
    assert!(wait_out(&s, "plain-after", 20).starts_with(&format!("{} ", now[0])));
}

const FIXTURE_APP: &str = r#"
import os, uwsgi
from uwsgidecorators import spool, spoolraw, manage_spool_request
OUT = '{dir}/out'
os.makedirs(OUT, exist_ok=True)

def note(name, text):
    tmp = os.path.join(OUT, '.' + name)
    with open(tmp, 'w') as f:
        f.write(text)
    os.rename(tmp, os.path.join(OUT, name))

@spool
def plain_task(args):
    note('plain_task', repr(sorted((k, v) for k, v in args.items() if k != 'spooler_task_name')))

@spool(pass_arguments=True)
def args_task(a, b, c=None):
    note('args_task', repr((a, b, c)))

@spoolraw
def raw_task(args):
    note('raw_task', args['name'])
    return uwsgi.SPOOL_OK

def spooler(env):
    if b'ud_spool_func' in env:
        return manage_spool_request(env)
    items = sorted((k if isinstance(k, str) else 'b:' + k.decode(), v)
                   for k, v in env.items() if k != 'spooler_task_name')
    note(env[b'name'].decode(), repr(items))
    return uwsgi.SPOOL_OK

uwsgi.spooler = spooler

def application(environ, start_response):
    start_response('200 OK', [('Content-Length', '2')])
    return [b'ok']
"#;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Spool files the real uWSGI 2.0.30 wrote (raw dicts, a body, a priority, `@spool`,
/// `@spool(pass_arguments=True)` with pickled arguments, `@spoolraw`) run under rw with the
/// same dicts the real uWSGI spooler passes (checked by running it on the same files).
#[test]
fn spool_files_written_by_uwsgi_run() {
    let spool = tempfile::tempdir().unwrap();
    copy_dir(&fixture("uwsgi-spool"), spool.path());
    let s = Server::start(
        &format!(
            "[uwsgi]\nhttp-socket = 127.0.0.1:{{port}}\nwsgi-file = {{dir}}/app.py\n\
             spooler = {}\nspooler-ordered = true\n",
            spool.path().display()
        ),
        &[("app.py", FIXTURE_APP)],
    );
    assert_eq!(
        wait_out(&s, "prio", 30),
        "[('b:name', b'prio'), ('b:priority', b'3')]"
    );
    assert_eq!(
        wait_out(&s, "raw-dict", 30),
        "[('b:n', b'1'), ('b:name', b'raw-dict')]"
    );
    assert_eq!(
        wait_out(&s, "with-body", 30),
        "[('b:name', b'with-body'), ('body', b'BODY\\x00BYTES')]"
    );
    assert_eq!(
        wait_out(&s, "plain_task", 30),
        "[('name', 'decorated'), ('ud_spool_func', 'plain_task'), ('ud_spool_ret', '-2'), ('x', '42')]"
    );
    assert_eq!(wait_out(&s, "args_task", 30), "(1, 'two', [3])");
    assert_eq!(wait_out(&s, "raw_task", 30), "raw");
    wait_until(10, "every fixture task deleted", || {
        spool_files(spool.path()).is_empty() && spool_files(&spool.path().join("3")).is_empty()
    });
}

/// A spooler directory that cannot be created is refused by check-config with its line, as
/// `rw serve` (and uWSGI, at mkdir) refuses it; one that can be is created by serve.
#[test]
fn check_config_refuses_a_spooler_dir_that_cannot_be_created() {
    let dir = tempfile::tempdir().unwrap();
    let ini = dir.path().join("uwsgi.ini");
    std::fs::write(
        &ini,
        "[uwsgi]\nhttp-socket = 127.0.0.1:0\nspooler = /nonexistent-rw-test/spool\n",
    )
    .unwrap();
    let o = run(&["check-config", ini.to_str().unwrap()]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains(&format!("{}:3", ini.display())) && t.contains("/nonexistent-rw-test"),
        "{t}"
    );
    std::fs::write(
        &ini,
        format!(
            "[uwsgi]\nhttp-socket = 127.0.0.1:0\nspooler = {}/new\nspooler-processes = 2\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let o = run(&["check-config", ini.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

/// spooler-processes = 2: two spoolers on one directory, both listed, both supervised.
#[test]
fn spooler_processes_start_two_spoolers() {
    let s = start("spooler-processes = 2");
    wait_until(20, "two spooler pids", || {
        let (p, _) = pids(&s);
        p.len() == 2 && p.iter().all(|&x| x > 0) && p[0] != p[1]
    });
    get(&s, "/counted?4");
    wait_until(30, "four tasks", || {
        out(&s, "counted").is_some_and(|t| t.lines().count() == 4)
    });
    wait_until(10, "no file left", || {
        spool_files(&s.path("spool")).is_empty()
    });
    // Each task ran exactly once, whichever spooler took it.
    assert_eq!(out(&s, "counted").unwrap().lines().count(), 4);
}

const RELOAD_APP: &str = r#"
import os, uwsgi
from uwsgidecorators import spoolraw
OUT = '{dir}'

@spoolraw
def until_reloaded(args):
    # Retried (its file kept) until the test says the new generation is up.
    if not os.path.exists(os.path.join(OUT, 'reloaded')):
        return uwsgi.SPOOL_RETRY
    with open(os.path.join(OUT, '.ran'), 'w') as f:
        f.write(str(os.getpid()))
    os.rename(os.path.join(OUT, '.ran'), os.path.join(OUT, 'ran'))
    return uwsgi.SPOOL_OK

def application(environ, start_response):
    if environ['PATH_INFO'] == '/spool':
        r = until_reloaded.spool({'name': 'x'})
    else:
        r = str(uwsgi.spooler_pid()).encode()
    start_response('200 OK', [('Content-Length', str(len(r)))])
    return [r]
"#;

/// A task waiting in the spool directory survives a graceful reload: the old spooler is
/// killed before the exec (as uWSGI) and the new generation's spooler runs the file.
#[test]
fn a_spooled_task_survives_a_reload() {
    let s = Server::start(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {dir}/app.py\nspooler = {dir}/spool\n\
         spooler-frequency = 1\n",
        &[("app.py", RELOAD_APP)],
    );
    let old: i32 = get(&s, "/").parse().unwrap();
    assert!(old > 0);
    get(&s, "/spool");
    // SAFETY: signalling the rw master this test started.
    unsafe { libc::kill(s.pid(), libc::SIGHUP) };
    let mut new = 0;
    wait_until(30, "the new generation's spooler", || {
        new = get(&s, "/").parse().unwrap_or(0);
        new > 0 && new != old
    });
    assert_eq!(spool_files(&s.path("spool")).len(), 1, "{}", s.log_text());
    std::fs::write(s.path("reloaded"), "").unwrap();
    wait_until(30, "the task done", || s.path("ran").exists());
    assert_eq!(
        std::fs::read_to_string(s.path("ran")).unwrap(),
        new.to_string()
    );
    let log = s.log_text();
    assert!(
        log.contains(&format!("killing the spooler with pid {old}")),
        "{log}"
    );
}

const IMPORT_TASKS: &str = r#"
import os, uwsgi

def spooler(env):
    with open('{dir}/.imported', 'w') as f:
        f.write('%d %r' % (os.getpid(), uwsgi.i_am_the_spooler()))
    os.rename('{dir}/.imported', '{dir}/imported-' + env[b'name'].decode())
    return uwsgi.SPOOL_OK

uwsgi.spooler = spooler
"#;

const IMPORT_APP: &str = r#"
import uwsgi
def application(environ, start_response):
    r = uwsgi.spool({b'name': environ['QUERY_STRING'].encode()})
    start_response('200 OK', [('Content-Length', str(len(r)))])
    return [r]
"#;

/// With lazy-apps the spooler has no app: `spooler-import` gives it the callable.
/// spooler-quiet leaves the per-task lines out of the log.
#[test]
fn spooler_import_gives_the_spooler_its_callable() {
    let s = Server::start(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {dir}/app.py\nlazy-apps = true\n\
         spooler = {dir}/spool\nspooler-import = {dir}/tasks.py\nspooler-quiet = true\n",
        &[("app.py", IMPORT_APP), ("tasks.py", IMPORT_TASKS)],
    );
    get(&s, "/?job1");
    wait_until(20, "the imported callable ran", || {
        s.path("imported-job1").exists()
    });
    let t = std::fs::read_to_string(s.path("imported-job1")).unwrap();
    assert!(t.ends_with(" True"), "{t}");
    wait_until(10, "the file deleted", || {
        spool_files(&s.path("spool")).is_empty()
    });
    let log = s.log_text();
    assert!(!log.contains("managing request"), "{log}");
    assert!(!log.contains("[spooler] written"), "{log}");
}

/// touch-spoolers-reload: touching the file replaces the spooler process (uWSGI 2.0 kills
/// it and respawns it too), and the new one runs jobs.
#[test]
fn touch_spoolers_reload_replaces_the_spooler() {
    let s = start("touch-spoolers-reload = {dir}/touch-me");
    let (_, first) = pids(&s);
    assert!(first > 0);
    std::fs::write(s.path("touch-me"), "").unwrap();
    let mut now = 0;
    wait_until(20, "a new spooler", || {
        now = pids(&s).1;
        now > 0 && now != first
    });
    get(&s, "/plain?after-touch");
    assert!(wait_out(&s, "plain-after-touch", 20).starts_with(&format!("{now} ")));
    let log = s.log_text();
    assert!(log.contains("spoolers reload !!!"), "{log}");
}

/// A spool file whose vars are cut short is removed (logged), as uWSGI removes it; one that
/// has not even its 4-byte header yet (still being written, as far as a spooler can tell) is
/// left alone; neither stops the spooler from running the next task.
#[test]
fn broken_spool_files_are_removed_and_short_ones_kept() {
    let s = start("");
    let spool = s.path("spool");
    // The port answers before the app's import, which the spooler directory precedes.
    get(&s, "/pids");
    std::fs::write(
        spool.join("uwsgi_spoolfile_on_h_1_1_1_1_1"),
        b"\x11\x40\x00\x00\x04\x00name",
    )
    .unwrap();
    std::fs::write(spool.join("uwsgi_spoolfile_on_h_1_2_1_1_1"), b"\x11\x40").unwrap();
    get(&s, "/plain?next");
    wait_out(&s, "plain-next", 20);
    wait_until(20, "the broken file removed", || {
        !spool.join("uwsgi_spoolfile_on_h_1_1_1_1_1").exists()
    });
    assert!(spool.join("uwsgi_spoolfile_on_h_1_2_1_1_1").exists());
    let log = s.log_text();
    assert!(
        log.contains("broken task uwsgi_spoolfile_on_h_1_1_1_1_1"),
        "{log}"
    );
}

/// A relative spooler directory is resolved against the directory rw starts in, not `chdir`
/// (uWSGI resolves it when it reads the option; checked with uWSGI 2.0.30), by check-config
/// and by serve alike.
#[test]
fn a_relative_spooler_dir_is_resolved_before_chdir() {
    let s = Server::start(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {dir}/app.py\nchdir = {dir}/elsewhere\n\
         spooler = jobs/spool\nspooler-frequency = 1\n",
        &[("app.py", APP), ("elsewhere/.keep", ""), ("jobs/.keep", "")],
    );
    let check = crate::util::rw()
        .args(["check-config", "uwsgi.ini"])
        .current_dir(s.dir.path())
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
    get(&s, "/plain?rel");
    wait_out(&s, "plain-rel", 20);
    assert!(s.path("jobs/spool").is_dir());
    assert!(!s.path("elsewhere/jobs").exists());
}

/// A uWSGI signal with target `spooler` runs its handler in the spooler process, woken at
/// once although its next scan is 30 s away.
#[test]
fn a_signal_for_the_spooler_runs_in_the_spooler_between_tasks() {
    let s = start("spooler-frequency = 30");
    s.wait_log("spawned the rw spooler", 20);
    assert_eq!(get(&s, "/signal"), "None");
    let ran_in: i32 = wait_out(&s, "signal-17", 10).parse().unwrap();
    let (spoolers, _) = pids(&s);
    assert!(spoolers.contains(&ran_in), "{ran_in} / {spoolers:?}");
}
