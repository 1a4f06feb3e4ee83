//! The `rw-server` wheel (built by tests/run.sh with maturin, profile `wheel-test`), installed
//! with pip alone into fresh venvs of the CPythons on this machine — pyenv's shared build and
//! Debian's static one — and running the real Django app with the seed's `uwsgi.ini` from there:
//! serve (daemonized), requests over HTTP and the uwsgi socket, stats, `rw reload` picking up
//! new code, `rw stop`; then the same as an unprivileged user (`uid`/`gid`).

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::util::{self, text, wait_until};

/// Where tests/run.sh put the wheel(s) (`RW_TEST_WHEEL_DIR`, else `target/test-wheel`).
fn wheel_dir() -> PathBuf {
    std::env::var_os("RW_TEST_WHEEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| util::root().join("target/test-wheel"))
}

/// The wheel for CPython `minor` (3.`minor`), if one was built.
fn wheel_for(minor: u32) -> Option<PathBuf> {
    let tag = format!("-cp3{minor}-cp3{minor}-");
    std::fs::read_dir(wheel_dir())
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.starts_with("rw_server-") && n.contains(&tag) && n.ends_with(".whl")
        })
}

fn wheel_311() -> PathBuf {
    wheel_for(11).unwrap_or_else(|| {
        panic!(
            "no cp311 rw-server wheel in {}: run tests/run.sh (it builds it with maturin)",
            wheel_dir().display()
        )
    })
}

/// Django and its dependencies as wheels, so that the venvs install offline with pip.
fn wheelhouse() -> PathBuf {
    let p = std::env::var_os("RW_TEST_WHEELHOUSE")
        .map(PathBuf::from)
        .unwrap_or_else(|| util::root().join("target/wheelhouse"));
    assert!(
        p.is_dir(),
        "no wheelhouse at {}: run tests/run.sh",
        p.display()
    );
    p
}

fn debian_python() -> PathBuf {
    let p = PathBuf::from("/usr/bin/python3.11");
    assert!(
        p.exists(),
        "Debian's python3.11 is missing: apt-get install python3-venv"
    );
    p
}

fn pyenv_python() -> PathBuf {
    let root = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".pyenv"));
    let versions = std::fs::read_dir(root.join("versions")).expect("pyenv is installed");
    let mut found: Vec<PathBuf> = versions
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("3.11.")
        })
        .map(|p| p.join("bin/python3.11"))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found.pop().expect("a pyenv CPython 3.11")
}

/// Runs `cmd` with its output in a file (no pipe to fill), killed after `secs`.
fn run_bounded(cmd: &mut Command, secs: u64) -> Output {
    let out = tempfile::tempfile().unwrap();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out.try_clone().unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish in {secs} s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut f = out;
    let mut buf = Vec::new();
    use std::io::Seek;
    f.rewind().unwrap();
    f.read_to_end(&mut buf).unwrap();
    Output {
        status,
        stdout: buf,
        stderr: Vec::new(),
    }
}

/// An environment with nothing of the developer's: no cargo, rustc or pyenv shims on PATH.
fn clean_env<'a>(cmd: &'a mut Command, home: &Path) -> &'a mut Command {
    cmd.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", home)
        .env("LANG", "C.UTF-8")
}

/// Creates `dir` as a venv of `python` and pip-installs the wheel and Django into it, offline,
/// with no Rust toolchain reachable.
fn make_venv(python: &Path, dir: &Path, wheel: &Path) {
    let home = dir.parent().unwrap();
    let out = run_bounded(
        clean_env(Command::new(python).args(["-m", "venv"]).arg(dir), home),
        120,
    );
    assert!(out.status.success(), "venv: {}", text(&out));
    let probe = run_bounded(
        clean_env(
            Command::new("/bin/sh").args(["-c", "command -v cargo || command -v rustc"]),
            home,
        ),
        10,
    );
    assert!(
        !probe.status.success(),
        "Rust is reachable from the install's PATH: {}",
        text(&probe)
    );
    let out = run_bounded(
        clean_env(
            Command::new(dir.join("bin/python"))
                .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
                .args(["--no-index", "--find-links"])
                .arg(wheelhouse())
                .arg(wheel)
                .arg("django"),
            home,
        ),
        300,
    );
    assert!(out.status.success(), "pip install: {}", text(&out));
    assert!(dir.join("bin/rw").is_file(), "no bin/rw in the venv");
}

/// `ldd` of a file, as text.
fn ldd(p: &Path) -> String {
    let out = run_bounded(Command::new("ldd").arg(p), 30);
    text(&out)
}

