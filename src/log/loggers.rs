//! `logger` / `req-logger` (uWSGI 2.0's `file:`, `fd:`, `stdio` and `syslog` backends) and the
//! `log-encoder` chains in front of them.
//!
//! Server lines pass `log-drain` / `log-filter`; a `log-route` match sends one to its named
//! logger; otherwise they go through `log-encoder` to every unnamed `logger` (stderr when none is set); request
//! lines go through `log-req-encoder` to every `req-logger`, or, without one, the server
//! lines' way (as uWSGI sends them when only `logger` is set). Each process writes itself
//! (one write(2) or one syslog datagram per line), where uWSGI routes every line through the
//! master (`log-master`); so what the app writes to its own stderr reaches the log file as
//! it is, without encoders or loggers.

use super::encoder::{self, Encoder};
use std::ffi::CString;
use std::sync::OnceLock;

/// Where a logger sends lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// `file:PATH` (appended to; `file:logfile=PATH,…` keyval form too).
    File(String),
    /// `fd:N`.
    Fd(i32),
    /// `stdio`: the log (stderr, or the logto file).
    Stdio,
    /// `syslog[:IDENT[,FACILITY]]`: the system logger (/dev/log), priority info.
    Syslog { ident: String, facility: i32 },
}

/// What one `logger` value asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Backend(Backend),
    /// `ID NAME…`: a named logger, which only `log-route` sends lines to (None: a backend rw
    /// does not have).
    Named(String, Option<Backend>),
    /// A backend rw does not have (a plugin's: `socket`, `rsyslog`, `systemd`, …).
    Unknown(String),
}

/// Parses one `logger`/`req-logger` value: `[ID ]NAME[:ARG]`, as uWSGI splits it.
pub fn parse(value: &str) -> Parsed {
    let mut spec = value;
    if let Some((id, rest)) = value.split_once(' ') {
        if !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            if !rest.is_empty() {
                let backend = match parse(rest) {
                    Parsed::Backend(b) => Some(b),
                    _ => None,
                };
                return Parsed::Named(id.to_string(), backend);
            }
            spec = rest;
        }
    }
    let (name, arg) = match spec.split_once(':') {
        Some((n, a)) => (n, Some(a).filter(|a| !a.is_empty())),
        None => (spec, None),
    };
    Parsed::Backend(match (name, arg) {
        ("file", Some(a)) => Backend::File(file_path(a)),
        ("fd", Some(a)) => {
            Backend::Fd(crate::config::value::atoi(a).0.clamp(-1, i32::MAX.into()) as i32)
        }
        ("stdio", _) => Backend::Stdio,
        ("syslog", a) => {
            let a = a.unwrap_or("uwsgi");
            let (ident, facility) = match a.split_once(',') {
                Some((i, f)) => (i, facility(f)),
                None => (a, libc::LOG_DAEMON),
            };
            Backend::Syslog {
                ident: ident.to_string(),
                facility,
            }
        }
        _ => return Parsed::Unknown(name.to_string()),
    })
}

/// `file:` takes a path, or a keyval list with `logfile=` (its `maxsize`/`backupname` are
/// not applied by rw).
fn file_path(arg: &str) -> String {
    if arg.contains('=') {
        for kv in arg.split(',') {
            if let Some(p) = kv.strip_prefix("logfile=") {
                return p.to_string();
            }
        }
    }
    arg.to_string()
}

