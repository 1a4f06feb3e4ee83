//! Formats one finished request as a log line: uWSGI's default line or a parsed `log-format` template.
//!
//! Pure formatting: the caller gathers the numbers into a [`RequestRecord`] and writes the bytes
//! wherever logs go. Every byte that came from the client passes through
//! [`push_escaped`](super::sanitize::push_escaped), so a request cannot forge lines or send escape
//! sequences to a terminal.

use crate::proto::push_decimal;

use super::date::{push_ctime, push_ltime};
use super::sanitize::push_escaped;

/// Everything a request line can show, borrowed from the worker's request state.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestRecord<'a> {
    /// Worker pid.
    pub pid: u32,
    /// 1-based worker id.
    pub worker_id: u32,
    /// Thread/core index inside the worker.
    pub core: u32,
    /// App that handled the request; -1 when no app ran (static file, no app loaded).
    pub app_id: i32,
    /// Requests served by that app in this worker; -1 when no app ran.
    pub app_requests: i64,
    /// Instance-wide finished requests, this one included.
    pub total_requests: u64,
    pub remote_addr: &'a [u8],
    pub remote_user: &'a [u8],
    /// Number of request vars; the line prints twice this (uWSGI counts keys and values).
    pub vars_count: usize,
    /// uwsgi-encoded size of the vars: sum of `4 + key.len() + value.len()`.
    pub vars_bytes: usize,
    pub start_unix_us: u64,
    pub duration_us: u64,
    pub method: &'a [u8],
    pub uri: &'a [u8],
    pub protocol: &'a [u8],
    pub status: u16,
    /// Response body bytes sent.
    pub body_bytes: u64,
    pub headers_count: usize,
    /// Status line + header lines + final CRLF.
    pub headers_bytes: usize,
    pub switches: u32,
    /// Transfer mechanism shown as ` via NAME() ` (e.g. `"sendfile"`, `"offload"`, `"route"`).
    pub via: Option<&'static str>,
    /// Request vars, for `%(var.NAME)`, `host`, `uagent`, `referer` and `cl`.
    pub vars: &'a [crate::proto::Var<'a>],
    pub rss: u64,
    pub vsz: u64,
    /// `memory-report`: prefix the default line with address-space and RSS usage.
    pub memory_report: bool,
    /// `log-micros`: the default line gives the time in micros.
    pub micros: bool,
    /// The app's `uwsgi.set_logvar` pairs, for `%(NAME)` names that are not built in.
    pub logvars: &'a [(Vec<u8>, Vec<u8>)],
}

impl<'a> RequestRecord<'a> {
    /// Applies `log-micros` and `log-x-forwarded-for` (the header's whole value replaces the
    /// peer address, as uWSGI does; the header is the client's word, escaped like the rest).
    pub fn restyle(&mut self, micros: bool, x_forwarded_for: bool) {
        self.micros = micros;
        if x_forwarded_for {
            if let Some(xff) = lookup(self, b"HTTP_X_FORWARDED_FOR") {
                self.remote_addr = xff;
            }
        }
    }
}

/// Appends uWSGI's default request line for `r`, newline included.
pub fn write_default(out: &mut Vec<u8>, r: &RequestRecord) {
    if r.memory_report {
        push_memory_report(out, r.vsz, r.rss);
    }
    out.extend_from_slice(b"[pid: ");
    push_decimal(out, r.pid.into());
    out.extend_from_slice(b"|app: ");
    push_i64(out, r.app_id.into());
    out.extend_from_slice(b"|req: ");
    push_i64(out, r.app_requests);
    out.push(b'/');
    push_decimal(out, r.total_requests);
    out.extend_from_slice(b"] ");
    push_escaped(out, r.remote_addr);
    out.extend_from_slice(b" (");
    push_escaped(out, r.remote_user);
    out.extend_from_slice(b") {");
    push_decimal(out, (r.vars_count as u64).saturating_mul(2));
    out.extend_from_slice(b" vars in ");
    push_decimal(out, r.vars_bytes as u64);
    out.extend_from_slice(b" bytes} [");
    push_ctime(out, start_secs(r));
    out.extend_from_slice(b"] ");
    push_escaped(out, r.method);
    out.push(b' ');
    push_escaped(out, r.uri);
    out.extend_from_slice(b" => generated ");
    push_decimal(out, r.body_bytes);
    out.extend_from_slice(b" bytes in ");
    if r.micros {
        push_decimal(out, r.duration_us);
        out.extend_from_slice(b" micros");
    } else {
        push_decimal(out, r.duration_us / 1000);
        out.extend_from_slice(b" msecs");
    }
    // uWSGI prints `msecs%s(` with " " or " via sendfile() " in the middle.
    match r.via {
        Some(via) => {
            out.extend_from_slice(b" via ");
            out.extend_from_slice(via.as_bytes());
            out.extend_from_slice(b"() ");
        }
        None => out.push(b' '),
    }
    out.push(b'(');
    push_escaped(out, r.protocol);
    out.push(b' ');
    push_decimal(out, r.status.into());
    out.extend_from_slice(b") ");
    push_decimal(out, r.headers_count as u64);
    out.extend_from_slice(b" headers in ");
    push_decimal(out, r.headers_bytes as u64);
    out.extend_from_slice(b" bytes (");
    push_decimal(out, r.switches.into());
    out.extend_from_slice(b" switches on core ");
    push_decimal(out, r.core.into());
    out.extend_from_slice(b")\n");
}

