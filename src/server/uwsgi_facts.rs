//! The live facts the `uwsgi` Python module shows (`uwsgi.workers()`, `total_requests()`,
//! `reload()`, ...): [`python::ServerFacts`] over the scoreboard and the master's signals.

use super::cache::{Cache, MathOp, SetMode};
use super::locks::{LockError, UserLocks};
use super::signals;
use crate::python::{CacheMath, ServerFacts, SharedCache, WorkerFacts};
use crate::stats::scoreboard::{Scoreboard, Status};
use nix::unistd::Pid;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::OnceLock;

/// The scoreboard, once the master has mapped it (after the app's import in the master).
static SCOREBOARD: OnceLock<Scoreboard> = OnceLock::new();
/// The caches, mapped before the app is imported (apps fill caches at import time).
static CACHES: OnceLock<Vec<Cache>> = OnceLock::new();

/// Maps the user locks and the caches and hands the `uwsgi` module its live facts. Runs in the
/// master before the app is imported (so `uwsgi.cache_set` and `uwsgi.lock` work at import
/// time, as in uWSGI) and before any fork: every worker inherits the same mappings.
pub fn install(s: &super::settings::Settings) -> std::io::Result<()> {
    let caches = map_caches(&s.caches)?;
    let _ = CACHES.set(caches);
    let locks = UserLocks::new(s.locks + 1).map_err(|e| {
        std::io::Error::new(e.kind(), format!("mapping {} user locks: {e}", s.locks + 1))
    })?;
    crate::python::set_server_facts(Box::new(ScoreboardFacts {
        master: nix::unistd::getpid(),
        locks,
    }));
    Ok(())
}

/// The master's scoreboard, for `uwsgi.workers()` & co. (mapped after the app's import).
pub fn attach_scoreboard(scoreboard: &Scoreboard) {
    let _ = SCOREBOARD.set(scoreboard.clone());
}

/// The caches [`install`] mapped (none before it ran).
pub fn caches() -> &'static [Cache] {
    CACHES.get().map_or(&[], Vec::as_slice)
}

/// [`python::ServerFacts`] over the scoreboard, the master's signals, the locks and the caches.
struct ScoreboardFacts {
    master: Pid,
    locks: UserLocks,
}

impl ScoreboardFacts {
    fn scoreboard(&self) -> Option<&'static Scoreboard> {
        SCOREBOARD.get()
    }

    fn slot_count(&self) -> usize {
        self.scoreboard().map_or(0, Scoreboard::workers)
    }

    fn has_worker(&self, id: u32) -> bool {
        id >= 1 && id as usize <= self.slot_count()
    }

    /// Signals the master as `rw reload` / `rw stop` do: the master's signal table decides.
    fn tell_master(&self, sig: nix::sys::signal::Signal) -> bool {
        match nix::sys::signal::kill(self.master, sig) {
            Ok(()) => true,
            Err(e) => {
                eprintln!("cannot signal the master (pid {}): {e}", self.master);
                false
            }
        }
    }
}

impl ServerFacts for ScoreboardFacts {
    fn total_requests(&self) -> u64 {
        self.scoreboard()
            .map_or(0, |sb| sb.header().total_requests.load(Relaxed))
    }

    fn core_requests(&self, worker: u32, core: u32) -> u64 {
        match self.scoreboard() {
            Some(sb) if self.has_worker(worker) && (core as usize) < sb.cores() => sb
                .core(worker as usize, core as usize)
                .requests
                .load(Relaxed),
            _ => 0,
        }
    }

    fn workers(&self) -> Vec<WorkerFacts> {
        let Some(sb) = self.scoreboard() else {
            return Vec::new();
        };
        (1..=sb.workers())
            .map(|id| {
                let w = sb.worker(id);
                WorkerFacts {
                    id: id as u32,
                    pid: w.pid.load(Relaxed),
                    requests: w.requests.load(Relaxed),
                    delta_requests: w.delta_requests.load(Relaxed),
                    exceptions: w.exceptions.load(Relaxed),
                    busy: w.status.load(Relaxed) == Status::Busy as u32,
                    rss: w.rss.load(Relaxed),
                    vsz: w.vsz.load(Relaxed),
                    running_time: w.running_time.load(Relaxed),
                    last_spawn: w.last_spawn.load(Relaxed),
                    respawn_count: w.respawn_count.load(Relaxed),
                    tx: w.tx.load(Relaxed),
                    avg_rt: w.avg_rt.load(Relaxed),
                    app_requests: w.app_requests.load(Relaxed),
                    signals: w.signals.load(Relaxed),
                }
            })
            .collect()
    }

