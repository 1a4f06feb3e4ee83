//! The whole uWSGI 2.0 vocabulary ([`VOCAB`], generated from uWSGI's tree) and how rw treats
//! each name: implemented or same effect (a row of [`OPTIONS`]), config logic (read by the
//! loader), or not implemented (accepted with a warning that says what will differ). A key
//! that is none of these is a placeholder, as in uWSGI.

use super::options::{self, OptSpec, Support};
pub use super::uopt::{UArg, UOpt};
pub use super::vocab::VOCAB;

/// Config-logic keys the loader consumes (`end` is not in uWSGI's table: its config reader
/// checks for the name itself).
pub const LOGIC_CLOSERS: &[&str] = &["end", "endif", "end-if", "endfor", "end-for"];

/// What rw does with a key.
#[derive(Debug, Clone, Copy)]
pub enum Class {
    /// A row of the option table (implemented, or same effect in rw).
    Table(&'static OptSpec),
    /// `if-*`, `for*` and their closers.
    Logic,
    /// A uWSGI option rw does not implement; the text says what will differ.
    NotImplemented(&'static UOpt),
    /// Not a uWSGI option: a placeholder for `%(name)`.
    Placeholder,
}

/// The vocabulary row of `name` (the table is sorted by name).
pub fn uwsgi_option(name: &str) -> Option<&'static UOpt> {
    VOCAB
        .binary_search_by(|o| o.name.cmp(name))
        .ok()
        .map(|i| &VOCAB[i])
}

pub fn classify(key: &str) -> Class {
    if let Some(spec) = options::lookup(key) {
        return Class::Table(spec);
    }
    if LOGIC_CLOSERS.contains(&key) {
        return Class::Logic;
    }
    match uwsgi_option(key) {
        Some(u) if u.setter == "logic" => Class::Logic,
        Some(u) => Class::NotImplemented(u),
        None => Class::Placeholder,
    }
}

/// Whether a value of a not-implemented option asks for nothing (off, zero, empty), so
/// ignoring it changes nothing and no warning is due.
pub fn asks_for_nothing(u: &UOpt, value: &str, bare: bool) -> bool {
    let v = value.trim();
    match u.setter {
        "true" => !bare && !super::value::parse_bool(value),
        "false" => bare || super::value::parse_bool(value),
        "set_int" | "set_64bit" | "set_16bit" | "set_megabytes" | "set_rawint" => {
            !bare && super::value::atoi(v).0 == 0
        }
        "noop" | "deprecated" => true,
        _ => false,
    }
}

/// Groups of not-implemented options and what differs while rw ignores them, checked in
/// order: an exact name, or a prefix ending in `*`. `true` marks the groups planned for the
/// next issues (logging, process names, recycling, daemons, the FIFO, the uwsgi
/// API): until they land they are warnings even under `strict`, so configs that use them
/// (the circulating production config does) keep loading.
#[rustfmt::skip]
const DIFFERENCES: &[(&[&str], bool, &str)] = &[
    (&["logger-list", "loggers-list", "log-req-route", "log-alarm", "alarm*", "log-socket", "ignore-sigpipe", "ignore-write-errors", "disable-write-exception"], true,
        "log output is handled the rw way (stderr, logto or daemonize file); this setting is not applied (planned with the logging options)"),
    (&["reload-on-uss", "reload-on-pss", "reload-on-exception", "reload-on-exception-*", "limit-as", "limit-nproc"], true,
        "workers are not recycled by this limit (planned with the recycling options)"),
    (&["cheaper-algo-list", "cheaper-algos-list", "cheaper-list"], false,
        "rw does not print its list of cheaper algorithms (spare, spare2, backlog, busyness, manual)"),
    (&["legion*", "cron-legion", "unique-cron-legion", "unique-legion-cron"], false,
        "rw has no Legion: this daemon or cron is not started"),
    (&["mule*", "farm", "cache*", "lock*", "sharedarea", "rpc*", "signal*", "timer*", "queue*", "ssa*"], true,
        "this part of the uwsgi API is not implemented in rw: app code that relies on it fails (the uwsgi module raises NotImplementedError naming it)"),
    (&["hook-*", "exec-*", "call-*", "mount-*", "umount-*", "after-request-hook", "after-request-call"], false,
        "this phase (Emperor, vassal, mule, gateway, mount) or C call does not exist in rw: the hook is not run"),
    (&["route*", "final-route*", "error-route*", "response-route*", "router-list", "http-route*"], false,
        "the routing rules are not applied"),
    (&["emperor*", "vassal*", "imperial-*", "early-emperor*", "auto-snapshot", "reload-mercy-vassal"], false,
        "rw has no Emperor: vassals are not managed"),
    (&["ssl-*", "https*", "sni*", "suwsgi-socket", "ssl-socket", "http-to-https"], false,
        "TLS is not supported in rw: terminate TLS in nginx"),
    (&["fastrouter*", "rawrouter*", "sslrouter*", "forkptyrouter*", "zerg*", "subscribe*", "subscription*", "unsubscribe-on-graceful-reload", "start-unsubscribed"], false,
        "this router or subscription system is not started"),
    (&["http-*"], false,
        "rw serves HTTP in its workers (no router process): this router setting has no counterpart and is ignored"),
    (&["stats-push*", "carbon*", "rrdtool*", "metric*", "enable-metrics", "statsd*", "snmp*", "zabbix*", "nagios*"], false,
        "these metrics are not collected or pushed"),
    (&["gevent*", "async*", "ugreen*", "greenlet*", "loop", "tornado", "asyncio"], false,
        "rw runs WSGI apps in blocking worker threads: no async loop or green threads"),
    (&["py-*", "python-*", "pyimport", "pyargv", "wsgi-*", "web3", "pump", "wsgi-lite", "eval", "pyrun", "pyshell*", "pecan", "mount", "pymodule-alias", "import", "pp"], false,
        "this Python plugin setting is not applied"),
    (&["uid", "gid", "chroot", "cap", "unshare*", "setns*", "jail*", "namespace*", "pivot*", "immediate-uid", "immediate-gid", "add-gid", "emperor-cap"], false,
        "this privilege or isolation step is not taken"),
];

/// What will differ when rw ignores the not-implemented option `u`.
pub fn what_differs(u: &UOpt) -> &'static str {
    difference(u).1
}

