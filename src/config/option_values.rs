//! How uWSGI 2.0 reads the values of the options real configs carry over (plugins, protocol,
//! umask, chown-socket, the static-expires family, paste), and the traps among them worth a
//! warning. Pure: the readers here are shared by the config checks and the server, so both
//! give a value the same meaning.

use super::diag::{Diagnostic, Origin};
use super::resolve::Config;

/// What a `plugins` entry asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plugin {
    /// `python`, `python3`, `python311`, `python3.11`, `0:python3`, `/usr/lib/uwsgi/python3_plugin.so`:
    /// rw is the python plugin.
    Python,
    /// A Python 2 build: rw embeds Python 3.
    Python2,
    /// Anything else, by its bare name.
    Other(String),
}

/// Reads one entry of a `plugins` list as uWSGI does: an optional `modifier:` prefix, an
/// optional `|init` suffix, a path or a name, an optional `_plugin.so` suffix.
pub fn plugin(entry: &str) -> Plugin {
    let mut name = entry.trim();
    if let Some((modifier, rest)) = name.split_once(':') {
        if modifier.bytes().all(|b| b.is_ascii_digit()) {
            name = rest;
        }
    }
    name = name.split('|').next().unwrap_or(name);
    name = name.rsplit('/').next().unwrap_or(name);
    name = name.strip_suffix("_plugin.so").unwrap_or(name);
    let Some(version) = name.strip_prefix("python") else {
        return Plugin::Other(name.to_string());
    };
    if !version.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Plugin::Other(name.to_string());
    }
    if version.starts_with('2') {
        Plugin::Python2
    } else {
        Plugin::Python
    }
}

/// Every plugin named by a `plugins`/`plugin` value (comma-separated, as uWSGI splits it).
pub fn plugins(value: &str) -> impl Iterator<Item = (&str, Plugin)> {
    value
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| (p, plugin(p)))
}

/// What `protocol` asks of the `socket` listeners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketProtocol {
    Uwsgi,
    /// `http` or `http11` (rw speaks full HTTP/1.1 on both).
    Http,
}

/// uWSGI's protocol names rw does not speak, with what they are.
const OTHER_PROTOCOLS: &[(&str, &str)] = &[
    ("puwsgi", "persistent uwsgi"),
    ("suwsgi", "uwsgi over TLS"),
    ("https", "HTTPS"),
    ("fastcgi", "FastCGI"),
    ("fastcgi-nph", "FastCGI"),
    ("scgi", "SCGI"),
    ("scgi-nph", "SCGI"),
    ("raw", "raw"),
];

/// Reads a `protocol` value; the error says why rw cannot honour it.
pub fn socket_protocol(value: &str) -> Result<SocketProtocol, String> {
    match value {
        "uwsgi" => Ok(SocketProtocol::Uwsgi),
        "http" | "http11" => Ok(SocketProtocol::Http),
        _ => match OTHER_PROTOCOLS.iter().find(|(n, _)| *n == value) {
            Some((_, what)) => Err(format!(
                "protocol = {value}: rw speaks only uwsgi and HTTP on its sockets, not {what}"
            )),
            None => Err(format!(
                "protocol = {value} is not a protocol uWSGI knows (it exits with `unable to find \
                 protocol`); use uwsgi, http or http11"
            )),
        },
    }
}

/// Reads `logfile-chmod`: exactly three octal digits, as uWSGI (which exits on anything else).
pub fn logfile_chmod(value: &str) -> Option<u32> {
    (value.len() == 3 && value.bytes().all(|b| (b'0'..=b'7').contains(&b)))
        .then(|| u32::from_str_radix(value, 8).ok())
        .flatten()
}

/// The `logger` backends rw has (`log::loggers` implements them).
pub const LOGGER_BACKENDS: &[&str] = &["file", "fd", "stdio", "syslog"];
/// The `log-encoder`s rw has (`log::encoder` implements them).
pub const LOG_ENCODERS: &[&str] = &["prefix", "suffix", "nl", "format", "json"];

