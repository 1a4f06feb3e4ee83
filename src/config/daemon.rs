//! uWSGI's attached daemons (`attach-daemon`, `attach-control-daemon`, `smart-attach-daemon`,
//! `smart-attach-daemon2`, `attach-daemon2`): reading their values into [`DaemonDef`]s, and
//! the checks `rw serve` and `check-config` share. The master's side is server/daemons.rs.

use super::diag::Diagnostic;
use super::kvlist;
use super::resolve::Config;

/// One attached daemon, as uWSGI 2.0's `struct uwsgi_daemon` holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonDef {
    /// Run with `/bin/sh -c`.
    pub command: String,
    /// Smart daemon: watched through this pidfile, not as a child.
    pub pidfile: Option<String>,
    /// rw writes the pidfile and keeps the command in the foreground (smart-attach-daemon2,
    /// `daemonize=1`).
    pub daemonize: bool,
    /// Smart daemons: master checks (one a second) without a valid pidfile before a respawn.
    pub freq: u32,
    /// The instance stops when this daemon dies (attach-control-daemon, `control=1`).
    pub control: bool,
    pub stop_signal: i32,
    /// Sent instead of `stop_signal` when the instance reloads (0: `stop_signal`).
    pub reload_signal: i32,
    /// Keep the master's stdin instead of /dev/null.
    pub honour_stdin: bool,
    /// `uid=` / `gid=` (numbers or names), resolved by the master.
    pub uid: Option<String>,
    pub gid: Option<String>,
    pub chdir: Option<String>,
    /// The longest throttle between quick respawns, seconds (0: uWSGI's 300).
    pub max_throttle: u32,
    /// Smart daemons: signalled (stop or reload signal) when the instance stops or reloads.
    pub notifypid: bool,
    /// Files whose mtime change restarts the daemon.
    pub touch: Vec<String>,
}

impl DaemonDef {
    fn plain(command: &str) -> DaemonDef {
        DaemonDef {
            command: command.to_string(),
            pidfile: None,
            daemonize: false,
            freq: 10,
            control: false,
            stop_signal: 15, // SIGTERM
            reload_signal: 0,
            honour_stdin: false,
            uid: None,
            gid: None,
            chdir: None,
            max_throttle: 0,
            notifypid: false,
            touch: Vec::new(),
        }
    }
}

/// The options, in the order their daemons are collected.
pub const OPTIONS: &[&str] = &[
    "attach-daemon",
    "attach-control-daemon",
    "smart-attach-daemon",
    "smart-attach-daemon2",
    "attach-daemon2",
];

/// Linux signal numbers (config/ uses no libc).
const SIGNALS: &[(&str, i32)] = &[
    ("HUP", 1),
    ("INT", 2),
    ("QUIT", 3),
    ("KILL", 9),
    ("USR1", 10),
    ("USR2", 12),
    ("TERM", 15),
    ("CONT", 18),
    ("STOP", 19),
    ("TSTP", 20),
    ("WINCH", 28),
    ("ALRM", 14),
    ("ABRT", 6),
];

/// A signal by number (uWSGI) or name (`TERM`, `SIGTERM`; rw extra).
pub fn signal(v: &str) -> Option<i32> {
    if let Ok(n) = v.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let name = v.strip_prefix("SIG").unwrap_or(v);
    SIGNALS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, s)| *s)
}

