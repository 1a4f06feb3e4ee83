//! The stats server, served by the master inside its poll loop: on each connection it writes
//! the stats JSON and closes (`stats`), or reads an HTTP request first and answers it
//! (`stats-http`, where `GET /metrics` gives Prometheus text).
//!
//! The master never waits on a stats client: the listener and every client socket sit in the
//! server's own epoll (whose fd the master polls), each client is a small state machine advanced
//! by non-blocking reads and writes when its socket is ready, and a client that has not been
//! answered within [`CLIENT_BUDGET`] is closed. Clients that send nothing or never read cost the
//! master nothing while they wait, so respawns and harakiri are never delayed by them. At most
//! [`MAX_CLIENTS`] are held; more wait in the listen queue. accept(2) out of fds pauses the
//! listener (`net::accept_backoff`) instead of spinning.

use super::schema::Stats;
use super::snapshot::{self, MasterView};
use crate::net::accept_backoff::{self, AcceptBackoff};
use crate::net::addr::Addr;
use crate::net::epoll::{Events, Poller, Ready};
use crate::net::listen::{self, BindOptions, Proto};
use anyhow::Context;
use std::cell::RefCell;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a client may take from accept to the end of its answer before it is closed.
pub const CLIENT_BUDGET: Duration = Duration::from_secs(1);
/// Clients held at once; further connections wait in the kernel's listen queue.
pub const MAX_CLIENTS: usize = 64;
/// The largest HTTP request head read (the rest is ignored).
const MAX_HEAD: usize = 8192;
/// Key of the listener in the server's own poller; client `i` is `i + 1`.
const LISTENER_KEY: usize = 0;

/// A bound stats socket and the clients it is answering.
#[derive(Debug)]
pub struct StatsServer {
    fd: OwnedFd,
    http: bool,
    name: String,
    unix_path: Option<PathBuf>,
    /// The listener and the clients' sockets (oneshot); the master polls its fd.
    poller: Poller,
    state: RefCell<State>,
    /// accept(2) failures for lack of fds or memory (the document's `stats_accept_failures`).
    accept_failures: std::cell::Cell<u64>,
}

#[derive(Debug, Default)]
struct State {
    clients: Vec<Option<Client>>,
    backoff: AcceptBackoff,
    /// The listener is disarmed because [`MAX_CLIENTS`] are held or accept(2) is paused.
    listener_idle: bool,
}

#[derive(Debug)]
struct Client {
    fd: OwnedFd,
    head: Vec<u8>,
    /// The answer, once known, and how much of it has been sent.
    out: Option<(Vec<u8>, usize)>,
    deadline: Instant,
}

