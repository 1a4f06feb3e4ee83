//! The scoreboard: per-worker and per-core counters in shared memory, mapped by the master
//! before it forks, written lock-free by workers, read by the master (harakiri, stats).

use std::ptr::NonNull;
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering::Relaxed};

/// Bytes of the current request's vars kept per core (for stats `vars` and harakiri logs).
pub const VARS_CAP: usize = 1024;
/// Latency histogram buckets: bucket i counts requests that took at most 2^i µs and more
/// than 2^(i-1) µs (bucket 0: at most 1 µs; the last one: everything above 2^(N-2) µs).
/// Bucket upper bounds are inclusive, as Prometheus `le` buckets are.
pub const LATENCY_BUCKETS: usize = 28;

/// Worker status as uWSGI's stats spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Status {
    Idle = 0,
    Busy = 1,
    /// Stopping gracefully (reload/shutdown/recycle).
    Cursed = 2,
    /// No process: the cheaper keeps this slot stopped (set by the master).
    Cheap = 3,
}

/// One thread ("core") of a worker.
#[repr(C)]
pub struct CoreSlot {
    pub requests: AtomicU64,
    pub static_requests: AtomicU64,
    pub write_errors: AtomicU64,
    pub read_errors: AtomicU64,
    pub in_request: AtomicU32,
    /// Unix µs when the current request's head was read; 0 when idle. Harakiri reads it.
    pub request_start_us: AtomicU64,
    /// Set by the master: interrupt the request that started at this stamp (harakiri).
    pub interrupt_us: AtomicU64,
    /// Kernel thread id serving this core (harakiri-verbose reads its /proc entries).
    pub tid: AtomicI32,
    vars_len: AtomicU32,
    /// The vars bytes, eight to a word (word stores are what make recording them cheap).
    vars: [AtomicU64; VARS_CAP / 8],
}

/// One worker slot; counters marked "kept" survive respawns as in uWSGI.
#[repr(C)]
pub struct WorkerSlot {
    pub pid: AtomicI32,
    pub accepting: AtomicU32,
    pub status: AtomicU32,
    /// kept
    pub requests: AtomicU64,
    /// since the last spawn (max-requests)
    pub delta_requests: AtomicU64,
    /// kept
    pub exceptions: AtomicU64,
    /// kept
    pub harakiri_count: AtomicU64,
    /// kept
    pub respawn_count: AtomicU64,
    pub last_spawn: AtomicU64,
    /// kept: response bytes, headers included
    pub tx: AtomicU64,
    /// kept: µs, uWSGI's running average `(avg + last) / 2`
    pub avg_rt: AtomicU64,
    /// kept: µs spent in requests
    pub running_time: AtomicU64,
    pub rss: AtomicU64,
    pub vsz: AtomicU64,
    /// Connections the worker holds between requests (keep-alive, or a head on its way):
    /// the cheaper stops a worker holding none first.
    pub parked: AtomicU32,
    /// requests dispatched to app 0 in this worker (kept)
    pub app_requests: AtomicU64,
    /// 1xx..5xx responses (index status/100 - 1), kept
    pub status_classes: [AtomicU64; 5],
    /// kept
    pub latency: [AtomicU64; LATENCY_BUCKETS],
    /// kept: post-buffering bodies the client stopped sending (408)
    pub body_client_timeouts: AtomicU64,
    /// kept: post-buffering bodies the client cut short or framed badly (400)
    pub body_client_aborts: AtomicU64,
    /// kept: post-buffering bodies the server could not spool (503/413)
    pub body_spool_failures: AtomicU64,
    /// kept: uWSGI signals whose handler ran in this worker
    pub signals: AtomicU64,
    /// Signal bytes waiting in the worker's channel (set by the master)
    pub signal_queue: AtomicU64,
    /// `uwsgi.set_user_harakiri`: unix seconds after which the master kills the worker (0: none)
    pub user_harakiri: AtomicU64,
    /// kept: connections refused before the app, by [`REJECTION_KEYS`]
    pub rejections: [AtomicU64; REJECTION_KEYS.len()],
}

