//! The stats JSON, key for key as uWSGI 2.0 emits it (same names, JSON types and nesting),
//! plus a few rw extras that uWSGI readers ignore. Deserializing is lenient (every key has a
//! default) so `rw top` also reads a real uWSGI's stats socket.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The whole document (top level).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stats {
    pub version: String,
    pub listen_queue: u64,
    pub listen_queue_errors: u64,
    pub signal_queue: u64,
    pub load: u64,
    pub pid: i64,
    pub uid: u32,
    pub gid: u32,
    pub cwd: String,
    /// The attached daemons, absent when none is configured, as in uWSGI.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub daemons: Vec<Daemon>,
    /// One single-key object per lock: `{"<name>": <pid holding it or 0>}`.
    pub locks: Vec<BTreeMap<String, i64>>,
    /// The local caches (`cache2`), absent when none is configured, as in uWSGI.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub caches: Vec<Cache>,
    pub sockets: Vec<Socket>,
    pub workers: Vec<Worker>,
    /// The command crons, absent when none is configured, as in uWSGI.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub crons: Vec<Cron>,
    /// The spooler processes, absent when none is configured, as in uWSGI.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub spoolers: Vec<Spooler>,
    /// rw extra: the rw version (absent in uWSGI's output).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rw_version: Option<String>,
    /// rw extra: the cheaper subsystem, when `cheaper` is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cheaper: Option<Cheaper>,
    /// rw extra: workers recycled since the master started, by cause (the option that asked:
    /// `max-requests`, `reload-on-rss`, `max-worker-lifetime`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recycles: Option<BTreeMap<String, u64>>,
    /// rw extra: accept(2) failures of the stats listener for lack of fds or memory (the
    /// workers' own are in `workers[].rejections.accept`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats_accept_failures: Option<u64>,
}

/// `daemons[]`: uWSGI's keys (its `respawns` prints 0 once a daemon respawned, an
/// inverted test; rw's counts the respawns), plus rw's `pidfile` for smart daemons.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Daemon {
    pub cmd: String,
    /// 0 while it is not running.
    pub pid: i64,
    pub respawns: u64,
    /// rw extra: a smart daemon's pidfile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pidfile: Option<String>,
}

/// `crons[]`, uWSGI's keys.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Cron {
    pub minute: i64,
    pub hour: i64,
    pub day: i64,
    pub month: i64,
    pub week: i64,
    pub command: String,
    pub unique: u64,
    /// Only from uWSGI builds with legions (SSL); absent otherwise, as in rw.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub legion: String,
    /// The running command (the latest run), -1 when none runs.
    pub pid: i64,
    pub started_at: u64,
}

/// rw extra `cheaper`: the adaptive worker count and what it did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Cheaper {
    pub algo: String,
    /// `cheaper`: the fewest workers.
    pub min: u64,
    /// `processes`: the most.
    pub max: u64,
    /// Workers it wants running now (the others are `cheap`).
    pub target: u64,
    /// Workers it spawned, by cause (the algorithm, `fifo`).
    pub spawns: BTreeMap<String, u64>,
    /// Workers it stopped, by cause (the algorithm, `fifo`, `rss-limit-hard`).
    pub stops: BTreeMap<String, u64>,
}

/// `spoolers[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Spooler {
    pub dir: String,
    pub pid: i64,
    /// Tasks run by the current process (uWSGI resets it at each spawn).
    pub tasks: u64,
    pub respawns: u64,
    /// 1 while a task runs.
    pub running: u64,
}

/// `caches[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Cache {
    pub name: String,
    pub hash: String,
    pub hashsize: u64,
    pub keysize: u64,
    pub max_items: u64,
    pub blocks: u64,
    pub blocksize: u64,
    pub items: u64,
    pub hits: u64,
    pub miss: u64,
    pub full: u64,
    pub last_modified_at: u64,
}

/// `sockets[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Socket {
    pub name: String,
    pub proto: String,
    /// Current accept-queue length.
    pub queue: u64,
    /// The listen backlog.
    pub max_queue: u64,
    pub shared: u32,
    pub can_offload: u32,
}

/// `workers[]` (ids are 1-based).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Worker {
    pub id: u64,
    /// 0 while the slot has no live process.
    pub pid: i64,
    pub accepting: u32,
    /// Cumulative across respawns.
    pub requests: u64,
    /// Since the last (re)spawn.
    pub delta_requests: u64,
    pub exceptions: u64,
    pub harakiri_count: u64,
    pub signals: u64,
    pub signal_queue: u64,
    /// `idle`, `busy`, `cheap`, `pause` or `sigN`.
    pub status: String,
    /// Bytes.
    pub rss: u64,
    /// Bytes.
    pub vsz: u64,
    /// µs spent in requests.
    pub running_time: u64,
    /// Unix time (s) of the last (re)spawn.
    pub last_spawn: u64,
    pub respawn_count: u64,
    /// Response bytes, headers included.
    pub tx: u64,
    /// µs, running average `(avg + last) / 2`.
    pub avg_rt: u64,
    pub apps: Vec<App>,
    pub cores: Vec<Core>,
    /// rw extra: median request time in µs, from the latency histogram.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_p50_us: Option<u64>,
    /// rw extra: 99th percentile request time in µs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_p99_us: Option<u64>,
    /// rw extra: responses by status class, `{"1xx": n, …, "5xx": n}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_counts: Option<BTreeMap<String, u64>>,
    /// rw extra: the latency histogram; entry i counts requests of at most 2^i µs (and more
    /// than 2^(i-1) µs); the last entry counts everything slower.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_buckets: Option<Vec<u64>>,
    /// rw extra: request bodies that could not be buffered (post-buffering), by cause:
    /// `client_timeout` (408) and `client_abort` (400) are the client's, `spool` (503/413) the
    /// server's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_errors: Option<BTreeMap<String, u64>>,
    /// rw extra: connections refused before the app, by status (`"408"`, `"400"`, …,
    /// `"other"`) or cause (`uwsgi`: a packet dropped; `accept`: accept(2) out of fds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejections: Option<BTreeMap<String, u64>>,
}