/// Whether `u` belongs to a group planned for the next issues (a warning even under strict).
pub fn planned(u: &UOpt) -> bool {
    difference(u).0
}

fn difference(u: &UOpt) -> (bool, &'static str) {
    for (names, planned, text) in DIFFERENCES {
        for pat in *names {
            let hit = if let Some(prefix) = pat.strip_suffix('*') {
                u.name.starts_with(prefix)
            } else if pat.ends_with('-') {
                u.name.starts_with(pat)
            } else {
                u.name == *pat
            };
            if hit {
                return (*planned, text);
            }
        }
    }
    (
        false,
        "rw does not implement it and ignores it: what it does in uWSGI will not happen",
    )
}

/// Widespread misspellings of real options: placeholders in uWSGI (which its strict mode
/// refuses), accepted by rw with a warning even under strict, so the configs that carry them
/// load. (rw, option meant)
pub const KNOWN_MISSPELLINGS: &[(&str, &str)] = &[("py-callos-afterfork", "py-call-osafterfork")];

/// Every name `rw serve` accepts as a flag besides the table's: the rest of the vocabulary.
/// (`help` and `version` stay clap's own flags.)
pub fn cli_extra() -> impl Iterator<Item = &'static UOpt> {
    VOCAB.iter().filter(|u| {
        options::lookup(u.name).is_none() && !matches!(u.name, "help" | "version" | "usage")
    })
}

