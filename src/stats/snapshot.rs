//! Builds the stats document from the scoreboard plus what only the master knows (sockets,
//! its pid) and what the kernel knows (accept-queue lengths, worker memory).

use super::schema::{self, Stats};
use super::scoreboard::{
    latency_bucket_le_us, Scoreboard, Status, LATENCY_BUCKETS, REJECTION_KEYS,
};
use crate::sys::listen_queue;
use std::collections::BTreeMap;
use std::os::fd::RawFd;
use std::sync::atomic::Ordering::Relaxed;

/// A listening socket as the stats show it.
#[derive(Debug, Clone)]
pub struct SocketInfo {
    /// The address as configured.
    pub name: String,
    /// `uwsgi` or `http`.
    pub proto: &'static str,
    pub fd: RawFd,
    pub is_unix: bool,
    /// The configured `listen` backlog (reported when the kernel does not say).
    pub backlog: u32,
}

/// A loaded app (the same in every worker).
#[derive(Debug, Clone)]
pub struct AppInfo {
    pub id: u64,
    pub mountpoint: String,
    /// Seconds it took to load.
    pub startup_time: u64,
}

/// What the master hands to [`build`].
pub struct MasterView<'a> {
    pub scoreboard: &'a Scoreboard,
    pub sockets: Vec<SocketInfo>,
    pub master_pid: u32,
    pub processes: usize,
    pub threads: usize,
    pub apps: Vec<AppInfo>,
    /// Workers sample their own memory after each request (`memory-report`, `reload-on-rss`).
    /// The master samples /proc at snapshot time either way; this only decides whether the
    /// workers' last sample is a fallback when /proc cannot be read.
    pub memory_sampling: bool,
    /// The caches, read by the master just now.
    pub caches: Vec<schema::Cache>,
    /// The cheaper's state, when it is on.
    pub cheaper: Option<schema::Cheaper>,
    /// Attached daemons and command crons.
    pub daemons: Vec<schema::Daemon>,
    pub crons: Vec<schema::Cron>,
    /// The spooler processes.
    pub spoolers: Vec<schema::Spooler>,
}

/// uWSGI 2.0's default lock names, in its order (rw holds none of them: all report 0).
const LOCKS: [&str; 8] = [
    "user 0", "signal", "filemon", "timer", "rbtimer", "cron", "rpc", "snmp",
];

/// One stats document, now.
pub fn build(view: &MasterView) -> Stats {
    let unix_queues = if view.sockets.iter().any(|s| s.is_unix) {
        listen_queue::unix_listen_queues()
    } else {
        None
    };
    let sockets: Vec<schema::Socket> = view
        .sockets
        .iter()
        .map(|s| {
            let (queue, max_queue) = if s.is_unix {
                listen_queue::inode_of(s.fd)
                    .and_then(|ino| unix_queues.as_ref()?.get(&ino).copied())
                    .map_or((0, u64::from(s.backlog)), |(q, m)| {
                        (u64::from(q), u64::from(m))
                    })
            } else {
                listen_queue::tcp_queue(s.fd).map_or((0, u64::from(s.backlog)), |(q, m)| {
                    (u64::from(q), u64::from(m))
                })
            };
            schema::Socket {
                name: s.name.clone(),
                proto: s.proto.to_string(),
                queue,
                max_queue,
                shared: 0,
                can_offload: 0,
            }
        })
        .collect();
    let listen_queue = sockets.iter().map(|s| s.queue).max().unwrap_or(0);
    let processes = view.processes.min(view.scoreboard.workers());
    let threads = view.threads.min(view.scoreboard.cores());
    let workers = (1..=processes)
        .map(|id| worker(view, id, threads))
        .collect();
    Stats {
        version: crate::config::magic::UWSGI_VERSION.to_string(),
        listen_queue,
        listen_queue_errors: 0,
        signal_queue: view.scoreboard.header().signal_queue.load(Relaxed),
        load: listen_queue,
        pid: i64::from(view.master_pid),
        uid: nix::unistd::getuid().as_raw(),
        gid: nix::unistd::getgid().as_raw(),
        cwd: std::env::current_dir()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        locks: LOCKS
            .iter()
            .map(|n| BTreeMap::from([(n.to_string(), 0)]))
            .collect(),
        caches: view.caches.clone(),
        daemons: view.daemons.clone(),
        crons: view.crons.clone(),
        sockets,
        workers,
        spoolers: view.spoolers.clone(),
        rw_version: Some(env!("CARGO_PKG_VERSION").to_string()),
        cheaper: view.cheaper.clone(),
        recycles: Some(recycles(view.scoreboard)),
        // Filled in by the stats server, which counts them.
        stats_accept_failures: None,
    }
}