fn push_memory_report(out: &mut Vec<u8>, vsz: u64, rss: u64) {
    out.extend_from_slice(b"{address space usage: ");
    push_decimal(out, vsz);
    out.extend_from_slice(b" bytes/");
    push_decimal(out, vsz / 1024 / 1024);
    out.extend_from_slice(b"MB} {rss usage: ");
    push_decimal(out, rss);
    out.extend_from_slice(b" bytes/");
    push_decimal(out, rss / 1024 / 1024);
    out.extend_from_slice(b"MB} ");
}

/// A `log-format` template, parsed once at startup so each request only walks segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFormat {
    segments: Vec<Segment>,
    /// The strftime format of `%(ftime)` (`logformat-strftime` with a `log-date` format);
    /// without one `%(ftime)` is `%(ltime)`, as in uWSGI.
    ftime: Option<std::ffi::CString>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(Vec<u8>),
    Var(Var),
    /// `%(var.NAME)`: a request var by name.
    RequestVar(Vec<u8>),
    /// Any other name: the app's logvar of that name (`uwsgi.set_logvar`), `-` when unset.
    Logvar(Vec<u8>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Var {
    Uri,
    Method,
    User,
    Addr,
    Host,
    Proto,
    Uagent,
    Referer,
    Status,
    Micros,
    Msecs,
    Secs,
    Time,
    Tmsecs,
    Tmicros,
    Ctime,
    Ltime,
    Ftime,
    Epoch,
    Size,
    Rsize,
    Hsize,
    Cl,
    Pid,
    Wid,
    Core,
    Switches,
    Vars,
    Headers,
    Pktsize,
    Rss,
    Vsz,
    RssM,
    VszM,
}

impl Var {
    fn from_name(name: &[u8]) -> Option<Var> {
        Some(match name {
            b"uri" => Var::Uri,
            b"method" => Var::Method,
            b"user" => Var::User,
            b"addr" => Var::Addr,
            b"host" => Var::Host,
            b"proto" => Var::Proto,
            b"uagent" => Var::Uagent,
            b"referer" => Var::Referer,
            b"status" => Var::Status,
            b"micros" => Var::Micros,
            b"msecs" => Var::Msecs,
            b"secs" => Var::Secs,
            b"time" => Var::Time,
            b"tmsecs" => Var::Tmsecs,
            b"tmicros" => Var::Tmicros,
            b"ctime" => Var::Ctime,
            b"ltime" => Var::Ltime,
            b"ftime" => Var::Ftime,
            b"epoch" => Var::Epoch,
            b"size" => Var::Size,
            b"rsize" => Var::Rsize,
            b"hsize" => Var::Hsize,
            b"cl" => Var::Cl,
            b"pid" => Var::Pid,
            b"wid" => Var::Wid,
            b"core" => Var::Core,
            b"switches" => Var::Switches,
            b"vars" => Var::Vars,
            b"headers" => Var::Headers,
            b"pktsize" => Var::Pktsize,
            b"rss" => Var::Rss,
            b"vsz" => Var::Vsz,
            b"rssM" => Var::RssM,
            b"vszM" => Var::VszM,
            _ => return None,
        })
    }
}

impl LogFormat {
    /// Parses a `log-format` template: `%(name)` is a variable, everything else is copied.
    ///
    /// Follows uWSGI's scanner: a `%` not followed by `(` is literal and also swallows the next
    /// byte as literal (so `%%(pid)` stays literal text), and a `%(` without a closing `)` is
    /// copied as is.
    pub fn parse(template: &str) -> LogFormat {
        let bytes = template.as_bytes();
        let mut segments = Vec::new();
        let mut literal = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] != b'%' {
                literal.push(bytes[i]);
                i += 1;
                continue;
            }
            if bytes.get(i + 1) != Some(&b'(') {
                let end = (i + 2).min(bytes.len());
                literal.extend_from_slice(&bytes[i..end]);
                i = end;
                continue;
            }
            let Some(close) = bytes[i + 2..].iter().position(|&b| b == b')') else {
                literal.extend_from_slice(&bytes[i..]);
                break;
            };
            let name = &bytes[i + 2..i + 2 + close];
            if !literal.is_empty() {
                segments.push(Segment::Literal(std::mem::take(&mut literal)));
            }
            segments.push(if let Some(var) = Var::from_name(name) {
                Segment::Var(var)
            } else if let Some(var_name) = name.strip_prefix(b"var.") {
                Segment::RequestVar(var_name.to_vec())
            } else {
                Segment::Logvar(name.to_vec())
            });
            i += 2 + close + 1;
        }
        if !literal.is_empty() {
            segments.push(Segment::Literal(literal));
        }
        LogFormat {
            segments,
            ftime: None,
        }
    }

    /// Sets the strftime format `%(ftime)` renders with.
    pub fn with_ftime(mut self, format: Option<std::ffi::CString>) -> LogFormat {
        self.ftime = format;
        self
    }

    /// Appends the line for `r`, newline included.
    pub fn write(&self, out: &mut Vec<u8>, r: &RequestRecord) {
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => out.extend_from_slice(text),
                Segment::Var(Var::Ftime) => match &self.ftime {
                    Some(f) => super::date::push_strftime(out, f, start_secs(r)),
                    None => push_ltime(out, start_secs(r)),
                },
                Segment::Var(var) => push_var(out, *var, r),
                Segment::RequestVar(name) => push_untrusted(out, lookup(r, name)),
                Segment::Logvar(name) => push_untrusted(
                    out,
                    r.logvars
                        .iter()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| &v[..]),
                ),
            }
        }
        out.push(b'\n');
    }
}