/// One value of `opt` (one of [`OPTIONS`]); the warnings are what it asks rw ignores.
pub fn parse(opt: &str, value: &str) -> Result<(DaemonDef, Vec<String>), String> {
    let value = value.trim();
    match opt {
        "attach-daemon" | "attach-control-daemon" => {
            if value.is_empty() {
                return Err(format!("{opt}: no command"));
            }
            let mut d = DaemonDef::plain(value);
            d.control = opt == "attach-control-daemon";
            Ok((d, Vec::new()))
        }
        "smart-attach-daemon" | "smart-attach-daemon2" => {
            let Some((head, command)) = value.split_once(' ') else {
                return Err(format!(
                    "{opt} `{value}`: expected `PIDFILE[,FREQ] COMMAND` (uWSGI: invalid smart-attach-daemon syntax)"
                ));
            };
            let command = command.trim();
            if command.is_empty() {
                return Err(format!("{opt} `{value}`: no command after the pidfile"));
            }
            let mut d = DaemonDef::plain(command);
            let (pidfile, freq) = match head.split_once(',') {
                Some((p, f)) => (p, Some(f)),
                None => (head, None),
            };
            d.pidfile = Some(pidfile.to_string());
            if let Some(f) = freq {
                d.freq = f
                    .parse()
                    .map_err(|_| format!("{opt} `{value}`: frequency `{f}` is not a number"))?;
            }
            d.daemonize = opt == "smart-attach-daemon2";
            Ok((d, Vec::new()))
        }
        "attach-daemon2" => attach_daemon2(value),
        _ => Err(format!("{opt}: not a daemon option")),
    }
}

const DAEMON2_KEYS: &[&str] = &[
    "command",
    "cmd",
    "exec",
    "freq",
    "pidfile",
    "control",
    "daemonize",
    "daemon",
    "touch",
    "stopsignal",
    "stop_signal",
    "reloadsignal",
    "reload_signal",
    "stdin",
    "uid",
    "gid",
    "ns_pid",
    "chdir",
    "max_throttle",
    "notifypid",
];

/// uWSGI sets a flag key whatever its value (`daemonize=0` daemonizes); rw reads uWSGI's
/// false words as false.
fn flag(v: &str) -> bool {
    super::value::parse_bool(v)
}

