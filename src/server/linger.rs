//! Lingering close: a connection closed with input still unread (a 4xx before its body, a
//! body the app left, a request pipelined after `Connection: close`) would make the kernel
//! answer that input with a reset, and a reset can destroy the response before the client
//! reads it. So the write side is shut (the client reads our answer, then end of stream), and
//! what the client still sends is read and dropped, bounded in time and bytes, while the
//! connection waits parked in the worker's poller (no thread is held); then it closes.

use crate::net::socket::Socket;
use std::time::{Duration, Instant};

/// How long a lingering connection is kept at most (from its shutdown). Clients that write
/// the whole request before reading (Python's `requests`, many load balancers' health
/// checks) need the time to finish sending; nginx lingers up to 30 s, but a client that
/// reads while it writes has the answer within a round trip.
pub const LINGER_TIME: Duration = Duration::from_secs(5);

/// The most a lingering connection may send before it is closed anyway.
pub const LINGER_BYTES: u64 = 8 << 20;

/// A lingering connection's progress.
#[derive(Debug, Clone, Copy)]
pub struct Linger {
    since: Instant,
    drained: u64,
}

/// What to do with a lingering connection after a drain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drained {
    /// The client finished (end of stream or error), or used its allowance: close now.
    Close,
    /// Nothing more to read now: wait parked for more.
    Wait,
}

impl Linger {
    /// Shuts the write side of `sock` (a second shutdown after a `closing` write is harmless).
    pub fn start(sock: &Socket) -> Linger {
        sock.shutdown_write();
        Linger {
            since: Instant::now(),
            drained: 0,
        }
    }

    /// Reads and drops what the client has sent, never waiting.
    pub fn drain(&mut self, sock: &Socket) -> Drained {
        let mut scratch = [0u8; 16 * 1024];
        loop {
            match sock.read_now(&mut scratch) {
                Ok(Some(0)) | Err(_) => return Drained::Close,
                Ok(Some(n)) => {
                    self.drained += n as u64;
                    if self.drained >= LINGER_BYTES {
                        return Drained::Close;
                    }
                }
                Ok(None) => return Drained::Wait,
            }
        }
    }

    /// Past its time: close without reading more.
    pub fn expired(&self) -> bool {
        self.since.elapsed() >= LINGER_TIME
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::net::UnixStream;

    fn pair() -> (Socket, UnixStream) {
        let (a, b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let sock = Socket::new(
            a.into(),
            Duration::from_secs(1),
            crate::net::socket::no_hook,
        );
        (sock, b)
    }

    #[test]
    fn drains_until_the_client_closes() {
        let (sock, mut peer) = pair();
        let mut l = Linger::start(&sock);
        assert_eq!(l.drain(&sock), Drained::Wait, "nothing sent yet");
        peer.write_all(&[7u8; 40_000]).unwrap();
        assert_eq!(l.drain(&sock), Drained::Wait);
        assert_eq!(l.drained, 40_000);
        drop(peer);
        assert_eq!(l.drain(&sock), Drained::Close, "end of stream");
        assert!(!l.expired());
    }

    #[test]
    fn gives_up_after_its_byte_allowance() {
        let (sock, peer) = pair();
        let mut l = Linger::start(&sock);
        l.drained = LINGER_BYTES - 10;
        let writer = std::thread::spawn(move || {
            let mut peer = peer;
            let _ = peer.write_all(&[1u8; 64]);
            peer
        });
        let peer = writer.join().unwrap();
        assert_eq!(l.drain(&sock), Drained::Close);
        drop(peer);
    }
}
