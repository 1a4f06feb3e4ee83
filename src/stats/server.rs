//! The stats server, served by the master inside its poll loop: on each connection it writes
//! the stats JSON and closes (`stats`), or reads an HTTP request first and answers it
//! (`stats-http`, where `GET /metrics` gives Prometheus text). Every connection is bounded in
//! time so a client that never reads cannot stall the master.

use super::schema::Stats;
use super::snapshot::{self, MasterView};
use crate::server::listen::{self, Addr, BindOptions, Proto};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The most one client may cost the master (read + write).
pub const CLIENT_BUDGET: Duration = Duration::from_secs(1);
/// The most one [`StatsServer::serve_ready`] call may take, however many clients wait.
pub const CALL_BUDGET: Duration = Duration::from_secs(2);
/// The largest HTTP request head read (the rest is ignored).
const MAX_HEAD: usize = 8192;

/// A bound stats socket.
#[derive(Debug)]
pub struct StatsServer {
    fd: OwnedFd,
    http: bool,
    name: String,
    unix_path: Option<PathBuf>,
}

impl StatsServer {
    /// Binds `addr` (`host:port`, `:port`, a unix path relative to `base_dir`, or `@abstract`);
    /// a stale unix socket file is replaced, a live one is an error. The socket is
    /// non-blocking and close-on-exec.
    pub fn bind(
        addr: &str,
        http: bool,
        base_dir: &Path,
        backlog: u32,
    ) -> anyhow::Result<StatsServer> {
        let opts = BindOptions {
            backlog: backlog.max(1),
            chmod: None,
            so_keepalive: false,
            // Stats clients never speak first.
            defer_accept: 0,
            chown: None,
        };
        let l = listen::bind(
            addr,
            Proto::Http,
            base_dir,
            &opts,
            &mut Vec::new(),
            &mut Vec::new(),
        )?;
        let unix_path = match &l.addr {
            Addr::Unix(p) => Some(p.clone()),
            _ => None,
        };
        Ok(StatsServer {
            fd: l.fd,
            http,
            name: addr.to_string(),
            unix_path,
        })
    }

    /// The listening fd (register it, readable, in the master's poller).
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// The address as configured (for the banner).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this is a `stats-http` socket.
    pub fn is_http(&self) -> bool {
        self.http
    }

    /// The socket file of a unix-path stats socket (to vacuum at exit).
    pub fn unix_path(&self) -> Option<&Path> {
        self.unix_path.as_deref()
    }

    /// Removes the unix socket file (at exit, with `vacuum`). Returns whether it did.
    pub fn vacuum(&self) -> bool {
        use std::os::unix::fs::FileTypeExt;
        match &self.unix_path {
            Some(p) if std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_socket()) => {
                std::fs::remove_file(p).is_ok()
            }
            _ => false,
        }
    }

    /// In a freshly forked worker: closes the inherited stats socket, so that only the master
    /// holds it (otherwise an exec-reloaded master could not bind it again while old workers
    /// finish). The caller must not drop this `StatsServer` afterwards in that process (a
    /// worker never returns: it exits).
    pub fn close_in_child(&self) {
        // SAFETY: called once in a child that only exits afterwards; the fd is ours.
        unsafe { libc::close(self.fd()) };
    }

    /// Answers every pending connection (call when the fd is readable; it never blocks on
    /// accept). One snapshot serves all of them.
    pub fn serve_ready(&self, view: &MasterView) {
        let started = Instant::now();
        let mut stats: Option<Stats> = None;
        while started.elapsed() < CALL_BUDGET {
            let conn = match nix::sys::socket::accept4(
                self.fd(),
                nix::sys::socket::SockFlag::SOCK_NONBLOCK
                    | nix::sys::socket::SockFlag::SOCK_CLOEXEC,
            ) {
                // SAFETY: accept4 returned a new fd that nothing else owns.
                Ok(fd) => unsafe { OwnedFd::from_raw_fd(fd) },
                Err(nix::errno::Errno::EINTR | nix::errno::Errno::ECONNABORTED) => continue,
                Err(_) => return,
            };
            let deadline = (Instant::now() + CLIENT_BUDGET).min(started + CALL_BUDGET);
            self.answer(&conn, view, &mut stats, deadline);
        }
    }

    fn answer(
        &self,
        conn: &OwnedFd,
        view: &MasterView,
        cache: &mut Option<Stats>,
        deadline: Instant,
    ) {
        let fd = conn.as_raw_fd();
        let mut out = Vec::new();
        if self.http {
            let head = read_head(fd, deadline);
            if head.is_empty() {
                // As uWSGI: a client that sends nothing gets nothing.
                return;
            }
            let stats = cache.get_or_insert_with(|| snapshot::build(view));
            if is_metrics(&head) {
                out.extend_from_slice(b"HTTP/1.0 200 OK\r\nConnection: close\r\nContent-Type: ");
                out.extend_from_slice(super::prometheus::CONTENT_TYPE.as_bytes());
                out.extend_from_slice(b"\r\n\r\n");
                out.extend_from_slice(super::prometheus::render(stats).as_bytes());
            } else {
                out.extend_from_slice(
                    b"HTTP/1.0 200 OK\r\nConnection: close\r\nAccess-Control-Allow-Origin: *\r\nContent-Type: application/json\r\n\r\n",
                );
                out.extend_from_slice(&stats.to_json());
            }
        } else {
            out = cache.get_or_insert_with(|| snapshot::build(view)).to_json();
        }
        if write_all(fd, &out, deadline) {
            let _ = nix::sys::socket::shutdown(fd, nix::sys::socket::Shutdown::Write);
            // Drain what the client sent (without waiting) so close() does not reset the
            // connection before the client has read the answer.
            let mut buf = [0u8; 4096];
            for _ in 0..16 {
                // SAFETY: reading into our own buffer from our own non-blocking fd.
                let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
                if n <= 0 {
                    break;
                }
            }
        }
    }
}

