//! The stats as Prometheus text exposition format 0.0.4 (`GET /metrics` on a `stats-http`
//! socket). Every metric has HELP and TYPE lines and zero values are emitted.

use super::schema::Stats;
use super::scoreboard::{latency_bucket_le_us, LATENCY_BUCKETS};
use std::fmt::Write;

/// The Content-Type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Escapes a label value (backslash, double quote, newline).
pub fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for ch in v.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

struct Out(String);

impl Out {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape_label(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }
    /// One sample per worker, labelled `worker="<id>"`.
    fn per_worker(
        &mut self,
        s: &Stats,
        name: &str,
        kind: &str,
        help: &str,
        f: impl Fn(&super::schema::Worker) -> u64,
    ) {
        self.head(name, kind, help);
        for w in &s.workers {
            self.sample(name, &[("worker", &w.id.to_string())], f(w));
        }
    }
}

/// Seconds as Prometheus prints floats (`0.000128`, `67.108864`).
fn secs(us: u64) -> String {
    format!("{}", us as f64 / 1e6)
}

/// The cheaper's gauges and its spawn/stop counters by cause (present only with cheaper on).
fn cheaper(o: &mut Out, c: &super::schema::Cheaper) {
    o.head(
        "rw_cheaper_workers_target",
        "gauge",
        "Workers the cheaper wants running (the others are cheap).",
    );
    o.sample("rw_cheaper_workers_target", &[("algo", &c.algo)], c.target);
    o.head(
        "rw_cheaper_workers_min",
        "gauge",
        "The cheaper option: the fewest workers.",
    );
    o.sample("rw_cheaper_workers_min", &[], c.min);
    o.head(
        "rw_cheaper_workers_max",
        "gauge",
        "processes: the most workers.",
    );
    o.sample("rw_cheaper_workers_max", &[], c.max);
    for (name, help, counts) in [
        (
            "rw_cheaper_spawns_total",
            "Workers the cheaper spawned, by cause (the algorithm or fifo).",
            &c.spawns,
        ),
        (
            "rw_cheaper_stops_total",
            "Workers the cheaper stopped, by cause (the algorithm, fifo or rss-limit-hard).",
            &c.stops,
        ),
    ] {
        o.head(name, "counter", help);
        // The algorithm's own cause is always there, so a rate() starts from 0.
        if !counts.contains_key(&c.algo) {
            o.sample(name, &[("cause", &c.algo)], 0);
        }
        for (cause, n) in counts {
            o.sample(name, &[("cause", cause)], n);
        }
    }
}

/// The attached daemons, labelled by their command.
fn daemons(o: &mut Out, s: &Stats) {
    let name = "rw_daemon_up";
    o.head(name, "gauge", "1 while the attached daemon runs.");
    for d in &s.daemons {
        o.sample(name, &[("cmd", &d.cmd)], u64::from(d.pid > 0));
    }
    let name = "rw_daemon_respawns_total";
    o.head(name, "counter", "Times the attached daemon was respawned.");
    for d in &s.daemons {
        o.sample(name, &[("cmd", &d.cmd)], d.respawns);
    }
}

/// The spooler processes' gauges and respawn counter (present only with spoolers), labelled
/// with the directory and the process's 1-based place (several may share a directory).
fn spoolers(o: &mut Out, sp: &[super::schema::Spooler]) {
    type Metric = (
        &'static str,
        &'static str,
        &'static str,
        fn(&super::schema::Spooler) -> u64,
    );
    const METRICS: [Metric; 3] = [
        (
            "rw_spooler_tasks",
            "gauge",
            "Tasks the spooler process ran since it started (a respawn starts from 0).",
            |s| s.tasks,
        ),
        (
            "rw_spooler_running",
            "gauge",
            "1 while the spooler process runs a task.",
            |s| s.running,
        ),
        (
            "rw_spooler_respawns_total",
            "counter",
            "Times the master respawned this spooler process.",
            |s| s.respawns,
        ),
    ];
    for (name, kind, help, f) in METRICS {
        o.head(name, kind, help);
        for (i, s) in sp.iter().enumerate() {
            let n = (i + 1).to_string();
            o.sample(name, &[("spooler", &n), ("dir", &s.dir)], f(s));
        }
    }
}