/// The recycle counters of the scoreboard header, every cause named (zeros included).
fn recycles(sb: &Scoreboard) -> BTreeMap<String, u64> {
    let h = sb.header();
    super::recycles::CAUSES
        .iter()
        .map(|&c| (c.name().to_string(), h.recycles[c as usize].load(Relaxed)))
        .collect()
}

fn worker(view: &MasterView, id: usize, threads: usize) -> schema::Worker {
    let w = view.scoreboard.worker(id);
    let pid = w.pid.load(Relaxed);
    let cores: Vec<schema::Core> = (0..threads)
        .map(|c| {
            let slot = view.scoreboard.core(id, c);
            let in_request = slot.in_request.load(Relaxed) != 0 && pid != 0;
            let start_us = slot.request_start_us.load(Relaxed);
            schema::Core {
                id: c as u64,
                requests: slot.requests.load(Relaxed),
                static_requests: slot.static_requests.load(Relaxed),
                routed_requests: 0,
                offloaded_requests: 0,
                write_errors: slot.write_errors.load(Relaxed),
                read_errors: slot.read_errors.load(Relaxed),
                in_request: u32::from(in_request),
                vars: if in_request {
                    schema::vars_list(&slot.vars())
                } else {
                    Vec::new()
                },
                req_info: schema::ReqInfo {
                    request_start: (in_request && start_us > 0).then_some(start_us / 1_000_000),
                },
            }
        })
        .collect();
    let busy = pid != 0
        && (w.status.load(Relaxed) == Status::Busy as u32
            || cores.iter().any(|c| c.in_request == 1));
    let (rss, vsz) = if pid > 0 {
        crate::sys::proc::memory_of(pid).unwrap_or_else(|| {
            if view.memory_sampling {
                (w.rss.load(Relaxed), w.vsz.load(Relaxed))
            } else {
                (0, 0)
            }
        })
    } else {
        (0, 0)
    };
    let buckets: Vec<u64> = w.latency.iter().map(|b| b.load(Relaxed)).collect();
    let exceptions = w.exceptions.load(Relaxed);
    let app_requests = w.app_requests.load(Relaxed);
    let apps = view
        .apps
        .iter()
        .enumerate()
        .map(|(i, a)| schema::App {
            id: a.id,
            modifier1: 0,
            mountpoint: a.mountpoint.clone(),
            startup_time: a.startup_time,
            // The scoreboard counts per worker, not per app: the figures go to the first app.
            requests: if i == 0 { app_requests } else { 0 },
            exceptions: if i == 0 { exceptions } else { 0 },
            chdir: String::new(),
        })
        .collect();
    let status_counts = w
        .status_classes
        .iter()
        .enumerate()
        .map(|(i, n)| (format!("{}xx", i + 1), n.load(Relaxed)))
        .collect();
    schema::Worker {
        id: id as u64,
        pid: i64::from(pid),
        accepting: w.accepting.load(Relaxed),
        requests: w.requests.load(Relaxed),
        delta_requests: w.delta_requests.load(Relaxed),
        exceptions,
        harakiri_count: w.harakiri_count.load(Relaxed),
        signals: w.signals.load(Relaxed),
        signal_queue: w.signal_queue.load(Relaxed),
        status: if pid == 0 && w.status.load(Relaxed) == Status::Cheap as u32 {
            "cheap"
        } else if busy {
            "busy"
        } else {
            "idle"
        }
        .to_string(),
        rss,
        vsz,
        running_time: w.running_time.load(Relaxed),
        last_spawn: w.last_spawn.load(Relaxed),
        respawn_count: w.respawn_count.load(Relaxed),
        tx: w.tx.load(Relaxed),
        avg_rt: w.avg_rt.load(Relaxed),
        apps,
        cores,
        latency_p50_us: quantile_us(&buckets, 0.50),
        latency_p99_us: quantile_us(&buckets, 0.99),
        status_counts: Some(status_counts),
        latency_buckets: Some(buckets),
        body_errors: Some(BTreeMap::from([
            (
                "client_timeout".to_string(),
                w.body_client_timeouts.load(Relaxed),
            ),
            (
                "client_abort".to_string(),
                w.body_client_aborts.load(Relaxed),
            ),
            ("spool".to_string(), w.body_spool_failures.load(Relaxed)),
        ])),
        rejections: Some(
            REJECTION_KEYS
                .iter()
                .zip(&w.rejections)
                .map(|(k, n)| (k.to_string(), n.load(Relaxed)))
                .collect(),
        ),
    }
}

