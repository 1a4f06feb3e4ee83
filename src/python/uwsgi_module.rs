//! The `uwsgi` Python module that apps `import`: process and request facts, `opt`, logvars,
//! reload/stop, and the `post_fork_hook`/`atexit` hooks, as uWSGI 2.0 defines them.
//!
//! Facts fixed at startup come in once through [`set_module_facts`]; live ones (scoreboard
//! counters, the master) through [`super::server_facts`]. Per-request state (logvars, the
//! serving core) is per OS thread: a request runs on one thread from `call_app` to its log line.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use pyo3::exceptions::{PyNotImplementedError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyDict, PyList, PyModule, PyString, PyTuple};

use super::pyerr::{log_raw, print_exception};
use super::server_facts::{server_facts, CacheMath, ModuleFacts, ServerFacts, SharedCache};
use crate::config::magic::UWSGI_VERSION;

static WORKER_ID: AtomicU32 = AtomicU32::new(0);
static MASTER_PID: AtomicI32 = AtomicI32::new(0);
static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// uWSGI stores a logvar's key and value with a one-byte length.
const LOGVAR_MAX: usize = 255;

thread_local! {
    static LOGVARS: RefCell<Vec<(Vec<u8>, Vec<u8>)>> = const { RefCell::new(Vec::new()) };
    static CORE: Cell<u32> = const { Cell::new(0) };
}

/// The source of the shipped `uwsgidecorators` module (rw's own code).
const UWSGIDECORATORS: &str = include_str!("uwsgidecorators.py");

/// `uwsgi.worker_id()`: 1-based worker id, 0 in the master.
#[pyfunction]
fn worker_id() -> u32 {
    WORKER_ID.load(Ordering::Relaxed)
}

/// `uwsgi.masterpid()`: rw always runs a master.
#[pyfunction]
fn masterpid() -> i32 {
    MASTER_PID.load(Ordering::Relaxed)
}