/// A syslog facility by name (uWSGI's table); unknown names keep `daemon`, as in uWSGI.
fn facility(name: &str) -> i32 {
    match name {
        "auth" | "security" => libc::LOG_AUTH,
        "authpriv" => libc::LOG_AUTHPRIV,
        "cron" => libc::LOG_CRON,
        "daemon" => libc::LOG_DAEMON,
        "ftp" => libc::LOG_FTP,
        "kern" => libc::LOG_KERN,
        "lpr" => libc::LOG_LPR,
        "mail" => libc::LOG_MAIL,
        "news" => libc::LOG_NEWS,
        "syslog" => libc::LOG_SYSLOG,
        "user" => libc::LOG_USER,
        "uucp" => libc::LOG_UUCP,
        "local0" => libc::LOG_LOCAL0,
        "local1" => libc::LOG_LOCAL1,
        "local2" => libc::LOG_LOCAL2,
        "local3" => libc::LOG_LOCAL3,
        "local4" => libc::LOG_LOCAL4,
        "local5" => libc::LOG_LOCAL5,
        "local6" => libc::LOG_LOCAL6,
        "local7" => libc::LOG_LOCAL7,
        _ => libc::LOG_DAEMON,
    }
}

/// An opened destination.
#[derive(Debug)]
enum Out {
    Stderr,
    /// A file opened at setup (inherited by the workers) or an fd given by number.
    Fd(i32),
    Syslog,
}

#[derive(Debug)]
struct Route {
    /// `log-drain`: a line matching one of these is dropped.
    drain: Vec<regex::bytes::Regex>,
    /// `log-filter`: when set, only a line matching one of these is kept.
    filter: Vec<regex::bytes::Regex>,
    encoders: Vec<Encoder>,
    outs: Vec<Out>,
    /// `log-route = ID REGEXP`: a matching line goes to the named logger ID (with the encoders
    /// for all loggers and those for ID, in their order) instead of the unnamed ones.
    routes: Vec<(regex::bytes::Regex, usize)>,
    named: Vec<(Vec<Encoder>, Out)>,
}

static SERVER: OnceLock<Route> = OnceLock::new();
static REQUEST: OnceLock<Route> = OnceLock::new();

/// The logging options as given.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub loggers: Vec<String>,
    pub req_loggers: Vec<String>,
    pub encoders: Vec<String>,
    pub req_encoders: Vec<String>,
    /// `log-drain` and `log-filter` regexps (checked by the config already).
    pub drain: Vec<String>,
    pub filter: Vec<String>,
    /// `log-route` values: `ID REGEXP`.
    pub routes: Vec<String>,
}

