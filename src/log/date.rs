//! `log-date` / `logdate` / `log-prefix`: the stamp uWSGI puts before the server's own log
//! lines (not before request lines, which uWSGI writes without it), and strftime for the
//! `%(ftime)` request-log variable.

use crate::sys::clock::LocalTime;
use std::cell::RefCell;
use std::ffi::CString;
use std::sync::OnceLock;

/// What goes before each server line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stamp {
    /// `ctime()` without its newline, then ` - `: `Wed Dec  2 06:39:09 2026 - `.
    Ctime,
    /// strftime of the format, then ` - `.
    Strftime(CString),
}

impl Stamp {
    /// Reads a `log-date` value as uWSGI does: no value or `true`/`1`/`on`/`yes` (any case)
    /// is the ctime date; anything else is a strftime format (even `false`: uWSGI has no way
    /// to turn it off once given; the config check warns).
    pub fn from_value(value: &str) -> Stamp {
        let v = value.to_ascii_lowercase();
        if matches!(v.as_str(), "" | "true" | "1" | "on" | "yes") {
            return Stamp::Ctime;
        }
        // An interior NUL cannot come from an ini line; drop what follows it if it does.
        let fmt = value.split('\0').next().unwrap_or_default();
        Stamp::Strftime(CString::new(fmt).unwrap_or_default())
    }

    /// The strftime format, if this stamp has one (`%(ftime)` with `logformat-strftime`).
    pub fn format(&self) -> Option<&CString> {
        match self {
            Stamp::Strftime(f) => Some(f),
            Stamp::Ctime => None,
        }
    }

    /// Appends the stamp for `now` (unix seconds), separator included.
    pub fn push(&self, out: &mut Vec<u8>, now: i64) {
        match self {
            Stamp::Ctime => push_ctime(out, now),
            Stamp::Strftime(f) => push_strftime(out, f, now),
        }
        out.extend_from_slice(b" - ");
    }
}

static STAMP: OnceLock<Stamp> = OnceLock::new();

/// Sets the stamp of this process's server lines (once, at startup; workers inherit it).
pub fn set_stamp(stamp: Stamp) {
    let _ = STAMP.set(stamp);
}

/// The stamp set at startup, if any.
pub fn stamp() -> Option<&'static Stamp> {
    STAMP.get()
}

/// Appends strftime(`fmt`) of `secs` in local time; at most 64 bytes, as uWSGI's buffer
/// (a longer result, or an error, appends nothing).
// `time_t` is i64 here but narrower on some 32-bit targets.
#[allow(clippy::useless_conversion)]
pub fn push_strftime(out: &mut Vec<u8>, fmt: &CString, secs: i64) {
    let Some(t) = libc::time_t::try_from(secs).ok() else {
        return;
    };
    let mut buf = [0 as libc::c_char; 64];
    // SAFETY: all-zero bytes are a valid `libc::tm` (integers and a nullable pointer);
    // `localtime_r` writes only into `tm`; `strftime` writes at most `buf.len()` bytes into
    // `buf` and reads the NUL-terminated `fmt`, all live for the call.
    let n = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return;
        }
        libc::strftime(buf.as_mut_ptr(), buf.len(), fmt.as_ptr(), &tm)
    };
    out.extend(buf[..n.min(buf.len())].iter().map(|&c| c as u8));
}

/// The rendered dates of one second. Converting to local time and formatting costs far more than
/// the rest of the line, and at tens of thousands of requests per second almost every request
/// falls in the same second as the previous one on its thread.
struct TimeCache {
    sec: Option<i64>,
    ctime: Vec<u8>,
    ltime: Vec<u8>,
}

thread_local! {
    static TIME_CACHE: RefCell<TimeCache> = const {
        RefCell::new(TimeCache { sec: None, ctime: Vec::new(), ltime: Vec::new() })
    };
}

fn with_dates(sec: i64, f: impl FnOnce(&TimeCache)) {
    TIME_CACHE.with_borrow_mut(|cache| {
        if cache.sec != Some(sec) {
            cache.ctime.clear();
            cache.ltime.clear();
            match crate::sys::clock::local_time(sec) {
                Some(tm) => {
                    render_ctime(&mut cache.ctime, &tm);
                    render_ltime(&mut cache.ltime, &tm);
                }
                None => {
                    cache.ctime.push(b'-');
                    cache.ltime.push(b'-');
                }
            }
            cache.sec = Some(sec);
        }
        f(cache);
    });
}

/// The current local time in C `ctime()` form, for banners.
pub fn ctime_now() -> String {
    ctime(crate::sys::clock::unix_secs() as i64)
}

/// A unix time in C `ctime()` form (local time, without the newline).
pub fn ctime(sec: i64) -> String {
    let mut v = Vec::new();
    push_ctime(&mut v, sec);
    String::from_utf8_lossy(&v).into_owned()
}

pub(super) fn push_ctime(out: &mut Vec<u8>, sec: i64) {
    with_dates(sec, |c| out.extend_from_slice(&c.ctime));
}

pub(super) fn push_ltime(out: &mut Vec<u8>, sec: i64) {
    with_dates(sec, |c| out.extend_from_slice(&c.ltime));
}

const WDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// C `asctime` layout without the newline: `Sun Nov  9 06:38:27 2026`.
fn render_ctime(out: &mut Vec<u8>, tm: &LocalTime) {
    let line = format!(
        "{} {}{:3} {:02}:{:02}:{:02} {}",
        WDAYS[tm.wday], MONTHS[tm.month], tm.mday, tm.hour, tm.min, tm.sec, tm.year
    );
    out.extend_from_slice(line.as_bytes());
}

/// strftime `%d/%b/%Y:%H:%M:%S %z`: `29/Nov/2026:06:43:44 +0000`.
fn render_ltime(out: &mut Vec<u8>, tm: &LocalTime) {
    let sign = if tm.gmtoff < 0 { '-' } else { '+' };
    let off = tm.gmtoff.unsigned_abs();
    let line = format!(
        "{:02}/{}/{}:{:02}:{:02}:{:02} {}{:02}{:02}",
        tm.mday,
        MONTHS[tm.month],
        tm.year,
        tm.hour,
        tm.min,
        tm.sec,
        sign,
        off / 3600,
        off % 3600 / 60
    );
    out.extend_from_slice(line.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_as_uwsgi_reads_them() {
        for v in ["", "true", "TRUE", "1", "on", "Yes"] {
            assert_eq!(Stamp::from_value(v), Stamp::Ctime, "{v}");
        }
        assert_eq!(
            Stamp::from_value("%Y"),
            Stamp::Strftime(CString::new("%Y").unwrap())
        );
        // uWSGI's trap: `false` is a format that prints "false".
        assert_eq!(
            Stamp::from_value("false"),
            Stamp::Strftime(CString::new("false").unwrap())
        );
    }

    #[test]
    fn stamps_render() {
        let mut out = Vec::new();
        Stamp::from_value("[%Y]").push(&mut out, 1_795_934_307);
        let s = String::from_utf8(out).unwrap();
        assert!(s == "[2026] - " || s == "[2027] - ", "{s}");
        let mut out = Vec::new();
        Stamp::Ctime.push(&mut out, 1_795_934_307);
        let s = String::from_utf8(out).unwrap();
        assert_eq!(s.len(), 24 + 3, "{s}");
        assert!(s.ends_with(" 2026 - "), "{s}");
        // Longer than uWSGI's 64-byte buffer: nothing but the separator.
        let mut out = Vec::new();
        Stamp::from_value(&"x".repeat(80)).push(&mut out, 0);
        assert_eq!(out, b" - ");
    }
}
