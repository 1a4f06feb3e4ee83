//! Reading a stats socket: unix path, `@abstract`, `host:port` (TCP: the address contains
//! `:`), or an `http://host:port/` URL (a `stats-http` socket).

use super::schema::Stats;
use anyhow::Context;
use std::io::{Read, Write};
use std::net::ToSocketAddrs;
use std::time::Duration;

/// Where a stats address points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Unix(String),
    Abstract(String),
    Tcp {
        host: String,
        port: u16,
    },
    Http {
        host: String,
        port: u16,
        path: String,
    },
}

impl Target {
    /// Parses as uwsgitop does: `http://…`, else `:` means TCP (split at the last `:`), `@`
    /// abstract, else a unix path.
    pub fn parse(addr: &str) -> anyhow::Result<Target> {
        if let Some(rest) = addr.strip_prefix("http://") {
            let (hostport, path) = match rest.find('/') {
                Some(i) => (&rest[..i], rest[i..].to_string()),
                None => (rest, "/".to_string()),
            };
            let (host, port) = split_host_port(hostport, 80)?;
            return Ok(Target::Http { host, port, path });
        }
        if addr.contains(':') {
            let (host, port) = split_host_port(addr, 0)?;
            return Ok(Target::Tcp { host, port });
        }
        if let Some(name) = addr.strip_prefix('@') {
            return Ok(Target::Abstract(name.to_string()));
        }
        Ok(Target::Unix(addr.to_string()))
    }

    /// The node name uwsgitop shows: the TCP host, else this machine's hostname.
    pub fn node(&self) -> String {
        match self {
            Target::Tcp { host, .. } | Target::Http { host, .. } => host.clone(),
            _ => crate::sys::host::hostname(),
        }
    }
}

fn split_host_port(s: &str, default_port: u16) -> anyhow::Result<(String, u16)> {
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) if !(s.starts_with('[') && s.ends_with(']')) => (h, Some(p)),
        _ => (s, None),
    };
    let port = match port {
        Some(p) => p
            .parse()
            .with_context(|| format!("`{p}` is not a port number"))?,
        None if default_port != 0 => default_port,
        None => anyhow::bail!("`{s}` has no port"),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = if host.is_empty() { "127.0.0.1" } else { host };
    Ok((host.to_string(), port))
}

/// A connected stream of either family.
pub enum Stream {
    Unix(std::os::unix::net::UnixStream),
    Tcp(std::net::TcpStream),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Connects (connect bounded by `timeout`, as are later reads and writes).
pub fn connect(target: &Target, timeout: Duration) -> std::io::Result<Stream> {
    let s = match target {
        Target::Unix(p) => Stream::Unix(std::os::unix::net::UnixStream::connect(p)?),
        Target::Abstract(name) => {
            use std::os::linux::net::SocketAddrExt;
            let a = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
            Stream::Unix(std::os::unix::net::UnixStream::connect_addr(&a)?)
        }
        Target::Tcp { host, port } | Target::Http { host, port, .. } => {
            let mut last = None;
            let mut found = None;
            for a in (host.as_str(), *port).to_socket_addrs()? {
                match std::net::TcpStream::connect_timeout(&a, timeout) {
                    Ok(s) => {
                        found = Some(s);
                        break;
                    }
                    Err(e) => last = Some(e),
                }
            }
            match found {
                Some(s) => Stream::Tcp(s),
                None => {
                    return Err(last.unwrap_or_else(|| {
                        std::io::Error::new(std::io::ErrorKind::NotFound, "no address")
                    }))
                }
            }
        }
    };
    match &s {
        Stream::Unix(u) => {
            u.set_read_timeout(Some(timeout))?;
            u.set_write_timeout(Some(timeout))?;
        }
        Stream::Tcp(t) => {
            t.set_read_timeout(Some(timeout))?;
            t.set_write_timeout(Some(timeout))?;
        }
    }
    Ok(s)
}

/// Connects and reads everything until the server closes. For `http://` targets it sends a
/// GET and returns only the body.
pub fn read_all(target: &Target, timeout: Duration) -> anyhow::Result<Vec<u8>> {
    let mut s = connect(target, timeout)?;
    if let Target::Http { host, port, path } = target {
        write!(
            s,
            "GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\nUser-Agent: rw/{}\r\n\r\n",
            env!("CARGO_PKG_VERSION")
        )?;
    }
    let mut out = Vec::new();
    s.read_to_end(&mut out).context("reading")?;
    if let Target::Http { .. } = target {
        let at = out
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .context("no HTTP response head")?;
        out.drain(..at + 4);
    }
    Ok(out)
}

/// `rw connect-and-read`: copies everything the socket at `addr` sends to `out` until EOF.
/// Returns the exit status: 0, or 1 (with a message on stderr) when it cannot connect or a
/// read fails or times out. A closed `out` (`| head`) ends quietly with 0.
pub fn connect_and_read(addr: &str, out: &mut impl Write, timeout: Duration) -> u8 {
    let target = match Target::parse(addr) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("rw: cannot connect to {addr}: {e:#}");
            return 1;
        }
    };
    let mut s = match connect(&target, timeout) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rw: cannot connect to {addr}: {e}");
            return 1;
        }
    };
    if let Target::Http { host, port, path } = &target {
        if let Err(e) = write!(s, "GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\n\r\n") {
            eprintln!("rw: cannot write to {addr}: {e}");
            return 1;
        }
    }
    let mut buf = vec![0u8; 64 * 1024];
    let broken = |e: &std::io::Error| e.kind() == std::io::ErrorKind::BrokenPipe;
    loop {
        let n = match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                let _ = out.flush();
                eprintln!(
                    "rw: {addr} sent nothing for {} s; giving up",
                    timeout.as_secs()
                );
                return 1;
            }
            Err(e) => {
                let _ = out.flush();
                eprintln!("rw: reading from {addr}: {e}");
                return 1;
            }
        };
        if let Err(e) = out.write_all(&buf[..n]) {
            if broken(&e) {
                return 0;
            }
            eprintln!("rw: writing output: {e}");
            return 1;
        }
    }
    match out.flush() {
        Err(e) if !broken(&e) => {
            eprintln!("rw: writing output: {e}");
            1
        }
        _ => 0,
    }
}

