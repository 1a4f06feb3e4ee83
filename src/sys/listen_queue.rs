//! The kernel's listen queues: how many connections wait in a listening socket's accept queue
//! and its backlog, from TCP_INFO for TCP and from NETLINK_SOCK_DIAG for unix sockets (the
//! stats `sockets[].queue` and `max_queue`).

use std::collections::BTreeMap;
use std::os::fd::RawFd;

/// (current accept queue, backlog) of a listening TCP socket, from TCP_INFO.
pub fn tcp_queue(fd: RawFd) -> Option<(u32, u32)> {
    // SAFETY: tcp_info is plain data; zeroed is a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: fd is a socket the caller owns; info/len describe a writable buffer of that size.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&raw mut info).cast(),
            &mut len,
        )
    };
    (r == 0 && info.tcpi_state == 10/* TCP_LISTEN */)
        .then_some((info.tcpi_unacked, info.tcpi_sacked))
}

/// The inode of an open fd (how sock_diag names unix sockets).
pub fn inode_of(fd: RawFd) -> Option<u32> {
    // SAFETY: fstat on an fd the caller owns, into a zeroed stat buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    (unsafe { libc::fstat(fd, &mut st) } == 0).then_some(st.st_ino as u32)
}

/// (current accept queue, backlog) of every listening unix socket of this network namespace,
/// by inode, from NETLINK_SOCK_DIAG (UNIX_DIAG_RQLEN). `None` when the kernel does not answer
/// (no unix_diag support): the queues then report 0.
pub fn unix_listen_queues() -> Option<BTreeMap<u32, (u32, u32)>> {
    const SOCK_DIAG_BY_FAMILY: u16 = 20;
    const UDIAG_SHOW_RQLEN: u32 = 0x10;
    const UNIX_DIAG_RQLEN: u16 = 4;
    const TCP_LISTEN: u32 = 10;
    // SAFETY: plain socket(2); the result is checked and owned below.
    let raw = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            libc::NETLINK_SOCK_DIAG,
        )
    };
    if raw < 0 {
        return None;
    }
    // SAFETY: a fresh fd nothing else owns.
    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) };
    let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
    // Never let a silent kernel stall the master.
    let tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 200_000,
    };
    // SAFETY: setting a timeval option on our own socket.
    unsafe {
        libc::setsockopt(
            raw,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&raw const tv).cast(),
            size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    // nlmsghdr (16 bytes) + unix_diag_req (24 bytes).
    let mut req = Vec::with_capacity(40);
    req.extend_from_slice(&40u32.to_ne_bytes());
    req.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    req.extend_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16).to_ne_bytes());
    req.extend_from_slice(&1u32.to_ne_bytes()); // seq
    req.extend_from_slice(&0u32.to_ne_bytes()); // pid
    req.push(libc::AF_UNIX as u8); // sdiag_family
    req.push(0); // sdiag_protocol
    req.extend_from_slice(&0u16.to_ne_bytes()); // pad
    req.extend_from_slice(&(1u32 << TCP_LISTEN).to_ne_bytes()); // udiag_states
    req.extend_from_slice(&0u32.to_ne_bytes()); // udiag_ino
    req.extend_from_slice(&UDIAG_SHOW_RQLEN.to_ne_bytes()); // udiag_show
    req.extend_from_slice(&[0u8; 8]); // udiag_cookie
                                      // SAFETY: a zeroed sockaddr_nl (pid 0 = the kernel) and a buffer we own.
    let sent = unsafe {
        let mut sa: libc::sockaddr_nl = std::mem::zeroed();
        sa.nl_family = libc::AF_NETLINK as u16;
        libc::sendto(
            raw,
            req.as_ptr().cast(),
            req.len(),
            0,
            (&raw const sa).cast(),
            size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if sent != req.len() as isize {
        return None;
    }
    let mut out = BTreeMap::new();
    let mut buf = vec![0u8; 32 * 1024];
    // Bounded: a dump of a few thousand sockets takes a handful of datagrams.
    for _ in 0..1000 {
        // SAFETY: reading into a buffer we own, of its length.
        let n = unsafe { libc::recv(raw, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n <= 0 {
            return None;
        }
        match parse_diag(&buf[..n as usize], UNIX_DIAG_RQLEN, &mut out) {
            Diag::More => {}
            Diag::Done => return Some(out),
            Diag::Error => return None,
        }
    }
    None
}

enum Diag {
    More,
    Done,
    Error,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Parses one datagram of a sock_diag dump into `out`.
fn parse_diag(d: &[u8], rqlen_attr: u16, out: &mut BTreeMap<u32, (u32, u32)>) -> Diag {
    let mut off = 0;
    while off + 16 <= d.len() {
        let (Some(len), Some(ty)) = (u32_at(d, off), u16_at(d, off + 4)) else {
            return Diag::Error;
        };
        let len = len as usize;
        if len < 16 || off + len > d.len() {
            return Diag::Error;
        }
        match ty as i32 {
            libc::NLMSG_DONE => return Diag::Done,
            libc::NLMSG_ERROR => return Diag::Error,
            _ => {}
        }
        // unix_diag_msg: family, type, state, pad (4 bytes), ino (u32), cookie (8 bytes).
        if let Some(ino) = u32_at(d, off + 16 + 4) {
            let mut a = off + 16 + 16;
            while a + 4 <= off + len {
                let (Some(alen), Some(atype)) = (u16_at(d, a), u16_at(d, a + 2)) else {
                    break;
                };
                let alen = alen as usize;
                if alen < 4 {
                    break;
                }
                if atype == rqlen_attr {
                    if let (Some(rq), Some(wq)) = (u32_at(d, a + 4), u32_at(d, a + 8)) {
                        out.insert(ino, (rq, wq));
                    }
                }
                a += alen.next_multiple_of(4);
            }
        }
        off += len.next_multiple_of(4);
    }
    Diag::More
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn tcp_queue_counts_pending_connections() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let (q, backlog) = tcp_queue(l.as_raw_fd()).expect("TCP_INFO on a listener");
        assert_eq!(q, 0);
        assert!(backlog > 0);
        let _c: Vec<_> = (0..3)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert_eq!(tcp_queue(l.as_raw_fd()).unwrap().0, 3);
    }

    #[test]
    fn unix_queue_counts_pending_connections() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.sock");
        let l = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let _c: Vec<_> = (0..4)
            .map(|_| std::os::unix::net::UnixStream::connect(&path).unwrap())
            .collect();
        let Some(all) = unix_listen_queues() else {
            eprintln!("no NETLINK_SOCK_DIAG for unix sockets here; skipping");
            return;
        };
        let ino = inode_of(l.as_raw_fd()).unwrap();
        let (q, backlog) = all[&ino];
        assert_eq!(q, 4);
        assert!(backlog >= 4, "{backlog}");
    }
}