/// The `q` quantile (0..1) of a latency histogram (see [`LATENCY_BUCKETS`]), interpolated
/// linearly inside its bucket as Prometheus' `histogram_quantile` does. `None` when empty.
pub fn quantile_us(buckets: &[u64], q: f64) -> Option<u64> {
    let total: u64 = buckets.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = (q.clamp(0.0, 1.0) * total as f64).max(1.0);
    let mut seen = 0u64;
    for (i, &n) in buckets.iter().enumerate().take(LATENCY_BUCKETS) {
        if n == 0 {
            continue;
        }
        if (seen + n) as f64 >= rank {
            let lo = if i == 0 {
                0
            } else {
                latency_bucket_le_us(i - 1).unwrap_or(0)
            };
            let Some(hi) = latency_bucket_le_us(i) else {
                // The open-ended last bucket: its lower bound is all we know.
                return Some(lo);
            };
            let frac = (rank - seen as f64) / n as f64;
            return Some(lo + ((hi - lo) as f64 * frac).round() as u64);
        }
        seen += n;
    }
    latency_bucket_le_us(LATENCY_BUCKETS - 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn quantiles_interpolate_inside_buckets() {
        let mut b = vec![0u64; LATENCY_BUCKETS];
        assert_eq!(quantile_us(&b, 0.5), None);
        // 100 requests in (512, 1024] µs.
        b[10] = 100;
        assert_eq!(quantile_us(&b, 0.5), Some(768));
        assert_eq!(quantile_us(&b, 0.99), Some(1019));
        // One very slow request lands in the open bucket: its lower bound.
        b[LATENCY_BUCKETS - 1] = 1;
        assert_eq!(quantile_us(&b, 1.0), Some(1 << (LATENCY_BUCKETS - 2)));
        let mut c = vec![0u64; LATENCY_BUCKETS];
        c[0] = 1;
        assert_eq!(quantile_us(&c, 0.5), Some(1));
    }

    #[test]
    fn build_reports_workers_cores_and_sockets() {
        let sb = Scoreboard::new(2, 2).unwrap();
        let me = std::process::id() as i32;
        sb.worker(1).on_spawn(me, 1_700_000_000);
        sb.worker(1).accepting.store(1, Relaxed);
        sb.worker(1).on_request_done(1000, 65, 200, false);
        sb.worker(1).on_request_done(3000, 100, 500, true);
        sb.worker(1).app_requests.store(2, Relaxed);
        sb.core(1, 1).begin(
            1_700_000_123_456_789,
            &[(b"REQUEST_URI"[..].into(), b"/x\"\xff"[..].into())],
        );
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let view = MasterView {
            scoreboard: &sb,
            sockets: vec![SocketInfo {
                name: l.local_addr().unwrap().to_string(),
                proto: "http",
                fd: l.as_raw_fd(),
                is_unix: false,
                backlog: 100,
            }],
            caches: Vec::new(),
            master_pid: 42,
            processes: 2,
            threads: 2,
            apps: vec![AppInfo {
                id: 0,
                mountpoint: String::new(),
                startup_time: 0,
            }],
            memory_sampling: false,
            cheaper: None,
            daemons: Vec::new(),
            crons: Vec::new(),
            spoolers: Vec::new(),
        };
        sb.header()
            .count_recycle(crate::stats::recycles::Cause::MaxWorkerLifetime);
        let s = build(&view);
        assert_eq!(s.pid, 42);
        let r = s.recycles.as_ref().unwrap();
        assert_eq!(r.len(), crate::stats::recycles::CAUSES.len());
        assert_eq!((r["max-worker-lifetime"], r["max-requests"]), (1, 0));
        assert_eq!(s.locks.len(), 8);
        assert_eq!(s.sockets[0].proto, "http");
        assert_eq!(s.workers.len(), 2);
        let w = &s.workers[0];
        assert_eq!(
            (w.id, w.pid, w.requests, w.exceptions),
            (1, i64::from(me), 2, 1)
        );
        assert_eq!(w.status, "busy");
        assert!(w.rss > 0 && w.vsz > 0, "rss/vsz sampled from /proc");
        assert_eq!(w.apps[0].requests, 2);
        assert_eq!(w.status_counts.as_ref().unwrap()["5xx"], 1);
        assert!(w.latency_p50_us.is_some());
        let c = &w.cores[1];
        assert_eq!(c.in_request, 1);
        assert_eq!(
            c.vars,
            vec!["REQUEST_URI=/x\"\u{fffd}".to_string(), String::new()]
        );
        assert_eq!(c.req_info.request_start, Some(1_700_000_123));
        assert_eq!(w.cores[0].vars, Vec::<String>::new());
        let dead = &s.workers[1];
        assert_eq!((dead.pid, dead.rss, dead.status.as_str()), (0, 0, "idle"));
        // A slot the cheaper keeps stopped says so, as uWSGI's stats do.
        sb.worker(2).status.store(Status::Cheap as u32, Relaxed);
        assert_eq!(build(&view).workers[1].status, "cheap");
        assert_eq!(s.cheaper, None);
        let json = s.to_json();
        assert!(serde_json::from_slice::<serde_json::Value>(&json).is_ok());
    }
}