/// One stats document from `target`.
pub fn fetch(target: &Target, timeout: Duration) -> anyhow::Result<(Stats, Vec<u8>)> {
    let raw = read_all(target, timeout)?;
    let stats = Stats::from_json(&raw).context("the server sent invalid stats JSON")?;
    Ok((stats, raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_forms() {
        assert_eq!(
            Target::parse("127.0.0.1:9191").unwrap(),
            Target::Tcp {
                host: "127.0.0.1".into(),
                port: 9191
            }
        );
        assert_eq!(
            Target::parse(":9191").unwrap(),
            Target::Tcp {
                host: "127.0.0.1".into(),
                port: 9191
            }
        );
        assert_eq!(
            Target::parse("[::1]:9191").unwrap(),
            Target::Tcp {
                host: "::1".into(),
                port: 9191
            }
        );
        assert_eq!(
            Target::parse("uwsgi/stats.sock").unwrap(),
            Target::Unix("uwsgi/stats.sock".into())
        );
        assert_eq!(
            Target::parse("@rw-stats").unwrap(),
            Target::Abstract("rw-stats".into())
        );
        assert_eq!(
            Target::parse("http://127.0.0.1:9191").unwrap(),
            Target::Http {
                host: "127.0.0.1".into(),
                port: 9191,
                path: "/".into()
            }
        );
        assert!(Target::parse("host:port").is_err());
        assert_eq!(Target::parse("10.0.0.1:1").unwrap().node(), "10.0.0.1");
    }

    #[test]
    fn reads_until_eof_over_unix_and_abstract() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let l = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let t = std::thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            c.write_all(b"{\"workers\":[]}").unwrap();
        });
        let target = Target::Unix(path.display().to_string());
        let (s, raw) = fetch(&target, Duration::from_secs(5)).unwrap();
        t.join().unwrap();
        assert!(s.workers.is_empty());
        assert_eq!(raw, b"{\"workers\":[]}");
        let err = read_all(
            &Target::Unix(dir.path().join("nope").display().to_string()),
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("No such file"), "{err:#}");
    }

    /// A writer that fails like a closed pipe after `left` bytes.
    struct Pipe {
        left: usize,
    }

    impl Write for Pipe {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.left == 0 {
                return Err(std::io::ErrorKind::BrokenPipe.into());
            }
            let n = buf.len().min(self.left);
            self.left -= n;
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn connect_and_read_copies_until_eof_and_survives_a_closed_pipe() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let t = std::thread::spawn(move || {
            for _ in 0..2 {
                let (mut c, _) = l.accept().unwrap();
                let _ = c.write_all(&vec![b'x'; 300_000]);
            }
        });
        let mut out = Vec::new();
        assert_eq!(connect_and_read(&addr, &mut out, Duration::from_secs(5)), 0);
        assert_eq!(out.len(), 300_000);
        let mut head = Pipe { left: 10 };
        assert_eq!(
            connect_and_read(&addr, &mut head, Duration::from_secs(5)),
            0
        );
        t.join().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        assert_eq!(
            connect_and_read(
                &format!("127.0.0.1:{port}"),
                &mut Vec::new(),
                Duration::from_secs(1)
            ),
            1
        );
    }
}