/// The best-known name within a small edit distance of `key` (a typo guess).
pub fn suggest(key: &str) -> Option<&'static str> {
    let limit = if key.len() <= 4 { 1 } else { 2 };
    let table = options::OPTIONS
        .iter()
        .flat_map(|o| std::iter::once(o.name).chain(o.aliases.iter().copied()));
    // Names of the table first: at equal distance they are the likelier meaning.
    table
        .map(|n| (0u8, n))
        .chain(
            VOCAB
                .iter()
                .filter(|u| !matches!(u.setter, "logic" | "noop"))
                .map(|u| (1u8, u.name)),
        )
        .map(|(rank, n)| (edit_distance(key, n), rank, n))
        .filter(|(d, _, _)| *d <= limit && *d > 0)
        .min_by_key(|(d, rank, _)| (*d, *rank))
        .map(|(_, _, n)| options::lookup(n).map(|o| o.name).unwrap_or(n))
}

/// Levenshtein distance; option names are short, so the quadratic table is fine.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// How rw treats an option, as the README and `rw serve --help` say it.
pub fn support_text(spec: &OptSpec) -> String {
    match spec.support {
        Support::Yes => "yes".to_string(),
        Support::Moot(why) => format!("accepted: {why}"),
        Support::Same(why) => format!("same effect: {why}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabulary_is_sorted_and_unique() {
        for w in VOCAB.windows(2) {
            assert!(w[0].name < w[1].name, "{} / {}", w[0].name, w[1].name);
        }
        assert!(VOCAB.len() > 900, "{}", VOCAB.len());
    }

    #[test]
    fn every_table_row_is_a_uwsgi_option() {
        for o in options::OPTIONS {
            for n in std::iter::once(o.name).chain(o.aliases.iter().copied()) {
                if options::LATER_UWSGI.contains(&n) || options::RW_ONLY.contains(&n) {
                    assert!(uwsgi_option(n).is_none(), "`{n}` is a uWSGI 2.0 option");
                    continue;
                }
                assert!(uwsgi_option(n).is_some(), "`{n}` is not a uWSGI 2.0 option");
            }
        }
    }

    #[test]
    fn classification() {
        assert!(matches!(classify("processes"), Class::Table(_)));
        assert!(matches!(classify("workers"), Class::Table(_)));
        assert!(matches!(classify("if-env"), Class::Logic));
        assert!(matches!(classify("end"), Class::Logic));
        assert!(matches!(classify("cheaper-busyness-max"), Class::Table(_)));
        assert!(matches!(classify("idle"), Class::Table(_)));
        assert!(matches!(
            classify("py-callos-afterfork"),
            Class::Placeholder
        ));
        assert!(matches!(classify("mydomain"), Class::Placeholder));
    }

    #[test]
    fn differences_name_the_consequence() {
        let u = uwsgi_option("log-req-route").unwrap();
        assert!(what_differs(u).contains("log output"));
        let u = uwsgi_option("cheaper-algo-list").unwrap();
        assert!(what_differs(u).contains("algorithms"));
        let u = uwsgi_option("limit-as").unwrap();
        assert!(what_differs(u).contains("recycled"));
    }

    #[test]
    fn nothing_asked_is_silent() {
        let u = uwsgi_option("die-on-idle").unwrap();
        assert!(asks_for_nothing(u, "false", false));
        assert!(!asks_for_nothing(u, "true", false));
        assert!(!asks_for_nothing(u, "", true));
        let u = uwsgi_option("limit-as").unwrap();
        assert!(asks_for_nothing(u, "0", false));
        assert!(!asks_for_nothing(u, "512 ; half a GB", false));
    }

    #[test]
    fn suggestions_catch_typos() {
        assert_eq!(suggest("proceses"), Some("processes"));
        assert_eq!(suggest("harakari"), Some("harakiri"));
        assert_eq!(suggest("wokers"), Some("processes"));
        assert_eq!(suggest("py-callos-afterfork"), Some("py-call-osafterfork"));
        assert_eq!(suggest("mydomain"), None);
    }
}