/// What a rejection is counted under (stats `workers[].rejections`, `rw_rejections_total`):
/// the status a request got before reaching the app (a slow head's 408, a malformed one's
/// 4xx/5xx; `other` for any status not listed), `uwsgi` for a uwsgi packet dropped without an
/// answer, `accept` for each accept(2) that failed for lack of fds or memory.
pub const REJECTION_KEYS: [&str; 11] = [
    "400", "408", "413", "414", "417", "431", "501", "505", "other", "uwsgi", "accept",
];

/// The [`REJECTION_KEYS`] index of an HTTP status.
pub fn rejection_index_of_status(status: u16) -> usize {
    match status {
        400 => 0,
        408 => 1,
        413 => 2,
        414 => 3,
        417 => 4,
        431 => 5,
        501 => 6,
        505 => 7,
        _ => 8,
    }
}

/// The [`REJECTION_KEYS`] index of a uwsgi packet dropped.
pub const REJECTION_UWSGI: usize = 9;
/// The [`REJECTION_KEYS`] index of an accept(2) resource failure.
pub const REJECTION_ACCEPT: usize = 10;

/// Instance-wide counters.
#[repr(C)]
pub struct Header {
    /// Finished requests over all workers (the `req: A/T` total in the log line).
    pub total_requests: AtomicU64,
    /// Workers recycled, by cause (index: `recycles::Cause`), since the master started.
    pub recycles: [AtomicU64; super::recycles::CAUSES.len()],
    /// Signal bytes waiting in the "any worker" channel (set by the master).
    pub signal_queue: AtomicU64,
}

/// The mapping. Cloning the handle shares the same memory (it is inherited over fork); the
/// mapping is never unmapped, so every handle stays valid for the life of the process.
#[derive(Clone)]
pub struct Scoreboard {
    base: NonNull<u8>,
    len: usize,
    workers: usize,
    cores: usize,
}

// SAFETY: the mapping is only ever accessed through atomics; the pointer stays valid for the
// life of the process (it is never unmapped while a handle exists).
unsafe impl Send for Scoreboard {}
// SAFETY: as above: all shared access is atomic.
unsafe impl Sync for Scoreboard {}

impl Scoreboard {
    fn layout(workers: usize, cores: usize) -> (usize, usize, usize) {
        let header = size_of::<Header>().next_multiple_of(64);
        let worker = size_of::<WorkerSlot>().next_multiple_of(64);
        let core = size_of::<CoreSlot>().next_multiple_of(64);
        (
            header,
            worker,
            header + workers * worker + workers * cores * core,
        )
    }

    /// Maps zeroed shared memory for `workers` × `cores` (before any fork).
    pub fn new(workers: usize, cores: usize) -> std::io::Result<Scoreboard> {
        let (_, _, len) = Self::layout(workers, cores);
        let base = crate::sys::shm::map_shared(len, false)?;
        Ok(Scoreboard {
            base,
            len,
            workers,
            cores,
        })
    }

    pub fn workers(&self) -> usize {
        self.workers
    }
    pub fn cores(&self) -> usize {
        self.cores
    }
    /// Size of the mapping in bytes (for the banner).
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn header(&self) -> &Header {
        // SAFETY: offset 0 holds a Header, zero-initialised atomics are valid, and the mapping
        // lives as long as self.
        unsafe { &*self.base.as_ptr().cast::<Header>() }
    }

    /// Worker `id` (1-based, as uWSGI numbers them).
    pub fn worker(&self, id: usize) -> &WorkerSlot {
        assert!(id >= 1 && id <= self.workers, "worker id {id} out of range");
        let (h, w, _) = Self::layout(self.workers, self.cores);
        // SAFETY: the offset is inside the mapping (checked id), aligned to 64 bytes, and the
        // zeroed bytes are valid atomics.
        unsafe {
            &*self
                .base
                .as_ptr()
                .add(h + (id - 1) * w)
                .cast::<WorkerSlot>()
        }
    }

    /// Core `core` (0-based) of worker `id` (1-based).
    pub fn core(&self, id: usize, core: usize) -> &CoreSlot {
        assert!(id >= 1 && id <= self.workers && core < self.cores);
        let (h, w, _) = Self::layout(self.workers, self.cores);
        let c = size_of::<CoreSlot>().next_multiple_of(64);
        let off = h + self.workers * w + ((id - 1) * self.cores + core) * c;
        // SAFETY: as for `worker`: in bounds, aligned, valid when zeroed.
        unsafe { &*self.base.as_ptr().add(off).cast::<CoreSlot>() }
    }
}