/// The backend name of a `logger` value (`[ID ]NAME[:ARG]`), and whether it is a named one.
pub fn logger_name(value: &str) -> (&str, bool) {
    let (spec, named) = match value.split_once(' ') {
        Some((id, rest))
            if !id.is_empty()
                && !rest.is_empty()
                && id.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            (rest, true)
        }
        _ => (value, false),
    };
    (spec.split(':').next().unwrap_or(spec), named)
}

/// The logging options whose uWSGI reading is a trap.
fn check_logging(cfg: &Config, d: &mut Vec<Diagnostic>) {
    for name in ["logto", "logto2", "daemonize"] {
        let Some(s) = cfg.get(name) else { continue };
        let v = s.value.as_str();
        let Some((host, port)) = v.split_once(':') else {
            continue;
        };
        if host.is_empty() || port.is_empty() {
            d.push(Diagnostic::error(
                &s.origin,
                format!("{name} `{v}` is not a UDP address HOST:PORT, and a value with `:` is one for uWSGI (it exits with `invalid udp address`)"),
            ));
        } else if host.contains('/') {
            d.push(Diagnostic::warning(
                &s.origin,
                format!("{name} `{v}` has a `:`, so uWSGI (and rw) send the log to UDP host `{host}` port `{port}`, not to a file; rename the file"),
            ));
        }
    }
    for name in ["logger", "req-logger"] {
        for s in cfg.list(name) {
            let v = s.value.as_str();
            let (backend, named) = logger_name(v);
            let id = v.split(' ').next().unwrap_or_default();
            let routed = cfg
                .list("log-route")
                .any(|r| r.value.as_str().split(' ').next() == Some(id));
            if named && (name == "req-logger" || !routed) {
                d.push(Diagnostic::warning(
                    &s.origin,
                    format!(
                        "{name} `{v}` is a named logger: only {} sends lines to those, so it gets nothing",
                        if name == "req-logger" { "log-req-route (not in rw)" } else { "a log-route naming it" }
                    ),
                ));
            } else if !LOGGER_BACKENDS.contains(&backend) {
                d.push(Diagnostic::warning(
                    &s.origin,
                    format!("{name}: rw has no `{backend}` logger (it has {}); those lines go to the log instead", LOGGER_BACKENDS.join(", ")),
                ));
            }
        }
    }
    for name in ["log-encoder", "log-req-encoder"] {
        for s in cfg.list(name) {
            let v = s.value.as_str();
            let head = v.split(' ').next().unwrap_or(v);
            let (enc, id) = head
                .split_once(':')
                .map_or((head, None), |(e, i)| (e, Some(i)));
            if !LOG_ENCODERS.contains(&enc) {
                d.push(Diagnostic::warning(
                    &s.origin,
                    format!(
                        "{name}: rw has no `{enc}` encoder (it has {}); it is skipped",
                        LOG_ENCODERS.join(", ")
                    ),
                ));
            } else if let Some(id) = id.filter(|_| name == "log-req-encoder") {
                d.push(Diagnostic::warning(
                    &s.origin,
                    format!("{name} for the named req-logger `{id}` is skipped: rw has no log-req-route"),
                ));
            }
        }
    }
    for s in cfg.list("log-route") {
        match s.value.as_str().split_once(' ') {
            None => d.push(Diagnostic::error(
                &s.origin,
                "log-route needs `LOGGER-ID REGEXP` (uWSGI exits with `invalid custom regexp syntax`)",
            )),
            Some((_, re)) => {
                if let Err(e) = regex::bytes::Regex::new(re) {
                    d.push(Diagnostic::error(
                        &s.origin,
                        format!(
                            "log-route: `{re}` is not a regular expression rw can use: {}",
                            e.to_string().lines().last().unwrap_or_default()
                        ),
                    ));
                }
            }
        }
    }
    for name in ["log-drain", "log-filter"] {
        for s in cfg.list(name) {
            if let Err(e) = regex::bytes::Regex::new(s.value.as_str()) {
                d.push(Diagnostic::error(
                    &s.origin,
                    format!(
                        "{name}: `{}` is not a regular expression rw can use: {}",
                        s.value.as_str(),
                        e.to_string().lines().last().unwrap_or_default()
                    ),
                ));
            }
        }
    }
    if cfg.list("log-req-encoder").count() > 0 && cfg.list("req-logger").count() == 0 {
        if let Some(s) = cfg.list("log-req-encoder").next() {
            d.push(Diagnostic::warning(
                &s.origin,
                "log-req-encoder only rewrites req-logger lines, and no req-logger is set (as in uWSGI)",
            ));
        }
    }
    if let Some(s) = cfg.get("logfile-chmod") {
        if logfile_chmod(s.value.as_str()).is_none() {
            d.push(Diagnostic::error(
                &s.origin,
                format!(
                    "logfile-chmod `{}` is not three octal digits such as 640 (uWSGI exits \
                     with `invalid chmod value` here)",
                    s.value.as_str()
                ),
            ));
        }
    }
    if let Some(s) = cfg.get("log-date") {
        let v = s.value.as_str();
        if matches!(
            v.to_ascii_lowercase().as_str(),
            "false" | "off" | "no" | "0"
        ) {
            d.push(Diagnostic::warning(
                &s.origin,
                format!(
                    "log-date = {v} does not turn the date off: uWSGI (and rw) read any value \
                     other than true/1/on/yes as a strftime format, so every server line starts \
                     with `{v} - `; remove the line to log without a date"
                ),
            ));
        }
    }
    if cfg.get("log-ioerror").is_some_and(|s| s.value.as_bool()) {
        if let Some(s) = cfg.get("log-ioerror") {
            d.push(Diagnostic::warning(
                &s.origin,
                "log-ioerror logs (with disable-logging) only requests that had both a read \
                 error and a write error, as uWSGI 2.0 does; a request with only one of them \
                 is not logged",
            ));
        }
    }
}