/// A `str` (UTF-8) or `bytes` argument as bytes, as uWSGI's `s#` conversion takes both.
fn text_arg(v: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<u8>> {
    if let Ok(b) = v.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if let Ok(s) = v.cast::<PyString>() {
        return Ok(s.to_str()?.as_bytes().to_vec());
    }
    Err(PyTypeError::new_err(format!("{what} must be str or bytes")))
}

fn cut(mut v: Vec<u8>) -> Vec<u8> {
    v.truncate(LOGVAR_MAX);
    v
}

/// `uwsgi.set_logvar(key, value)`: a `%(key)` for this request's `log-format` line.
#[pyfunction]
fn set_logvar(key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<()> {
    let (key, value) = (cut(text_arg(key, "key")?), cut(text_arg(value, "value")?));
    LOGVARS.with_borrow_mut(|l| match l.iter_mut().find(|(k, _)| *k == key) {
        Some(slot) => slot.1 = value,
        None => l.push((key, value)),
    });
    Ok(())
}

/// `uwsgi.get_logvar(key)`: bytes, or None when unset in this request.
#[pyfunction]
fn get_logvar<'py>(
    py: Python<'py>,
    key: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyBytes>>> {
    let key = cut(text_arg(key, "key")?);
    Ok(LOGVARS.with_borrow(|l| {
        l.iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| PyBytes::new(py, v))
    }))
}

/// `True`, or `None` when the master could not be told (as uWSGI answers a failed kill).
fn true_or_none(py: Python<'_>, ok: bool) -> Py<PyAny> {
    if ok {
        PyBool::new(py, true).to_owned().into_any().unbind()
    } else {
        py.None()
    }
}

/// `uwsgi.reload()`: a graceful reload of the master, as SIGHUP.
#[pyfunction]
fn reload(py: Python<'_>) -> Py<PyAny> {
    true_or_none(py, server_facts().is_some_and(|f| f.reload()))
}

/// `uwsgi.chain_reload()`: uWSGI 2.0 reloads workers one at a time; rw's graceful reload
/// already keeps serving throughout, so it does that (and says so).
#[pyfunction]
fn chain_reload(py: Python<'_>) -> Py<PyAny> {
    log_raw("uwsgi.chain_reload(): chain reload is not implemented in rw; doing a graceful reload");
    reload(py)
}

/// `uwsgi.stop()`: a graceful shutdown of the whole instance.
#[pyfunction]
fn stop(py: Python<'_>) -> Py<PyAny> {
    true_or_none(py, server_facts().is_some_and(|f| f.stop()))
}

/// `uwsgi.log(msg)`: one line to the log.
#[pyfunction]
fn log(msg: &str) -> bool {
    log_raw(msg);
    true
}

/// `uwsgi.total_requests()`: finished requests of the whole instance.
#[pyfunction]
fn total_requests() -> u64 {
    server_facts().map_or(0, |f| f.total_requests())
}

/// `uwsgi.request_id()`: requests this core finished before the current one.
#[pyfunction]
fn request_id() -> u64 {
    let worker = WORKER_ID.load(Ordering::Relaxed);
    match server_facts() {
        Some(f) if worker > 0 => f.core_requests(worker, CORE.get()),
        _ => 0,
    }
}

/// `uwsgi.mem()`: (rss, vsz) of this process in bytes.
#[pyfunction]
fn mem() -> (u64, u64) {
    server_facts().map_or((0, 0), |f| f.memory())
}

/// `uwsgi.ready()`: True once every worker accepts, else None (uWSGI's answer).
#[pyfunction]
fn ready(py: Python<'_>) -> Py<PyAny> {
    true_or_none(py, server_facts().is_some_and(|f| f.ready()))
}

/// `uwsgi.accepting(flag=True)`: tell the master whether this worker takes requests.
#[pyfunction]
#[pyo3(signature = (accepting = 1))]
fn accepting(accepting: i64) {
    let worker = WORKER_ID.load(Ordering::Relaxed);
    if let (Some(f), true) = (server_facts(), worker > 0) {
        f.set_accepting(worker, accepting != 0);
    }
}

/// The server's facts and the lock number checked, as uWSGI checks it (`ValueError`).
fn user_lock(n: i64) -> PyResult<(&'static dyn ServerFacts, usize)> {
    let facts = server_facts().ok_or_else(|| {
        PyRuntimeError::new_err("uwsgi locks exist only in processes started by rw serve")
    })?;
    match usize::try_from(n) {
        Ok(n) if n < facts.locks() => Ok((facts, n)),
        _ => Err(PyValueError::new_err("Invalid lock number")),
    }
}

/// `uwsgi.lock(n=0)`: blocks (GIL released) until user lock `n` is this thread's.
#[pyfunction]
#[pyo3(signature = (n = 0))]
fn lock(n: i64) -> PyResult<()> {
    let (facts, n) = user_lock(n)?;
    super::gil::blocking(|| facts.lock(n)).map_err(PyRuntimeError::new_err)
}

/// `uwsgi.unlock(n=0)`.
#[pyfunction]
#[pyo3(signature = (n = 0))]
fn unlock(n: i64) -> PyResult<()> {
    let (facts, n) = user_lock(n)?;
    facts.unlock(n).map_err(PyRuntimeError::new_err)
}

/// `uwsgi.is_locked(n=0)`.
#[pyfunction]
#[pyo3(signature = (n = 0))]
fn is_locked(n: i64) -> PyResult<bool> {
    let (facts, n) = user_lock(n)?;
    Ok(facts.is_locked(n))
}

/// The cache a `cache=` argument names (`None`: the first one); `None` when there is none.
fn cache_named(cache: Option<&str>) -> PyResult<Option<&'static dyn SharedCache>> {
    if cache.is_some_and(|c| c.contains('@')) {
        return Err(PyNotImplementedError::new_err(
            "remote caches (NAME@SERVER) are not implemented in rw: use a local cache name",
        ));
    }
    Ok(server_facts().and_then(|f| f.cache(cache.filter(|c| !c.is_empty()))))
}

/// Runs a cache call with the GIL released; `True` or `None`, as uWSGI answers.
fn cache_call(
    py: Python<'_>,
    cache: Option<&str>,
    f: impl FnOnce(&dyn SharedCache) -> bool + Send,
) -> PyResult<Py<PyAny>> {
    let ok = match cache_named(cache)? {
        Some(c) => super::gil::blocking(|| f(c)),
        None => false,
    };
    Ok(true_or_none(py, ok))
}

