//! Mules end to end: `mule`/`mules`/`farm` under the real binary with real apps; messages
//! from requests reach the mules (bare ones through `uwsgi.mule_msg_hook`, scripts through
//! `uwsgi.mule_get_msg`), farms get their messages, signals reach mules, and the master
//! respawns a mule that dies.

use crate::util::{wait_until, Server};

fn body(s: &Server, path: &str) -> String {
    let (status, body) = s.get(path);
    let text = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(status, 200, "{path}: {text}\n{}", s.log_text());
    text
}

fn lines(s: &Server, rel: &str) -> Vec<String> {
    std::fs::read_to_string(s.path(rel))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The pid the log gives for the latest spawn of mule `id`.
fn mule_pid(s: &Server, id: u32) -> i32 {
    let needle = format!("spawned rw mule {id} (pid: ");
    let log = s.wait_log(&needle, 20);
    let at = log.rfind(&needle).unwrap() + needle.len();
    log[at..].split(')').next().unwrap().parse().unwrap()
}

const APP: &str = r#"
import os, uwsgi
from uwsgidecorators import mulefunc, farm
D = '{dir}'
def rec(name, what):
    with open(os.path.join(D, name), 'a') as f:
        f.write('%d %d %s\n' % (uwsgi.worker_id(), uwsgi.mule_id(), what))
@mulefunc
def in_any_mule(what):
    rec('mulefunc', what)
@farm('pair')
def on_farm(message):
    rec('farm', message.decode())
uwsgi.register_signal(30, 'mules', lambda n: rec('sig-mules', n))
uwsgi.register_signal(31, 'mule3', lambda n: rec('sig-mule3', n))
def application(environ, start_response):
    q = environ['QUERY_STRING']
    p = environ['PATH_INFO']
    if p == '/func':
        in_any_mule(q)
        body = 'sent'
    elif p == '/script':
        body = repr(uwsgi.mule_msg(q.encode(), 1))
    elif p == '/farm':
        uwsgi.farm_msg('pair', q)
        body = 'sent'
    elif p == '/signal':
        uwsgi.signal(int(q))
        body = 'sent'
    else:
        body = '%d' % uwsgi.mule_id()
    body = body.encode()
    start_response('200 OK', [('Content-Length', str(len(body)))])
    return [body]
"#;

const SCRIPT: &str = r#"
import os, uwsgi
while True:
    msg = uwsgi.mule_get_msg()
    if msg:
        with open(os.path.join('{dir}', 'script'), 'a') as f:
            # The shared queue also carries @mulefunc calls (pickles).
            text = 'pickle' if msg.startswith(b'\x80') else msg.decode()
            f.write('%d %s\n' % (uwsgi.mule_id(), text))
"#;

const INI: &str = "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {dir}/app.py\n\
    processes = 2\nmaster = true\nmule = {dir}/script.py\nmules = 4\nfarm = pair:4,5\n";

/// Mule 1 runs a script reading `mule_get_msg`; mules 2–5 are bare, and 4 and 5 form a farm,
/// so `@farm` keeps them in its `farm_get_msg` loop (as in uWSGI). Messages reach the right
/// mule, farm messages only the farm's mules, a signal for `mules` runs in every mule that
/// reads signals (the script's `mule_get_msg` handles them too), one for `mule3` in mule 3.
#[test]
fn mule_messages_farms_and_signals() {
    let s = Server::start(INI, &[("app.py", APP), ("script.py", SCRIPT)]);
    for id in 1..=5 {
        mule_pid(&s, id);
    }
    s.wait_log("created farm 1 name: pair mules:4,5", 5);
    assert_eq!(body(&s, "/"), "0");
    assert_eq!(body(&s, "/script?hello"), "True");
    assert_eq!(body(&s, "/script?again"), "True");
    wait_until(20, "the script mule's messages", || {
        lines(&s, "script").len() == 2
    });
    assert_eq!(lines(&s, "script"), ["1 hello", "1 again"]);
    // Any mule reading the shared queue takes a `@mulefunc` call: a bare one runs it, the
    // script records a pickle.
    for i in 0..4 {
        body(&s, &format!("/func?call{i}"));
    }
    wait_until(20, "four mulefunc calls", || {
        lines(&s, "mulefunc").len() + lines(&s, "script").len() == 6
    });
    for l in lines(&s, "mulefunc") {
        let mut f = l.split(' ');
        assert_eq!(f.next(), Some("0"), "ran in a worker: {l}");
        let mule: u32 = f.next().unwrap().parse().unwrap();
        assert!((2..=3).contains(&mule), "{l}");
    }
    for i in 0..6 {
        body(&s, &format!("/farm?f{i}"));
    }
    wait_until(20, "six farm messages", || lines(&s, "farm").len() == 6);
    let mut got: Vec<String> = lines(&s, "farm")
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            assert!(
                f[1] == "4" || f[1] == "5",
                "farm message outside the farm: {l}"
            );
            f[2].to_string()
        })
        .collect();
    got.sort();
    assert_eq!(got, ["f0", "f1", "f2", "f3", "f4", "f5"]);
    body(&s, "/signal?30");
    body(&s, "/signal?31");
    wait_until(20, "signal 30 in the bare mules", || {
        lines(&s, "sig-mules").len() == 3 && !lines(&s, "sig-mule3").is_empty()
    });
    let mut who = lines(&s, "sig-mules");
    who.sort();
    assert_eq!(who, ["0 1 30", "0 2 30", "0 3 30"]);
    assert_eq!(lines(&s, "sig-mule3"), ["0 3 31"]);
}

