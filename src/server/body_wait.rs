//! How long, and where, a request body is waited for: a body smaller than `post-buffering`
//! is read while its connection is parked (as a head is, so a trickling client holds no
//! thread), and every body has a total deadline (`rw-body-timeout`) and a minimum average
//! rate after a grace (`rw-body-min-rate`): `socket-timeout` alone is per read, so a client
//! sending a byte a second would keep its thread for ever. Pure decisions over bytes and
//! elapsed time.

use crate::proto::chunked::ChunkedDecoder;
use crate::proto::http::{BodyFraming, HttpError};
use std::time::Duration;

/// A request body's time limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimits {
    /// `rw-body-timeout`: the whole body within this (None: no limit).
    pub total: Option<Duration>,
    /// `rw-body-min-rate`: bytes per second on average, counted after `grace` (0: no limit).
    pub min_rate: u64,
    /// How long a body may start slowly: the connection's timeout (`socket-timeout`, or
    /// `http-timeout` on `http` listeners), which is what one silent read may take anyway.
    pub grace: Duration,
}

/// Which limit a body broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Late {
    Total,
    Rate,
}

impl Late {
    /// The 408, with the limit named in its reason.
    pub fn http_error(self) -> HttpError {
        match self {
            Late::Total => HttpError::new(408, "request body not received within rw-body-timeout"),
            Late::Rate => HttpError::new(408, "request body slower than rw-body-min-rate"),
        }
    }

    /// The option the log names.
    pub fn option(self) -> &'static str {
        match self {
            Late::Total => "rw-body-timeout",
            Late::Rate => "rw-body-min-rate",
        }
    }
}

impl BodyLimits {
    /// The configured limits, for a connection whose timeout is `grace`.
    pub fn of(s: &super::settings::Settings, grace: Duration) -> BodyLimits {
        BodyLimits {
            total: (s.body_timeout > 0).then(|| Duration::from_secs(s.body_timeout)),
            min_rate: s.body_min_rate,
            grace,
        }
    }

    /// How much longer the body may wait for its next bytes after `elapsed` with `received`
    /// bytes in: `Ok(None)` without limits, `Err` when one is already broken. The rate rule
    /// is Apache's mod_reqtimeout's: the deadline starts at `grace` and moves on by one
    /// second per `min_rate` bytes received.
    pub fn time_left(&self, elapsed: Duration, received: u64) -> Result<Option<Duration>, Late> {
        let mut left: Option<Duration> = None;
        if let Some(total) = self.total {
            if elapsed >= total {
                return Err(Late::Total);
            }
            left = Some(total - elapsed);
        }
        if self.min_rate > 0 {
            let earned = Duration::from_secs_f64(received as f64 / self.min_rate as f64);
            let deadline = self.grace.saturating_add(earned);
            if elapsed >= deadline {
                return Err(Late::Rate);
            }
            let rate_left = deadline - elapsed;
            left = Some(left.map_or(rate_left, |l| l.min(rate_left)));
        }
        Ok(left)
    }
}

/// Whether the thread may take a request now or its body should first arrive while parked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ready {
    /// Serve now: no body, the body is all here, or it is too large to wait for parked.
    Now,
    /// Wait parked for more of the body.
    Park,
    /// The buffered chunk framing is already malformed.
    Refuse(HttpError),
}

/// `buffered`: the bytes after the head. Bodies below `post_buffering` bytes (0: off) are
/// awaited parked; for a chunked body, while its raw bytes stay below that size.
pub fn ready(
    framing: BodyFraming,
    buffered: &[u8],
    post_buffering: u64,
    limit: Option<u64>,
) -> Ready {
    if post_buffering == 0 {
        return Ready::Now;
    }
    match framing {
        BodyFraming::None => Ready::Now,
        BodyFraming::Length(n) => {
            if n >= post_buffering || buffered.len() as u64 >= n {
                Ready::Now
            } else {
                Ready::Park
            }
        }
        BodyFraming::Chunked => {
            let mut probe = ChunkedDecoder::new(limit);
            let mut scratch = Vec::new();
            match probe.decode(buffered, &mut scratch) {
                Err(e) => Ready::Refuse(e),
                Ok((_, true)) => Ready::Now,
                Ok(_) if buffered.len() as u64 >= post_buffering => Ready::Now,
                Ok(_) => Ready::Park,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    fn limits(total: Option<u64>, rate: u64, grace: u64) -> BodyLimits {
        BodyLimits {
            total: total.map(S),
            min_rate: rate,
            grace: S(grace),
        }
    }

    #[test]
    fn no_limits_never_expire() {
        let l = limits(None, 0, 4);
        assert_eq!(l.time_left(S(1_000_000), 0), Ok(None));
    }

    #[test]
    fn the_total_deadline_counts_from_the_start() {
        let l = limits(Some(60), 0, 4);
        assert_eq!(l.time_left(S(10), 5), Ok(Some(S(50))));
        assert_eq!(l.time_left(S(60), 1 << 30), Err(Late::Total));
    }

    #[test]
    fn the_rate_deadline_moves_with_the_bytes() {
        let l = limits(Some(60), 1024, 4);
        assert_eq!(l.time_left(S(0), 0), Ok(Some(S(4))), "the grace first");
        assert_eq!(l.time_left(S(3), 2048), Ok(Some(S(3))), "4 s + 2 s earned");
        assert_eq!(l.time_left(S(6), 2048), Err(Late::Rate));
        // 2 bytes a second: late just after the grace.
        assert_eq!(l.time_left(Duration::from_millis(4100), 8), Err(Late::Rate));
        // Fast enough all along: the total deadline is what is left.
        assert_eq!(l.time_left(S(50), 1 << 20), Ok(Some(S(10))));
        assert_eq!(l.time_left(S(61), 1 << 30), Err(Late::Total));
    }

    #[test]
    fn small_bodies_wait_parked() {
        use BodyFraming::{Chunked, Length};
        assert_eq!(
            ready(Length(10), b"abc", 0, None),
            Ready::Now,
            "post-buffering off"
        );
        assert_eq!(ready(Length(10), b"abc", 64, None), Ready::Park);
        assert_eq!(ready(Length(3), b"abc", 64, None), Ready::Now);
        assert_eq!(ready(Length(64), b"", 64, None), Ready::Now, "not below it");
        assert_eq!(ready(BodyFraming::None, b"", 64, None), Ready::Now);
        assert_eq!(ready(Chunked, b"3\r\nabc\r\n", 64, None), Ready::Park);
        assert_eq!(
            ready(Chunked, b"3\r\nabc\r\n0\r\n\r\n", 64, None),
            Ready::Now
        );
        assert!(matches!(
            ready(Chunked, b"zz\r\n", 64, None),
            Ready::Refuse(_)
        ));
        assert_eq!(
            ready(Chunked, &[b'1'; 4], 4, None),
            Ready::Now,
            "raw bytes reach it"
        );
    }
}
