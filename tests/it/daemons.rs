//! Attached daemons and crons (`attach-daemon*`, `smart-attach-daemon*`, `cron*`) against the
//! real binary: real shell scripts that record their pids, killed, reloaded, orphaned.

use crate::serve_basic::{hello_ini, HELLO_APP};
use crate::util::{run, text, wait_until, Server};

/// Lines of a file the scripts append to (empty when it does not exist yet).
fn lines(s: &Server, rel: &str) -> Vec<String> {
    std::fs::read_to_string(s.path(rel))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn pids(s: &Server, rel: &str) -> Vec<i32> {
    lines(s, rel)
        .iter()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// The stats JSON of a TCP stats socket (`null` while it cannot be read).
fn read_stats(addr: &str) -> serde_json::Value {
    use std::io::Read;
    let mut out = Vec::new();
    let Ok(mut c) = std::net::TcpStream::connect(addr) else {
        return serde_json::Value::Null;
    };
    let _ = c.set_read_timeout(Some(std::time::Duration::from_secs(10)));
    let _ = c.read_to_end(&mut out);
    serde_json::from_slice(&out).unwrap_or(serde_json::Value::Null)
}

/// Running (a zombie nobody reaped is dead).
fn alive(pid: i32) -> bool {
    rw::sys::proc::state(pid).is_some_and(|c| c != 'Z')
}

/// Kills, when dropped, what a test leaves running on purpose (smart daemons outlive rw).
struct Leftovers(Vec<i32>);

impl Drop for Leftovers {
    fn drop(&mut self) {
        for p in &self.0 {
            // SAFETY: signalling a process group / pid the test started.
            unsafe {
                libc::kill(-*p, libc::SIGKILL);
                libc::kill(*p, libc::SIGKILL);
            }
        }
    }
}

/// A daemon that records its pid and its child's, and waits for the child.
const DAEMON_SH: &str =
    "#!/bin/sh\necho $$ >> {dir}/pids\nsleep 1000 &\necho $! >> {dir}/kids\nwait\n";

fn start_plain(extra: &str) -> Server {
    let ini = hello_ini(&format!(
        "pidfile = {{dir}}/rw.pid\nattach-daemon = sh {{dir}}/d.sh\n{extra}"
    ));
    Server::start(&ini, &[("app.py", HELLO_APP), ("d.sh", DAEMON_SH)])
}

/// Ends a test whose kept daemons still run: SIGKILL to the master alone, then every pid of
/// `pids` must die with it. (Server's Drop also SIGKILLs the master's children, the keepers
/// among them, and a keeper killed by SIGKILL cannot take its command's children along.)
fn kill_master_and_wait(mut s: Server, pids: &[i32]) {
    // SAFETY: the master this test started.
    unsafe { libc::kill(s.pid(), libc::SIGKILL) };
    let _ = s.child.wait();
    wait_until(10, "the daemons to die with the master", || {
        pids.iter().all(|p| !alive(*p))
    });
}

fn wait_count(s: &Server, rel: &str, n: usize) -> Vec<i32> {
    wait_until(30, &format!("{n} pids in {rel}"), || {
        pids(s, rel).len() >= n
    });
    pids(s, rel)
}

#[test]
fn attached_daemon_is_respawned_when_it_dies_and_gone_after_kill_9_of_the_master() {
    let mut s = start_plain("");
    let kid1 = wait_count(&s, "kids", 1)[0];
    let sh1 = pids(&s, "pids")[0];
    assert!(alive(sh1) && alive(kid1));
    // The daemon dies: respawned, and the child it left behind does not linger (uWSGI's
    // would: it only watches the shell).
    // SAFETY: a pid the test's daemon started.
    unsafe { libc::kill(sh1, libc::SIGKILL) };
    let kids = wait_count(&s, "kids", 2);
    let log = s.wait_log("[uwsgi-daemons] respawning \"sh ", 20);
    assert!(log.contains("[uwsgi-daemons] daemon \"sh "), "{log}");
    wait_until(10, "the first daemon's child to be gone", || !alive(kid1));
    let (sh2, kid2) = (pids(&s, "pids")[1], kids[1]);
    assert!(alive(sh2) && alive(kid2), "{log}");

    // kill -9 of the master: nothing of the daemon survives, its child included (uWSGI's
    // PR_SET_PDEATHSIG on the shell alone would leave `sleep` running).
    let master = s.pid();
    // SAFETY: the master this test started.
    unsafe { libc::kill(master, libc::SIGKILL) };
    let _ = s.child.wait();
    wait_until(
        10,
        "the daemon and its child to die with the master",
        || !alive(sh2) && !alive(kid2),
    );
}

#[test]
fn rw_stop_stops_daemons_with_their_stop_signal() {
    let int_sh = "#!/bin/sh\necho $$ >> {dir}/pids\ntrap 'echo int >> {dir}/sig; kill $k; exit 0' INT\nsleep 1000 &\nk=$!\necho $k >> {dir}/kids\nwait\n";
    let ini = hello_ini(
        "pidfile = {dir}/rw.pid\nattach-daemon2 = cmd=sh {dir}/int.sh,stopsignal=2\nattach-daemon = sh {dir}/d.sh\n",
    );
    let mut s = Server::start(
        &ini,
        &[
            ("app.py", HELLO_APP),
            ("d.sh", DAEMON_SH),
            ("int.sh", int_sh),
        ],
    );
    let kids = wait_count(&s, "kids", 2);
    let shells = pids(&s, "pids");
    let out = run(&[
        "stop",
        s.path("rw.pid").to_str().unwrap(),
        "--timeout",
        "30",
    ]);
    assert!(out.status.success(), "{}\n{}", text(&out), s.log_text());
    wait_until(30, "rw to exit", || s.child.try_wait().unwrap().is_some());
    for p in shells.iter().chain(&kids) {
        assert!(!alive(*p), "pid {p} outlived rw stop:\n{}", s.log_text());
    }
    assert_eq!(lines(&s, "sig"), ["int"], "stopsignal=2 reached the script");
    let log = s.log_text();
    assert!(
        log.contains("[uwsgi-daemons] stopping daemon (pid: "),
        "{log}"
    );
    assert!(!log.contains("did not die in time"), "{log}");
}

#[test]
fn a_daemon_that_ignores_its_stop_signal_is_killed_after_the_grace() {
    let stubborn = "#!/bin/sh\ntrap '' TERM\necho $$ >> {dir}/pids\nwhile :; do sleep 1; done\n";
    // `exec`: the shell that ignores SIGTERM is the daemon's main process itself.
    let ini = hello_ini("attach-daemon = exec sh {dir}/stubborn.sh\n");
    let mut s = Server::start(&ini, &[("app.py", HELLO_APP), ("stubborn.sh", stubborn)]);
    let sh = wait_count(&s, "pids", 1)[0];
    // SAFETY: the master this test started; SIGINT is a graceful stop.
    unsafe { libc::kill(s.pid(), libc::SIGINT) };
    wait_until(30, "rw to exit", || s.child.try_wait().unwrap().is_some());
    let log = s.log_text();
    assert!(
        log.contains("[uwsgi-daemons] daemon did not die in time, killing"),
        "{log}"
    );
    // SIGKILL went to the whole session; on a loaded machine its death may trail rw's exit.
    wait_until(10, "the stubborn daemon to be killed", || !alive(sh));
}

#[test]
fn graceful_reload_restarts_plain_daemons_and_keeps_smart_ones() {
    // A foreground command: rw daemonizes it and writes the pidfile (smart-attach-daemon2).
    let ini = hello_ini(
        "pidfile = {dir}/rw.pid\nattach-daemon = sh {dir}/d.sh\nsmart-attach-daemon2 = {dir}/smart.pid sleep 1000\nattach-daemon2 = exec=exec sh {dir}/hup.sh,reloadsignal=HUP\n",
    );
    let hup_sh =
        "#!/bin/sh\ntrap 'echo hup >> {dir}/sig; kill $k; exit 0' HUP\nsleep 1000 &\nk=$!\nwait\n";
    let s = Server::start(
        &ini,
        &[
            ("app.py", HELLO_APP),
            ("d.sh", DAEMON_SH),
            ("hup.sh", hup_sh),
        ],
    );
    let mut leftovers = Leftovers(Vec::new());
    let sh1 = wait_count(&s, "pids", 1)[0];
    let smart = wait_count(&s, "smart.pid", 1)[0];
    leftovers.0.push(smart);
    wait_until(10, "the smart daemon to run", || alive(smart));
    s.wait_log("spawning \"sleep 1000\"", 10);

    // SAFETY: the master this test started; SIGHUP is a graceful reload.
    unsafe { libc::kill(s.pid(), libc::SIGHUP) };
    s.wait_log("gracefully (RE)spawned rw master", 30);
    let shells = wait_count(&s, "pids", 2);
    leftovers.0.push(shells[1]);
    let log = s.wait_log(
        &format!("[uwsgi-daemons] found valid/active pidfile for \"sleep 1000\" (pid: {smart})"),
        20,
    );
    assert!(
        !alive(sh1),
        "the plain daemon was stopped before the exec:\n{log}"
    );
    assert!(
        alive(shells[1]),
        "and started again by the new image:\n{log}"
    );
    assert!(alive(smart), "the smart daemon runs on:\n{log}");
    assert_eq!(pids(&s, "smart.pid"), [smart], "and was not spawned again");
    assert_eq!(log.matches("spawning \"sleep 1000\"").count(), 1, "{log}");
    assert_eq!(s.get("/").0, 200);
    // The reload signal (reloadsignal=HUP), not the stop signal, told the other one.
    wait_until(10, "the reload signal to reach its daemon", || {
        lines(&s, "sig") == ["hup"]
    });
    let all: Vec<i32> = pids(&s, "pids")
        .into_iter()
        .chain(pids(&s, "kids"))
        .collect();
    kill_master_and_wait(s, &all);
}

#[test]
fn smart_daemon_is_watched_through_its_pidfile_and_listed_in_stats_and_top() {
    // The command daemonizes itself (smart-attach-daemon): the shell exits at once.
    let self_daemonizing = "#!/bin/sh\nsleep 1000 > /dev/null 2>&1 &\necho $! > {dir}/s.pid\n";
    let sport = crate::util::free_port();
    let ini = hello_ini(&format!(
        "smart-attach-daemon = {{dir}}/s.pid,2 sh {{dir}}/s.sh\nstats = 127.0.0.1:{sport}\n"
    ));
    let s = Server::start(&ini, &[("app.py", HELLO_APP), ("s.sh", self_daemonizing)]);
    let mut leftovers = Leftovers(Vec::new());
    wait_until(20, "a live pid in s.pid", || {
        pids(&s, "s.pid").first().is_some_and(|p| alive(*p))
    });
    let first = pids(&s, "s.pid")[0];
    leftovers.0.push(first);
    s.wait_log(&format!("(pid: {first}) is running, watched through"), 20);
    // The master adopts the pidfile's pid: stats and `rw top` show it.
    let addr = format!("127.0.0.1:{sport}");
    wait_until(20, "the stats to name the daemon's pid", || {
        read_stats(&addr)["daemons"][0]["pid"] == first
    });
    let doc = read_stats(&addr);
    assert_eq!(
        doc["daemons"][0]["cmd"],
        format!("sh {}/s.sh", s.dir.path().display())
    );
    assert_eq!(doc["daemons"][0]["respawns"], 0);
    let top = run(&["top", &addr, "--once"]);
    let screen = text(&top);
    assert!(
        screen.contains(&format!("daemon  pid: {first}  respawns: 0  sh ")),
        "{screen}"
    );

    // SAFETY: the daemon this test started.
    unsafe { libc::kill(first, libc::SIGKILL) };
    wait_until(20, "a new live pid in s.pid", || {
        pids(&s, "s.pid")
            .first()
            .is_some_and(|p| *p != first && alive(*p))
    });
    let second = pids(&s, "s.pid")[0];
    leftovers.0.push(second);
    let log = s.wait_log("[uwsgi-daemons] respawning \"sh ", 10);
    assert!(log.contains(&format!("(pid: {first}) is gone")), "{log}");
    wait_until(20, "the stats to count the respawn", || {
        let d = &read_stats(&addr)["daemons"][0];
        d["pid"] == second && d["respawns"] == 1
    });
}

#[test]
fn control_daemon_death_stops_the_instance() {
    let ini = hello_ini("attach-control-daemon = sh -c 'sleep 1'\n");
    let mut s = Server::start(&ini, &[("app.py", HELLO_APP)]);
    wait_until(30, "rw to exit", || s.child.try_wait().unwrap().is_some());
    let log = s.log_text();
    assert!(
        log.contains("control daemon \"sh -c 'sleep 1'\" died"),
        "{log}"
    );
    assert!(log.contains("goodbye to rw."), "{log}");
}

#[test]
fn a_touch_file_restarts_its_daemon() {
    let ini = hello_ini("attach-daemon2 = cmd=sh {dir}/d.sh,touch={dir}/restart\n");
    let s = Server::start(
        &ini,
        &[("app.py", HELLO_APP), ("d.sh", DAEMON_SH), ("restart", "")],
    );
    let sh1 = wait_count(&s, "pids", 1)[0];
    // A later mtime than the one seen at start (coarse file systems: step it explicitly).
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(s.path("restart"))
        .unwrap()
        .set_modified(later)
        .unwrap();
    let shells = wait_count(&s, "pids", 2);
    let log = s.wait_log("has been touched... reloading daemon", 10);
    wait_until(10, "the old daemon to be gone", || !alive(sh1));
    assert!(alive(shells[1]), "{log}");
    let all: Vec<i32> = shells.into_iter().chain(pids(&s, "kids")).collect();
    kill_master_and_wait(s, &all);
}

#[test]
fn a_cron_line_runs_on_the_minute_and_writes_its_file() {
    // Every field -1: due every minute; uWSGI's first run is the master's first turn.
    let ini = hello_ini("cron = -1 -1 -1 -1 -1 echo ran >> {dir}/cron.out\n");
    let s = Server::start(&ini, &[("app.py", HELLO_APP)]);
    wait_until(20, "the cron line to run", || {
        lines(&s, "cron.out") == ["ran"]
    });
    let log = s.wait_log("exited after 0 second(s)", 10);
    assert!(log.contains("[uwsgi-cron] command \"echo ran >> "), "{log}");
    assert!(log.contains("registered as cron task"), "{log}");
}

/// The test clock (debug builds: a cron minute lasts 2 s), so several minutes fit in a test.
const FAST: &[(&str, &str)] = &[("RW_DEBUG_CRON_SPEED", "30")];

#[test]
fn minus_n_fields_run_every_nth_minute() {
    let ini = hello_ini(
        "cron = -1 -1 -1 -1 -1 echo x >> {dir}/every\ncron2 = minute=-3 echo x >> {dir}/third\n",
    );
    let s = Server::start_with(&ini, &[("app.py", HELLO_APP)], FAST);
    wait_until(60, "10 minutes of the test clock", || {
        lines(&s, "every").len() >= 10
    });
    let (every, third) = (lines(&s, "every").len(), lines(&s, "third").len());
    // One minute in three, give or take the minute the count stopped in.
    assert!(
        (every / 3).saturating_sub(1) <= third && third <= every / 3 + 1,
        "every: {every}, third: {third}\n{}",
        s.log_text()
    );
}

#[test]
fn unique_cron_never_overlaps_while_a_plain_one_does() {
    let job = "#!/bin/sh\necho start >> {dir}/$1\nsleep 3\necho end >> {dir}/$1\n";
    let ini = hello_ini(
        "unique-cron = -1 -1 -1 -1 -1 sh {dir}/job.sh unique\ncron = -1 -1 -1 -1 -1 sh {dir}/job.sh plain\n",
    );
    let s = Server::start_with(&ini, &[("app.py", HELLO_APP), ("job.sh", job)], FAST);
    wait_until(60, "three unique runs", || {
        lines(&s, "unique").iter().filter(|l| *l == "start").count() >= 3
    });
    let unique = lines(&s, "unique");
    for pair in unique.windows(2) {
        assert_ne!(pair[0], pair[1], "unique runs overlapped: {unique:?}");
    }
    let plain = lines(&s, "plain");
    assert!(
        plain.windows(2).any(|w| w[0] == "start" && w[1] == "start"),
        "the plain line (a 2 s minute, a 3 s job) overlaps: {plain:?}"
    );
}

#[test]
fn cron_harakiri_kills_the_whole_run() {
    let job = "#!/bin/sh\nsleep 100 &\necho $! >> {dir}/kids\nwait\necho done >> {dir}/done\n";
    let ini = hello_ini("cron-harakiri = 1\ncron = -1 -1 -1 -1 -1 sh {dir}/job.sh\n");
    let s = Server::start(&ini, &[("app.py", HELLO_APP), ("job.sh", job)]);
    let kid = wait_count(&s, "kids", 1)[0];
    let log = s.wait_log("*** HARAKIRI ON CRON \"sh ", 20);
    wait_until(10, "the run's child to be killed too", || !alive(kid));
    s.wait_log("exited after", 10);
    assert!(lines(&s, "done").is_empty(), "{log}");
}

#[test]
fn a_daemon_that_keeps_dying_young_is_throttled_more_and_more() {
    let ini = hello_ini("attach-daemon = echo started >> {dir}/starts; exit 3\n");
    let s = Server::start(&ini, &[("app.py", HELLO_APP)]);
    wait_until(40, "three throttled respawns", || {
        s.log_text().matches("[uwsgi-daemons] throttling").count() >= 3
    });
    let log = s.log_text();
    let secs: Vec<u64> = log
        .lines()
        .filter_map(|l| l.split("\" for ").nth(1))
        .filter_map(|r| r.strip_suffix(" seconds")?.parse().ok())
        .collect();
    assert!(secs.len() >= 3, "{log}");
    assert!(secs.windows(2).all(|w| w[0] <= w[1]), "{secs:?}\n{log}");
    assert!(
        secs[2] >= 2,
        "the throttle grows with the respawns: {secs:?}\n{log}"
    );
    assert!(log.contains("died (exit code 3)"), "{log}");
    assert!(lines(&s, "starts").len() >= 3);
}

#[test]
fn a_reload_does_not_start_a_unique_cron_twice() {
    // Long enough to still run when the new image starts, even on a loaded machine.
    let job = "#!/bin/sh\necho start >> {dir}/runs\nsleep 12\necho end >> {dir}/runs\n";
    let ini = hello_ini("unique-cron = -1 -1 -1 -1 -1 sh {dir}/job.sh\n");
    let s = Server::start_with(&ini, &[("app.py", HELLO_APP), ("job.sh", job)], FAST);
    wait_until(20, "the first run", || lines(&s, "runs") == ["start"]);
    // SAFETY: the master this test started; SIGHUP is a graceful reload.
    unsafe { libc::kill(s.pid(), libc::SIGHUP) };
    s.wait_log("(started before the reload)", 30);
    // The test clock makes the line due at every turn: a forgotten run would overlap now.
    wait_until(60, "a second run after the first one ended", || {
        lines(&s, "runs").len() >= 3
    });
    let runs = lines(&s, "runs");
    assert_eq!(runs[..3], ["start", "end", "start"], "{}", s.log_text());
    s.wait_log("[uwsgi-cron] command \"sh ", 10);
}

#[test]
fn a_reload_that_cannot_start_keeps_the_daemons_running() {
    let mut s = start_plain("");
    let sh = wait_count(&s, "pids", 1)[0];
    // The new image cannot import the app: the rescue loop keeps the old generation.
    std::fs::write(
        s.path("app.py"),
        "raise RuntimeError('broken on purpose')\n",
    )
    .unwrap();
    // SAFETY: the master this test started; SIGHUP is a graceful reload.
    unsafe { libc::kill(s.pid(), libc::SIGHUP) };
    let log = s.wait_log("*** RELOAD FAILED", 30);
    assert!(
        alive(sh),
        "the daemon runs on with the old generation:\n{log}"
    );
    assert_eq!(pids(&s, "pids"), [sh], "{log}");
    assert_eq!(s.get("/").0, 200);
    // Fixed and reloaded again: the new image stops the old daemon, then starts a new one.
    std::fs::write(s.path("app.py"), HELLO_APP).unwrap();
    // SAFETY: as above.
    unsafe { libc::kill(s.pid(), libc::SIGHUP) };
    let shells = wait_count(&s, "pids", 2);
    let log = s.wait_log("of the previous image stopped", 10);
    assert!(!alive(sh) && alive(shells[1]), "{log}");
    // SAFETY: as above; a graceful stop.
    unsafe { libc::kill(s.pid(), libc::SIGINT) };
    wait_until(30, "rw to exit", || s.child.try_wait().unwrap().is_some());
    assert!(!alive(shells[1]), "{}", s.log_text());
}

#[test]
fn kill_of_the_pid_the_stats_show_reaches_the_daemon() {
    let sport = crate::util::free_port();
    let s = start_plain(&format!("stats = 127.0.0.1:{sport}\n"));
    let addr = format!("127.0.0.1:{sport}");
    let sh = wait_count(&s, "pids", 1)[0];
    let mut shown = 0;
    wait_until(20, "the stats to list the daemon", || {
        shown = read_stats(&addr)["daemons"][0]["pid"].as_i64().unwrap_or(0);
        shown > 0
    });
    // What an operator does to restart a daemon: the keeper passes SIGTERM on.
    // SAFETY: the pid rw reports for the daemon this test configured.
    unsafe { libc::kill(shown as i32, libc::SIGTERM) };
    let shells = wait_count(&s, "pids", 2);
    let log = s.wait_log("[uwsgi-daemons] respawning \"sh ", 10);
    assert!(log.contains("died (killed by signal 15)"), "{log}");
    wait_until(10, "the old daemon to be gone", || !alive(sh));
    assert!(alive(shells[1]), "{log}");
    let all: Vec<i32> = shells.into_iter().chain(pids(&s, "kids")).collect();
    kill_master_and_wait(s, &all);
}

#[test]
fn a_start_that_fails_in_the_workers_stops_the_daemons_too() {
    // lazy-apps + need-app: the workers fail to import after the daemons started.
    let dir = tempfile::tempdir().unwrap();
    let port = crate::util::free_port();
    let d = dir.path().display().to_string();
    std::fs::write(dir.path().join("d.sh"), DAEMON_SH.replace("{dir}", &d)).unwrap();
    std::fs::write(dir.path().join("app.py"), "raise RuntimeError('no app')\n").unwrap();
    let ini = format!(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {d}/app.py\nlazy-apps = true\nneed-app = true\nattach-daemon = sh {d}/d.sh\n"
    );
    std::fs::write(dir.path().join("uwsgi.ini"), ini).unwrap();
    let log = dir.path().join("rw.log");
    let out = std::fs::File::create(&log).unwrap();
    let mut child = crate::util::rw()
        .args(["serve", "--ini", "uwsgi.ini"])
        .current_dir(dir.path())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let text = || std::fs::read_to_string(&log).unwrap_or_default();
    let mut status = None;
    wait_until(30, "rw to stop", || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    let shells: Vec<i32> = std::fs::read_to_string(dir.path().join("pids"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.parse().ok())
        .collect();
    assert!(
        text().contains("[uwsgi-daemons] spawning \"sh "),
        "the daemon had started:\n{}",
        text()
    );
    for p in shells {
        assert!(
            !alive(p),
            "daemon {p} outlived the failed start:\n{}",
            text()
        );
    }
    assert!(
        text().contains("[uwsgi-daemons] stopping daemon"),
        "{}",
        text()
    );
}

#[test]
fn daemons_get_dev_null_as_stdin_unless_told_to_honour_it() {
    let port = crate::util::free_port();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let script = "#!/bin/sh\nreadlink /proc/$$/fd/0 > {dir}/$1.tmp && mv {dir}/$1.tmp {dir}/$1\nexec sleep 1000\n";
    std::fs::write(dir.path().join("s.sh"), script.replace("{dir}", &d)).unwrap();
    std::fs::write(dir.path().join("app.py"), HELLO_APP).unwrap();
    let ini = format!(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {d}/app.py\nhonour-stdin = true\nattach-daemon = sh {d}/s.sh plain\nattach-daemon2 = cmd=sh {d}/s.sh honoured,stdin=1\n"
    );
    std::fs::write(dir.path().join("uwsgi.ini"), ini).unwrap();
    let log = std::fs::File::create(dir.path().join("rw.log")).unwrap();
    // The master's stdin is a pipe the test holds (honour-stdin keeps it: without it the
    // master reads /dev/null itself, as uWSGI), so it differs from /dev/null.
    let mut child = crate::util::rw()
        .args(["serve", "--ini", "uwsgi.ini"])
        .current_dir(dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let read = |n: &str| std::fs::read_to_string(dir.path().join(n)).unwrap_or_default();
    let done = || !read("plain").is_empty() && !read("honoured").is_empty();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !done() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let master_stdin = std::fs::read_link(format!("/proc/{}/fd/0", child.id()));
    let _ = child.kill();
    let _ = child.wait();
    let logged = read("rw.log");
    assert!(done(), "both daemons reported their stdin:\n{logged}");
    assert_eq!(read("plain").trim(), "/dev/null", "{logged}");
    let master_stdin = master_stdin.unwrap().display().to_string();
    assert!(master_stdin.starts_with("pipe:"), "{master_stdin}");
    assert_eq!(read("honoured").trim(), master_stdin, "{logged}");
}
