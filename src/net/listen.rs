//! Listening sockets: binding TCP and unix sockets with the backlog, chmod and stale-socket
//! rules, and handing them over across an exec-reload.

use super::addr::{local_addr, parse_addr, same_address, Addr};
use anyhow::{bail, Context};
use nix::sys::socket::{
    self, AddressFamily, Backlog, SockFlag, SockType, SockaddrIn, SockaddrIn6, UnixAddr,
};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

/// Which protocol a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Http,
    Uwsgi,
}

impl Proto {
    /// As uWSGI's stats `sockets[].proto`.
    pub fn name(self) -> &'static str {
        match self {
            Proto::Http => "http",
            Proto::Uwsgi => "uwsgi",
        }
    }
}

/// A bound, listening, non-blocking socket.
#[derive(Debug)]
pub struct Listener {
    pub fd: OwnedFd,
    /// The address as configured (stats `sockets[].name`).
    pub name: String,
    pub proto: Proto,
    pub addr: Addr,
    pub backlog: u32,
    /// SERVER_PORT for requests on it ("80" for unix sockets, as uWSGI says).
    pub port: String,
    /// Came from the previous generation (exec-reload) rather than bound now.
    pub inherited: bool,
    /// Passed by systemd socket activation: systemd owns the file, so vacuum leaves it.
    pub activated: bool,
    /// Connections may start with a PROXY protocol header.
    pub proxy_protocol: bool,
    /// Read/write timeout of its connections when not socket-timeout (`http-timeout`).
    pub timeout: Option<std::time::Duration>,
}

impl Listener {
    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
    pub fn unix_path(&self) -> Option<&Path> {
        match &self.addr {
            Addr::Unix(p) => Some(p),
            _ => None,
        }
    }
}

/// Options that apply to every listener.
pub struct BindOptions {
    pub backlog: u32,
    pub chmod: Option<u32>,
    pub so_keepalive: bool,
    /// TCP_DEFER_ACCEPT seconds (0 = off): the kernel hands over a connection only once its
    /// first bytes arrived, so a worker never wakes for a connection it cannot read yet.
    /// Only for protocols where the client speaks first (not the stats socket).
    pub defer_accept: u32,
    /// `chown-socket`: owner (uid, gid; `None` keeps that one) of unix sockets bound now.
    pub chown: Option<(Option<u32>, Option<u32>)>,
}

/// Environment variable that carries listeners across an exec-reload: `fd=name;fd=name`, with
/// `fd:sd=name` for a listener systemd passed (socket activation), so that the next generation
/// still knows vacuum must leave it.
pub const INHERIT_ENV: &str = "RW_INHERITED_LISTENERS";

/// A listener the previous generation left open.
pub struct Inherited {
    pub fd: RawFd,
    pub name: String,
    /// It came from systemd socket activation.
    pub activated: bool,
}

/// One entry of [`INHERIT_ENV`] for `l`.
pub fn inherit_entry(l: &Listener) -> String {
    let sd = if l.activated { ":sd" } else { "" };
    format!("{}{sd}={}", l.raw(), l.name)
}

/// Takes the listeners the previous generation left open.
pub fn take_inherited() -> Vec<Inherited> {
    let Ok(v) = std::env::var(INHERIT_ENV) else {
        return Vec::new();
    };
    std::env::remove_var(INHERIT_ENV);
    parse_inherited(&v)
}

fn parse_inherited(v: &str) -> Vec<Inherited> {
    v.split(';')
        .filter_map(|p| {
            let (fd, name) = p.split_once('=')?;
            let (fd, activated) = match fd.strip_suffix(":sd") {
                Some(fd) => (fd, true),
                None => (fd, false),
            };
            Some(Inherited {
                fd: fd.parse().ok()?,
                name: name.to_string(),
                activated,
            })
        })
        .collect()
}