/// What a client needs next.
enum Step {
    Read,
    Write,
    Done,
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
        let poller = Poller::new().context("creating the stats server's poller")?;
        poller
            .add_oneshot(l.fd.as_raw_fd(), LISTENER_KEY, Ready::Read)
            .context("registering the stats listener")?;
        Ok(StatsServer {
            fd: l.fd,
            http,
            name: addr.to_string(),
            unix_path,
            poller,
            state: RefCell::new(State::default()),
            accept_failures: std::cell::Cell::new(0),
        })
    }

    /// The listening fd (the banner shows it).
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// The fd the master registers, readable, in its poller: the server's own epoll, ready when
    /// the listener or a client is. Re-arm it after each [`StatsServer::serve_ready`].
    pub fn poll_fd(&self) -> RawFd {
        self.poller.raw()
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

    /// In a freshly forked worker: closes the inherited stats socket, its poller and any
    /// client sockets, so that only the master holds them (otherwise an exec-reloaded master
    /// could not bind the socket again while old workers finish, and a client's connection
    /// would outlive the master's close). Consumes the server: each fd is closed exactly once.
    pub fn close_in_child(self) {
        let state = self.state.into_inner();
        let fds = std::iter::once(self.fd)
            .chain(state.clients.into_iter().flatten().map(|c| c.fd))
            .map(IntoRawFd::into_raw_fd);
        for fd in fds {
            // SAFETY: fds this process owned, released from their OwnedFd first.
            unsafe { libc::close(fd) };
        }
        // Closing the epoll fd only drops this process's reference: the master's registrations
        // live on (a poller that deregisters on drop, like the `polling` crate's, would remove
        // them from the epoll both processes share).
        drop(self.poller);
    }

    /// Advances every ready client and accepts new ones, without blocking: call when
    /// [`StatsServer::poll_fd`] is readable, and at least once a second (it also closes the
    /// clients past their budget and ends an accept pause). One snapshot serves every answer
    /// of a call.
    pub fn serve_ready(&self, view: &MasterView) {
        let mut st = self.state.borrow_mut();
        let now = Instant::now();
        let mut cache: Option<Stats> = None;
        let mut events = Events::with_capacity(MAX_CLIENTS + 1);
        let _ = self.poller.wait(&mut events, Some(Duration::ZERO));
        for key in events.keys() {
            if key == LISTENER_KEY {
                self.accept_all(&mut st, now, view, &mut cache);
            } else if let Some(Some(mut c)) = st.clients.get_mut(key - 1).map(Option::take) {
                match self.advance(&mut c, view, &mut cache) {
                    Step::Done => self.forget(&c),
                    step => {
                        self.arm(&c, key, &step);
                        st.clients[key - 1] = Some(c);
                    }
                }
            }
        }
        for i in 0..st.clients.len() {
            if st.clients[i].as_ref().is_some_and(|c| now >= c.deadline) {
                if let Some(c) = st.clients[i].take() {
                    self.forget(&c);
                }
            }
        }
        let paused = st.backoff.is_paused(now);
        let full = st.clients.iter().all(Option::is_some) && st.clients.len() >= MAX_CLIENTS;
        if st.listener_idle && !paused && !full {
            st.backoff.resume_due(now);
            st.listener_idle = false;
            self.arm_listener();
        }
    }

    /// The stats document, with what only the stats server knows.
    fn snapshot(&self, view: &MasterView) -> Stats {
        let mut stats = snapshot::build(view);
        stats.stats_accept_failures = Some(self.accept_failures.get());
        stats
    }

    fn accept_all(
        &self,
        st: &mut State,
        now: Instant,
        view: &MasterView,
        cache: &mut Option<Stats>,
    ) {
        loop {
            let Some(slot) = free_slot(&mut st.clients) else {
                st.listener_idle = true; // re-armed once a client is done
                return;
            };
            let fd = match nix::sys::socket::accept4(
                self.fd(),
                nix::sys::socket::SockFlag::SOCK_NONBLOCK
                    | nix::sys::socket::SockFlag::SOCK_CLOEXEC,
            ) {
                // SAFETY: accept4 returned a new fd that nothing else owns.
                Ok(fd) => unsafe { OwnedFd::from_raw_fd(fd) },
                Err(nix::errno::Errno::EINTR | nix::errno::Errno::ECONNABORTED) => continue,
                Err(e) if accept_backoff::is_resource_limit(e as i32) => {
                    self.accept_failures.set(self.accept_failures.get() + 1);
                    let err = std::io::Error::from(e);
                    if let Some(line) = st.backoff.fail(now, &err, &format!("stats {}", self.name))
                    {
                        eprintln!("{line}");
                    }
                    st.listener_idle = true;
                    return;
                }
                Err(_) => break,
            };
            st.backoff.succeeded();
            let mut c = Client {
                fd,
                head: Vec::new(),
                out: None,
                deadline: now + CLIENT_BUDGET,
            };
            match self.advance(&mut c, view, cache) {
                Step::Done => {}
                step => {
                    let key = slot + 1;
                    // The fd lives in `clients` until `forget` deletes it from the poller,
                    // before it is closed.
                    if self
                        .poller
                        .add_oneshot(c.fd.as_raw_fd(), key, ready_for(&step))
                        .is_ok()
                    {
                        st.clients[slot] = Some(c);
                    }
                }
            }
        }
        self.arm_listener();
    }

    /// Reads the request (stats-http) and writes the answer as far as the socket allows.
    fn advance(&self, c: &mut Client, view: &MasterView, cache: &mut Option<Stats>) -> Step {
        let fd = c.fd.as_raw_fd();
        if c.out.is_none() {
            let mut out = Vec::new();
            if self.http {
                let mut eof = false;
                let mut buf = [0u8; 2048];
                while c.head.len() < MAX_HEAD && !head_complete(&c.head) {
                    // SAFETY: reading into our own buffer from our own non-blocking fd.
                    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
                    if n > 0 {
                        c.head.extend_from_slice(&buf[..n as usize]);
                    } else if n == 0 {
                        eof = true;
                        break;
                    } else {
                        match std::io::Error::last_os_error().kind() {
                            std::io::ErrorKind::WouldBlock => break,
                            std::io::ErrorKind::Interrupted => {}
                            _ => return Step::Done,
                        }
                    }
                }
                let complete = head_complete(&c.head) || c.head.len() >= MAX_HEAD;
                if !complete && !eof {
                    return Step::Read;
                }
                if c.head.is_empty() {
                    // As uWSGI: a client that sends nothing gets nothing.
                    return Step::Done;
                }
                let stats = cache.get_or_insert_with(|| self.snapshot(view));
                if is_metrics(&c.head) {
                    out.extend_from_slice(
                        b"HTTP/1.0 200 OK\r\nConnection: close\r\nContent-Type: ",
                    );
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
                out = cache.get_or_insert_with(|| self.snapshot(view)).to_json();
            }
            c.out = Some((out, 0));
        }
        let Some((out, sent)) = &mut c.out else {
            return Step::Done;
        };
        while *sent < out.len() {
            let rest = &out[*sent..];
            // SAFETY: writing from our own buffer; MSG_NOSIGNAL so a gone client is EPIPE,
            // not a signal.
            let n = unsafe { libc::send(fd, rest.as_ptr().cast(), rest.len(), libc::MSG_NOSIGNAL) };
            if n > 0 {
                *sent += n as usize;
                continue;
            }
            match std::io::Error::last_os_error().kind() {
                std::io::ErrorKind::WouldBlock => return Step::Write,
                std::io::ErrorKind::Interrupted => {}
                _ => return Step::Done,
            }
        }
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
        Step::Done
    }

    fn arm(&self, c: &Client, key: usize, step: &Step) {
        let _ = self
            .poller
            .rearm_for(c.fd.as_raw_fd(), key, ready_for(step));
    }

    fn arm_listener(&self) {
        let _ = self.poller.rearm_for(self.fd(), LISTENER_KEY, Ready::Read);
    }

    /// Takes a finished or expired client out of the poller; dropping it closes the socket.
    fn forget(&self, c: &Client) {
        let _ = self.poller.delete(c.fd.as_raw_fd());
    }
}

fn ready_for(step: &Step) -> Ready {
    match step {
        Step::Write => Ready::Write,
        _ => Ready::Read,
    }
}

/// The first free client slot, growing the table up to [`MAX_CLIENTS`].
fn free_slot(clients: &mut Vec<Option<Client>>) -> Option<usize> {
    if let Some(i) = clients.iter().position(Option::is_none) {
        return Some(i);
    }
    if clients.len() < MAX_CLIENTS {
        clients.push(None);
        return Some(clients.len() - 1);
    }
    None
}

fn head_complete(head: &[u8]) -> bool {
    head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n")
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
            caches: Vec::new(),
            master_pid: std::process::id(),
            processes: sb.workers(),
            threads: sb.cores(),
            apps: vec![AppInfo {
                id: 0,
                mountpoint: String::new(),
                startup_time: 0,
            }],
            memory_sampling: false,
            cheaper: None,
            daemons: Vec::new(),
            crons: Vec::new(),
            spoolers: Vec::new(),
        }
    }

    /// Waits (at most `ms`) until the server's poller fd is readable.
    fn ready(srv: &StatsServer, ms: i32) -> bool {
        let mut p = libc::pollfd {
            fd: srv.poll_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd we own.
        unsafe { libc::poll(&mut p, 1, ms) > 0 }
    }

    fn held(srv: &StatsServer) -> usize {
        srv.state.borrow().clients.iter().flatten().count()
    }

    /// Serves, as the master loop does, until the client thread has finished (bounded).
    fn serve_until<T>(
        srv: &StatsServer,
        sb: &Scoreboard,
        client: &std::thread::ScopedJoinHandle<T>,
    ) {
        let until = Instant::now() + Duration::from_secs(10);
        while !client.is_finished() && Instant::now() < until {
            ready(srv, 50);
            srv.serve_ready(&view(sb));
        }
    }

    /// Whether the peer of `c` has closed (EOF) within `secs`, serving meanwhile.
    fn closed_within(
        srv: &StatsServer,
        sb: &Scoreboard,
        c: &mut std::os::unix::net::UnixStream,
        secs: u64,
    ) -> bool {
        c.set_nonblocking(true).unwrap();
        let until = Instant::now() + Duration::from_secs(secs);
        let mut buf = vec![0u8; 1 << 16];
        while Instant::now() < until {
            ready(srv, 50);
            srv.serve_ready(&view(sb));
            loop {
                match c.read(&mut buf) {
                    Ok(0) => return true,
                    Ok(_) => continue,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(_) => return true,
                }
            }
        }
        false
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
    fn a_client_that_sends_nothing_costs_the_master_no_wait_and_is_closed_after_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let srv = StatsServer::bind("s.sock", true, dir.path(), 16).unwrap();
        let sb = Scoreboard::new(1, 1).unwrap();
        // Connected, but sends nothing: stats-http waits for a request, without blocking.
        let mut silent =
            std::os::unix::net::UnixStream::connect(dir.path().join("s.sock")).unwrap();
        assert!(ready(&srv, 5000));
        let t = Instant::now();
        srv.serve_ready(&view(&sb));
        // Returned with the client still waiting for its request: nothing blocked on it.
        assert_eq!(held(&srv), 1);
        // Meanwhile another client is answered, while the silent one is still held.
        let mut c = std::os::unix::net::UnixStream::connect(dir.path().join("s.sock")).unwrap();
        c.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        let mut answer = Vec::new();
        let until = Instant::now() + Duration::from_secs(5);
        c.set_nonblocking(true).unwrap();
        while Instant::now() < until && !answer.ends_with(b"}") {
            ready(&srv, 50);
            srv.serve_ready(&view(&sb));
            let mut buf = [0u8; 4096];
            if let Ok(n) = c.read(&mut buf) {
                answer.extend_from_slice(&buf[..n]);
            }
        }
        assert!(answer.starts_with(b"HTTP/1.0 200 OK"), "{answer:?}");
        if t.elapsed() < CLIENT_BUDGET {
            assert_eq!(held(&srv), 1, "the silent client is still held");
        }
        // The silent one is closed once its budget is spent.
        assert!(closed_within(&srv, &sb, &mut silent, 5));
        assert!(t.elapsed() >= CLIENT_BUDGET - Duration::from_millis(100));
        assert_eq!(held(&srv), 0);
    }

    #[test]
    fn a_client_that_never_reads_a_big_answer_costs_no_wait_and_is_closed_after_the_budget() {
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
        let mut stuck = std::os::unix::net::UnixStream::connect(dir.path().join("s.sock")).unwrap();
        assert!(ready(&srv, 5000));
        srv.serve_ready(&view(&sb));
        // Returned with the answer half sent: nothing blocked on the client.
        assert_eq!(held(&srv), 1);
        // Not reading, the client is cut off once the budget is spent (reading now drains
        // what was sent, then EOF).
        std::thread::sleep(CLIENT_BUDGET);
        assert!(closed_within(&srv, &sb, &mut stuck, 5));
        assert_eq!(held(&srv), 0);
    }

    #[test]
    fn more_clients_than_the_table_wait_in_the_listen_queue() {
        let dir = tempfile::tempdir().unwrap();
        let srv = StatsServer::bind("s.sock", true, dir.path(), 256).unwrap();
        let sb = Scoreboard::new(1, 1).unwrap();
        let silent: Vec<_> = (0..MAX_CLIENTS + 10)
            .map(|_| std::os::unix::net::UnixStream::connect(dir.path().join("s.sock")).unwrap())
            .collect();
        ready(&srv, 5000);
        srv.serve_ready(&view(&sb));
        assert_eq!(held(&srv), MAX_CLIENTS);
        drop(silent);
        // Hung-up clients read as EOF with nothing sent: all of them are let go.
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until && held(&srv) > 0 {
            ready(&srv, 50);
            srv.serve_ready(&view(&sb));
        }
        assert_eq!(held(&srv), 0);
    }

    /// A forked worker must hold none of the stats server's sockets (and close each once: it
    /// used to close the listener by number while its OwnedFd still owned it, so the drop
    /// closed whatever fd had taken that number since).
    #[test]
    fn close_in_child_closes_the_listener_and_every_client() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let srv = StatsServer::bind("s.sock", true, dir.path(), 16).unwrap();
        let sb = Scoreboard::new(1, 1).unwrap();
        // A client that sends nothing is held by the server.
        let mut held_client = std::os::unix::net::UnixStream::connect(&path).unwrap();
        assert!(ready(&srv, 5000));
        srv.serve_ready(&view(&sb));
        assert_eq!(held(&srv), 1);
        srv.close_in_child();
        // This process held the only copies: the client sees the end, the path refuses.
        held_client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(held_client.read(&mut buf).unwrap(), 0);
        let refused = std::os::unix::net::UnixStream::connect(&path).unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    }

    #[test]
    fn request_target_routing() {
        assert!(is_metrics(b"GET /metrics HTTP/1.1\r\n"));
        assert!(is_metrics(b"GET /metrics?a=b HTTP/1.0\r\n"));
        assert!(!is_metrics(b"GET / HTTP/1.1\r\n"));
        assert!(!is_metrics(b"GET /metricsx HTTP/1.1\r\n"));
    }
}
