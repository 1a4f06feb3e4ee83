//! Issue 13's "done when", as one real Flask app written for uWSGI: every feature through the
//! public API (`uwsgi` and `uwsgidecorators`), against the real binary, 4 workers, a spooler
//! and a mule, across a `uwsgi.reload()` issued by a request.

use crate::util::{wait_until, Server};

const APP: &str = r#"
import json, os, sqlite3, time
import uwsgi
from flask import Flask, request
from uwsgidecorators import cron, lock, postfork, spool, timer

DIR = '{dir}'
app = Flask(__name__)
DB = None


def append(name, line):
    with open(os.path.join(DIR, name), 'a') as f:
        f.write(line + '\n')


@postfork
def connect():
    # One sqlite connection per worker, opened after the fork (a connection must not cross it).
    global DB
    DB = sqlite3.connect(os.path.join(DIR, 'w%d.db' % uwsgi.worker_id()), check_same_thread=False)
    DB.execute('create table if not exists t (pid integer)')
    DB.execute('delete from t')
    DB.execute('insert into t values (?)', (os.getpid(),))
    DB.commit()


@timer(1)
def tick(signum):
    append('ticks', '%d %.3f' % (os.getpid(), time.time()))


@cron(-1, -1, -1, -1, -1)
def minutely(signum):
    append('cron', str(os.getpid()))


@spool
def job(args):
    append('spooled', '%s %d' % (args['name'], os.getpid()))


@lock
def critical():
    # Inside the lock nobody else may be: a marker file proves it.
    marker = os.path.join(DIR, 'inside')
    if os.path.exists(marker):
        append('violations', str(os.getpid()))
    open(marker, 'w').close()
    n = int(open(os.path.join(DIR, 'counter')).read() or 0)
    time.sleep(0.002)
    open(os.path.join(DIR, 'counter'), 'w').write(str(n + 1))
    os.unlink(marker)


@app.route('/db')
def db():
    return '%d %d' % (os.getpid(), DB.execute('select pid from t').fetchone()[0])


@app.route('/critical')
def crit():
    critical()
    return 'ok'


@app.route('/cache/set/<value>')
def cache_set(value):
    uwsgi.cache_set('shared', value.encode(), 0, 'main')
    return str(uwsgi.worker_id())


@app.route('/cache/get')
def cache_get():
    v = uwsgi.cache_get('shared', 'main')
    return '%s %d' % (v.decode() if v else '-', uwsgi.worker_id())


@app.route('/spool/<name>/<int:delay>')
def to_spool(name, delay):
    job.spool(name=name, at=str(int(time.time()) + delay))
    return 'queued'


@app.route('/mule/<msg>')
def to_mule(msg):
    uwsgi.mule_msg(msg.encode(), 1)
    return 'sent'


@app.route('/logvar')
def logvar():
    uwsgi.set_logvar('who', request.args['u'])
    return 'logged'


@app.route('/opt')
def opt():
    return json.dumps({k: v.decode() if isinstance(v, bytes) else v for k, v in uwsgi.opt.items()})


@app.route('/generation')
def generation():
    return '%d %s' % (uwsgi.masterpid(), uwsgi.is_a_reload)


@app.route('/reload')
def reload():
    return str(uwsgi.reload())
"#;

const MULE: &str = r#"
import os, uwsgi
while True:
    msg = uwsgi.mule_get_msg()
    with open(os.path.join('{dir}', 'mule-got'), 'a') as f:
        f.write('%s %d %d\n' % (msg.decode(), uwsgi.mule_id(), os.getpid()))
"#;

const INI: &str = "[uwsgi]
http-socket = 127.0.0.1:{port}
home = {venv}
chdir = {dir}
module = app:app
master = true
processes = 4
spooler = {dir}/spool
spooler-frequency = 1
mule = mule.py
cache2 = name=main,items=16,blocksize=64
log-format = REQ %(method) %(uri) who=%(who) status=%(status)
";