/// A killed mule is respawned by the master and serves messages again.
#[test]
fn a_killed_mule_is_respawned() {
    let s = Server::start(INI, &[("app.py", APP), ("script.py", SCRIPT)]);
    let first = mule_pid(&s, 1);
    // SAFETY: killing a mule of the rw this test started.
    unsafe { libc::kill(first, libc::SIGKILL) };
    s.wait_log(
        &format!("OOOPS mule 1 (pid: {first}) crippled...trying respawn... (killed by signal 9)"),
        20,
    );
    wait_until(20, "mule 1 respawned", || mule_pid(&s, 1) != first);
    let second = mule_pid(&s, 1);
    assert!(crate::util::children_of(s.pid()).contains(&second));
    assert_eq!(body(&s, "/script?after"), "True");
    wait_until(20, "the respawned mule's message", || {
        lines(&s, "script") == ["1 after"]
    });
}

/// `mule_msg` without mules is a ValueError, as in uWSGI; `mule_get_msg` outside a mule too.
#[test]
fn mule_calls_without_mules_fail_as_uwsgi() {
    const NO_MULES: &str = r#"
import uwsgi
def application(environ, start_response):
    out = []
    for call in (lambda: uwsgi.mule_msg(b'x'), lambda: uwsgi.mule_get_msg()):
        try:
            call()
            out.append('no error')
        except ValueError as e:
            out.append(str(e))
    body = '|'.join(out).encode()
    start_response('200 OK', [('Content-Length', str(len(body)))])
    return [body]
"#;
    let s = Server::start(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {dir}/app.py\nprocesses = 1\n",
        &[("app.py", NO_MULES)],
    );
    assert_eq!(
        body(&s, "/"),
        "no mule configured|you can receive mule messages only in a mule !!!"
    );
}

/// A graceful reload replaces the mules: the old ones stop, the new image starts its own, which
/// get the messages sent afterwards.
#[test]
fn a_reload_replaces_the_mules() {
    let s = Server::start(INI, &[("app.py", APP), ("script.py", SCRIPT)]);
    let first = mule_pid(&s, 1);
    // SAFETY: signalling the rw master this test started.
    unsafe { libc::kill(s.pid(), libc::SIGHUP) };
    wait_until(30, "a new mule 1", || mule_pid(&s, 1) != first);
    wait_until(20, "the old mule 1 gone", || {
        !std::path::Path::new(&format!("/proc/{first}")).exists()
            || std::fs::read_to_string(format!("/proc/{first}/stat"))
                .is_ok_and(|st| st.contains(") Z "))
    });
    s.wait_log("WSGI app 0", 5);
    wait_until(30, "the new generation serving", || {
        body(&s, "/script?after-reload") == "True"
    });
    wait_until(20, "the new mule's message", || {
        lines(&s, "script").iter().any(|l| l == "1 after-reload")
    });
}