/// A Django project (made with the venv's django-admin) in `site`: settings for serving, one
/// view that says which code version runs and one that says the interpreter's prefix, the
/// admin's static files collected, `app.py` for the seed's `wsgi-file`.
fn django_site(venv: &Path, site: &Path) {
    let home = site.parent().unwrap();
    let out = run_bounded(
        clean_env(
            Command::new(venv.join("bin/python"))
                .args(["-m", "django", "startproject", "mysite"])
                .arg(site),
            home,
        ),
        120,
    );
    assert!(out.status.success(), "startproject: {}", text(&out));
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(site.join("mysite/settings.py"))
        .unwrap();
    writeln!(
        f,
        "\nDEBUG = False\nALLOWED_HOSTS = ['*']\nSTATIC_ROOT = BASE_DIR / 'static'"
    )
    .unwrap();
    std::fs::write(site.join("mysite/version.py"), "VERSION = 'one'\n").unwrap();
    std::fs::write(
        site.join("mysite/views.py"),
        "import sys\n\
         from django.http import HttpResponse\n\
         from . import version\n\n\
         def code_version(request):\n    return HttpResponse(version.VERSION)\n\n\
         def prefix(request):\n    return HttpResponse(sys.prefix)\n",
    )
    .unwrap();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(site.join("mysite/urls.py"))
        .unwrap();
    writeln!(
        f,
        "\nfrom . import views\nurlpatterns += [path('version/', views.code_version), \
         path('prefix/', views.prefix)]"
    )
    .unwrap();
    std::fs::write(site.join("app.py"), "from mysite.wsgi import application\n").unwrap();
    let out = run_bounded(
        clean_env(
            Command::new(venv.join("bin/python"))
                .args(["manage.py", "collectstatic", "--noinput"])
                .current_dir(site),
            home,
        ),
        120,
    );
    assert!(out.status.success(), "collectstatic: {}", text(&out));
    std::fs::create_dir_all(site.join("uwsgi")).unwrap();
}

/// GET over HTTP/1.1 (`Connection: close`): (status, body).
fn http_get(port: u16, path: &str) -> (u16, String) {
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    let (status, body) = util::split_response(&util::raw_request(port, req.as_bytes()));
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// GET over the uwsgi unix socket (what nginx's `uwsgi_pass` sends): the raw HTTP response.
fn uwsgi_get(sock: &Path, path: &str) -> String {
    let vars: Vec<(&[u8], &[u8])> = vec![
        (b"REQUEST_METHOD", b"GET"),
        (b"PATH_INFO", path.as_bytes()),
        (b"REQUEST_URI", path.as_bytes()),
        (b"QUERY_STRING", b""),
        (b"SERVER_PROTOCOL", b"HTTP/1.1"),
        (b"SERVER_NAME", b"localhost"),
        (b"SERVER_PORT", b"80"),
        (b"REMOTE_ADDR", b"127.0.0.1"),
        (b"HTTP_HOST", b"localhost"),
    ];
    let mut c = std::os::unix::net::UnixStream::connect(sock)
        .unwrap_or_else(|e| panic!("connect {}: {e}", sock.display()));
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    c.write_all(&rw::proto::uwsgi::encode_packet(0, &vars, 0))
        .unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn uids(pid: i32) -> Vec<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    line.split_whitespace()
        .skip(1)
        .map(|u| u.parse().unwrap())
        .collect()
}

/// SIGKILLs a daemonized master (and so its workers) if the test fails before `rw stop`.
struct KillOnDrop(i32);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if self.0 > 0 {
            // SAFETY: signalling the master this test started.
            unsafe { libc::kill(self.0, libc::SIGKILL) };
        }
    }
}

