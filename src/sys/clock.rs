//! Clocks: wall time as the logs and stats count it, the monotonic clock systemd wants, and
//! local broken-down time (ctime banners, log dates, `rw top`).

use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch (0 if the clock is before it).
pub fn unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// CLOCK_MONOTONIC in microseconds: the clock systemd's `MONOTONIC_USEC` is read against
/// (std's `Instant` hides its value).
pub fn monotonic_us() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000
}

/// The parts of a local broken-down time rw prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    pub year: i64,
    /// 0-based.
    pub month: usize,
    pub mday: u32,
    pub hour: u32,
    pub min: u32,
    pub sec: u32,
    /// 0 = Sunday.
    pub wday: usize,
    /// Seconds east of UTC.
    pub gmtoff: i64,
}

/// `sec` in the process's local time zone, as C's `ctime()` and uWSGI's `localtime()` use.
// `time_t` and `tm_gmtoff` are i64 here but narrower on some 32-bit targets.
#[allow(clippy::useless_conversion)]
pub fn local_time(sec: i64) -> Option<LocalTime> {
    let t: libc::time_t = sec.try_into().ok()?;
    // SAFETY: `libc::tm` is a plain C struct (integers and a nullable `tm_zone` pointer), so all
    // zero bytes are a valid value. `localtime_r` reads `t` and writes only into `tm`, both live
    // locals for the whole call, and unlike `localtime` keeps no shared static buffer, so
    // concurrent calls from worker threads are fine. A null return (out-of-range year) is checked.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return None;
        }
        tm
    };
    Some(LocalTime {
        year: i64::from(tm.tm_year) + 1900,
        month: usize::try_from(tm.tm_mon).ok().filter(|m| *m < 12)?,
        mday: u32::try_from(tm.tm_mday).ok()?,
        hour: u32::try_from(tm.tm_hour).ok()?,
        min: u32::try_from(tm.tm_min).ok()?,
        sec: u32::try_from(tm.tm_sec).ok()?,
        wday: usize::try_from(tm.tm_wday).ok().filter(|d| *d < 7)?,
        gmtoff: tm.tm_gmtoff.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wall_clock_units_agree() {
        let (us, secs) = (unix_us(), unix_secs());
        // 2020-01-01 or later, and the two readings within a second of each other.
        assert!(secs > 1_577_836_800);
        assert!(us / 1_000_000 <= secs && secs - us / 1_000_000 <= 1);
    }

    #[test]
    fn monotonic_clock_moves_forward() {
        let a = monotonic_us();
        let b = monotonic_us();
        assert!(a > 0 && b >= a);
    }

    #[test]
    fn local_time_of_the_epoch_is_1970_or_new_year_eve() {
        let tm = local_time(0).unwrap();
        assert!(
            matches!((tm.year, tm.month), (1970, 0) | (1969, 11)),
            "{tm:?}"
        );
        // Midnight UTC is `gmtoff` seconds into the local day.
        let into_day = i64::from(tm.hour) * 3600 + i64::from(tm.min) * 60 + i64::from(tm.sec);
        assert_eq!(into_day, tm.gmtoff.rem_euclid(86_400), "{tm:?}");
    }
}