/// The whole exposition for one stats document.
pub fn render(s: &Stats) -> String {
    let mut o = Out(String::with_capacity(8192));
    o.head(
        "rw_info",
        "gauge",
        "rw and uWSGI-compatibility versions (always 1).",
    );
    o.sample(
        "rw_info",
        &[
            ("version", s.rw_version.as_deref().unwrap_or("")),
            ("uwsgi_version", &s.version),
        ],
        1,
    );
    o.per_worker(
        s,
        "rw_requests_total",
        "counter",
        "Requests finished by the worker slot (kept across respawns).",
        |w| w.requests,
    );
    o.per_worker(
        s,
        "rw_exceptions_total",
        "counter",
        "Requests whose app raised an exception.",
        |w| w.exceptions,
    );
    o.per_worker(
        s,
        "rw_tx_bytes_total",
        "counter",
        "Response bytes sent, headers included.",
        |w| w.tx,
    );
    o.per_worker(
        s,
        "rw_worker_respawns_total",
        "counter",
        "Times the worker slot was (re)spawned.",
        |w| w.respawn_count,
    );
    o.per_worker(
        s,
        "rw_harakiri_total",
        "counter",
        "Requests that ran past harakiri (interrupted, or their worker killed).",
        |w| w.harakiri_count,
    );
    o.per_worker(
        s,
        "rw_worker_rss_bytes",
        "gauge",
        "Resident memory of the worker process.",
        |w| w.rss,
    );
    o.per_worker(
        s,
        "rw_worker_vsz_bytes",
        "gauge",
        "Virtual memory of the worker process.",
        |w| w.vsz,
    );
    o.per_worker(
        s,
        "rw_worker_busy",
        "gauge",
        "1 while the worker is handling a request.",
        |w| u64::from(w.status == "busy"),
    );

    let name = "rw_responses_total";
    o.head(name, "counter", "Responses by status class.");
    for class in ["1xx", "2xx", "3xx", "4xx", "5xx"] {
        let n: u64 = s
            .workers
            .iter()
            .filter_map(|w| w.status_counts.as_ref()?.get(class))
            .sum();
        o.sample(name, &[("class", class)], n);
    }

    let name = "rw_request_body_errors_total";
    o.head(
        name,
        "counter",
        "Request bodies that could not be buffered: client_timeout and client_abort are the client's, spool the server's.",
    );
    for w in &s.workers {
        for (cause, n) in w.body_errors.iter().flatten() {
            o.sample(name, &[("worker", &w.id.to_string()), ("cause", cause)], *n);
        }
    }

    let name = "rw_rejections_total";
    o.head(
        name,
        "counter",
        "Connections refused before the app: by the status answered, or by cause (uwsgi: a packet dropped; accept: accept(2) out of fds or memory).",
    );
    for w in &s.workers {
        let worker = w.id.to_string();
        for (key, n) in w.rejections.iter().flatten() {
            let label = if key.bytes().all(|b| b.is_ascii_digit()) || key == "other" {
                "status"
            } else {
                "cause"
            };
            o.sample(name, &[("worker", &worker), (label, key)], *n);
        }
    }
    if let Some(n) = s.stats_accept_failures {
        o.sample(name, &[("cause", "stats_accept")], n);
    }

    let name = "rw_workers";
    o.head(name, "gauge", "Worker processes by status.");
    let mut statuses: Vec<&str> = vec!["idle", "busy"];
    if s.cheaper.is_some() {
        statuses.push("cheap");
    }
    for w in &s.workers {
        if !statuses.contains(&w.status.as_str()) && !w.status.is_empty() {
            statuses.push(&w.status);
        }
    }
    for st in statuses {
        let n = s.workers.iter().filter(|w| w.status == st).count();
        o.sample(name, &[("status", st)], n);
    }

    if let Some(c) = &s.cheaper {
        cheaper(&mut o, c);
    }
    if !s.spoolers.is_empty() {
        spoolers(&mut o, &s.spoolers);
    }
    if let Some(r) = &s.recycles {
        let name = "rw_worker_recycles_total";
        o.head(
            name,
            "counter",
            "Workers recycled, by cause (the option that asked for it).",
        );
        for (cause, n) in r {
            o.sample(name, &[("cause", cause)], n);
        }
    }
    if !s.daemons.is_empty() {
        daemons(&mut o, s);
    }

    o.head(
        "rw_listen_queue",
        "gauge",
        "Highest accept-queue length over the listening sockets.",
    );
    o.sample("rw_listen_queue", &[], s.listen_queue);
    o.head(
        "rw_socket_listen_queue",
        "gauge",
        "Accept-queue length of a listening socket.",
    );
    for sock in &s.sockets {
        o.sample(
            "rw_socket_listen_queue",
            &[("socket", &sock.name), ("proto", &sock.proto)],
            sock.queue,
        );
    }
    o.head(
        "rw_socket_listen_queue_max",
        "gauge",
        "Listen backlog of a listening socket.",
    );
    for sock in &s.sockets {
        o.sample(
            "rw_socket_listen_queue_max",
            &[("socket", &sock.name), ("proto", &sock.proto)],
            sock.max_queue,
        );
    }

    let name = "rw_request_duration_seconds";
    o.head(
        name,
        "histogram",
        "Time from reading the request head to the end of the response.",
    );
    let mut buckets = [0u64; LATENCY_BUCKETS];
    for w in &s.workers {
        for (i, n) in w
            .latency_buckets
            .iter()
            .flatten()
            .enumerate()
            .take(LATENCY_BUCKETS)
        {
            buckets[i] += n;
        }
    }
    let bucket = format!("{name}_bucket");
    let mut cumulative = 0u64;
    for (i, n) in buckets.iter().enumerate() {
        cumulative += n;
        match latency_bucket_le_us(i) {
            Some(le) => o.sample(&bucket, &[("le", &secs(le))], cumulative),
            None => o.sample(&bucket, &[("le", "+Inf")], cumulative),
        }
    }
    let sum_us: u64 = s.workers.iter().map(|w| w.running_time).sum();
    o.sample(&format!("{name}_sum"), &[], secs(sum_us));
    o.sample(&format!("{name}_count"), &[], cumulative);
    o.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::schema::{Socket, Worker};
    use std::collections::BTreeMap;

    fn sample() -> Stats {
        let mut b = vec![0u64; LATENCY_BUCKETS];
        b[10] = 3;
        b[LATENCY_BUCKETS - 1] = 1;
        Stats {
            version: "2.0.30".into(),
            rw_version: Some("0.1.0".into()),
            sockets: vec![Socket {
                name: "/tmp/a \"b\".sock".into(),
                proto: "uwsgi".into(),
                queue: 2,
                max_queue: 100,
                ..Socket::default()
            }],
            listen_queue: 2,
            workers: vec![
                Worker {
                    id: 1,
                    requests: 4,
                    status: "busy".into(),
                    running_time: 100_000_000,
                    latency_buckets: Some(b),
                    status_counts: Some(BTreeMap::from([("2xx".into(), 3), ("5xx".into(), 1)])),
                    ..Worker::default()
                },
                Worker {
                    id: 2,
                    status: "idle".into(),
                    ..Worker::default()
                },
            ],
            ..Stats::default()
        }
    }

    #[test]
    fn spoolers_are_labelled_by_place_and_dir() {
        let mut s = sample();
        assert!(!render(&s).contains("rw_spooler_"));
        s.spoolers = vec![
            crate::stats::schema::Spooler {
                dir: "/var/spool/a".into(),
                pid: 7,
                tasks: 5,
                respawns: 2,
                running: 1,
            },
            crate::stats::schema::Spooler {
                dir: "/var/spool/a".into(),
                ..Default::default()
            },
        ];
        let text = render(&s);
        for line in [
            "rw_spooler_tasks{spooler=\"1\",dir=\"/var/spool/a\"} 5",
            "rw_spooler_running{spooler=\"1\",dir=\"/var/spool/a\"} 1",
            "rw_spooler_respawns_total{spooler=\"1\",dir=\"/var/spool/a\"} 2",
            "rw_spooler_tasks{spooler=\"2\",dir=\"/var/spool/a\"} 0",
            "# TYPE rw_spooler_respawns_total counter",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing in:\n{text}"
            );
        }
    }

    #[test]
    fn every_metric_has_help_and_type_and_zeros_are_emitted() {
        let text = render(&sample());
        let mut typed = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                typed.push(rest.split(' ').next().unwrap().to_string());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                let base = name
                    .trim_end_matches("_bucket")
                    .trim_end_matches("_sum")
                    .trim_end_matches("_count");
                assert!(
                    typed.iter().any(|t| t == name || t == base),
                    "{name} has no TYPE before it"
                );
            }
        }
        assert!(text.contains("rw_requests_total{worker=\"2\"} 0\n"));
        assert!(text.contains("rw_responses_total{class=\"4xx\"} 0\n"));
        assert!(text.contains("rw_workers{status=\"busy\"} 1\n"));
        assert!(text.contains("rw_workers{status=\"idle\"} 1\n"));
        assert!(text.contains("socket=\"/tmp/a \\\"b\\\".sock\""));
        assert!(
            !text.contains("cheap"),
            "no cheaper metrics without cheaper"
        );
    }

    #[test]
    fn recycles_by_cause() {
        let mut s = sample();
        assert!(!render(&s).contains("rw_worker_recycles_total"));
        s.recycles = Some(BTreeMap::from([
            ("max-requests".into(), 0),
            ("max-worker-lifetime".into(), 7),
        ]));
        let text = render(&s);
        assert!(text.contains("# TYPE rw_worker_recycles_total counter\n"));
        assert!(text.contains("rw_worker_recycles_total{cause=\"max-requests\"} 0\n"));
        assert!(text.contains("rw_worker_recycles_total{cause=\"max-worker-lifetime\"} 7\n"));
    }

    #[test]
    fn cheaper_slots_and_counters() {
        let mut s = sample();
        s.workers[1].status = "cheap".into();
        s.cheaper = Some(crate::stats::schema::Cheaper {
            algo: "busyness".into(),
            min: 1,
            max: 2,
            target: 1,
            spawns: BTreeMap::new(),
            stops: BTreeMap::from([("busyness".into(), 3), ("fifo".into(), 1)]),
        });
        let text = render(&s);
        assert!(text.contains("rw_workers{status=\"cheap\"} 1\n"), "{text}");
        assert!(text.contains("rw_workers{status=\"idle\"} 0\n"));
        assert!(text.contains("rw_cheaper_spawns_total{cause=\"busyness\"} 0\n"));
        assert!(text.contains("rw_cheaper_stops_total{cause=\"busyness\"} 3\n"));
        assert!(text.contains("rw_cheaper_stops_total{cause=\"fifo\"} 1\n"));
        assert!(text.contains("rw_cheaper_workers_target{algo=\"busyness\"} 1\n"));
    }

    #[test]
    fn daemons_are_labelled_by_command() {
        let mut s = sample();
        assert!(!render(&s).contains("rw_daemon"));
        s.daemons = vec![
            crate::stats::schema::Daemon {
                cmd: "celery \"w\"".into(),
                pid: 7,
                respawns: 2,
                pidfile: None,
            },
            crate::stats::schema::Daemon {
                cmd: "redis".into(),
                pid: 0,
                respawns: 0,
                pidfile: Some("/p".into()),
            },
        ];
        let text = render(&s);
        assert!(
            text.contains("rw_daemon_up{cmd=\"celery \\\"w\\\"\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("rw_daemon_up{cmd=\"redis\"} 0\n"), "{text}");
        assert!(
            text.contains("rw_daemon_respawns_total{cmd=\"celery \\\"w\\\"\"} 2\n"),
            "{text}"
        );
    }

    #[test]
    fn histogram_is_cumulative_with_inf_equal_to_count() {
        let text = render(&sample());
        assert!(text.contains("rw_request_duration_seconds_bucket{le=\"0.000001\"} 0\n"));
        assert!(text.contains("rw_request_duration_seconds_bucket{le=\"0.001024\"} 3\n"));
        assert!(text.contains("rw_request_duration_seconds_bucket{le=\"67.108864\"} 3\n"));
        assert!(text.contains("rw_request_duration_seconds_bucket{le=\"+Inf\"} 4\n"));
        assert!(text.contains("rw_request_duration_seconds_count 4\n"));
        assert!(text.contains("rw_request_duration_seconds_sum 100\n"));
    }
}
