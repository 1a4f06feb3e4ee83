//! systemd integration without libsystemd: `Type=notify` readiness messages to
//! `$NOTIFY_SOCKET`, and socket activation (`LISTEN_FDS`/`LISTEN_PID`).

use crate::net::addr::{local_addr, Addr};
use std::os::fd::RawFd;
use std::os::unix::net::UnixDatagram;

/// Sends one notification (`READY=1`, `STATUS=…`) if systemd asked for them; silent otherwise.
pub fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let Ok(sock) = UnixDatagram::unbound() else {
        return;
    };
    let bytes = path.as_encoded_bytes();
    let r = if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(name)
            .and_then(|a| sock.send_to_addr(state.as_bytes(), &a))
    } else {
        sock.send_to(state.as_bytes(), std::path::Path::new(&path))
    };
    if let Err(e) = r {
        eprintln!("sd_notify to {}: {e}", path.to_string_lossy());
    }
}

/// `RELOADING=1` as systemd's `Type=notify-reload` wants it (with the monotonic timestamp).
pub fn notify_reloading() {
    let usec = crate::sys::clock::monotonic_us();
    notify(&format!(
        "RELOADING=1\nMONOTONIC_USEC={usec}\nSTATUS=reloading"
    ));
}

/// Listening sockets systemd passed us (fds 3.. when `LISTEN_PID` is our pid), with their
/// addresses, so each can stand in for the configured socket of the same address. The
/// variables are removed so workers and later generations do not take them again.
pub fn take_activated() -> Vec<(RawFd, Addr)> {
    let pid_ok = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    let n: i32 = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    std::env::remove_var("LISTEN_PID");
    std::env::remove_var("LISTEN_FDS");
    std::env::remove_var("LISTEN_FDNAMES");
    if !pid_ok {
        return Vec::new();
    }
    (3..3 + n)
        .filter_map(|fd| Some((fd, local_addr(fd)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_reaches_a_datagram_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let server = UnixDatagram::bind(&path).unwrap();
        std::env::set_var("NOTIFY_SOCKET", &path);
        notify("READY=1\nSTATUS=test");
        std::env::remove_var("NOTIFY_SOCKET");
        let mut buf = [0u8; 256];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=test");
    }
}