/// `workers[].apps[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct App {
    pub id: u64,
    pub modifier1: u32,
    pub mountpoint: String,
    /// Seconds it took to load.
    pub startup_time: u64,
    pub requests: u64,
    pub exceptions: u64,
    pub chdir: String,
}

/// `workers[].cores[]` (one per thread).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Core {
    pub id: u64,
    pub requests: u64,
    pub static_requests: u64,
    pub routed_requests: u64,
    pub offloaded_requests: u64,
    pub write_errors: u64,
    pub read_errors: u64,
    pub in_request: u32,
    /// While in a request: `KEY=VALUE` strings followed by one `""`; else empty.
    pub vars: Vec<String>,
    pub req_info: ReqInfo,
}

/// `cores[].req_info`: `{"request_start": <unix s>}` while in a request, else `{}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReqInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_start: Option<u64>,
}

impl Core {
    /// The value of one request var (`REQUEST_URI`, …) while in a request.
    pub fn var(&self, key: &str) -> Option<&str> {
        self.vars
            .iter()
            .find_map(|kv| kv.strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))
    }
}

/// The request vars of a core slot as uWSGI lists them: `KEY=VALUE` (bytes that are not UTF-8
/// become U+FFFD; serde_json escapes quotes and control characters) and a final `""`.
pub fn vars_list(raw: &[Vec<u8>]) -> Vec<String> {
    let mut v: Vec<String> = raw
        .iter()
        .map(|kv| String::from_utf8_lossy(kv).into_owned())
        .collect();
    v.push(String::new());
    v
}

impl Stats {
    /// Pretty JSON (always valid UTF-8 JSON: strings are escaped by serde_json).
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_else(|_| b"{}".to_vec());
        out.push(b'\n');
        out
    }

    /// Parses a stats document, tolerating invalid UTF-8 (as uwsgitop does, lossily).
    pub fn from_json(bytes: &[u8]) -> serde_json::Result<Stats> {
        match std::str::from_utf8(bytes) {
            Ok(s) => serde_json::from_str(s),
            Err(_) => serde_json::from_str(&String::from_utf8_lossy(bytes)),
        }
    }

    /// Σ workers[].requests (uwsgitop's `req:` figure).
    pub fn total_requests(&self) -> u64 {
        self.workers.iter().map(|w| w.requests).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../../tests/fixtures/stats-sample.json");

    #[test]
    fn reads_the_real_uwsgi_sample_and_round_trips_it() {
        let s = Stats::from_json(SAMPLE.as_bytes()).unwrap();
        assert_eq!(s.version, "2.0.30");
        assert_eq!(s.pid, 14003);
        assert_eq!(s.locks.len(), 8);
        assert_eq!(s.locks[0].get("user 0"), Some(&0));
        assert_eq!(s.sockets[0].max_queue, 100);
        assert_eq!(s.workers.len(), 2);
        assert_eq!(s.workers[1].requests, 21);
        assert_eq!(s.workers[1].apps[0].requests, 22);
        let c = &s.workers[0].cores[0];
        assert_eq!(c.in_request, 1);
        assert_eq!(c.var("REQUEST_URI"), Some("/sleep?4"));
        assert_eq!(c.vars.last().map(String::as_str), Some(""));
        assert_eq!(c.req_info.request_start, Some(1795934547));
        assert_eq!(s.workers[0].cores[1].req_info.request_start, None);
        assert_eq!(s.total_requests(), 22);
        // Serialising gives back the same document (no rw extras were set).
        let ours: serde_json::Value = serde_json::from_slice(&s.to_json()).unwrap();
        let theirs: serde_json::Value = serde_json::from_str(SAMPLE).unwrap();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn empty_req_info_is_an_empty_object_and_missing_keys_default() {
        let c = Core::default();
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["req_info"], serde_json::json!({}));
        assert_eq!(v["vars"], serde_json::json!([]));
        let s: Stats = serde_json::from_str(r#"{"workers":[{"id":1}]}"#).unwrap();
        assert_eq!(s.workers[0].id, 1);
        assert_eq!(s.workers[0].status, "");
    }

    #[test]
    fn hostile_vars_stay_valid_json() {
        let raw = vec![
            b"REQUEST_URI=/\"q\"\\\x01\x1b[31m\n".to_vec(),
            b"HTTP_X=\xff\xfe\xc3(".to_vec(),
        ];
        let w = Worker {
            cores: vec![Core {
                in_request: 1,
                vars: vars_list(&raw),
                ..Core::default()
            }],
            ..Worker::default()
        };
        let s = Stats {
            workers: vec![w],
            ..Stats::default()
        };
        let json = s.to_json();
        assert!(std::str::from_utf8(&json).is_ok());
        assert!(!json.iter().any(|&b| b < 0x20 && b != b'\n'));
        let back = Stats::from_json(&json).unwrap();
        let vars = &back.workers[0].cores[0].vars;
        assert_eq!(vars[0], "REQUEST_URI=/\"q\"\\\u{1}\u{1b}[31m\n");
        assert!(vars[1].starts_with("HTTP_X=\u{fffd}"));
        assert_eq!(vars[2], "");
    }
}