/// `umask` as uWSGI 2.0 reads it (`uwsgi_mode_t`): three characters are the mode; a longer
/// value uses its 2nd to 4th characters (so `0022` is 022, and `00022` is 002); a shorter one is
/// an error that uWSGI only logs, setting umask 000. Each character counts as `c - '0'`, so
/// digits 8 and 9 spill into the next octal place. Returns the mask and, for a trap, why.
pub fn umask(value: &str) -> (u32, Option<String>) {
    let b = value.as_bytes();
    if b.len() < 3 {
        return (
            0,
            Some(format!(
                "umask = {value} is too short: uWSGI logs `invalid umask` and sets umask 000 \
                 (files and sockets world-writable); rw does the same; write three octal digits \
                 such as 022"
            )),
        );
    }
    let digits = if b.len() == 3 { &b[..3] } else { &b[1..4] };
    let mut mask: i64 = 0;
    for &c in digits {
        mask = (mask << 3) + (i64::from(c) - i64::from(b'0'));
    }
    let mask = (mask as u32) & 0o7777;
    let clean = digits.iter().all(|c| (b'0'..=b'7').contains(c));
    let why = if !clean {
        Some(format!(
            "umask = {value} has characters that are not octal digits: uWSGI (and rw) read it \
             as {mask:03o}"
        ))
    } else if b.len() > 4 || (b.len() == 4 && b[0] != b'0') {
        Some(format!(
            "umask = {value}: uWSGI reads only the 2nd to 4th characters, so this is {mask:03o}"
        ))
    } else {
        None
    };
    (mask, why)
}