fn push_var(out: &mut Vec<u8>, var: Var, r: &RequestRecord) {
    match var {
        Var::Uri => push_untrusted(out, Some(r.uri)),
        Var::Method => push_untrusted(out, Some(r.method)),
        Var::User => push_untrusted(out, Some(r.remote_user)),
        Var::Addr => push_untrusted(out, Some(r.remote_addr)),
        Var::Host => push_untrusted(
            out,
            lookup(r, b"HTTP_HOST")
                .filter(|h| !h.is_empty())
                .or_else(|| lookup(r, b"SERVER_NAME")),
        ),
        Var::Proto => push_untrusted(out, Some(r.protocol)),
        Var::Uagent => push_untrusted(out, lookup(r, b"HTTP_USER_AGENT")),
        Var::Referer => push_untrusted(out, lookup(r, b"HTTP_REFERER")),
        Var::Cl => push_untrusted(out, lookup(r, b"CONTENT_LENGTH")),
        Var::Status => push_decimal(out, r.status.into()),
        Var::Micros => push_decimal(out, r.duration_us),
        Var::Msecs => push_decimal(out, r.duration_us / 1000),
        Var::Secs => {
            // uWSGI renders a float with C's "%f": six decimals.
            let secs = r.duration_us as f64 / 1_000_000.0;
            out.extend_from_slice(format!("{secs:.6}").as_bytes());
        }
        Var::Time => push_decimal(out, r.start_unix_us / 1_000_000),
        Var::Tmsecs => push_decimal(out, r.start_unix_us / 1000),
        Var::Tmicros => push_decimal(out, r.start_unix_us),
        Var::Ctime => push_ctime(out, start_secs(r)),
        Var::Ltime | Var::Ftime => push_ltime(out, start_secs(r)),
        Var::Epoch => {
            push_decimal(out, crate::sys::clock::unix_secs());
        }
        Var::Size => push_decimal(out, r.body_bytes.saturating_add(r.headers_bytes as u64)),
        Var::Rsize => push_decimal(out, r.body_bytes),
        Var::Hsize => push_decimal(out, r.headers_bytes as u64),
        Var::Pid => push_decimal(out, r.pid.into()),
        Var::Wid => push_decimal(out, r.worker_id.into()),
        Var::Core => push_decimal(out, r.core.into()),
        Var::Switches => push_decimal(out, r.switches.into()),
        Var::Vars => push_decimal(out, (r.vars_count as u64).saturating_mul(2)),
        Var::Headers => push_decimal(out, r.headers_count as u64),
        Var::Pktsize => push_decimal(out, r.vars_bytes as u64),
        Var::Rss => push_decimal(out, r.rss),
        Var::Vsz => push_decimal(out, r.vsz),
        Var::RssM => push_decimal(out, r.rss / 1024 / 1024),
        Var::VszM => push_decimal(out, r.vsz / 1024 / 1024),
    }
}