/// The whole cycle with `python`: fresh venv at `<site>/.venv` (the seed's `home`), the seed's
/// uwsgi.ini with its paths pointed at the temp project and `uid`/`gid` set to `user` (or
/// dropped when None), daemonized serve, requests, stats, reload with new code, stop.
fn django_cycle(python: &Path, user: Option<&str>) {
    let root = tempfile::tempdir().unwrap();
    // Readable (not writable) by an unprivileged user, as /srv/app would be.
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let site = root.path().join("app");
    std::fs::create_dir_all(&site).unwrap();
    let venv = site.join(".venv");
    make_venv(python, &venv, &wheel_311());
    django_site(&venv, &site);
    let uwsgi_dir = site.join("uwsgi");
    let account = user.map(|u| {
        nix::unistd::User::from_name(u)
            .unwrap()
            .unwrap_or_else(|| panic!("no user {u}: tests/run.sh creates it (useradd)"))
    });
    if let Some(a) = &account {
        // The stats socket is made after the drop and vacuum removes files here: the app's
        // runtime dir belongs to the app's user, as in a real deployment.
        nix::unistd::chown(&uwsgi_dir, Some(a.uid), Some(a.gid)).unwrap();
    }

    let port = util::free_port();
    let reference = std::fs::read_to_string(util::fixture("reference/uwsgi.ini")).unwrap();
    let ini: String = reference
        .replace("/srv/app", &site.display().to_string())
        .replace("0.0.0.0:8080", &format!("127.0.0.1:{port}"))
        .lines()
        .filter_map(|l| match (l.split('=').next().map(str::trim), user) {
            (Some("uid"), Some(u)) => Some(format!("uid = {u}")),
            (Some("gid"), Some(u)) => Some(format!("gid = {u}")),
            (Some("uid" | "gid"), None) => None,
            _ => Some(l.to_string()),
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let ini_path = site.join("uwsgi.ini");
    std::fs::write(&ini_path, &ini).unwrap();
    let rw = venv.join("bin/rw");
    let rw_cmd = |args: &[&str]| {
        run_bounded(
            clean_env(Command::new(&rw).args(args), root.path()).current_dir(&site),
            120,
        )
    };

    let check = rw_cmd(&["check-config", ini_path.to_str().unwrap()]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));

    let pidfile = uwsgi_dir.join("uwsgi.pid");
    let log = uwsgi_dir.join("uwsgi.log");
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    let out = rw_cmd(&["serve", "--ini", ini_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "daemonize: {}", text(&out));
    let mut guard = KillOnDrop(0);
    wait_until(60, "the pidfile", || {
        std::fs::read_to_string(&pidfile).is_ok_and(|t| t.ends_with('\n'))
    });
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    guard.0 = pid;
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "not listening:\n{}", log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    wait_until(60, "4 workers", || util::children_of(pid).len() == 4);

    // The master is the venv's interpreter running the wheel's module; only a shared build
    // maps a libpython.
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert_eq!(exe, python.canonicalize().unwrap());
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let module = venv.join("lib/python3.11/site-packages/rw_server/_rw.cpython-311");
    assert!(
        maps.contains(module.to_str().unwrap()),
        "the wheel's module is not mapped"
    );
    let shared_build = ldd(python).contains("libpython3.11.so");
    assert_eq!(maps.contains("libpython3.11.so"), shared_build, "{maps}");
    let so = std::fs::read_dir(venv.join("lib/python3.11/site-packages/rw_server"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "so"))
        .unwrap();
    let so_deps = ldd(&so);
    assert!(!so_deps.contains("libpython"), "{so_deps}");

    if let Some(a) = &account {
        for p in std::iter::once(pid).chain(util::children_of(pid)) {
            assert!(
                uids(p).iter().all(|u| *u == a.uid.as_raw()),
                "pid {p} runs as {:?}\n{}",
                uids(p),
                log_text()
            );
        }
    }

    let (status, body) = http_get(port, "/version/");
    assert_eq!((status, body.as_str()), (200, "one"), "{}", log_text());
    let (status, body) = http_get(port, "/prefix/");
    assert_eq!(status, 200, "{}", log_text());
    assert_eq!(
        Path::new(&body).canonicalize().unwrap(),
        venv.canonicalize().unwrap(),
        "sys.prefix is the venv's"
    );
    let (status, css) = http_get(port, "/static/admin/css/base.css");
    assert_eq!(status, 200, "{}", log_text());
    assert_eq!(
        css.as_bytes(),
        std::fs::read(site.join("static/admin/css/base.css")).unwrap()
    );
    let sock = uwsgi_dir.join("uwsgi.sock");
    let r = uwsgi_get(&sock, "/version/");
    assert!(r.starts_with("HTTP/1.1 200") && r.ends_with("one"), "{r}");
    let stats = rw_cmd(&[
        "connect-and-read",
        uwsgi_dir.join("uwsgi.status").to_str().unwrap(),
    ]);
    assert!(stats.status.success(), "{}", text(&stats));
    let j: serde_json::Value = serde_json::from_slice(&stats.stdout).expect("stats JSON");
    assert_eq!(j["pid"], pid, "{j}");
    assert_eq!(j["workers"].as_array().map(Vec::len), Some(4), "{j}");

    // New code, then a graceful reload: same master pid, the new generation serves it.
    std::fs::write(
        site.join("mysite/version.py"),
        "VERSION = 'second version'\n",
    )
    .unwrap();
    let out = rw_cmd(&["reload", pidfile.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "rw reload: {}\n{}",
        text(&out),
        log_text()
    );
    wait_until(60, "the new code", || {
        http_get(port, "/version/").1 == "second version"
    });
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap().trim(),
        pid.to_string()
    );
    let r = uwsgi_get(&sock, "/version/");
    assert!(r.ends_with("second version"), "{r}\n{}", log_text());
    assert!(log_text().contains("binary reloading rw"), "{}", log_text());
    if let Some(a) = &account {
        wait_until(60, "4 new workers", || util::children_of(pid).len() == 4);
        for p in std::iter::once(pid).chain(util::children_of(pid)) {
            assert!(uids(p).iter().all(|u| *u == a.uid.as_raw()), "pid {p}");
        }
    }

    let out = rw_cmd(&["stop", pidfile.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "rw stop: {}\n{}",
        text(&out),
        log_text()
    );
    guard.0 = 0;
    assert!(!pidfile.exists(), "vacuum left the pidfile\n{}", log_text());
    assert!(!sock.exists(), "vacuum left the socket\n{}", log_text());
    let l = log_text();
    assert!(l.contains("goodbye to rw."), "{l}");
    assert!(l.contains("Python already initialized"), "{l}");
    assert!(!l.contains("Traceback"), "{l}");
}

#[test]
fn wheel_is_manylinux_and_carries_no_libpython() {
    let wheel = wheel_311();
    let auditwheel = std::env::var_os("RW_TEST_AUDITWHEEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| util::root().join("target/build-venv/bin/auditwheel"));
    let out = run_bounded(Command::new(&auditwheel).arg("show").arg(&wheel), 120);
    let t = text(&out).replace('\n', " ");
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains("is consistent with the following platform tag: \"manylinux_2_"),
        "{t}"
    );
    assert!(!t.contains("libpython"), "{t}");
    // The tag maturin gave the file is one auditwheel agrees with.
    let name = wheel.file_name().unwrap().to_string_lossy().into_owned();
    let tag = name.rsplit('-').next().unwrap().trim_end_matches(".whl");
    assert!(t.contains(&format!("\"{tag}\"")), "{name}: {t}");
}

#[test]
fn wheel_serves_django_in_a_venv_of_pyenvs_shared_python() {
    let py = pyenv_python();
    assert!(ldd(&py).contains("libpython3.11.so"), "{}", ldd(&py));
    django_cycle(&py, None);
}

#[test]
fn wheel_serves_django_in_a_venv_of_debians_static_python() {
    let py = debian_python();
    let deps = ldd(&py);
    assert!(!deps.contains("libpython"), "{deps}");
    django_cycle(&py, None);
}

#[test]
fn wheel_drops_to_an_unprivileged_user_with_the_seed_config() {
    assert_eq!(
        nix::unistd::geteuid().as_raw(),
        0,
        "this test needs root (CI and tests/run.sh run as root)"
    );
    django_cycle(&debian_python(), Some("rwtest"));
}

/// Starts `cmd` with stdin closed and stdout/stderr to the file `log`; the guard kills it.
fn spawn_logged(cmd: &mut Command, log: &Path) -> (std::process::Child, KillOnDrop) {
    let f = std::fs::File::create(log).unwrap();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(f.try_clone().unwrap())
        .stderr(f)
        .spawn()
        .unwrap();
    let guard = KillOnDrop(child.id() as i32);
    (child, guard)
}

/// systemd from the wheel: `systemd-socket-activate` execs the venv's `rw` with the listener as
/// fd 3 (LISTEN_PID is the interpreter's pid, which is the master), the master tells
/// NOTIFY_SOCKET it is ready, serves on the inherited socket, and a graceful reload (re-exec of
/// the interpreter) keeps both.
#[test]
fn wheel_under_systemd_socket_activation_and_notify() {
    let activate = [
        "/usr/bin/systemd-socket-activate",
        "/bin/systemd-socket-activate",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
    .expect("systemd-socket-activate missing: run tests/run.sh (package systemd)");
    let dir = tempfile::tempdir().unwrap();
    let venv = dir.path().join("venv");
    make_venv(&pyenv_python(), &venv, &wheel_311());
    let app = "import os\n\ndef application(environ, start_response):\n    body = str(os.getpid()).encode()\n    start_response('200 OK', [('Content-Length', str(len(body)))])\n    return [body]\n";
    std::fs::write(dir.path().join("app.py"), app).unwrap();
    let port = util::free_port();
    std::fs::write(
        dir.path().join("uwsgi.ini"),
        format!(
            "[uwsgi]\nwsgi-file = {d}/app.py\nhttp-socket = 127.0.0.1:{port}\nhome = {v}\nprocesses = 1\ndie-on-term = true\n",
            d = dir.path().display(),
            v = venv.display()
        ),
    )
    .unwrap();
    let notify_path = dir.path().join("notify.sock");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let log = dir.path().join("rw.log");
    let mut cmd = Command::new(activate);
    clean_env(&mut cmd, dir.path())
        // The activator passes the program only the variables named with -E (and LISTEN_*).
        .args(["-E", &format!("NOTIFY_SOCKET={}", notify_path.display())])
        .args(["-l", &format!("127.0.0.1:{port}")])
        .arg(venv.join("bin/rw"))
        .args(["serve", "--ini"])
        .arg(dir.path().join("uwsgi.ini"));
    let (mut child, _guard) = spawn_logged(&mut cmd, &log);
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    // The activator binds, then execs rw on the first connection.
    wait_until(30, "the activator's listener", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let (code, _) = http_get(port, "/");
    assert_eq!(code, 200, "{}", log_text());
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while !seen.contains("READY=1") {
        let n = notify
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("no READY=1 ({e}); got {seen:?}\n{}", log_text()));
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        seen.push('\n');
    }
    assert!(
        log_text().contains(&format!("inherited 127.0.0.1:{port}")),
        "{}",
        log_text()
    );
    let exe = std::fs::read_link(format!("/proc/{}/exe", child.id())).unwrap();
    assert!(
        exe.to_string_lossy().contains("python"),
        "the master is not the venv's interpreter: {}",
        exe.display()
    );
    // A graceful reload re-executes the interpreter: RELOADING=1, then READY=1 again, and the
    // inherited listener still serves.
    // SAFETY: as above.
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    let mut after = String::new();
    while !(after.contains("RELOADING=1")
        && after
            .split("RELOADING=1")
            .nth(1)
            .is_some_and(|t| t.contains("READY=1")))
    {
        let n = notify
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("reload not notified ({e}); got {after:?}\n{}", log_text()));
        after.push_str(&String::from_utf8_lossy(&buf[..n]));
        after.push('\n');
    }
    let (code, _) = http_get(port, "/");
    assert_eq!(code, 200, "{}", log_text());
    // SAFETY: as above.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(30);
    let st = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "rw did not stop\n{}", log_text());
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(st.code(), Some(0), "{}", log_text());
}

/// `home =` naming another virtualenv than the one the wheel's rw runs in: the interpreter stays
/// rw's (it was running first), that venv's site-packages come first on sys.path and sys.prefix
/// names it, and the log says so; a venv of another minor is refused with what to do.
#[test]
fn wheel_with_home_in_another_venv_puts_its_packages_first() {
    let dir = tempfile::tempdir().unwrap();
    let venv = dir.path().join("rw-venv");
    make_venv(&pyenv_python(), &venv, &wheel_311());
    let other = dir.path().join("app-venv");
    let out = run_bounded(
        clean_env(
            Command::new(pyenv_python())
                .args(["-m", "venv"])
                .arg(&other),
            dir.path(),
        ),
        120,
    );
    assert!(out.status.success(), "venv: {}", text(&out));
    std::fs::write(
        other.join("lib/python3.11/site-packages/only_in_app_venv.py"),
        "WHERE = 'app-venv'\n",
    )
    .unwrap();
    let app = "import sys, only_in_app_venv\n\ndef application(environ, start_response):\n    body = ('%s %s' % (only_in_app_venv.WHERE, sys.prefix)).encode()\n    start_response('200 OK', [('Content-Length', str(len(body)))])\n    return [body]\n";
    std::fs::write(dir.path().join("app.py"), app).unwrap();
    let port = util::free_port();
    let ini = |home: &Path| {
        format!(
            "[uwsgi]\nwsgi-file = {d}/app.py\nhttp-socket = 127.0.0.1:{port}\nhome = {h}\nprocesses = 1\nneed-app = true\ndie-on-term = true\n",
            d = dir.path().display(),
            h = home.display()
        )
    };
    std::fs::write(dir.path().join("uwsgi.ini"), ini(&other)).unwrap();
    let log = dir.path().join("rw.log");
    let mut cmd = Command::new(venv.join("bin/rw"));
    clean_env(&mut cmd, dir.path())
        .args(["serve", "--ini"])
        .arg(dir.path().join("uwsgi.ini"));
    let (mut child, _guard) = spawn_logged(&mut cmd, &log);
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_until(60, "the server", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            || child.try_wait().unwrap().is_some()
    });
    let (code, body) = http_get(port, "/");
    assert_eq!(code, 200, "{}", log_text());
    assert!(body.starts_with("app-venv "), "{body}");
    let prefix = body.split_once(' ').unwrap().1;
    // As virtualenv's activate_this.py: sys.prefix names the app's venv, the interpreter is
    // rw's.
    assert_eq!(
        Path::new(prefix).canonicalize().unwrap(),
        other.canonicalize().unwrap(),
        "sys.prefix is the app's venv"
    );
    let exe = std::fs::read_link(format!("/proc/{}/exe", child.id())).unwrap();
    assert!(
        exe.to_string_lossy().contains("python"),
        "{}",
        exe.display()
    );
    assert!(
        log_text().contains("its site-packages go first on sys.path"),
        "{}",
        log_text()
    );
    // SAFETY: as above.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let _ = child.wait();

    // A virtualenv without this minor's site-packages belongs to another Python: refused.
    let foreign = dir.path().join("py39-venv");
    std::fs::create_dir_all(foreign.join("lib/python3.9/site-packages")).unwrap();
    std::fs::write(
        foreign.join("pyvenv.cfg"),
        "home = /usr/bin\nversion = 3.9.0\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("uwsgi.ini"), ini(&foreign)).unwrap();
    let out = run_bounded(
        clean_env(&mut Command::new(venv.join("bin/rw")), dir.path())
            .args(["serve", "--ini"])
            .arg(dir.path().join("uwsgi.ini")),
        60,
    );
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("belongs to another Python"),
        "{}",
        text(&out)
    );
}

/// The `uwsgi` module and rw's `uwsgidecorators` are the same from the wheel: `@postfork` runs
/// in the worker, `uwsgi.opt` is the config, the cache and locks work, and outside rw
/// `import uwsgi` still fails.
#[test]
fn wheel_ships_the_uwsgi_module_and_uwsgidecorators() {
    let dir = tempfile::tempdir().unwrap();
    let venv = dir.path().join("venv");
    make_venv(&pyenv_python(), &venv, &wheel_311());
    let app = "import os, uwsgi\nfrom uwsgidecorators import postfork, lock\nPF = []\n\n\
               @postfork\ndef pf():\n    PF.append(uwsgi.worker_id())\n\n\
               @lock\ndef count():\n    return uwsgi.cache_inc('n')\n\n\
               def application(environ, start_response):\n    count()\n    \
               body = repr((PF, uwsgi.opt['processes'], uwsgi.cache_num('n'))).encode()\n    \
               start_response('200 OK', [('Content-Length', str(len(body)))])\n    return [body]\n";
    std::fs::write(dir.path().join("app.py"), app).unwrap();
    let port = util::free_port();
    std::fs::write(
        dir.path().join("uwsgi.ini"),
        format!(
            "[uwsgi]\nwsgi-file = {d}/app.py\nhttp-socket = 127.0.0.1:{port}\nprocesses = 1\n\
             cache2 = name=c,items=4\n",
            d = dir.path().display(),
        ),
    )
    .unwrap();
    let log = dir.path().join("rw.log");
    let mut cmd = Command::new(venv.join("bin/rw"));
    clean_env(&mut cmd, dir.path())
        .args(["serve", "--ini"])
        .arg(dir.path().join("uwsgi.ini"));
    let (_child, _guard) = spawn_logged(&mut cmd, &log);
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_until(30, "rw from the wheel to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let (code, body) = http_get(port, "/");
    assert_eq!(
        (code, body.as_str()),
        (200, "([1], b'1', 1)"),
        "{}",
        log_text()
    );
    let (_, body) = http_get(port, "/");
    assert_eq!(body, "([1], b'1', 2)", "{}", log_text());
    let out = run_bounded(
        clean_env(&mut Command::new(venv.join("bin/python")), dir.path())
            .args(["-c", "import uwsgi"]),
        60,
    );
    assert!(
        !out.status.success() && text(&out).contains("No module named 'uwsgi'"),
        "{}",
        text(&out)
    );
}