    fn ready(&self) -> bool {
        self.scoreboard().is_some_and(|sb| {
            (1..=sb.workers()).all(|id| sb.worker(id).accepting.load(Relaxed) == 1)
        })
    }

    fn set_accepting(&self, worker: u32, accepting: bool) {
        if let (Some(sb), true) = (self.scoreboard(), self.has_worker(worker)) {
            sb.worker(worker as usize)
                .accepting
                .store(u32::from(accepting), Relaxed);
        }
    }

    fn memory(&self) -> (u64, u64) {
        crate::sys::proc::memory_of(std::process::id() as i32).unwrap_or((0, 0))
    }

    fn reload(&self) -> bool {
        self.tell_master(signals::RELOAD)
    }

    fn stop(&self) -> bool {
        self.tell_master(signals::STOP)
    }

    fn locks(&self) -> usize {
        self.locks.count()
    }

    fn lock(&self, n: usize) -> Result<(), String> {
        self.locks.lock(n).map_err(|e| lock_error(n, e))
    }

    fn unlock(&self, n: usize) -> Result<(), String> {
        match self.locks.unlock(n) {
            // uWSGI ignores an unlock of a lock the caller does not hold; so does rw.
            Ok(()) | Err(LockError::NotHeld) => Ok(()),
            Err(e) => Err(lock_error(n, e)),
        }
    }

    fn is_locked(&self, n: usize) -> bool {
        self.locks.is_locked(n)
    }

    fn cache(&self, name: Option<&str>) -> Option<&dyn SharedCache> {
        let c = match name {
            None => caches().first(),
            Some(n) => caches().iter().find(|c| c.spec().name == n),
        };
        c.map(|c| c as &dyn SharedCache)
    }
}

impl SharedCache for Cache {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        Cache::get(self, key)
    }
    fn set(&self, key: &[u8], value: &[u8], expires: u64, update: bool) -> bool {
        let mode = if update {
            SetMode::Update
        } else {
            SetMode::Create
        };
        Cache::set(self, key, value, expires, mode)
    }
    fn math(&self, key: &[u8], op: CacheMath, delta: i64, expires: u64) -> bool {
        let op = match op {
            CacheMath::Inc => MathOp::Inc,
            CacheMath::Dec => MathOp::Dec,
            CacheMath::Mul => MathOp::Mul,
            CacheMath::Div => MathOp::Div,
        };
        Cache::math(self, key, op, delta, expires)
    }
    fn del(&self, key: &[u8]) -> bool {
        Cache::del(self, key)
    }
    fn exists(&self, key: &[u8]) -> bool {
        Cache::exists(self, key)
    }
    fn clear(&self) {
        Cache::clear(self)
    }
    fn keys(&self) -> Vec<Vec<u8>> {
        Cache::keys(self)
    }
}

/// Maps every configured cache (in the master, before fork).
fn map_caches(defs: &[crate::config::option_values::CacheDef]) -> std::io::Result<Vec<Cache>> {
    defs.iter()
        .map(|d| {
            Cache::new(super::cache::CacheSpec {
                name: d.name.clone(),
                max_items: d.max_items,
                blocksize: d.blocksize,
                keysize: d.keysize,
                hashsize: d.hashsize,
                math_initial: d.math_initial,
                ignore_full: d.ignore_full,
            })
        })
        .collect()
}

fn lock_error(n: usize, e: LockError) -> String {
    match e {
        LockError::AlreadyHeld => format!(
            "this thread already holds lock {n} (locking it again would deadlock the thread)"
        ),
        LockError::NotHeld => format!("this thread does not hold lock {n}"),
        LockError::Os(e) => format!("lock {n}: {}", std::io::Error::from_raw_os_error(e)),
    }
}

/// A cache as the stats JSON's `caches[]` shows it.
pub fn cache_stats(c: &Cache) -> crate::stats::schema::Cache {
    let (spec, st) = (c.spec(), c.stats());
    crate::stats::schema::Cache {
        name: spec.name.clone(),
        hash: "djb33x".into(),
        hashsize: spec.hashsize,
        keysize: spec.keysize,
        max_items: spec.max_items,
        blocks: spec.max_items,
        blocksize: spec.blocksize,
        items: st.items,
        hits: st.hits,
        miss: st.miss,
        full: st.full,
        last_modified_at: st.last_modified_at,
    }
}