fn get(s: &Server, path: &str) -> String {
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

#[test]
fn a_flask_app_written_for_uwsgi_runs_unchanged() {
    let s = Server::start(INI, &[("app.py", APP), ("mule.py", MULE), ("counter", "0")]);
    // 4 workers, the spooler and the mule.
    let workers = s.workers(6);

    // uwsgi.opt is the ini as read.
    let opt: serde_json::Value = serde_json::from_str(&get(&s, "/opt")).unwrap();
    assert_eq!(opt["processes"], "4");
    assert_eq!(opt["module"], "app:app");
    assert_eq!(opt["cache2"], "name=main,items=16,blocksize=64");

    // @postfork: each worker answers with the connection it opened itself.
    for _ in 0..8 {
        let b = get(&s, "/db");
        let (pid, db_pid) = b.split_once(' ').unwrap();
        assert_eq!(pid, db_pid);
        assert!(workers.contains(&pid.parse().unwrap()), "{b} / {workers:?}");
    }

    // The cache: set by one worker, read by another.
    let setter = get(&s, "/cache/set/hello");
    let mut seen = String::new();
    wait_until(20, "another worker reads the value", || {
        seen = get(&s, "/cache/get");
        seen.starts_with("hello ") && !seen.ends_with(&format!(" {setter}"))
    });

    // @lock serialises a read-modify-write across the 4 workers.
    let port = s.port;
    let clients: Vec<_> = (0..6)
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
        lines(&s, "violations").is_empty(),
        "two workers inside the lock"
    );
    assert_eq!(std::fs::read_to_string(s.path("counter")).unwrap(), "60");

    // set_logvar reaches that request's log line.
    get(&s, "/logvar?u=alice");
    s.wait_log("REQ GET /logvar?u=alice who=alice status=200", 10);

    // @timer every second: several ticks, about a second apart.
    wait_until(20, "3 timer ticks", || lines(&s, "ticks").len() >= 3);
    let ticks: Vec<f64> = lines(&s, "ticks")
        .iter()
        .map(|l| l.split(' ').nth(1).unwrap().parse().unwrap())
        .collect();
    for w in ticks.windows(2) {
        assert!(w[1] - w[0] > 0.5, "ticks closer than a second: {ticks:?}");
    }

    // @cron with every field -1 runs in the minute the instance starts.
    wait_until(20, "the cron job", || !lines(&s, "cron").is_empty());

    // A mule consumes mule_msg messages.
    get(&s, "/mule/first");
    get(&s, "/mule/second");
    wait_until(20, "the mule's messages", || {
        lines(&s, "mule-got").len() == 2
    });
    let got = lines(&s, "mule-got");
    assert!(
        got[0].starts_with("first 1 ") && got[1].starts_with("second 1 "),
        "{got:?}"
    );

    // @spool: a job due later survives a uwsgi.reload() issued by a request; its file waits
    // on disk meanwhile.
    get(&s, "/spool/now/0");
    wait_until(20, "the first spooled job", || {
        lines(&s, "spooled").len() == 1
    });
    get(&s, "/spool/later/4");
    wait_until(10, "the later job's spool file", || {
        std::fs::read_dir(s.path("spool"))
            .map(|d| {
                d.flatten().any(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with("uwsgi_spoolfile")
                })
            })
            .unwrap_or(false)
    });
    let (master, reloaded) = {
        let g = get(&s, "/generation");
        let (m, r) = g.split_once(' ').unwrap();
        (m.to_string(), r.to_string())
    };
    assert_eq!(reloaded, "False");
    assert_eq!(get(&s, "/reload"), "True");
    wait_until(30, "the new generation", || {
        let (status, body) = s.get("/generation");
        status == 200 && String::from_utf8_lossy(&body) == format!("{master} True")
    });
    wait_until(30, "the later job, after the reload", || {
        lines(&s, "spooled").iter().any(|l| l.starts_with("later "))
    });
    assert_eq!(lines(&s, "spooled").len(), 2, "{:?}", lines(&s, "spooled"));
}