/// Whether an HTTP request head asks for `/metrics`.
fn is_metrics(head: &[u8]) -> bool {
    let line = head.split(|&b| b == b'\n').next().unwrap_or(b"");
    let mut parts = line.split(|&b| b == b' ');
    let _method = parts.next();
    let target = parts.next().unwrap_or(b"");
    let path = target.split(|&b| b == b'?').next().unwrap_or(b"");
    path == b"/metrics"
}

/// Waits until `fd` is ready for `events` or the deadline passes.
fn wait(fd: RawFd, events: libc::c_short, deadline: Instant) -> bool {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        let mut p = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        let ms = left.as_millis().clamp(1, 10_000) as libc::c_int;
        // SAFETY: one pollfd we own.
        let r = unsafe { libc::poll(&mut p, 1, ms) };
        if r > 0 {
            return true;
        }
        if r < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return false;
        }
    }
}

/// Reads an HTTP request head (up to the blank line, [`MAX_HEAD`] bytes, EOF or the deadline).
fn read_head(fd: RawFd, deadline: Instant) -> Vec<u8> {
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while head.len() < MAX_HEAD && !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if !wait(fd, libc::POLLIN, deadline) {
            break;
        }
        // SAFETY: reading into our own buffer.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n > 0 {
            head.extend_from_slice(&buf[..n as usize]);
        } else if n == 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::WouldBlock
        {
            break;
        }
    }
    head
}