fn attach_daemon2(value: &str) -> Result<(DaemonDef, Vec<String>), String> {
    let kv = kvlist::parse(value, DAEMON2_KEYS);
    let mut warn: Vec<String> = kv
        .ignored
        .iter()
        .map(|k| format!("attach-daemon2: key `{k}` is unknown and ignored"))
        .collect();
    let command = ["command", "cmd", "exec"]
        .iter()
        .rev()
        .find_map(|k| kv.get(k))
        .filter(|c| !c.trim().is_empty())
        .ok_or_else(|| {
            format!("attach-daemon2 `{value}`: you need to specify a 'command' key (cmd=…)")
        })?;
    let mut d = DaemonDef::plain(command.trim());
    let num = |k: &str| -> Result<Option<u32>, String> {
        kv.get(k)
            .map(|v| {
                v.parse()
                    .map_err(|_| format!("attach-daemon2 `{value}`: {k}={v} is not a number"))
            })
            .transpose()
    };
    let sig = |k: &str| -> Result<Option<i32>, String> {
        kv.get(k)
            .map(|v| {
                signal(v).ok_or_else(|| {
                    format!("attach-daemon2 `{value}`: {k}={v} is not a signal (a number or a name like TERM)")
                })
            })
            .transpose()
    };
    if let Some(f) = num("freq")? {
        d.freq = f;
    }
    d.pidfile = kv.get("pidfile").map(str::to_string);
    d.control = kv.get("control").is_some_and(flag);
    d.daemonize = kv.get("daemonize").or(kv.get("daemon")).is_some_and(flag);
    if let Some(s) = sig("stopsignal")?.or(sig("stop_signal")?) {
        d.stop_signal = s;
    }
    if let Some(s) = sig("reloadsignal")?.or(sig("reload_signal")?) {
        d.reload_signal = s;
    }
    d.honour_stdin = kv.get("stdin").is_some_and(flag);
    d.uid = kv.get("uid").map(str::to_string);
    d.gid = kv.get("gid").map(str::to_string);
    d.chdir = kv.get("chdir").map(str::to_string);
    d.max_throttle = num("max_throttle")?.unwrap_or(0);
    d.notifypid = kv.get("notifypid").is_some_and(flag);
    d.touch = kv
        .get("touch")
        .map(|t| {
            t.split(';')
                .map(|p| p.trim().trim_matches('"').to_string())
                .filter(|p| !p.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if kv.get("ns_pid").is_some_and(flag) {
        warn.push(
            "attach-daemon2: ns_pid is not supported by rw: the daemon runs in the instance's pid namespace"
                .to_string(),
        );
    }
    if d.daemonize && d.pidfile.is_none() {
        return Err(format!(
            "attach-daemon2 `{value}`: daemonize needs a pidfile (pidfile=…) to write and watch"
        ));
    }
    if d.control && d.pidfile.is_some() {
        warn.push(
            "attach-daemon2: control applies to daemons without a pidfile only (as in uWSGI)"
                .to_string(),
        );
    }
    Ok((d, warn))
}

/// Every daemon of the config, in [`OPTIONS`] order; errors carry where the value came from.
pub fn daemons(cfg: &Config) -> Result<Vec<DaemonDef>, Diagnostic> {
    cfg.parse_each(OPTIONS, parse)
}

/// The value checks, part of loading (serve and check-config refuse the same configs).
pub fn check(cfg: &Config, d: &mut Vec<Diagnostic>) {
    cfg.check_each(OPTIONS, parse, d);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_control() {
        let (d, w) = parse("attach-daemon", " memcached -p 11311 ").unwrap();
        assert_eq!(d.command, "memcached -p 11311");
        assert!(d.pidfile.is_none() && !d.control && w.is_empty());
        assert_eq!((d.stop_signal, d.reload_signal, d.freq), (15, 0, 10));
        assert!(parse("attach-control-daemon", "x").unwrap().0.control);
        assert!(parse("attach-daemon", "  ").is_err());
    }

    #[test]
    fn smart_forms() {
        let (d, _) = parse(
            "smart-attach-daemon",
            "/tmp/x.pid,3 redis-server /etc/r.conf",
        )
        .unwrap();
        assert_eq!(d.pidfile.as_deref(), Some("/tmp/x.pid"));
        assert_eq!((d.freq, d.daemonize), (3, false));
        assert_eq!(d.command, "redis-server /etc/r.conf");
        let (d, _) = parse("smart-attach-daemon2", "/tmp/y.pid celery worker").unwrap();
        assert_eq!((d.freq, d.daemonize), (10, true));
        for bad in ["/tmp/x.pid", "/tmp/x.pid,z cmd", "/tmp/x.pid   "] {
            assert!(parse("smart-attach-daemon", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn daemon2_keys() {
        let (d, w) = parse(
            "attach-daemon2",
            r"cmd=sleep 1\, 2,pidfile=/p,daemonize=1,stopsignal=2,reloadsignal=HUP,freq=4,max_throttle=7,touch=/a;/b,uid=33,stdin=1,notifypid=1,chdir=/srv,bogus=1",
        )
        .unwrap();
        assert_eq!(d.command, "sleep 1, 2");
        assert_eq!(d.pidfile.as_deref(), Some("/p"));
        assert!(d.daemonize && d.honour_stdin && d.notifypid);
        assert_eq!((d.stop_signal, d.reload_signal), (2, 1));
        assert_eq!((d.freq, d.max_throttle), (4, 7));
        assert_eq!(d.touch, vec!["/a", "/b"]);
        assert_eq!(
            (d.uid.as_deref(), d.chdir.as_deref()),
            (Some("33"), Some("/srv"))
        );
        assert_eq!(w.len(), 1, "{w:?}");
        let (d, _) = parse("attach-daemon2", "exec=true,control=1,daemonize=0").unwrap();
        assert!(d.control && !d.daemonize);
        for bad in [
            "pidfile=/p",
            "cmd=x,stopsignal=NOPE",
            "cmd=x,freq=-1",
            "cmd=x,daemonize=1",
            "cmd=x,stopsignal=99",
        ] {
            assert!(parse("attach-daemon2", bad).is_err(), "{bad}");
        }
    }
}