/// `uwsgi.cache_get(key, cache=None)`: bytes, or None when missing.
#[pyfunction]
#[pyo3(signature = (key, cache = None))]
fn cache_get<'py>(
    py: Python<'py>,
    key: &Bound<'py, PyAny>,
    cache: Option<&str>,
) -> PyResult<Option<Bound<'py, PyBytes>>> {
    let key = text_arg(key, "key")?;
    let got = match cache_named(cache)? {
        Some(c) => super::gil::blocking(|| c.get(&key)),
        None => None,
    };
    Ok(got.map(|v| PyBytes::new(py, &v)))
}

/// `uwsgi.cache_set(key, value, expires=0, cache=None)`: True, or None when the key exists,
/// the cache is full or the value does not fit.
#[pyfunction]
#[pyo3(signature = (key, value, expires = 0, cache = None))]
fn cache_set(
    py: Python<'_>,
    key: &Bound<'_, PyAny>,
    value: &Bound<'_, PyAny>,
    expires: u64,
    cache: Option<&str>,
) -> PyResult<Py<PyAny>> {
    let (key, value) = (text_arg(key, "key")?, text_arg(value, "value")?);
    cache_call(py, cache, |c| c.set(&key, &value, expires, false))
}

/// `uwsgi.cache_update(key, value, expires=0, cache=None)`: set or replace.
#[pyfunction]
#[pyo3(signature = (key, value, expires = 0, cache = None))]
fn cache_update(
    py: Python<'_>,
    key: &Bound<'_, PyAny>,
    value: &Bound<'_, PyAny>,
    expires: u64,
    cache: Option<&str>,
) -> PyResult<Py<PyAny>> {
    let (key, value) = (text_arg(key, "key")?, text_arg(value, "value")?);
    cache_call(py, cache, |c| c.set(&key, &value, expires, true))
}

fn cache_math(
    py: Python<'_>,
    key: &Bound<'_, PyAny>,
    op: CacheMath,
    delta: i64,
    expires: u64,
    cache: Option<&str>,
) -> PyResult<Py<PyAny>> {
    let key = text_arg(key, "key")?;
    cache_call(py, cache, |c| c.math(&key, op, delta, expires))
}

/// `uwsgi.cache_inc/dec/mul/div(key, value, expires=0, cache=None)` on an 8-byte number: one
/// function each (pyo3 needs a function per name), differing in the operation and its default.
macro_rules! cache_math_fn {
    ($(#[$doc:meta])* $name:ident, $op:expr, $default:literal) => {
        $(#[$doc])*
        #[pyfunction]
        #[pyo3(signature = (key, value = $default, expires = 0, cache = None))]
        fn $name(
            py: Python<'_>,
            key: &Bound<'_, PyAny>,
            value: i64,
            expires: u64,
            cache: Option<&str>,
        ) -> PyResult<Py<PyAny>> {
            cache_math(py, key, $op, value, expires, cache)
        }
    };
}

cache_math_fn!(
    /// `uwsgi.cache_inc(key, value=1, expires=0, cache=None)`.
    cache_inc, CacheMath::Inc, 1
);
cache_math_fn!(
    /// `uwsgi.cache_dec(key, value=1, expires=0, cache=None)`.
    cache_dec, CacheMath::Dec, 1
);
cache_math_fn!(
    /// `uwsgi.cache_mul(key, value=2, expires=0, cache=None)`.
    cache_mul, CacheMath::Mul, 2
);
cache_math_fn!(
    /// `uwsgi.cache_div(key, value=2, expires=0, cache=None)` (by 0 gives 0).
    cache_div, CacheMath::Div, 2
);

/// `uwsgi.cache_num(key, cache=None)`: the 8-byte number, 0 when missing or not a number.
#[pyfunction]
#[pyo3(signature = (key, cache = None))]
fn cache_num(key: &Bound<'_, PyAny>, cache: Option<&str>) -> PyResult<i64> {
    let key = text_arg(key, "key")?;
    let got = match cache_named(cache)? {
        Some(c) => super::gil::blocking(|| c.get(&key)),
        None => None,
    };
    Ok(got
        .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
        .map_or(0, i64::from_ne_bytes))
}

/// `uwsgi.cache_del(key, cache=None)`.
#[pyfunction]
#[pyo3(signature = (key, cache = None))]
fn cache_del(py: Python<'_>, key: &Bound<'_, PyAny>, cache: Option<&str>) -> PyResult<Py<PyAny>> {
    let key = text_arg(key, "key")?;
    cache_call(py, cache, |c| c.del(&key))
}

/// `uwsgi.cache_exists(key, cache=None)`.
#[pyfunction]
#[pyo3(signature = (key, cache = None))]
fn cache_exists(
    py: Python<'_>,
    key: &Bound<'_, PyAny>,
    cache: Option<&str>,
) -> PyResult<Py<PyAny>> {
    let key = text_arg(key, "key")?;
    cache_call(py, cache, |c| c.exists(&key))
}

/// `uwsgi.cache_clear(cache=None)`.
#[pyfunction]
#[pyo3(signature = (cache = None))]
fn cache_clear(py: Python<'_>, cache: Option<&str>) -> PyResult<Py<PyAny>> {
    cache_call(py, cache, |c| {
        c.clear();
        true
    })
}

/// `uwsgi.cache_keys(cache=None)`: every key (bytes); ValueError without such a cache.
#[pyfunction]
#[pyo3(signature = (cache = None))]
fn cache_keys<'py>(py: Python<'py>, cache: Option<&str>) -> PyResult<Bound<'py, PyList>> {
    let c = cache_named(cache)?
        .ok_or_else(|| PyValueError::new_err("no local uWSGI cache available"))?;
    let keys = super::gil::blocking(|| c.keys());
    PyList::new(py, keys.iter().map(|k| PyBytes::new(py, k)))
}