/// First request var called `name`, as uWSGI's `uwsgi_get_var` does.
fn lookup<'a>(r: &RequestRecord<'a>, name: &[u8]) -> Option<&'a [u8]> {
    r.vars
        .iter()
        .find(|(key, _)| &key[..] == name)
        .map(|(_, value)| &value[..])
}

/// Missing and empty values print `-`, as in uWSGI's log-format.
fn push_untrusted(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        Some(v) if !v.is_empty() => push_escaped(out, v),
        _ => out.push(b'-'),
    }
}

fn start_secs(r: &RequestRecord) -> i64 {
    // u64 microseconds / 1e6 always fits in i64.
    (r.start_unix_us / 1_000_000) as i64
}

fn push_i64(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    push_decimal(out, n.unsigned_abs());
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use crate::log::date::*;

    /// 2026-11-29 06:38:27 UTC, the date of the reference line.
    const REF_SECS: i64 = 1_795_934_307;

    /// What the C library itself prints for `sec`, so the test holds in any time zone.
    fn libc_ctime(sec: i64) -> String {
        let t: libc::time_t = sec as libc::time_t;
        let mut buf = [0 as libc::c_char; 64];
        // SAFETY: `ctime_r` needs a buffer of at least 26 bytes; `buf` has 64 and outlives the
        // call, `t` is a live local. The result is NUL-terminated inside `buf`.
        let p = unsafe { libc::ctime_r(&t, buf.as_mut_ptr()) };
        assert!(!p.is_null());
        let bytes: Vec<u8> = buf
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8(bytes)
            .unwrap()
            .trim_end_matches('\n')
            .to_owned()
    }

    /// strftime's rendering of `sec` as uWSGI's `ltime`.
    fn libc_ltime(sec: i64) -> String {
        let t: libc::time_t = sec as libc::time_t;
        let mut buf = [0 as libc::c_char; 64];
        // SAFETY: all-zero is a valid `libc::tm`; `localtime_r` writes only into `tm`; `strftime`
        // writes at most `buf.len()` bytes into `buf` and reads the NUL-terminated format literal.
        let n = unsafe {
            let mut tm: libc::tm = std::mem::zeroed();
            assert!(!libc::localtime_r(&t, &mut tm).is_null());
            libc::strftime(
                buf.as_mut_ptr(),
                buf.len(),
                c"%d/%b/%Y:%H:%M:%S %z".as_ptr(),
                &tm,
            )
        };
        buf[..n].iter().map(|&c| c as u8 as char).collect()
    }

    fn reference_record<'a>(vars: &'a [crate::proto::Var<'a>]) -> RequestRecord<'a> {
        RequestRecord {
            pid: 9194,
            worker_id: 1,
            core: 0,
            app_id: 0,
            app_requests: 3,
            total_requests: 5,
            remote_addr: b"127.0.0.1",
            remote_user: b"",
            vars_count: 14,
            vars_bytes: 286,
            start_unix_us: REF_SECS as u64 * 1_000_000 + 123_456,
            duration_us: 271,
            method: b"GET",
            uri: b"/",
            protocol: b"HTTP/1.1",
            status: 200,
            body_bytes: 6,
            headers_count: 2,
            headers_bytes: 58,
            switches: 1,
            via: None,
            vars,
            rss: 0,
            vsz: 0,
            memory_report: false,
            micros: false,
            logvars: &[],
        }
    }

    fn default_line(r: &RequestRecord) -> String {
        let mut out = Vec::new();
        write_default(&mut out, r);
        String::from_utf8(out).unwrap()
    }

    fn formatted(template: &str, r: &RequestRecord) -> String {
        let mut out = Vec::new();
        LogFormat::parse(template).write(&mut out, r);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn default_line_matches_the_reference() {
        let r = reference_record(&[]);
        let expected = format!(
            "[pid: 9194|app: 0|req: 3/5] 127.0.0.1 () {{28 vars in 286 bytes}} [{}] GET / => \
             generated 6 bytes in 0 msecs (HTTP/1.1 200) 2 headers in 58 bytes \
             (1 switches on core 0)\n",
            libc_ctime(REF_SECS)
        );
        assert_eq!(default_line(&r), expected);
    }

    #[test]
    fn ctime_matches_libc_including_single_digit_days_and_cache_switches() {
        // 2026-11-09 (space-padded day), then back and forth so the per-second cache must refresh.
        for sec in [
            1_794_205_107,
            REF_SECS,
            REF_SECS + 1,
            1_794_205_107,
            0,
            REF_SECS,
        ] {
            let mut out = Vec::new();
            push_ctime(&mut out, sec);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                libc_ctime(sec),
                "sec {sec}"
            );
            let mut out = Vec::new();
            push_ltime(&mut out, sec);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                libc_ltime(sec),
                "sec {sec}"
            );
        }
    }

    #[test]
    fn no_app_and_sendfile() {
        let mut r = reference_record(&[]);
        r.app_id = -1;
        r.app_requests = -1;
        r.via = Some("sendfile");
        r.switches = 0;
        r.duration_us = 12_345;
        let line = default_line(&r);
        assert!(line.starts_with("[pid: 9194|app: -1|req: -1/5] "), "{line}");
        assert!(
            line.ends_with(
                "GET / => generated 6 bytes in 12 msecs via sendfile() (HTTP/1.1 200) \
                 2 headers in 58 bytes (0 switches on core 0)\n"
            ),
            "{line}"
        );
    }

    #[test]
    fn memory_report_prefix() {
        let mut r = reference_record(&[]);
        r.memory_report = true;
        r.vsz = 300 * 1024 * 1024 + 5;
        r.rss = 20 * 1024 * 1024;
        let line = default_line(&r);
        assert!(
            line.starts_with(
                "{address space usage: 314572805 bytes/300MB} {rss usage: 20971520 bytes/20MB} \
                 [pid: 9194|"
            ),
            "{line}"
        );
    }

    #[test]
    fn untrusted_bytes_are_escaped() {
        let mut r = reference_record(&[]);
        r.uri = b"/\x1b[31mred\r\n[pid: 1|app: 0|req: 1/1] fake";
        r.method = b"G\nT";
        r.remote_user = b"\x07bell";
        let line = default_line(&r);
        assert_eq!(line.matches('\n').count(), 1);
        assert!(!line.contains('\x1b') && !line.contains('\r') && !line.contains('\x07'));
        assert!(
            line.contains(" G\\x0aT /\\x1b[31mred\\x0d\\x0a[pid: 1|app: 0|req: 1/1] fake => "),
            "{line}"
        );
        assert!(line.contains(" (\\x07bell) "), "{line}");

        let vars = [(b"HTTP_X_TEST"[..].into(), b"a\x1b]0;pwned\x07"[..].into())];
        let r = reference_record(&vars);
        assert_eq!(formatted("%(var.HTTP_X_TEST)", &r), "a\\x1b]0;pwned\\x07\n");
    }

    #[test]
    fn apache_combined_example() {
        let vars = [
            (b"HTTP_USER_AGENT"[..].into(), b"curl/7.88.1"[..].into()),
            (b"HTTP_HOST"[..].into(), b"localhost"[..].into()),
        ];
        let mut r = reference_record(&vars);
        let sec = 1_795_934_624; // 2026-11-29 06:43:44 UTC
        r.start_unix_us = sec as u64 * 1_000_000;
        r.body_bytes = 6;
        r.headers_bytes = 59;
        let line = formatted(
            r#"%(addr) - %(user) [%(ltime)] "%(method) %(uri) %(proto)" %(status) %(size) "%(referer)" "%(uagent)""#,
            &r,
        );
        assert_eq!(
            line,
            format!(
                "127.0.0.1 - - [{}] \"GET / HTTP/1.1\" 200 65 \"-\" \"curl/7.88.1\"\n",
                libc_ltime(sec)
            )
        );
    }

    #[test]
    fn default_line_equivalent_template() {
        let r = reference_record(&[]);
        let line = formatted(
            "[pid: %(pid)|app: -|req: -/-] %(addr) (%(user)) {%(vars) vars in %(pktsize) bytes} \
             [%(ctime)] %(method) %(uri) => generated %(rsize) bytes in %(msecs) msecs \
             (%(proto) %(status)) %(headers) headers in %(hsize) bytes \
             (%(switches) switches on core %(core))",
            &r,
        );
        let expected = default_line(&r)
            .replace("app: 0|req: 3/5", "app: -|req: -/-")
            .replace("127.0.0.1 ()", "127.0.0.1 (-)");
        assert_eq!(line, expected);
    }

    #[test]
    fn request_vars_and_fallbacks() {
        let vars = [
            (b"HTTP_X_TEST"[..].into(), b"hello"[..].into()),
            (b"HTTP_X_EMPTY"[..].into(), b""[..].into()),
            (b"SERVER_NAME"[..].into(), b"vm"[..].into()),
            (b"CONTENT_LENGTH"[..].into(), b"12"[..].into()),
            (b"HTTP_X_TEST"[..].into(), b"second"[..].into()),
        ];
        let r = reference_record(&vars);
        assert_eq!(
            formatted(
                "%(var.HTTP_X_TEST)|%(var.HTTP_X_EMPTY)|%(var.NOPE)|%(host)|%(cl)",
                &r
            ),
            "hello|-|-|vm|12\n"
        );
        assert_eq!(formatted("%(nosuchvar) %(modifier1) %()", &r), "- - -\n");
        // Names that are not built in are the app's logvars (escaped like any app text).
        let logvars = [
            (b"who".to_vec(), b"bob".to_vec()),
            (b"evil".to_vec(), b"a\nb".to_vec()),
            (b"status".to_vec(), b"shadowed".to_vec()),
        ];
        let with_logvars = RequestRecord {
            logvars: &logvars,
            ..r
        };
        assert_eq!(
            formatted("%(who) %(evil) %(status) %(nosuchvar)", &with_logvars),
            "bob a\\x0ab 200 -\n"
        );
        let with_host = [(b"HTTP_HOST"[..].into(), b"example.org"[..].into())];
        assert_eq!(
            formatted("%(host) %(cl)", &reference_record(&with_host)),
            "example.org -\n"
        );
    }

    #[test]
    fn numbers_and_times() {
        let mut r = reference_record(&[]);
        r.rss = 3 * 1024 * 1024 + 1;
        r.vsz = 7 * 1024 * 1024;
        r.worker_id = 4;
        r.core = 2;
        assert_eq!(
            formatted(
                "%(micros) %(msecs) %(secs) %(time) %(tmsecs) %(tmicros) %(pid) %(wid) %(core) \
                 %(vars) %(pktsize) %(headers) %(hsize) %(rsize) %(size) %(rss) %(rssM) %(vsz) %(vszM)",
                &r
            ),
            format!(
                "271 0 0.000271 {s} {s}123 {s}123456 9194 4 2 28 286 2 58 6 64 3145729 3 7340032 7\n",
                s = REF_SECS
            )
        );
        r.duration_us = 1_500_000;
        assert_eq!(formatted("%(secs) %(msecs)", &r), "1.500000 1500\n");
        assert_eq!(
            formatted("[%(ctime)]", &r),
            format!("[{}]\n", libc_ctime(REF_SECS))
        );
        let epoch: u64 = formatted("%(epoch)", &r).trim().parse().unwrap();
        assert!(epoch > 1_700_000_000);
    }

    #[test]
    fn template_scanner_edge_cases() {
        let r = reference_record(&[]);
        assert_eq!(formatted("", &r), "\n");
        assert_eq!(formatted("100% %(status)", &r), "100% 200\n");
        assert_eq!(
            formatted("%%(status) %(status", &r),
            "%%(status) %(status\n"
        );
        assert_eq!(formatted("trailing %", &r), "trailing %\n");
        assert_eq!(formatted("%(status)%(status)", &r), "200200\n");
        assert_eq!(formatted("é %(method)", &r), "é GET\n");
    }
}