impl Header {
    /// Counts one recycle of `cause`.
    pub fn count_recycle(&self, cause: super::recycles::Cause) {
        self.recycles[cause as usize].fetch_add(1, Relaxed);
    }
}

impl WorkerSlot {
    /// A (re)spawn: uWSGI keeps the cumulative counters and resets the per-life ones.
    pub fn on_spawn(&self, pid: i32, now_unix: u64) {
        self.pid.store(pid, Relaxed);
        self.accepting.store(0, Relaxed);
        self.status.store(Status::Idle as u32, Relaxed);
        self.delta_requests.store(0, Relaxed);
        self.rss.store(0, Relaxed);
        self.vsz.store(0, Relaxed);
        self.parked.store(0, Relaxed);
        self.user_harakiri.store(0, Relaxed);
        self.last_spawn.store(now_unix, Relaxed);
        self.respawn_count.fetch_add(1, Relaxed);
    }

    /// Accounts one finished request.
    pub fn on_request_done(&self, duration_us: u64, tx: u64, status: u16, exception: bool) {
        self.requests.fetch_add(1, Relaxed);
        self.delta_requests.fetch_add(1, Relaxed);
        self.tx.fetch_add(tx, Relaxed);
        self.running_time.fetch_add(duration_us, Relaxed);
        let avg = self.avg_rt.load(Relaxed);
        self.avg_rt.store((avg + duration_us) / 2, Relaxed);
        if exception {
            self.exceptions.fetch_add(1, Relaxed);
        }
        if (100..600).contains(&status) {
            self.status_classes[usize::from(status / 100 - 1)].fetch_add(1, Relaxed);
        }
        self.latency[latency_bucket(duration_us)].fetch_add(1, Relaxed);
    }
}

/// The histogram bucket of a request that took `us` µs: the smallest i with `us <= 2^i`.
pub fn latency_bucket(us: u64) -> usize {
    (64 - us.saturating_sub(1).leading_zeros() as usize).min(LATENCY_BUCKETS - 1)
}

/// Inclusive upper bound of bucket `i` in µs (`None` for the last, unbounded one).
pub fn latency_bucket_le_us(i: usize) -> Option<u64> {
    (i + 1 < LATENCY_BUCKETS).then(|| 1u64 << i)
}

impl CoreSlot {
    /// Marks a request as started and records its vars (truncated to [`VARS_CAP`]).
    pub fn begin(&self, now_us: u64, vars: &[crate::proto::Var<'_>]) {
        let mut word = [0u8; 8];
        let mut n = 0usize;
        'outer: for (k, v) in vars {
            for part in [&k[..], b"=", &v[..], b"\0"] {
                for &b in part {
                    if n == VARS_CAP {
                        break 'outer;
                    }
                    word[n % 8] = b;
                    n += 1;
                    if n % 8 == 0 {
                        self.vars[n / 8 - 1].store(u64::from_ne_bytes(word), Relaxed);
                    }
                }
            }
        }
        if n % 8 != 0 {
            word[n % 8..].fill(0);
            self.vars[n / 8].store(u64::from_ne_bytes(word), Relaxed);
        }
        self.vars_len.store(n as u32, Relaxed);
        self.request_start_us.store(now_us, Relaxed);
        self.in_request.store(1, Relaxed);
    }

    pub fn end(&self) {
        self.in_request.store(0, Relaxed);
        self.request_start_us.store(0, Relaxed);
        self.requests.fetch_add(1, Relaxed);
    }

    /// The current request's vars as `KEY=VALUE` byte strings (may be torn while it changes;
    /// only used for display).
    pub fn vars(&self) -> Vec<Vec<u8>> {
        let n = (self.vars_len.load(Relaxed) as usize).min(VARS_CAP);
        let mut bytes: Vec<u8> = self.vars[..n.div_ceil(8)]
            .iter()
            .flat_map(|w| w.load(Relaxed).to_ne_bytes())
            .collect();
        bytes.truncate(n);
        bytes
            .split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .map(<[u8]>::to_vec)
            .collect()
    }

