//! What the `uwsgi` module needs from the server: facts fixed at startup ([`ModuleFacts`]) and
//! live ones read on demand ([`ServerFacts`], implemented by the server over its scoreboard), so
//! this side never imports the server.

use std::sync::OnceLock;

/// Facts fixed when the config is read, set once in the master before the app is imported.
#[derive(Debug, Clone, Default)]
pub struct ModuleFacts {
    /// Every option as uWSGI exports it (`uwsgi.opt`): key as written, value expanded; `None`
    /// for a command-line flag given without value.
    pub options: Vec<(String, Option<String>)>,
    /// `processes`.
    pub numproc: u32,
    /// `threads`.
    pub cores: u32,
    /// `buffer-size`.
    pub buffer_size: u64,
    /// This image was started by a reload (`uwsgi.is_a_reload`).
    pub is_a_reload: bool,
    /// The listening sockets' fds, in config order (`uwsgi.sockets`).
    pub sockets: Vec<i32>,
    /// `uwsgi.hostname` (bytes).
    pub hostname: String,
}

/// One worker as `uwsgi.workers()` shows it.
#[derive(Debug, Clone, Default)]
pub struct WorkerFacts {
    pub id: u32,
    pub pid: i32,
    pub requests: u64,
    pub delta_requests: u64,
    pub exceptions: u64,
    /// `busy` or `idle`.
    pub busy: bool,
    pub rss: u64,
    pub vsz: u64,
    /// µs spent in requests.
    pub running_time: u64,
    pub last_spawn: u64,
    pub respawn_count: u64,
    pub tx: u64,
    /// µs.
    pub avg_rt: u64,
    /// Requests the worker's default app served.
    pub app_requests: u64,
    /// uWSGI signals handled.
    pub signals: u64,
}

/// Live state the server owns. Methods are called from app threads, with the GIL held.
pub trait ServerFacts: Send + Sync {
    /// Finished requests of the whole instance.
    fn total_requests(&self) -> u64;
    /// Requests finished by core `core` of worker `worker` (uWSGI's `request_id`).
    fn core_requests(&self, worker: u32, core: u32) -> u64;
    /// Every worker slot.
    fn workers(&self) -> Vec<WorkerFacts>;
    /// The worker has told the master it accepts requests (every worker, for `uwsgi.ready()`).
    fn ready(&self) -> bool;
    /// Mark `worker` (not) accepting, as `uwsgi.accepting()`.
    fn set_accepting(&self, worker: u32, accepting: bool);
    /// RSS and VSZ of the calling process, in bytes.
    fn memory(&self) -> (u64, u64);
    /// Ask the master for a graceful reload; false when the signal could not be sent.
    fn reload(&self) -> bool;
    /// Ask the master for a graceful shutdown.
    fn stop(&self) -> bool;
    /// Number of user locks (`uwsgi.lock(n)` takes `0..locks()`).
    fn locks(&self) -> usize;
    /// Blocks until user lock `n` is the calling thread's (called with the GIL released).
    fn lock(&self, n: usize) -> Result<(), String>;
    /// Releases user lock `n`.
    fn unlock(&self, n: usize) -> Result<(), String>;
    /// Whether anyone holds user lock `n`.
    fn is_locked(&self, n: usize) -> bool;
    /// The cache called `name`, or the first configured one for `None`.
    fn cache(&self, name: Option<&str>) -> Option<&dyn SharedCache>;
}

/// `cache_inc`, `cache_dec`, `cache_mul`, `cache_div`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheMath {
    Inc,
    Dec,
    Mul,
    Div,
}

/// One local cache shared by every worker (uWSGI's `cache2`), as the `uwsgi.cache_*` functions
/// use it. Called with the GIL released.
pub trait SharedCache: Send + Sync {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>>;
    /// `update`: replace an existing value (`cache_update`) rather than fail (`cache_set`).
    fn set(&self, key: &[u8], value: &[u8], expires: u64, update: bool) -> bool;
    fn math(&self, key: &[u8], op: CacheMath, delta: i64, expires: u64) -> bool;
    fn del(&self, key: &[u8]) -> bool;
    fn exists(&self, key: &[u8]) -> bool;
    fn clear(&self);
    fn keys(&self) -> Vec<Vec<u8>>;
}

static FACTS: OnceLock<Box<dyn ServerFacts>> = OnceLock::new();

/// Hands the server's live facts to the `uwsgi` module (once, in the master before fork; the
/// workers inherit it). A second call is ignored.
pub fn set_server_facts(facts: Box<dyn ServerFacts>) {
    let _ = FACTS.set(facts);
}

pub(crate) fn server_facts() -> Option<&'static dyn ServerFacts> {
    FACTS.get().map(|b| &**b)
}