/// uWSGI's `uwsgi_str_num` over the seconds of a static-expires rule: every character counts
/// as `c - '0'` in its decimal place, so `1d` is 62. Returns the number and whether it was
/// plain digits.
pub fn expires_seconds(text: &str) -> (i64, bool) {
    let mut n: i64 = 0;
    for c in text.bytes() {
        n = n
            .wrapping_mul(10)
            .wrapping_add(i64::from(c) - i64::from(b'0'));
    }
    // uWSGI stores it in an int.
    (
        i64::from(n as i32),
        !text.is_empty() && text.bytes().all(|c| c.is_ascii_digit()),
    )
}

/// The static-expires options and what their key is matched against.
pub const EXPIRES_REGEX_OPTIONS: &[&str] = &[
    "static-expires",
    "static-expires-mtime",
    "static-expires-path-info",
    "static-expires-path-info-mtime",
    "static-expires-uri",
    "static-expires-uri-mtime",
];

/// Splits a `REGEXP SECS` rule at its first space, as uWSGI does.
pub fn split_regex_rule(value: &str) -> Option<(&str, &str)> {
    value.split_once(' ')
}

/// `USER[:GROUP]` of `chown-socket`.
pub fn chown_owner(value: &str) -> (&str, Option<&str>) {
    match value.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (value, None),
    }
}

/// The value checks of these options; part of loading, so `rw serve` and `rw check-config`
/// refuse the same configs.
pub fn check(cfg: &Config) -> Vec<Diagnostic> {
    let mut d = Vec::new();
    check_logging(cfg, &mut d);
    check_caches(cfg, &mut d);
    check_farms(cfg, &mut d);
    super::daemon::check(cfg, &mut d);
    super::cron::check(cfg, &mut d);
    for s in cfg.list("plugins") {
        for (name, p) in plugins(s.value.as_str()) {
            let why = match p {
                Plugin::Python => continue,
                Plugin::Python2 => format!(
                    "plugin `{name}` is Python 2; rw embeds Python 3 and runs the app with it"
                ),
                Plugin::Other(n) if n == "http" || n == "corerouter" => format!(
                    "plugin `{name}`: rw has only the python plugin; http and http-socket are \
                     built in, so this changes nothing"
                ),
                Plugin::Other(_) => format!(
                    "plugin `{name}` is not loaded: rw has only the python plugin (the options \
                     of `{name}` are unknown to rw)"
                ),
            };
            d.push(Diagnostic::warning(&s.origin, why));
        }
    }
    if let Some(s) = cfg.get("protocol") {
        if let Err(e) = socket_protocol(s.value.as_str()) {
            if cfg.list("socket").count() > 0 {
                d.push(Diagnostic::error(&s.origin, e));
            } else {
                d.push(Diagnostic::warning(
                    &s.origin,
                    format!("{e} (no `socket` uses it here)"),
                ));
            }
        }
    }
    if let Some(s) = cfg.get("umask") {
        if let (_, Some(why)) = umask(s.value.as_str()) {
            d.push(Diagnostic::warning(&s.origin, why));
        }
    }
    for name in EXPIRES_REGEX_OPTIONS {
        for s in cfg.list(name) {
            let v = s.value.as_str();
            let Some((re, secs)) = split_regex_rule(v) else {
                d.push(Diagnostic::error(
                    &s.origin,
                    format!(
                        "{name} needs `REGEXP SECONDS` (uWSGI exits with `invalid dictionary syntax`)"
                    ),
                ));
                continue;
            };
            if let Err(e) = regex::bytes::Regex::new(re) {
                d.push(Diagnostic::error(
                    &s.origin,
                    format!(
                        "{name}: `{re}` is not a regular expression rw can use: {}",
                        e.to_string().lines().last().unwrap_or_default()
                    ),
                ));
            }
            seconds_trap(name, secs, &s.origin, &mut d);
        }
    }
    for name in ["static-expires-type", "static-expires-type-mtime"] {
        for s in cfg.list(name) {
            if let Some((_, secs)) = s.value.as_str().split_once('=') {
                seconds_trap(name, secs, &s.origin, &mut d);
            }
        }
    }
    if let Some(s) = cfg.get("paste") {
        let v = s.value.as_str();
        if !v.contains(':') {
            d.push(Diagnostic::error(
                &s.origin,
                format!(
                    "paste = {v} has no scheme, which PasteDeploy refuses (uWSGI then exits); \
                     write paste = config:{v}"
                ),
            ));
        } else if v
            .strip_prefix("config:")
            .is_some_and(|f| !f.starts_with('/'))
        {
            d.push(Diagnostic::error(
                &s.origin,
                format!(
                    "paste = {v}: PasteDeploy refuses a relative config path (uWSGI then \
                     exits); write an absolute one, e.g. config:%d{}",
                    &v[7..]
                ),
            ));
        } else if cfg.bool("paste-logger") && !v.starts_with("config:") {
            d.push(Diagnostic::warning(
                &s.origin,
                "paste-logger reads the logging setup from the file after `config:`; this \
                 value does not start with it, so uWSGI (and rw) pass a mangled file name",
            ));
        }
    }
    if cfg.bool("no-site") {
        if let Some(h) = cfg.get("home") {
            d.push(Diagnostic::warning(
                &h.origin,
                "no-site is set: without the site module the virtualenv's site-packages are \
                 not on sys.path (as in uWSGI); add them with pythonpath if the app needs them",
            ));
        }
    }
    for name in ["http-enable-proxy-protocol", "enable-proxy-protocol"] {
        if let Some(s) = cfg.get(name).filter(|s| s.value.as_bool()) {
            d.push(Diagnostic::warning(
                &s.origin,
                format!(
                    "{name}: as in uWSGI the PROXY header is optional, so any client that can \
                     reach these listeners can claim any REMOTE_ADDR; let only the load \
                     balancer reach them"
                ),
            ));
        }
    }
    if let Some(s) = cfg.get("no-orphans").filter(|s| !s.value.as_bool()) {
        d.push(Diagnostic::warning(
            &s.origin,
            "no-orphans = false has no effect: rw workers always die with the master",
        ));
    }
    if let Some(s) = cfg
        .get("py-call-osafterfork")
        .filter(|s| !s.value.as_bool())
    {
        d.push(Diagnostic::warning(
            &s.origin,
            "py-call-osafterfork = false has no effect: rw always runs PyOS_AfterFork_Child in \
             workers, so Python signal handlers work there",
        ));
    }
    d
}