/// Opens the loggers and sets up the chains (once, in the master before the workers fork).
/// Returns what could not be honoured, to be logged.
pub fn setup(c: &Config) -> Vec<String> {
    let mut notes = Vec::new();
    // Every encoder with the named logger it is only for.
    let parse_chain = |values: &[String], notes: &mut Vec<String>| {
        let mut v = Vec::new();
        for e in values {
            match encoder::parse(e) {
                encoder::Parsed::Encoder(enc, id) => v.push((id, enc)),
                encoder::Parsed::Unknown(n) => notes.push(format!(
                    "log encoder `{n}` is not available in rw (it has prefix, suffix, nl, format, json): ignored"
                )),
            }
        }
        v
    };
    // The chain a logger gets: the encoders for all, and those for its id, in order.
    let chain_for = |all: &[(Option<String>, Encoder)], id: Option<&str>| -> Vec<Encoder> {
        all.iter()
            .filter(|(for_id, _)| for_id.is_none() || for_id.as_deref() == id)
            .map(|(_, e)| e.clone())
            .collect()
    };
    let outs = |values: &[String], notes: &mut Vec<String>| {
        let (mut unnamed, mut named) = (Vec::new(), Vec::new());
        for l in values {
            match parse(l) {
                Parsed::Backend(b) => match open(&b) {
                    Ok(o) => unnamed.push(o),
                    Err(e) => notes.push(format!("logger `{l}`: {e}: ignored")),
                },
                Parsed::Named(id, Some(b)) => match open(&b) {
                    Ok(o) => named.push((id, o)),
                    Err(e) => notes.push(format!("logger `{l}`: {e}: ignored")),
                },
                Parsed::Named(id, None) => notes.push(format!(
                    "logger `{l}`: rw has no such backend for the named logger `{id}` (it has file, fd, stdio and syslog): ignored"
                )),
                Parsed::Unknown(n) => notes.push(format!(
                    "logger `{n}` is not available in rw (it has file, fd, stdio and syslog): its lines go to the log instead"
                )),
            }
        }
        (unnamed, named)
    };
    let regexps = |v: &[String]| -> Vec<regex::bytes::Regex> {
        v.iter()
            .filter_map(|r| regex::bytes::Regex::new(r).ok())
            .collect()
    };
    let all = parse_chain(&c.encoders, &mut notes);
    let (mut server_outs, named) = outs(&c.loggers, &mut notes);
    let mut routes = Vec::new();
    for r in &c.routes {
        let Some((id, re)) = r.split_once(' ') else {
            continue;
        };
        match named.iter().position(|(n, _)| n == id) {
            Some(i) => {
                if let Ok(re) = regex::bytes::Regex::new(re) {
                    routes.push((re, i));
                }
            }
            None => notes.push(format!(
                "log-route `{r}`: no logger is named `{id}`: ignored"
            )),
        }
    }
    let named: Vec<(Vec<Encoder>, Out)> = named
        .into_iter()
        .map(|(id, o)| (chain_for(&all, Some(&id)), o))
        .collect();
    let server_encoders = chain_for(&all, None);
    let (drain, filter) = (regexps(&c.drain), regexps(&c.filter));
    if !server_encoders.is_empty()
        || !server_outs.is_empty()
        || !drain.is_empty()
        || !filter.is_empty()
        || !routes.is_empty()
    {
        if server_outs.is_empty() {
            server_outs.push(Out::Stderr);
        }
        let _ = SERVER.set(Route {
            drain,
            filter,
            encoders: server_encoders,
            outs: server_outs,
            routes,
            named,
        });
    }
    let (req_outs, req_named) = outs(&c.req_loggers, &mut notes);
    for _ in req_named {
        notes.push(
            "named req-loggers get no lines in rw (log-req-route is not implemented): ignored"
                .to_string(),
        );
    }
    if !req_outs.is_empty() {
        let req_all = parse_chain(&c.req_encoders, &mut notes);
        let _ = REQUEST.set(Route {
            drain: Vec::new(),
            filter: Vec::new(),
            encoders: chain_for(&req_all, None),
            outs: req_outs,
            routes: Vec::new(),
            named: Vec::new(),
        });
    } else if !c.req_encoders.is_empty() {
        notes.push(
            "log-req-encoder applies to req-logger lines only, and no req-logger is set: ignored"
                .to_string(),
        );
    }
    notes
}

fn open(b: &Backend) -> std::io::Result<Out> {
    use std::os::fd::IntoRawFd;
    Ok(match b {
        Backend::Stdio => Out::Stderr,
        Backend::Fd(n) => Out::Fd(*n),
        Backend::File(p) => Out::Fd(super::file::open_file(std::path::Path::new(p))?.into_raw_fd()),
        Backend::Syslog { ident, facility } => {
            // openlog keeps the pointer: the ident lives as long as the process.
            let ident: &'static CString =
                Box::leak(Box::new(CString::new(ident.as_str()).unwrap_or_default()));
            // SAFETY: a NUL-terminated ident that is never freed, integer options.
            unsafe { libc::openlog(ident.as_ptr(), 0, *facility) };
            Out::Syslog
        }
    })
}

/// Sends a server line its way; false when no logger or encoder is set (the caller writes it).
pub fn server(line: &[u8]) -> bool {
    let Some(r) = SERVER.get() else { return false };
    r.emit(line);
    true
}

/// Sends a request line its way; false when it goes to the log as it is.
pub fn request(line: &[u8]) -> bool {
    match REQUEST.get() {
        Some(r) => {
            r.emit(line);
            true
        }
        None => server(line),
    }
}

impl Route {
    fn emit(&self, line: &[u8]) {
        if self.drain.iter().any(|r| r.is_match(line))
            || (!self.filter.is_empty() && !self.filter.iter().any(|r| r.is_match(line)))
        {
            return;
        }
        let mut routed = false;
        for (re, i) in &self.routes {
            if re.is_match(line) {
                let (chain, out) = &self.named[*i];
                write_out(out, &encode(chain, line));
                routed = true;
            }
        }
        if routed {
            return;
        }
        let bytes = encode(&self.encoders, line);
        for o in &self.outs {
            write_out(o, &bytes);
        }
    }
}