/// Binds (or adopts from `inherited`) one listener.
pub fn bind(
    text: &str,
    proto: Proto,
    base: &Path,
    opts: &BindOptions,
    inherited: &mut Vec<Inherited>,
    activated: &mut Vec<(RawFd, Addr)>,
) -> anyhow::Result<Listener> {
    let addr = parse_addr(text, base)?;
    let port = match &addr {
        Addr::Tcp(a) => a.port().to_string(),
        _ => "80".to_string(),
    };
    let make = |fd: OwnedFd, inherited: bool, activated: bool| Listener {
        fd,
        name: text.to_string(),
        proto,
        addr: addr.clone(),
        backlog: opts.backlog,
        port: port.clone(),
        inherited,
        activated,
        proxy_protocol: false,
        timeout: None,
    };
    if let Some(pos) = inherited.iter().position(|i| i.name == text) {
        let i = inherited.remove(pos);
        // The variable may come from anywhere (a cold start inherits whatever environment it
        // is given): an fd is served on only once it is known to be this listener.
        if let Err(why) = check_inherited(i.fd, &addr) {
            bail!(
                "{INHERIT_ENV} hands over fd {} for `{text}`, but {why}; refusing to serve on \
                 it (only an exec-reload of rw sets this variable: unset it to start afresh)",
                i.fd
            );
        }
        // SAFETY: the fd is open and a listening socket bound to this listener's address
        // (checked above), passed over for exactly this listener; nothing else in this
        // process owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(i.fd) };
        set_cloexec(fd.as_raw_fd(), true);
        return Ok(make(fd, true, i.activated));
    }
    if let Some(pos) = activated.iter().position(|(_, a)| same_address(a, &addr)) {
        let (fd, _) = activated.remove(pos);
        // SAFETY: systemd passed this fd for us alone (LISTEN_PID matched); nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        set_cloexec(fd.as_raw_fd(), true);
        set_nonblocking(fd.as_raw_fd());
        if matches!(addr, Addr::Tcp(_)) {
            let _ = socket::setsockopt(&fd, socket::sockopt::TcpNoDelay, &true);
        }
        return Ok(make(fd, true, true));
    }
    let fd = match &addr {
        Addr::Tcp(sa) => bind_tcp(sa, opts).with_context(|| format!("cannot listen on {text}"))?,
        Addr::Unix(p) => {
            bind_unix(p, opts).with_context(|| format!("cannot listen on {}", p.display()))?
        }
        Addr::Abstract(name) => {
            let ua = UnixAddr::new_abstract(name.as_bytes())?;
            let fd = new_socket(AddressFamily::Unix)?;
            socket::bind(fd.as_raw_fd(), &ua).with_context(|| format!("cannot bind @{name}"))?;
            socket::listen(&fd, backlog(opts.backlog)?)?;
            fd
        }
    };
    Ok(make(fd, false, false))
}

/// Why `fd` is not a listening socket bound to `want`, if it is not.
fn check_inherited(fd: RawFd, want: &Addr) -> Result<(), String> {
    // SAFETY: fstat on any integer is memory-safe (a closed fd is EBADF); the buffer is ours.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return Err(format!(
            "fd {fd} is not open ({})",
            std::io::Error::last_os_error()
        ));
    }
    let kind = match st.st_mode & libc::S_IFMT {
        libc::S_IFSOCK => None,
        libc::S_IFREG => Some("a regular file"),
        libc::S_IFDIR => Some("a directory"),
        libc::S_IFCHR => Some("a character device"),
        libc::S_IFBLK => Some("a block device"),
        libc::S_IFIFO => Some("a pipe"),
        _ => Some("no socket"),
    };
    if let Some(kind) = kind {
        return Err(format!("fd {fd} is not a socket (it is {kind})"));
    }
    // SAFETY: fstat just showed the fd open; the borrow ends with this call.
    let bfd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    if !socket::getsockopt(&bfd, socket::sockopt::AcceptConn).unwrap_or(false) {
        return Err(format!("fd {fd} is a socket that does not listen"));
    }
    match local_addr(fd) {
        Some(got) if bound_as_configured(&got, want) => Ok(()),
        Some(got) => Err(format!("fd {fd} is bound to {got}, not to {want}")),
        None => Err(format!(
            "fd {fd} is a socket of an address family rw does not listen on"
        )),
    }
}

/// Whether a socket bound to `got` is the one a config asking for `want` binds: the same
/// address, where port 0 ("any free port") matches the port the kernel chose.
fn bound_as_configured(got: &Addr, want: &Addr) -> bool {
    match (got, want) {
        (Addr::Tcp(g), Addr::Tcp(w)) if w.port() == 0 => g.ip() == w.ip(),
        _ => got == want,
    }
}

/// Closes the inherited listeners no configured socket took (a reload after one was removed
/// from the config). An entry that is not a listening socket is left alone: on a cold start
/// the variable may name any fd this process was given (stdout, a log), and it is not ours.
pub fn close_unused(inherited: Vec<Inherited>) {
    for i in inherited {
        // SAFETY: fstat on any integer is memory-safe; the buffer is ours.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let is_socket = unsafe { libc::fstat(i.fd, &mut st) } == 0
            && st.st_mode & libc::S_IFMT == libc::S_IFSOCK;
        // SAFETY: fstat just showed the fd open; the borrow ends with this call.
        let listening = is_socket
            && socket::getsockopt(
                &unsafe { std::os::fd::BorrowedFd::borrow_raw(i.fd) },
                socket::sockopt::AcceptConn,
            )
            .unwrap_or(false);
        if listening {
            eprintln!("closing inherited socket {} (no longer configured)", i.name);
            // SAFETY: a listening socket handed over by the previous generation that no
            // listener took; nothing else here uses it.
            unsafe { libc::close(i.fd) };
        } else {
            eprintln!(
                "{INHERIT_ENV}: fd {} (`{}`) is not a listening socket and no configured socket \
                 names it; leaving it alone",
                i.fd, i.name
            );
        }
    }
}

