//! `log-date` / `logdate` / `log-prefix`: the stamp uWSGI puts before the server's own log
//! lines (not before request lines, which uWSGI writes without it), and strftime for the
//! `%(ftime)` request-log variable.

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
            Stamp::Ctime => super::request_line::push_ctime(out, now),
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