/// `line` through `chain` (borrowed as is when the chain is empty).
fn encode<'l>(chain: &[Encoder], line: &'l [u8]) -> std::borrow::Cow<'l, [u8]> {
    if chain.is_empty() {
        return std::borrow::Cow::Borrowed(line);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    std::borrow::Cow::Owned(encoder::apply(chain, line, now))
}

fn write_out(o: &Out, bytes: &[u8]) {
    match o {
        Out::Stderr => {
            super::file::write_followed(bytes);
        }
        Out::Fd(fd) => write_fd(*fd, bytes),
        Out::Syslog => {
            let msg = bytes.strip_suffix(b"\n").unwrap_or(bytes);
            // SAFETY: "%.*s" with a length and a pointer to `msg`, live for the call; syslog
            // copies it into its datagram.
            unsafe {
                libc::syslog(
                    libc::LOG_INFO,
                    c"%.*s".as_ptr(),
                    msg.len().min(i32::MAX as usize) as libc::c_int,
                    msg.as_ptr(),
                )
            };
        }
    }
}

fn write_fd(fd: i32, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: write(2) from a valid buffer of the given length.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        if n <= 0 {
            // A logger that cannot take the line loses it (as in uWSGI), never the process.
            return;
        }
        bytes = &bytes[n as usize..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_check_knows_the_same_backends_and_encoders() {
        use crate::config::option_values::{logger_name, LOGGER_BACKENDS, LOG_ENCODERS};
        for b in LOGGER_BACKENDS {
            assert!(
                matches!(parse(&format!("{b}:1")), Parsed::Backend(_)),
                "{b}"
            );
        }
        for e in LOG_ENCODERS {
            assert!(
                matches!(encoder::parse(e), encoder::Parsed::Encoder(_, None)),
                "{e}"
            );
        }
        assert!(matches!(parse("socket:/x"), Parsed::Unknown(_)));
        for v in [
            "a file:/x",
            "file:/x",
            "syslog",
            "rsyslog:1.2.3.4:514",
            "file:/a b",
        ] {
            let named = matches!(parse(v), Parsed::Named(..));
            assert_eq!(logger_name(v).1, named, "{v}");
        }
    }

    #[test]
    fn values_parse_as_uwsgi_splits_them() {
        assert_eq!(
            parse("file:/var/log/a.log"),
            Parsed::Backend(Backend::File("/var/log/a.log".into()))
        );
        assert_eq!(
            parse("file:logfile=/x.log,maxsize=100"),
            Parsed::Backend(Backend::File("/x.log".into()))
        );
        assert_eq!(parse("stdio"), Parsed::Backend(Backend::Stdio));
        assert_eq!(parse("fd:3"), Parsed::Backend(Backend::Fd(3)));
        assert_eq!(
            parse("syslog"),
            Parsed::Backend(Backend::Syslog {
                ident: "uwsgi".into(),
                facility: libc::LOG_DAEMON
            })
        );
        assert_eq!(
            parse("syslog:myapp,local3"),
            Parsed::Backend(Backend::Syslog {
                ident: "myapp".into(),
                facility: libc::LOG_LOCAL3
            })
        );
        assert_eq!(
            parse("mylog file:/x"),
            Parsed::Named("mylog".into(), Some(Backend::File("/x".into())))
        );
        assert_eq!(
            parse("mylog socket:/x"),
            Parsed::Named("mylog".into(), None)
        );
        assert_eq!(
            parse("rsyslog:127.0.0.1:514"),
            Parsed::Unknown("rsyslog".into())
        );
        // A space after a non-alphanumeric word is part of the spec, as in uWSGI.
        assert_eq!(
            parse("file:/a b"),
            Parsed::Backend(Backend::File("/a b".into()))
        );
    }
}