/// Writes everything before the deadline; false when the client did not take it in time.
fn write_all(fd: RawFd, mut data: &[u8], deadline: Instant) -> bool {
    while !data.is_empty() {
        // SAFETY: writing from our own buffer; MSG_NOSIGNAL so a gone client is EPIPE, not a
        // signal.
        let n = unsafe { libc::send(fd, data.as_ptr().cast(), data.len(), libc::MSG_NOSIGNAL) };
        if n > 0 {
            data = &data[n as usize..];
            continue;
        }
        match std::io::Error::last_os_error().kind() {
            std::io::ErrorKind::WouldBlock => {
                if !wait(fd, libc::POLLOUT, deadline) {
                    return false;
                }
            }
            std::io::ErrorKind::Interrupted => {}
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::scoreboard::Scoreboard;
    use crate::stats::snapshot::{AppInfo, SocketInfo};
    use std::io::{Read, Write};

    fn view(sb: &Scoreboard) -> MasterView<'_> {
        MasterView {
            scoreboard: sb,
            sockets: Vec::<SocketInfo>::new(),
            master_pid: std::process::id(),
            processes: sb.workers(),
            threads: sb.cores(),
            apps: vec![AppInfo {
                id: 0,
                mountpoint: String::new(),
                startup_time: 0,
            }],
            memory_sampling: false,
        }
    }

    /// Serves until the client thread has finished (bounded).
    fn serve_until<T>(
        srv: &StatsServer,
        sb: &Scoreboard,
        client: &std::thread::ScopedJoinHandle<T>,
    ) {
        let until = Instant::now() + Duration::from_secs(10);
        while !client.is_finished() && Instant::now() < until {
            if wait(
                srv.fd(),
                libc::POLLIN,
                Instant::now() + Duration::from_millis(50),
            ) {
                srv.serve_ready(&view(sb));
            }
        }
    }

    #[test]
    fn plain_unix_socket_writes_json_and_closes_and_replaces_a_stale_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stats.sock");
        // A stale socket file from a crashed run.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let srv = StatsServer::bind("stats.sock", false, dir.path(), 16).unwrap();
        assert_eq!(srv.unix_path(), Some(path.as_path()));
        let sb = Scoreboard::new(2, 1).unwrap();
        sb.worker(1)
            .requests
            .store(7, std::sync::atomic::Ordering::Relaxed);
        std::thread::scope(|s| {
            let client = s.spawn(|| {
                let mut c = std::os::unix::net::UnixStream::connect(&path).unwrap();
                c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut out = Vec::new();
                c.read_to_end(&mut out).unwrap();
                out
            });
            serve_until(&srv, &sb, &client);
            let out = client.join().unwrap();
            let st = Stats::from_json(&out).unwrap();
            assert_eq!(st.workers[0].requests, 7);
            assert_eq!(st.pid, i64::from(std::process::id()));
        });
        assert!(srv.vacuum());
        assert!(!path.exists());
    }

    #[test]
    fn http_mode_answers_json_and_metrics() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let srv =
            StatsServer::bind(&format!("127.0.0.1:{port}"), true, Path::new("/"), 16).unwrap();
        assert!(srv.unix_path().is_none());
        let sb = Scoreboard::new(1, 1).unwrap();
        let get = |path: &str| {
            let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            write!(c, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut out = Vec::new();
            c.read_to_end(&mut out).unwrap();
            String::from_utf8(out).unwrap()
        };
        std::thread::scope(|s| {
            let client = s.spawn(|| (get("/"), get("/metrics?x=1")));
            serve_until(&srv, &sb, &client);
            let (json, metrics) = client.join().unwrap();
            assert!(json.starts_with("HTTP/1.0 200 OK\r\nConnection: close\r\nAccess-Control-Allow-Origin: *\r\nContent-Type: application/json\r\n\r\n{"), "{json}");
            let body = json.split_once("\r\n\r\n").unwrap().1;
            assert!(serde_json::from_str::<serde_json::Value>(body).is_ok());
            assert!(metrics.contains("version=0.0.4"), "{metrics}");
            assert!(metrics.contains("# TYPE rw_requests_total counter"));
        });
    }

    #[test]
    fn a_client_that_never_reads_costs_at_most_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let srv = StatsServer::bind("s.sock", true, dir.path(), 16).unwrap();
        let sb = Scoreboard::new(1, 1).unwrap();
        // Connected, but sends nothing: HTTP mode waits for a request, at most CLIENT_BUDGET.
        let _silent = std::os::unix::net::UnixStream::connect(dir.path().join("s.sock")).unwrap();
        let t = Instant::now();
        srv.serve_ready(&view(&sb));
        assert!(t.elapsed() < CLIENT_BUDGET + Duration::from_millis(500));
    }

    #[test]
    fn a_client_that_never_reads_a_big_answer_costs_at_most_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let srv = StatsServer::bind("s.sock", false, dir.path(), 16).unwrap();
        // ~2 MB of JSON: far more than a unix socket buffers.
        let sb = Scoreboard::new(64, 16).unwrap();
        let big: Vec<crate::proto::Var> = vec![(b"HTTP_X"[..].into(), vec![b'\x01'; 2000].into())];
        for w in 1..=64 {
            sb.worker(w).on_spawn(1, 1);
            for c in 0..16 {
                sb.core(w, c).begin(1, &big);
            }
        }
        let _stuck = std::os::unix::net::UnixStream::connect(dir.path().join("s.sock")).unwrap();
        let t = Instant::now();
        srv.serve_ready(&view(&sb));
        let took = t.elapsed();
        assert!(
            took >= CLIENT_BUDGET - Duration::from_millis(100),
            "{took:?}: answer fitted?"
        );
        assert!(
            took < CLIENT_BUDGET + Duration::from_millis(500),
            "{took:?}"
        );
    }

    #[test]
    fn request_target_routing() {
        assert!(is_metrics(b"GET /metrics HTTP/1.1\r\n"));
        assert!(is_metrics(b"GET /metrics?a=b HTTP/1.0\r\n"));
        assert!(!is_metrics(b"GET / HTTP/1.1\r\n"));
        assert!(!is_metrics(b"GET /metricsx HTTP/1.1\r\n"));
    }
}