fn seconds_trap(name: &str, secs: &str, origin: &Origin, d: &mut Vec<Diagnostic>) {
    let (n, clean) = expires_seconds(secs);
    if !clean {
        d.push(Diagnostic::warning(
            origin,
            format!(
                "{name}: `{secs}` is not a plain number of seconds; uWSGI (and rw) read it as {n}"
            ),
        ));
    }
}

/// Checks against the machine: the `chown-socket` owner must exist, and changing a socket's
/// owner to someone else needs root (uWSGI exits at `chown()` otherwise).
pub fn check_system(
    cfg: &Config,
    euid: u32,
    user_exists: &dyn Fn(&str) -> bool,
    group_exists: &dyn Fn(&str) -> bool,
) -> Vec<Diagnostic> {
    let mut d = Vec::new();
    let Some(s) = cfg.get("chown-socket") else {
        return d;
    };
    let (user, group) = chown_owner(s.value.as_str());
    let numeric = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !numeric(user) && !user_exists(user) {
        d.push(Diagnostic::error(
            &s.origin,
            format!("chown-socket: no such user `{user}`"),
        ));
    }
    if let Some(g) = group {
        if !numeric(g) && !group_exists(g) {
            d.push(Diagnostic::error(
                &s.origin,
                format!("chown-socket: no such group `{g}`"),
            ));
        }
    }
    if euid != 0 && !(numeric(user) && user.parse() == Ok(euid)) {
        d.push(Diagnostic::error(
            &s.origin,
            format!(
                "chown-socket = {} needs root, and rw runs as uid {euid}",
                s.value.as_str()
            ),
        ));
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_plugins_in_every_spelling() {
        for p in [
            "python",
            "python3",
            "python311",
            "python3.11",
            " python3 ",
            "0:python3",
            "/usr/lib/uwsgi/plugins/python3_plugin.so",
            "python3_plugin.so",
        ] {
            assert_eq!(plugin(p), Plugin::Python, "{p}");
        }
        assert_eq!(plugin("python27"), Plugin::Python2);
        assert_eq!(plugin("gevent"), Plugin::Other("gevent".into()));
        assert_eq!(plugin("pythonx"), Plugin::Other("pythonx".into()));
        let all: Vec<_> = plugins("python3, http,,logfile").map(|(n, _)| n).collect();
        assert_eq!(all, ["python3", "http", "logfile"]);
    }

    #[test]
    fn protocols() {
        assert_eq!(socket_protocol("uwsgi"), Ok(SocketProtocol::Uwsgi));
        assert_eq!(socket_protocol("http"), Ok(SocketProtocol::Http));
        assert_eq!(socket_protocol("http11"), Ok(SocketProtocol::Http));
        assert!(socket_protocol("fastcgi").unwrap_err().contains("FastCGI"));
        assert!(socket_protocol("gopher")
            .unwrap_err()
            .contains("unable to find protocol"));
    }

    #[test]
    fn umask_as_uwsgi_reads_it() {
        assert_eq!(umask("022"), (0o022, None));
        assert_eq!(umask("0022"), (0o022, None));
        assert_eq!(umask("002"), (0o002, None));
        let (m, why) = umask("00022");
        assert_eq!(m, 0o002);
        assert!(why.unwrap().contains("2nd to 4th"));
        let (m, why) = umask("22");
        assert_eq!(m, 0);
        assert!(why.unwrap().contains("umask 000"));
        // '8' is 8 in the last octal place: 0o070 + 8 = 0o100.
        let (m, why) = umask("078");
        assert_eq!(m, 0o100);
        assert!(why.unwrap().contains("not octal"));
    }

    #[test]
    fn expires_seconds_as_uwsgi_counts_them() {
        assert_eq!(expires_seconds("86400"), (86400, true));
        assert_eq!(expires_seconds("1d"), (62, false));
        assert_eq!(expires_seconds(""), (0, false));
    }

    #[test]
    fn chown_owner_forms() {
        assert_eq!(chown_owner("www-data"), ("www-data", None));
        assert_eq!(chown_owner("www-data:nginx"), ("www-data", Some("nginx")));
    }
}

/// One cache as `cache2` (or the legacy `cache`/`cache-blocksize`) defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheDef {
    pub name: String,
    /// Item slots (`items`/`max_items`/`maxitems`); one is reserved, as in uWSGI.
    pub max_items: u64,
    pub blocksize: u64,
    pub keysize: u64,
    pub hashsize: u64,
    pub math_initial: i64,
    pub ignore_full: bool,
    /// `hash` (only djb33x, uWSGI's default, is used by rw; the name shows in the stats).
    pub hash: String,
    /// Keys of the definition rw accepts but does not apply (warned about).
    pub ignored: Vec<String>,
}

