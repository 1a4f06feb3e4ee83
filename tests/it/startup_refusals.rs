//! What `rw serve` must refuse at startup, with a clear error and a non-zero exit, rather than
//! serving wrongly or looping: inherited listener fds that are not the configured socket, and
//! per-worker setup that cannot succeed.

use crate::serve_basic::HELLO_APP;
use crate::util::{free_port, rw};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

/// The fd number the tests hand over (above what rw opens itself at startup).
const HANDED_FD: RawFd = 9;

/// Runs `cmd` (output to `log`) until it exits or `secs` pass; a process still running then
/// is killed and reported as `None`.
fn run_bounded(mut cmd: Command, log: &Path, secs: u64) -> (Option<ExitStatus>, String) {
    let out = std::fs::File::create(log).unwrap();
    let mut child = cmd
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if Instant::now() >= deadline {
            let workers = rw::sys::proc::children(child.id() as i32);
            let _ = child.kill();
            let _ = child.wait();
            for w in workers {
                // SAFETY: signalling a worker of the rw we started (its master is gone).
                unsafe { libc::kill(w, libc::SIGKILL) };
            }
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = String::from_utf8_lossy(&std::fs::read(log).unwrap_or_default()).into_owned();
    (status, text)
}

/// `rw serve` for a hello app on `127.0.0.1:port`, with `fd` handed over as fd
/// [`HANDED_FD`] and named for that address in `RW_INHERITED_LISTENERS`.
fn serve_with_handed_fd(dir: &Path, port: u16, fd: RawFd) -> Command {
    std::fs::write(dir.join("app.py"), HELLO_APP).unwrap();
    let listen = format!("127.0.0.1:{port}");
    let mut cmd = rw();
    cmd.args(["serve", "--http-socket", &listen, "--wsgi-file", "app.py"])
        .current_dir(dir)
        .env("RW_INHERITED_LISTENERS", format!("{HANDED_FD}={listen}"));
    // SAFETY: dup2 and fcntl are async-signal-safe; they run in the forked child before exec
    // and leave fd HANDED_FD without close-on-exec, as an exec-reload leaves a listener.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto itself would keep close-on-exec set.
            let r = if fd == HANDED_FD {
                libc::fcntl(fd, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, HANDED_FD)
            };
            if r < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd
}

#[test]
fn an_inherited_fd_that_is_a_plain_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = std::fs::File::create(dir.path().join("not-a-socket")).unwrap();
    let port = free_port();
    let cmd = serve_with_handed_fd(dir.path(), port, file.as_raw_fd());
    let (status, log) = run_bounded(cmd, &dir.path().join("rw.log"), 30);
    let status = status.unwrap_or_else(|| panic!("rw kept running on a plain file:\n{log}"));
    assert!(!status.success(), "{status}\n{log}");
    assert!(
        log.contains(&format!(
            "RW_INHERITED_LISTENERS hands over fd {HANDED_FD} for `127.0.0.1:{port}`"
        )) && log.contains("is not a socket (it is a regular file)"),
        "{log}"
    );
    assert!(!log.contains("spawned rw worker"), "{log}");
}

#[test]
fn an_inherited_socket_of_another_address_is_refused_and_not_served() {
    let dir = tempfile::tempdir().unwrap();
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let other_addr = other.local_addr().unwrap();
    let port = free_port();
    let cmd = serve_with_handed_fd(dir.path(), port, other.as_raw_fd());
    let (status, log) = run_bounded(cmd, &dir.path().join("rw.log"), 30);
    let status = status.unwrap_or_else(|| panic!("rw served another address:\n{log}"));
    assert!(!status.success(), "{status}\n{log}");
    assert!(
        log.contains(&format!(
            "fd {HANDED_FD} is bound to {other_addr}, not to 127.0.0.1:{port}"
        )),
        "{log}"
    );
    // Nothing took connections from that socket: one made now waits in its queue for us.
    let _c = std::net::TcpStream::connect(other_addr).unwrap();
    other.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match other.accept() {
            Ok(_) => break,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "the connection never queued");
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

/// A hello app's `uwsgi.ini` in `dir` with `extra` lines after the four it starts with.
fn write_hello(dir: &Path, port: u16, extra: &str) {
    std::fs::write(dir.join("app.py"), HELLO_APP).unwrap();
    std::fs::write(
        dir.join("uwsgi.ini"),
        format!(
            "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = app.py\nprocesses = 2\n{extra}\n"
        ),
    )
    .unwrap();
}

#[test]
fn a_bad_static_map_stops_the_start_at_its_line_and_check_config_agrees() {
    for (entry, why) in [
        ("static-map = /static=missing-dir", "unable to resolve"),
        ("static-map = /static=", "empty document root"),
        ("check-static = app.py", "is not a directory"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        write_hello(dir.path(), port, entry);
        let mut serve = rw();
        serve
            .args(["serve", "--ini", "uwsgi.ini"])
            .current_dir(dir.path());
        let (status, log) = run_bounded(serve, &dir.path().join("rw.log"), 30);
        let status =
            status.unwrap_or_else(|| panic!("`{entry}`: rw kept respawning workers:\n{log}"));
        assert!(!status.success(), "`{entry}`: {status}\n{log}");
        assert!(
            log.contains("uwsgi.ini:5: error:") && log.contains(why),
            "`{entry}`:\n{log}"
        );
        assert!(!log.contains("spawned rw worker"), "`{entry}`:\n{log}");
        // The drop-in rule: check-config exits 1 exactly when serve refuses.
        let check = rw()
            .args(["check-config", "uwsgi.ini"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        let out = crate::util::text(&check);
        assert_eq!(check.status.code(), Some(1), "`{entry}`:\n{out}");
        // (Its own checks may word a missing path differently; the line is the same.)
        assert!(out.contains("uwsgi.ini:5: error:"), "`{entry}`:\n{out}");
    }
}

#[test]
fn a_worker_that_cannot_start_stops_the_instance_instead_of_respawning() {
    // chdir2 exists when the master checks it, and each worker removes it while importing its
    // app (lazy-apps), then fails to change into it: only the worker can find this out.
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let later = dir.path().join("later");
    std::fs::create_dir(&later).unwrap();
    write_hello(
        dir.path(),
        port,
        &format!("lazy-apps = true\nchdir2 = {}", later.display()),
    );
    let app = format!(
        "import shutil\nshutil.rmtree({:?}, ignore_errors=True)\n{HELLO_APP}",
        later.display().to_string()
    );
    std::fs::write(dir.path().join("app.py"), app).unwrap();
    let mut serve = rw();
    serve
        .args(["serve", "--ini", "uwsgi.ini"])
        .current_dir(dir.path());
    let (status, log) = run_bounded(serve, &dir.path().join("rw.log"), 60);
    let status = status.unwrap_or_else(|| panic!("rw kept respawning workers:\n{log}"));
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("failed to start: chdir() to"), "{log}");
    assert!(
        log.contains("a worker that cannot start is a start-up error"),
        "{log}"
    );
    assert!(!log.contains("trying respawn"), "{log}");
}
