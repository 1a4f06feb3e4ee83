//! Shared test helpers: the rw binary, fixture paths, temp dirs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `rw` binary cargo built for this test run.
pub fn rw() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rw"))
}

/// Runs rw with `args` and returns its output.
pub fn run(args: &[&str]) -> Output {
    rw().args(args).output().expect("rw runs")
}

/// `tests/fixtures/<rel>`.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// The project root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Everything a command printed, both streams, for assertions and failure messages.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Whether `RW_BLESS=1` asks tests to rewrite generated files instead of comparing them.
pub fn bless() -> bool {
    std::env::var("RW_BLESS").is_ok_and(|v| v == "1")
}

/// A free TCP port on 127.0.0.1 (bound then released; the kernel will not hand it out again
/// at once).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The test venv `tests/run.sh` creates (Flask, Django, uwsgitop, uwsgi-tools).
pub fn venv() -> PathBuf {
    let p = std::env::var_os("RW_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/test-venv"));
    assert!(
        p.join("bin/python").exists(),
        "no test venv at {}: run tests/run.sh (it installs Flask, Django, uwsgitop)",
        p.display()
    );
    p
}

/// A running `rw serve`, killed (master by pid; workers follow it) when dropped.
pub struct Server {
    pub child: std::process::Child,
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub log: PathBuf,
}

impl Server {
    /// Writes `files` (relative path, content) and `uwsgi.ini` into a temp dir, replacing
    /// `{dir}` and `{port}` in every file, and starts `rw serve --ini uwsgi.ini` there.
    /// Waits (bounded) until the port answers.
    pub fn start(ini: &str, files: &[(&str, &str)]) -> Server {
        Self::start_with(ini, files, &[])
    }

    pub fn start_with(ini: &str, files: &[(&str, &str)], env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let fill = |s: &str| {
            s.replace("{dir}", &dir.path().display().to_string())
                .replace("{port}", &port.to_string())
                .replace("{venv}", &venv_if_needed(s))
        };
        for (rel, content) in files {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, fill(content)).unwrap();
        }
        std::fs::write(dir.path().join("uwsgi.ini"), fill(ini)).unwrap();
        Self::launch(dir, port, &["serve", "--ini", "uwsgi.ini"], env)
    }

    /// Starts `rw ARGS` in `dir` with its output in `dir/rw.log`, and waits (bounded) until
    /// `port` answers.
    pub fn launch(
        dir: tempfile::TempDir,
        port: u16,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Server {
        let log = dir.path().join("rw.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = rw()
            .args(args)
            .current_dir(dir.path())
            .envs(env.iter().copied())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        let mut s = Server {
            child,
            dir,
            port,
            log,
        };
        s.wait_port(port);
        s
    }

    /// Waits until `port` accepts connections, failing with the log if rw exits first.
    pub fn wait_port(&mut self, port: u16) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("rw exited ({st}) before listening:\n{}", self.log_text());
            }
            assert!(
                std::time::Instant::now() < deadline,
                "rw did not listen in 30 s:\n{}",
                self.log_text()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn log_text(&self) -> String {
        // Lossy: one stray byte must not hide the whole log from a failure message.
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default()).into_owned()
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Waits (bounded) until the log contains `needle`.
    pub fn wait_log(&self, needle: &str, secs: u64) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let t = self.log_text();
            if t.contains(needle) {
                return t;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "`{needle}` not logged in {secs} s:\n{t}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// One HTTP/1.1 request over a new connection (`Connection: close`); returns the whole
    /// response as bytes.
    pub fn raw(&self, request: &[u8]) -> Vec<u8> {
        raw_request(self.port, request)
    }

    /// GET `path`; returns (status, body).
    pub fn get(&self, path: &str) -> (u16, Vec<u8>) {
        let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        split_response(&self.raw(req.as_bytes()))
    }

    /// Worker pids (children of the master), from /proc.
    pub fn worker_pids(&self) -> Vec<i32> {
        children_of(self.pid())
    }

    /// Waits (bounded) until the master has `n` workers and returns their pids.
    pub fn workers(&self, n: usize) -> Vec<i32> {
        wait_until(20, &format!("{n} workers"), || {
            self.worker_pids().len() == n
        });
        self.worker_pids()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let pid = self.pid();
        let workers = children_of(pid);
        let _ = self.child.kill();
        let _ = self.child.wait();
        for w in workers {
            // SAFETY: signalling a pid we started (its master is dead, so it is dying anyway).
            unsafe { libc::kill(w, libc::SIGKILL) };
        }
    }
}

fn venv_if_needed(s: &str) -> String {
    if s.contains("{venv}") {
        venv().display().to_string()
    } else {
        String::new()
    }
}

/// Sends `request` to 127.0.0.1:`port` and reads until the server closes (bounded by a
/// 30 s read timeout).
pub fn raw_request(port: u16, request: &[u8]) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// (status, body) of a response with a Content-Length or close-delimited body.
pub fn split_response(resp: &[u8]) -> (u16, Vec<u8>) {
    let text = String::from_utf8_lossy(resp);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body_at = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(resp.len(), |p| p + 4);
    (status, resp[body_at..].to_vec())
}

/// Pids whose parent is `pid` (live ones), from /proc.
pub fn children_of(pid: i32) -> Vec<i32> {
    rw::sys::proc::children(pid)
}

/// Waits (bounded) for `cond`.
pub fn wait_until(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
}

/// Threads of `pid` blocked in poll(2)/ppoll(2) at this moment, from /proc/PID/task/*/syscall.
/// rw waits for a slow peer there (and only there: idle threads wait in epoll), so this is how a
/// test checks that a stall really happened before it asserts what the stall costs others.
pub fn threads_in_poll(pid: i32) -> usize {
    #[cfg(target_arch = "x86_64")]
    const POLL_SYSCALLS: &[&str] = &["7", "271"];
    #[cfg(not(target_arch = "x86_64"))]
    const POLL_SYSCALLS: &[&str] = &["73"];
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("syscall")).is_ok_and(|s| {
                s.split(' ')
                    .next()
                    .is_some_and(|nr| POLL_SYSCALLS.contains(&nr))
            })
        })
        .count()
}