/// `cache2` keys rw reads but does not apply: persistence, sync, LRU and sweeping policies.
const CACHE2_IGNORED: &[&str] = &[
    "blocks",
    "store",
    "store_sync",
    "storesync",
    "store_delete",
    "storedelete",
    "node",
    "nodes",
    "sync",
    "udp",
    "udp_servers",
    "udp_server",
    "udpservers",
    "udpserver",
    "bitmap",
    "lastmod",
    "purge_lru",
    "lru",
    "lazy_expire",
    "lazy",
    "sweep_on_full",
    "clear_on_full",
    "no_expire",
];

fn cache_number(name: &str, key: &str, v: &str) -> Result<u64, String> {
    v.trim()
        .parse::<u64>()
        .map_err(|_| format!("cache \"{name}\": {key} = `{v}` is not a number"))
}

/// Reads a `cache2` value (`name=NAME,items=N[,blocksize=…,keysize=…,hashsize=…,…]`) with
/// uWSGI's defaults (blocksize and hashsize 65536, keysize 2048) and its refusals.
pub fn cache2(value: &str) -> Result<CacheDef, String> {
    let mut def = CacheDef {
        name: String::new(),
        max_items: 0,
        blocksize: 65536,
        keysize: 2048,
        hashsize: 65536,
        math_initial: 0,
        ignore_full: false,
        hash: "djb33x".into(),
        ignored: Vec::new(),
    };
    let mut items = None;
    let mut fields = Vec::new();
    for part in value.split(',').filter(|p| !p.trim().is_empty()) {
        let Some((k, v)) = part.split_once('=') else {
            return Err(format!(
                "cache2 `{value}`: `{part}` is not KEY=VALUE (uWSGI: unable to parse cache definition)"
            ));
        };
        fields.push((k.trim(), v.trim()));
    }
    for (k, v) in &fields {
        if *k == "name" {
            def.name = v.to_string();
        }
    }
    if def.name.is_empty() {
        return Err(format!(
            "cache2 `{value}`: you have to specify a cache name (name=…)"
        ));
    }
    let name = def.name.clone();
    for (k, v) in fields {
        match k {
            "name" => {}
            "max_items" | "maxitems" | "items" => items = Some(cache_number(&name, k, v)?),
            "blocksize" => def.blocksize = cache_number(&name, k, v)?,
            "hashsize" | "hash_size" => def.hashsize = cache_number(&name, k, v)?,
            "keysize" | "key_size" => def.keysize = cache_number(&name, k, v)?,
            "math_initial" => {
                def.math_initial = v.parse().map_err(|_| {
                    format!("cache \"{name}\": math_initial = `{v}` is not a number")
                })?
            }
            "ignore_full" => def.ignore_full = true,
            "hash" => {
                if v != "djb33x" && v != "murmur2" {
                    return Err(format!("cache \"{name}\": invalid cache hash `{v}`"));
                }
                def.hash = v.to_string();
            }
            k if CACHE2_IGNORED.contains(&k) => def.ignored.push(k.to_string()),
            k => def.ignored.push(k.to_string()),
        }
    }
    def.max_items = items.filter(|&n| n > 0).ok_or_else(|| {
        format!("cache \"{name}\": you have to specify the maximum number of cache items (items=N)")
    })?;
    if def.blocksize == 0 || def.hashsize == 0 {
        return Err(format!(
            "cache \"{name}\": blocksize and hashsize must be above 0"
        ));
    }
    if def.keysize == 0 || def.keysize >= 65535 {
        return Err(format!(
            "cache \"{name}\": invalid cache keysize {}",
            def.keysize
        ));
    }
    Ok(def)
}