    /// One var of the current request, e.g. `REQUEST_URI`.
    pub fn var(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.vars().into_iter().find_map(|kv| {
            let rest = kv.strip_prefix(key)?;
            rest.strip_prefix(b"=").map(<[u8]>::to_vec)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejection_statuses_index_their_own_key() {
        for (i, key) in REJECTION_KEYS[..8].iter().enumerate() {
            assert_eq!(rejection_index_of_status(key.parse().unwrap()), i);
        }
        for other in [200, 401, 500, 503, 0] {
            assert_eq!(REJECTION_KEYS[rejection_index_of_status(other)], "other");
        }
        assert_eq!(REJECTION_KEYS[REJECTION_UWSGI], "uwsgi");
        assert_eq!(REJECTION_KEYS[REJECTION_ACCEPT], "accept");
    }

    #[test]
    fn slots_are_distinct_and_shared_across_fork() {
        let sb = Scoreboard::new(3, 2).unwrap();
        sb.worker(1).requests.store(5, Relaxed);
        sb.worker(3).requests.store(7, Relaxed);
        sb.core(3, 1).requests.store(9, Relaxed);
        assert_eq!(sb.worker(2).requests.load(Relaxed), 0);
        assert_eq!(sb.core(3, 0).requests.load(Relaxed), 0);
        // SAFETY: the child only touches atomics and calls _exit.
        match unsafe { libc::fork() } {
            0 => {
                sb.worker(2).requests.store(42, Relaxed);
                // SAFETY: _exit is async-signal-safe and skips the test harness's atexit.
                unsafe { libc::_exit(0) }
            }
            pid => {
                let mut st = 0;
                // SAFETY: waiting for our own child.
                unsafe { libc::waitpid(pid, &mut st, 0) };
                assert_eq!(sb.worker(2).requests.load(Relaxed), 42);
            }
        }
    }

    #[test]
    fn vars_round_trip_and_truncate() {
        let sb = Scoreboard::new(1, 1).unwrap();
        let c = sb.core(1, 0);
        c.begin(
            1,
            &[
                (b"REQUEST_URI"[..].into(), b"/x"[..].into()),
                (b"A"[..].into(), b"b"[..].into()),
            ],
        );
        assert_eq!(c.vars(), vec![b"REQUEST_URI=/x".to_vec(), b"A=b".to_vec()]);
        assert_eq!(c.var(b"REQUEST_URI"), Some(b"/x".to_vec()));
        c.begin(1, &[(b"K"[..].into(), vec![b'v'; 5000].into())]);
        assert_eq!(c.vars()[0].len(), VARS_CAP);
    }

    #[test]
    fn spawn_keeps_cumulative_counters() {
        let sb = Scoreboard::new(1, 1).unwrap();
        let w = sb.worker(1);
        w.on_spawn(10, 100);
        w.on_request_done(300, 50, 200, false);
        w.on_request_done(100, 50, 500, true);
        w.on_spawn(11, 200);
        assert_eq!(w.requests.load(Relaxed), 2);
        assert_eq!(w.delta_requests.load(Relaxed), 0);
        assert_eq!(w.respawn_count.load(Relaxed), 2);
        assert_eq!(w.exceptions.load(Relaxed), 1);
        assert_eq!(w.avg_rt.load(Relaxed), 125);
        assert_eq!(w.status_classes[4].load(Relaxed), 1);
        assert_eq!(w.latency[latency_bucket(300)].load(Relaxed), 1);
    }

    #[test]
    fn latency_buckets_have_inclusive_power_of_two_bounds() {
        assert_eq!(latency_bucket(0), 0);
        assert_eq!(latency_bucket(1), 0);
        assert_eq!(latency_bucket(2), 1);
        assert_eq!(latency_bucket(3), 2);
        assert_eq!(latency_bucket(4), 2);
        assert_eq!(latency_bucket(5), 3);
        assert_eq!(latency_bucket(1 << 20), 20);
        assert_eq!(latency_bucket((1 << 20) + 1), 21);
        assert_eq!(latency_bucket(u64::MAX), LATENCY_BUCKETS - 1);
        for us in [0, 1, 2, 3, 999, 1000, 1024, 1025, 5_000_000] {
            let b = latency_bucket(us);
            if let Some(le) = latency_bucket_le_us(b) {
                assert!(us <= le, "{us} in bucket {b} (le {le})");
            }
            if b > 0 {
                assert!(us > latency_bucket_le_us(b - 1).unwrap(), "{us}");
            }
        }
        assert_eq!(latency_bucket_le_us(LATENCY_BUCKETS - 1), None);
    }
}
