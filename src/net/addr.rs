//! Socket addresses as uWSGI configs write them (`host:port`, `:port`, `[::1]:port`, a unix
//! path, `@abstract`), and the address a socket is actually bound to.

use anyhow::Context;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};

/// A parsed socket address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addr {
    Tcp(SocketAddr),
    Unix(PathBuf),
    Abstract(String),
}

impl std::fmt::Display for Addr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Addr::Tcp(a) => write!(f, "{a}"),
            Addr::Unix(p) => write!(f, "{}", p.display()),
            Addr::Abstract(name) => write!(f, "@{name}"),
        }
    }
}

/// Parses `host:port`, `:port`, `[::1]:port`, a unix path (no `:`) or `@abstract`.
pub fn parse_addr(text: &str, base: &Path) -> anyhow::Result<Addr> {
    if let Some(name) = text.strip_prefix('@') {
        return Ok(Addr::Abstract(name.to_string()));
    }
    if !text.contains(':') {
        return Ok(Addr::Unix(base.join(text)));
    }
    let (host, port) = text.rsplit_once(':').context("address needs host:port")?;
    let port: u16 = port
        .parse()
        .with_context(|| format!("`{text}`: `{port}` is not a port number"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    let addr = (host, port)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve `{host}`"))?
        .next()
        .with_context(|| format!("`{host}` has no address"))?;
    Ok(Addr::Tcp(addr))
}

/// Whether a socket systemd bound serves for a configured address: equal, or both "any
/// address" on the same port (systemd's `ListenStream=8000` is `[::]:8000`, ours `0.0.0.0:8000`).
pub fn same_address(got: &Addr, want: &Addr) -> bool {
    match (got, want) {
        (Addr::Tcp(g), Addr::Tcp(w)) => {
            g == w || (g.port() == w.port() && g.ip().is_unspecified() && w.ip().is_unspecified())
        }
        _ => got == want,
    }
}

/// The address a listening socket is bound to.
pub fn local_addr(fd: RawFd) -> Option<Addr> {
    use nix::sys::socket::{getsockname, SockaddrLike, SockaddrStorage};
    let sa: SockaddrStorage = getsockname(fd).ok()?;
    if let Some(v4) = sa.as_sockaddr_in() {
        return Some(Addr::Tcp(std::net::SocketAddr::from((v4.ip(), v4.port()))));
    }
    if let Some(v6) = sa.as_sockaddr_in6() {
        return Some(Addr::Tcp(std::net::SocketAddr::from((v6.ip(), v6.port()))));
    }
    let un = sa.as_unix_addr()?;
    if let Some(p) = un.path() {
        return Some(Addr::Unix(p.to_path_buf()));
    }
    let _ = sa.len();
    un.as_abstract()
        .map(|a| Addr::Abstract(String::from_utf8_lossy(a).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_forms() {
        let base = Path::new("/srv");
        assert_eq!(
            parse_addr("127.0.0.1:8000", base).unwrap(),
            Addr::Tcp("127.0.0.1:8000".parse().unwrap())
        );
        assert_eq!(
            parse_addr(":8000", base).unwrap(),
            Addr::Tcp("0.0.0.0:8000".parse().unwrap())
        );
        assert_eq!(
            parse_addr("[::1]:8000", base).unwrap(),
            Addr::Tcp("[::1]:8000".parse().unwrap())
        );
        assert_eq!(
            parse_addr("run/app.sock", base).unwrap(),
            Addr::Unix("/srv/run/app.sock".into())
        );
        assert_eq!(
            parse_addr("@rw", base).unwrap(),
            Addr::Abstract("rw".into())
        );
        assert!(parse_addr("127.0.0.1:http", base).is_err());
    }

    #[test]
    fn addresses_of_listening_sockets() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        use std::os::fd::AsRawFd;
        assert_eq!(
            local_addr(l.as_raw_fd()),
            Some(Addr::Tcp(l.local_addr().unwrap()))
        );
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.sock");
        let u = std::os::unix::net::UnixListener::bind(&p).unwrap();
        assert_eq!(local_addr(u.as_raw_fd()), Some(Addr::Unix(p)));
    }
}