/// Every configured cache, in uWSGI's order: the legacy `cache = N` (named `default`) first,
/// then each `cache2`. Errors carry where the value came from.
pub fn caches(cfg: &Config) -> Result<Vec<CacheDef>, (Origin, String)> {
    let mut out = Vec::new();
    if let Some(s) = cfg.get("cache").filter(|s| s.value.as_u64() > 0) {
        let blocksize = cfg.uint("cache-blocksize");
        out.push(CacheDef {
            name: "default".into(),
            max_items: s.value.as_u64(),
            blocksize: if blocksize == 0 { 65536 } else { blocksize },
            keysize: 2048,
            hashsize: 65536,
            math_initial: 0,
            ignore_full: false,
            hash: "djb33x".into(),
            ignored: Vec::new(),
        });
    }
    for s in cfg.list("cache2") {
        let def = cache2(s.value.as_str()).map_err(|e| (s.origin.clone(), e))?;
        if out.iter().any(|c: &CacheDef| c.name == def.name) {
            return Err((
                s.origin.clone(),
                format!("cache \"{}\" is defined twice", def.name),
            ));
        }
        out.push(def);
    }
    Ok(out)
}

/// A `farm = NAME:MULE[,MULE...]` checked against the number of mules: its name and 1-based
/// mule ids (uWSGI exits at startup on the same errors).
pub fn parse_farm(spec: &str, mules: usize) -> Result<(String, Vec<u32>), String> {
    let form = || format!("invalid farm value ({spec}) must be in the form name:mule[,muleN].");
    let (name, list) = spec.split_once(':').ok_or_else(form)?;
    let mut ids = Vec::new();
    for p in list.split(',').filter(|p| !p.is_empty()) {
        match p.trim().parse::<u32>() {
            Ok(id) if id >= 1 && id as usize <= mules => ids.push(id),
            _ => {
                return Err(format!(
                    "invalid mule id: {p} (farm {spec}; {mules} mules configured)"
                ))
            }
        }
    }
    if name.is_empty() || ids.is_empty() {
        return Err(form());
    }
    Ok((name.to_string(), ids))
}