fn backlog(n: u32) -> anyhow::Result<Backlog> {
    Ok(Backlog::new(i32::try_from(n).unwrap_or(i32::MAX))?)
}

fn new_socket(family: AddressFamily) -> nix::Result<OwnedFd> {
    socket::socket(
        family,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )
}

fn bind_tcp(sa: &SocketAddr, opts: &BindOptions) -> anyhow::Result<OwnedFd> {
    let family = if sa.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let fd = new_socket(family)?;
    socket::setsockopt(&fd, socket::sockopt::ReuseAddr, &true)?;
    // Accepted sockets inherit it: no setsockopt per connection.
    socket::setsockopt(&fd, socket::sockopt::TcpNoDelay, &true)?;
    if opts.defer_accept > 0 {
        let secs = opts.defer_accept as libc::c_int;
        // SAFETY: setsockopt with a valid int option value on our socket.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_DEFER_ACCEPT,
                (&secs as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
    }
    if opts.so_keepalive {
        socket::setsockopt(&fd, socket::sockopt::KeepAlive, &true)?;
    }
    let r = match sa {
        SocketAddr::V4(v4) => socket::bind(fd.as_raw_fd(), &SockaddrIn::from(*v4)),
        SocketAddr::V6(v6) => socket::bind(fd.as_raw_fd(), &SockaddrIn6::from(*v6)),
    };
    if let Err(e) = r {
        if e == nix::errno::Errno::EADDRINUSE {
            bail!("address already in use: probably another server is running on {sa}");
        }
        return Err(e.into());
    }
    socket::listen(&fd, backlog(opts.backlog)?)?;
    Ok(fd)
}

fn bind_unix(path: &Path, opts: &BindOptions) -> anyhow::Result<OwnedFd> {
    use std::os::unix::fs::FileTypeExt;
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            bail!(
                "{} exists and is not a socket; refusing to replace it",
                path.display()
            );
        }
        // A socket file from a crashed run is replaced; one a live server answers on is not.
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!(
                "another server is listening on {}; stop it first",
                path.display()
            );
        }
        std::fs::remove_file(path)
            .with_context(|| format!("cannot remove stale socket {}", path.display()))?;
    }
    let fd = new_socket(AddressFamily::Unix)?;
    socket::bind(fd.as_raw_fd(), &UnixAddr::new(path)?)?;
    if let Some(mode) = opts.chmod {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("chmod-socket {mode:o} on {}", path.display()))?;
    }
    if let Some((uid, gid)) = opts.chown {
        std::os::unix::fs::chown(path, uid, gid)
            .with_context(|| format!("chown-socket on {}", path.display()))?;
    }
    socket::listen(&fd, backlog(opts.backlog)?)?;
    Ok(fd)
}

fn set_nonblocking(fd: RawFd) {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    // SAFETY: fd is a listener this process owns for the duration of the call.
    let bfd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    if let Ok(flags) = fcntl(bfd, FcntlArg::F_GETFL) {
        let _ = fcntl(
            bfd,
            FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
        );
    }
}

/// Sets or clears FD_CLOEXEC (cleared only on listeners handed to the next generation).
pub fn set_cloexec(fd: RawFd, on: bool) {
    use nix::fcntl::{fcntl, FcntlArg, FdFlag};
    // SAFETY: fd is a listener this process owns for the duration of the call.
    let bfd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    let flags = if on {
        FdFlag::FD_CLOEXEC
    } else {
        FdFlag::empty()
    };
    let _ = fcntl(bfd, FcntlArg::F_SETFD(flags));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inherited_listeners_keep_their_systemd_flag() {
        let got = parse_inherited("5=127.0.0.1:8000;6:sd=/run/rw.sock;x=bad;7");
        let got: Vec<_> = got
            .iter()
            .map(|i| (i.fd, i.name.as_str(), i.activated))
            .collect();
        assert_eq!(
            got,
            [(5, "127.0.0.1:8000", false), (6, "/run/rw.sock", true)]
        );
    }

    #[test]
    fn stale_unix_socket_is_replaced_but_live_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let opts = BindOptions {
            backlog: 16,
            chmod: Some(0o660),
            so_keepalive: false,
            defer_accept: 0,
            chown: None,
        };
        let first = bind_unix(&path, &opts).unwrap();
        let err = bind_unix(&path, &opts).unwrap_err();
        assert!(
            err.to_string().contains("another server is listening"),
            "{err}"
        );
        drop(first);
        bind_unix(&path, &opts).expect("stale socket replaced");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o660
        );
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, "x").unwrap();
        assert!(bind_unix(&path, &opts)
            .unwrap_err()
            .to_string()
            .contains("not a socket"));
    }
}