/// `uwsgi.workers()`: a tuple with one dict per worker, keys and value types as uWSGI's.
#[pyfunction]
fn workers(py: Python<'_>) -> PyResult<Bound<'_, PyTuple>> {
    let facts = server_facts().map(|f| f.workers()).unwrap_or_default();
    let apps = super::app::loaded_apps();
    let mut out = Vec::with_capacity(facts.len());
    for w in facts {
        let d = PyDict::new(py);
        d.set_item("id", w.id)?;
        d.set_item("pid", w.pid)?;
        d.set_item("requests", w.requests)?;
        d.set_item("delta_requests", w.delta_requests)?;
        d.set_item("signals", w.signals)?;
        d.set_item("exceptions", w.exceptions)?;
        let status: &[u8] = if w.busy { b"busy" } else { b"idle" };
        d.set_item("status", PyBytes::new(py, status))?;
        d.set_item("rss", w.rss)?;
        d.set_item("vsz", w.vsz)?;
        d.set_item("running_time", w.running_time)?;
        d.set_item("last_spawn", w.last_spawn)?;
        d.set_item("respawn_count", w.respawn_count.saturating_sub(1))?;
        d.set_item("tx", w.tx)?;
        d.set_item("avg_rt", w.avg_rt)?;
        let mut app_dicts = Vec::with_capacity(apps.len());
        for a in &apps {
            let ad = PyDict::new(py);
            ad.set_item("id", a.id)?;
            ad.set_item("modifier1", 0)?;
            ad.set_item("mountpoint", PyBytes::new(py, a.mountpoint.as_bytes()))?;
            ad.set_item("startup_time", a.startup_secs)?;
            ad.set_item("interpreter", super::interpreter_address())?;
            ad.set_item("callable", a.callable_addr)?;
            // The scoreboard counts app 0 only (the log line's `app: 0` count).
            ad.set_item("requests", if a.id == 0 { w.app_requests } else { 0 })?;
            ad.set_item("exceptions", if a.id == 0 { w.exceptions } else { 0 })?;
            ad.set_item("chdir", PyBytes::new(py, b""))?;
            app_dicts.push(ad);
        }
        d.set_item("apps", PyTuple::new(py, app_dicts)?)?;
        out.push(d);
    }
    PyTuple::new(py, out)
}

/// `uwsgi.micros()`: the time of day in microseconds.
#[pyfunction]
fn micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// uWSGI 2.0 names rw does not implement yet, with the feature each belongs to: they exist (so
/// an app's import and `hasattr` checks behave as under uWSGI) and raise NotImplementedError
/// naming the feature when called.
const NOT_IMPLEMENTED: &[(&str, &str)] = &[
    ("alarm", "uWSGI alarms"),
    ("register_rpc", "RPC"),
    ("rpc", "RPC"),
    ("rpc_list", "RPC"),
    ("call", "RPC"),
    ("metric_get", "metrics"),
    ("metric_set", "metrics"),
    ("metric_inc", "metrics"),
    ("metric_dec", "metrics"),
    ("metric_mul", "metrics"),
    ("metric_div", "metrics"),
    ("metric_set_max", "metrics"),
    ("metric_set_min", "metrics"),
    ("websocket_handshake", "websockets"),
    ("websocket_recv", "websockets"),
    ("websocket_recv_nb", "websockets"),
    ("websocket_send", "websockets"),
    ("websocket_send_binary", "websockets"),
    ("async_connect", "the async loop engines"),
    ("async_sleep", "the async loop engines"),
    ("green_schedule", "the async loop engines"),
    ("suspend", "the async loop engines"),
    ("wait_fd_read", "the async loop engines"),
    ("wait_fd_write", "the async loop engines"),
    ("ready_fd", "the async loop engines"),
    ("connect", "uWSGI's socket helpers"),
    ("close", "uWSGI's socket helpers"),
    ("send", "uWSGI's socket helpers"),
    ("recv", "uWSGI's socket helpers"),
    ("is_connected", "uWSGI's socket helpers"),
    ("disconnect", "uWSGI's socket helpers"),
    ("connection_fd", "access to the request's socket"),
    (
        "chunked_read",
        "chunked input reading through the uwsgi module (use wsgi.input)",
    ),
    (
        "chunked_read_nb",
        "chunked input reading through the uwsgi module (use wsgi.input)",
    ),
    (
        "cl",
        "the uwsgi module's request accessors (use environ['CONTENT_LENGTH'])",
    ),
    ("sendfile", "uwsgi.sendfile (use wsgi.file_wrapper)"),
    ("offload", "offloading"),
    ("route", "the internal router"),
    ("add_var", "the internal router"),
    ("log_this_request", "per-request log selection"),
    ("logsize", "the log master"),
    (
        "listen_queue",
        "listen-queue introspection through the uwsgi module (see the stats socket)",
    ),
    ("setprocname", "process titles through the uwsgi module"),
    ("set_warning_message", "the stats warning message"),
    ("embedded_data", "embedded binary data"),
    ("extract", "embedded binary data"),
    ("parsefile", "uwsgi packet files"),
    (
        "start_response",
        "a module-level start_response (use the one the app is called with)",
    ),
];

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Build the module, register it (and `uwsgidecorators`) in `sys.modules` (called by
/// `init_interpreter`).
pub(crate) fn install(py: Python<'_>) -> PyResult<()> {
    MASTER_PID.store(std::process::id() as i32, Ordering::Relaxed);
    let m = PyModule::new(py, "uwsgi")?;
    m.add_function(wrap_pyfunction!(worker_id, &m)?)?;
    m.add_function(wrap_pyfunction!(masterpid, &m)?)?;
    super::uwsgi_signals::add_functions(&m)?;
    m.add_function(wrap_pyfunction!(set_logvar, &m)?)?;
    m.add_function(wrap_pyfunction!(get_logvar, &m)?)?;
    m.add_function(wrap_pyfunction!(reload, &m)?)?;
    m.add_function(wrap_pyfunction!(chain_reload, &m)?)?;
    m.add_function(wrap_pyfunction!(stop, &m)?)?;
    m.add_function(wrap_pyfunction!(log, &m)?)?;
    m.add_function(wrap_pyfunction!(total_requests, &m)?)?;
    m.add_function(wrap_pyfunction!(request_id, &m)?)?;
    m.add_function(wrap_pyfunction!(mem, &m)?)?;
    m.add_function(wrap_pyfunction!(ready, &m)?)?;
    m.add_function(wrap_pyfunction!(accepting, &m)?)?;
    m.add_function(wrap_pyfunction!(workers, &m)?)?;
    m.add_function(wrap_pyfunction!(lock, &m)?)?;
    m.add_function(wrap_pyfunction!(unlock, &m)?)?;
    m.add_function(wrap_pyfunction!(is_locked, &m)?)?;
    super::spooler::add_functions(&m)?;
    m.add_function(wrap_pyfunction!(micros, &m)?)?;
    m.add_function(wrap_pyfunction!(cache_get, &m)?)?;
    m.add_function(wrap_pyfunction!(cache_set, &m)?)?;
    m.add_function(wrap_pyfunction!(cache_update, &m)?)?;
    m.add_function(wrap_pyfunction!(cache_del, &m)?)?;
    m.add_function(wrap_pyfunction!(cache_exists, &m)?)?;
    m.add_function(wrap_pyfunction!(cache_clear, &m)?)?;
    m.add_function(wrap_pyfunction!(cache_keys, &m)?)?;
    m.add_function(wrap_pyfunction!(cache_num, &m)?)?;
    m.add_function(wrap_pyfunction!(cache_inc, &m)?)?;
    m.add_function(wrap_pyfunction!(cache_dec, &m)?)?;
    m.add_function(wrap_pyfunction!(cache_mul, &m)?)?;
    m.add_function(wrap_pyfunction!(cache_div, &m)?)?;
    m.add("opt", PyDict::new(py))?;
    m.add("numproc", 1u32)?;
    m.add("cores", 1u32)?;
    m.add("has_threads", 0u32)?;
    m.add("buffer_size", 4096u32)?;
    m.add("is_a_reload", false)?;
    m.add("sockets", PyList::empty(py))?;
    m.add("started_on", unix_now())?;
    m.add("hostname", PyBytes::new(py, b""))?;
    m.add("version", PyBytes::new(py, UWSGI_VERSION.as_bytes()))?;
    m.add("version_info", version_info(py)?)?;
    m.add("rw_version", env!("CARGO_PKG_VERSION"))?;
    m.add("post_fork_hook", py.None())?;
    m.add("atexit", py.None())?;
    m.add("applications", py.None())?;
    m.add("unbit", py.None())?;
    m.add("loop", py.None())?;
    m.add("SPOOL_OK", -2)?;
    m.add("SPOOL_RETRY", -1)?;
    m.add("SPOOL_IGNORE", 0)?;
    m.add("HarakiriTimeout", super::harakiri::exception_type(py))?;
    add_not_implemented(py, &m)?;
    let modules = py.import("sys")?.getattr("modules")?;
    modules.set_item("uwsgi", &m)?;
    let _ = MODULE.set(py, m.unbind());
    bundle_modules(py)
}

/// Adds a function raising NotImplementedError for every name of [`NOT_IMPLEMENTED`].
fn add_not_implemented(py: Python<'_>, m: &Bound<'_, PyModule>) -> PyResult<()> {
    const MAKE: &std::ffi::CStr = cr#"
def make(name, feature):
    def not_implemented(*args, **kwargs):
        raise NotImplementedError('uwsgi.%s: %s is not implemented in rw' % (name, feature))
    not_implemented.__name__ = not_implemented.__qualname__ = name
    return not_implemented
"#;
    let globals = PyDict::new(py);
    py.run(MAKE, Some(&globals), None)?;
    let make = globals
        .get_item("make")?
        .ok_or_else(|| PyRuntimeError::new_err("make() missing"))?;
    for (name, feature) in NOT_IMPLEMENTED {
        if !m.hasattr(*name)? {
            m.add(*name, make.call1((*name, *feature))?)?;
        }
    }
    Ok(())
}

/// Puts a finder first on `sys.meta_path` that imports rw's bundled modules (today
/// `uwsgidecorators`) from the source compiled into rw, at the app's `import`, as uWSGI's
/// file on `sys.path` would be: its import-time effects happen when the app asks for it.
fn bundle_modules(py: Python<'_>) -> PyResult<()> {
    const FINDER: &std::ffi::CStr = cr#"
import sys
from importlib.machinery import ModuleSpec

class RwBundledModules:
    """rw's own modules, imported from the source compiled into rw."""

    def __init__(self, sources):
        self.sources = sources

    def find_spec(self, name, path=None, target=None):
        if name in self.sources:
            return ModuleSpec(name, self, origin='<rw>/%s.py' % name)
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        code = compile(self.sources[module.__name__], module.__spec__.origin, 'exec')
        exec(code, module.__dict__)

sys.meta_path.insert(0, RwBundledModules(SOURCES))
"#;
    let globals = PyDict::new(py);
    let sources = PyDict::new(py);
    sources.set_item("uwsgidecorators", UWSGIDECORATORS)?;
    globals.set_item("SOURCES", sources)?;
    py.run(FINDER, Some(&globals), None)?;
    Ok(())
}

/// `(2, 0, 30, 0, b'')`: base, major, minor, revision, custom, from [`UWSGI_VERSION`].
fn version_info(py: Python<'_>) -> PyResult<Bound<'_, PyTuple>> {
    let mut parts = UWSGI_VERSION
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let mut n = || parts.next().unwrap_or(0);
    let (base, major, minor) = (n(), n(), n());
    let items: [Bound<'_, PyAny>; 5] = [
        base.into_pyobject(py)?.into_any(),
        major.into_pyobject(py)?.into_any(),
        minor.into_pyobject(py)?.into_any(),
        0u32.into_pyobject(py)?.into_any(),
        PyBytes::new(py, b"").into_any(),
    ];
    PyTuple::new(py, items)
}

fn module(py: Python<'_>) -> Option<Bound<'_, PyModule>> {
    MODULE.get(py).map(|m| m.bind(py).clone())
}

pub(crate) fn set_worker_id(id: u32) {
    WORKER_ID.store(id, Ordering::Relaxed);
}

/// Fill the module's startup facts (`opt`, `numproc`, `cores`, ...) before the app is imported.
pub fn set_module_facts(facts: &ModuleFacts) {
    Python::attach(|py| {
        let Some(m) = module(py) else { return };
        let res = (|| -> PyResult<()> {
            fill_opt(py, &m, &facts.options)?;
            m.setattr("numproc", facts.numproc)?;
            m.setattr("cores", facts.cores)?;
            m.setattr("has_threads", u32::from(facts.cores > 1))?;
            m.setattr("buffer_size", facts.buffer_size)?;
            m.setattr("is_a_reload", facts.is_a_reload)?;
            m.setattr("sockets", PyList::new(py, &facts.sockets)?)?;
            m.setattr("hostname", PyBytes::new(py, facts.hostname.as_bytes()))?;
            Ok(())
        })();
        if let Err(e) = res {
            print_exception(py, &e);
        }
    });
}

/// `uwsgi.opt` as uWSGI 2.0 builds it under Python 3: str keys, bytes values, `True` for a
/// command-line flag without value. Its list-building for repeated keys looks a bytes key up
/// among str keys and never finds it, so a later value replaces the earlier one: the last
/// value wins, and apps written against uWSGI see exactly that here too.
fn fill_opt(
    py: Python<'_>,
    m: &Bound<'_, PyModule>,
    options: &[(String, Option<String>)],
) -> PyResult<()> {
    // Filled in place so that a `from uwsgi import opt` done earlier sees the values.
    let d = match m.getattr("opt")?.cast_into::<PyDict>() {
        Ok(d) => d,
        Err(_) => {
            let d = PyDict::new(py);
            m.setattr("opt", &d)?;
            d
        }
    };
    d.clear();
    for (k, v) in options {
        match v {
            Some(v) => d.set_item(k, PyBytes::new(py, v.as_bytes()))?,
            None => d.set_item(k, true)?,
        }
    }
    Ok(())
}

/// Call `uwsgi.<name>` if it was set to a callable; log a traceback if it raises.
pub(crate) fn call_hook(py: Python<'_>, name: &str) {
    let Some(m) = module(py) else { return };
    let Ok(hook) = m.getattr(name) else { return };
    if hook.is_none() || !hook.is_callable() {
        return;
    }
    if let Err(e) = hook.call0() {
        print_exception(py, &e);
    }
}

/// Run `uwsgi.post_fork_hook` (if set) in new worker `worker_id`, after
/// [`super::fork_with_gil`]; `uwsgi.worker_id()` already answers there, as in uWSGI.
pub fn run_post_fork_hooks(worker_id: u32) {
    set_worker_id(worker_id);
    super::gil::pin_thread_state();
    Python::attach(|py| call_hook(py, "post_fork_hook"));
}

/// The `uwsgi.set_logvar` pairs of the request this thread just served (taken: the list is
/// emptied), for its log line.
pub fn take_logvars() -> Vec<(Vec<u8>, Vec<u8>)> {
    LOGVARS.with(|l| std::mem::take(&mut *l.borrow_mut()))
}

/// A request starts on this thread, on `core`: forget the previous request's logvars.
pub(crate) fn begin_request(core: u32) {
    CORE.set(core);
    super::uwsgi_signals::begin_request();
    LOGVARS.with(|l| {
        if let Ok(mut l) = l.try_borrow_mut() {
            if !l.is_empty() {
                l.clear();
            }
        }
    });
}