fn check_farms(cfg: &Config, d: &mut Vec<Diagnostic>) {
    let mules = cfg.list("mule").count() + cfg.uint("mules") as usize;
    for s in cfg.list("farm") {
        if let Err(e) = parse_farm(s.value.as_str(), mules) {
            d.push(Diagnostic::error(&s.origin, e));
        }
    }
}

fn check_caches(cfg: &Config, d: &mut Vec<Diagnostic>) {
    if let Err((origin, e)) = caches(cfg) {
        d.push(Diagnostic::error(&origin, e));
        return;
    }
    for s in cfg.list("cache2") {
        let Ok(def) = cache2(s.value.as_str()) else {
            continue;
        };
        if !def.ignored.is_empty() {
            d.push(Diagnostic::warning(
                &s.origin,
                format!(
                    "cache \"{}\": {} not implemented in rw (the cache lives in shared memory \
                     only: no persistence, sync, LRU purge or bitmap blocks)",
                    def.name,
                    def.ignored.join(", ")
                ),
            ));
        }
    }
}

#[cfg(test)]
mod cache_tests {
    use super::*;

    #[test]
    fn cache2_definitions_as_uwsgi_reads_them() {
        let c =
            cache2("name=sessions,items=100,blocksize=4096,keysize=64,math_initial=-3").unwrap();
        assert_eq!(
            (
                c.name.as_str(),
                c.max_items,
                c.blocksize,
                c.keysize,
                c.hashsize,
                c.math_initial
            ),
            ("sessions", 100, 4096, 64, 65536, -3)
        );
        assert!(c.ignored.is_empty());
        assert_eq!(
            cache2("name=a,maxitems=5,store=/tmp/x").unwrap().ignored,
            ["store"]
        );
        for bad in [
            "items=10",
            "name=a",
            "name=a,items=0",
            "name=a,items=x",
            "name=a,items=1,keysize=70000",
            "name=a,items=2,hash=md5",
            "name=a,junk",
        ] {
            assert!(cache2(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn farms_are_checked_as_uwsgi_checks_them() {
        assert_eq!(parse_farm("a:1,2", 2), Ok(("a".into(), vec![1, 2])));
        assert!(parse_farm("a", 2).is_err());
        assert!(parse_farm("a:3", 2).is_err());
        assert!(parse_farm(":1", 2).is_err());
        assert!(parse_farm("a:x", 2).is_err());
        assert!(parse_farm("a:", 2).is_err());
    }
}
