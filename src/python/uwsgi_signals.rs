//! The `uwsgi` module's signals, timers, cron, file monitors and mules (`register_signal`,
//! `signal`, `add_timer`, `mule_msg`, ...), as uWSGI 2.0 defines them, over a [`SignalBus`] the
//! server implements (channels to the master and the mules), so this side never imports it.
//!
//! Handlers live in the process that registered them, as in uWSGI: those registered by the
//! master (at the app's import) are inherited by every worker and mule through fork.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use pyo3::exceptions::{PyNotImplementedError, PyRuntimeError, PySystemError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyInt, PyModule, PyString, PyTuple};

use super::pyerr::{log_raw, print_exception};

/// Where `uwsgi.mule_msg` sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MuleDest<'a> {
    /// The queue every mule reads (no target, or 0).
    Any,
    /// Mule N (1-based).
    Mule(u32),
    /// The named farm's queue.
    Farm(&'a str),
}

/// What a mule's wait for a message ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    Message(Vec<u8>),
    /// A signal came first (the caller runs its handler, with the GIL).
    Signal(u8),
    /// The timeout passed.
    Timeout,
    Error,
}

/// The server's side of signals and mules. Blocking calls are made with the GIL released.
pub trait SignalBus: Send + Sync {
    /// Records `sig`'s target for the master's routing (only the master's table routes, as in
    /// uWSGI); `Err` when refused, with the reason to log.
    fn register(&self, sig: u8, target: &str) -> Result<(), String>;
    /// Asks the master to route `sig`.
    fn raise(&self, sig: u8) -> bool;
    /// `iterations`: `None` for `add_timer`, `Some(n)` for `add_rb_timer` (0: forever).
    fn add_timer(&self, sig: u8, secs: i32, iterations: Option<i32>) -> Result<(), String>;
    /// minute, hour, day, month, weekday; negative is "every N" (-1 is `*`).
    fn add_cron(&self, sig: u8, fields: [i32; 5]) -> Result<(), String>;
    fn add_file_monitor(&self, sig: u8, path: &str) -> Result<(), String>;
    /// Waits for the next signal meant for this process (runs nothing itself).
    fn wait_signal(&self) -> Option<u8>;
    /// 1-based id of this mule, 0 elsewhere.
    fn mule_id(&self) -> u32;
    fn mules(&self) -> usize;
    fn farm_exists(&self, name: &str) -> bool;
    /// True when queued, false when the queue is full (logged) or the send failed.
    fn mule_send(&self, dest: MuleDest<'_>, msg: &[u8]) -> bool;
    /// A mule's wait: its queue, the shared queue, its farms' queues (with `farms`) and, with
    /// `signals`, its signal channels (a signal ends the wait).
    fn mule_recv(
        &self,
        signals: bool,
        farms: bool,
        buffer: usize,
        timeout: Option<Duration>,
    ) -> Received;
    /// A mule's wait on its farms' queues only.
    fn farm_recv(&self) -> Option<Vec<u8>>;
    fn in_farm(&self, name: Option<&str>) -> bool;
    /// Counts a handled signal for this process (the stats' `signals`).
    fn count_signal(&self);
    /// `uwsgi.set_user_harakiri`: the master kills this worker `secs` from now (0: never).
    fn set_user_harakiri(&self, secs: u64) -> Result<(), String>;
}

static BUS: OnceLock<Box<dyn SignalBus>> = OnceLock::new();
/// Handlers by signal number, of this process.
static HANDLERS: Mutex<BTreeMap<u8, Py<PyAny>>> = Mutex::new(BTreeMap::new());

thread_local! {
    /// `uwsgi.signal_received()`: the signal this request's `signal_wait` returned (0 before
    /// any, -1 while waiting, as uWSGI's per-request field).
    static RECEIVED: Cell<i32> = const { Cell::new(0) };
}

/// A request starts on this thread: `signal_received()` answers 0 again.
pub(crate) fn begin_request() {
    RECEIVED.set(0);
}

/// A signal number as uWSGI's `B` conversion takes it: any int, kept modulo 256.
fn signum(n: i64) -> u8 {
    (n & 0xff) as u8
}

/// Hands the server's signal bus to the `uwsgi` module (once, in the master before fork).
pub fn set_signal_bus(bus: Box<dyn SignalBus>) {
    let _ = BUS.set(bus);
}

fn bus() -> PyResult<&'static dyn SignalBus> {
    BUS.get()
        .map(|b| &**b)
        .ok_or_else(|| PyRuntimeError::new_err("uwsgi signals exist only under rw serve"))
}

fn handlers() -> std::sync::MutexGuard<'static, BTreeMap<u8, Py<PyAny>>> {
    HANDLERS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs this process's handler for `sig` (GIL taken here), between requests; false when none
/// is registered here (uWSGI logs the signal as not managed). A raising handler is logged.
pub fn run_signal_handler(sig: u8) -> bool {
    Python::attach(|py| {
        let Some(h) = handlers().get(&sig).map(|h| h.clone_ref(py)) else {
            return false;
        };
        if let Ok(b) = bus() {
            b.count_signal();
        }
        if let Err(e) = h.bind(py).call1((sig,)) {
            print_exception(py, &e);
        }
        true
    })
}

/// A message reached a bare mule: `uwsgi.mule_msg_hook(msg)` if the app set one (as
/// `uwsgidecorators` does); false when there is none.
pub fn run_mule_msg_hook(msg: &[u8]) -> bool {
    Python::attach(|py| {
        let Ok(m) = py.import("uwsgi") else {
            return false;
        };
        let hook = match m.getattr("mule_msg_hook") {
            Ok(h) if !h.is_none() => h,
            _ => return false,
        };
        if let Err(e) = hook.call1((PyBytes::new(py, msg),)) {
            print_exception(py, &e);
        }
        true
    })
}

/// `uwsgi.register_signal(num, target, handler)`.
#[pyfunction]
fn register_signal(num: i64, target: &str, handler: Bound<'_, PyAny>) -> PyResult<()> {
    let num = signum(num);
    if target.len() > 63 {
        return Err(PyValueError::new_err("unable to register signal"));
    }
    bus()?.register(num, target).map_err(|why| {
        log_raw(&format!("[uwsgi-signal] {why}"));
        PyValueError::new_err("unable to register signal")
    })?;
    handlers().insert(num, handler.unbind());
    Ok(())
}

/// `uwsgi.signal_registered(num)`: True, or None.
#[pyfunction]
fn signal_registered(py: Python<'_>, num: i64) -> Py<PyAny> {
    let num = signum(num);
    if handlers().contains_key(&num) {
        true.into_pyobject(py)
            .unwrap()
            .to_owned()
            .into_any()
            .unbind()
    } else {
        py.None()
    }
}

/// `uwsgi.signal(num, remote=None)`: the master routes it to the registered target.
#[pyfunction]
#[pyo3(signature = (num, remote = None))]
fn signal(num: i64, remote: Option<&str>) -> PyResult<()> {
    let num = signum(num);
    if remote.is_some() {
        return Err(PyNotImplementedError::new_err(
            "uwsgi.signal(num, remote): remote signals are not implemented in rw",
        ));
    }
    bus()?.raise(num);
    Ok(())
}

/// `uwsgi.signal_wait([num])`: waits (GIL released) for a signal meant for this process, runs
/// its handler, and returns `''`; with `num`, until that one arrives.
#[pyfunction]
#[pyo3(signature = (*args))]
fn signal_wait(args: &Bound<'_, PyTuple>) -> PyResult<String> {
    let want: Option<u8> = match args.len() {
        0 => None,
        _ => Some(signum(args.get_item(0)?.extract()?)),
    };
    RECEIVED.set(-1);
    let b = bus()?;
    loop {
        let got = super::gil::blocking(|| b.wait_signal())
            .ok_or_else(|| PySystemError::new_err("error waiting for signal"))?;
        run_signal_handler(got);
        if want.is_none_or(|w| w == got) {
            RECEIVED.set(i32::from(got));
            return Ok(String::new());
        }
    }
}

/// `uwsgi.signal_received()`: what the last `signal_wait` of this thread returned, or -1.
#[pyfunction]
fn signal_received() -> i32 {
    RECEIVED.get()
}

fn refused(what: &str) -> impl FnOnce(String) -> PyErr + '_ {
    move |why| {
        log_raw(&why);
        PyValueError::new_err(format!("unable to add {what}"))
    }
}

/// `uwsgi.add_timer(num, secs)`: the master raises `num` every `secs` seconds.
#[pyfunction]
fn add_timer(num: i64, secs: i32) -> PyResult<()> {
    let num = signum(num);
    bus()?.add_timer(num, secs, None).map_err(refused("timer"))
}

/// `uwsgi.add_rb_timer(num, secs, iterations=0)`: as `add_timer`, `iterations` times (0:
/// forever).
#[pyfunction]
#[pyo3(signature = (num, secs, iterations = 0))]
fn add_rb_timer(num: i64, secs: i32, iterations: i32) -> PyResult<()> {
    let num = signum(num);
    bus()?
        .add_timer(num, secs, Some(iterations))
        .map_err(refused("rb_timer"))
}

/// `uwsgi.add_cron(num, minute, hour, day, month, weekday)`: -1 for any, -N for every N.
#[pyfunction]
fn add_cron(num: i64, minute: i32, hour: i32, day: i32, month: i32, week: i32) -> PyResult<()> {
    let num = signum(num);
    bus()?
        .add_cron(num, [minute, hour, day, month, week])
        .map_err(|why| {
            log_raw(&why);
            PyValueError::new_err("unable to add cron")
        })
}

/// `uwsgi.add_file_monitor(num, path)`: the master raises `num` when `path` changes.
#[pyfunction]
fn add_file_monitor(num: i64, path: &str) -> PyResult<()> {
    let num = signum(num);
    bus()?
        .add_file_monitor(num, path)
        .map_err(refused("file monitor"))
}

/// `uwsgi.mule_id()`: this mule's id, 0 outside mules.
#[pyfunction]
fn mule_id() -> u32 {
    BUS.get().map_or(0, |b| b.mule_id())
}

/// A `str` (UTF-8) or `bytes` message, as uWSGI's `s#` takes both.
fn message_arg(v: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(b) = v.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if let Ok(s) = v.cast::<PyString>() {
        return Ok(s.to_str()?.as_bytes().to_vec());
    }
    Err(pyo3::exceptions::PyTypeError::new_err(
        "the message must be str or bytes",
    ))
}

/// `uwsgi.mule_msg(msg, mule=None)`: to any mule, mule N, or a farm (by name); True when
/// queued, False when the queue is full.
#[pyfunction]
#[pyo3(signature = (message, mule = None))]
fn mule_msg(message: &Bound<'_, PyAny>, mule: Option<&Bound<'_, PyAny>>) -> PyResult<bool> {
    let msg = message_arg(message)?;
    let b = bus()?;
    if b.mules() == 0 {
        return Err(PyValueError::new_err("no mule configured"));
    }
    let farm_name;
    let dest = match mule {
        None => MuleDest::Any,
        Some(m) if m.is_instance_of::<PyString>() => {
            farm_name = m.extract::<String>()?;
            if !b.farm_exists(&farm_name) {
                return Err(PyValueError::new_err("unknown farm"));
            }
            MuleDest::Farm(&farm_name)
        }
        Some(m) if m.is_instance_of::<PyInt>() => match m.extract::<i64>()? {
            0 => MuleDest::Any,
            n if n > 0 && n as usize <= b.mules() => MuleDest::Mule(n as u32),
            _ => return Err(PyValueError::new_err("invalid mule number")),
        },
        Some(_) => return Err(PyValueError::new_err("invalid mule")),
    };
    Ok(super::gil::blocking(|| b.mule_send(dest, &msg)))
}

/// `uwsgi.farm_msg(farm, msg)`.
#[pyfunction]
fn farm_msg(farm: &str, message: &Bound<'_, PyAny>) -> PyResult<()> {
    let msg = message_arg(message)?;
    let b = bus()?;
    if b.farm_exists(farm) {
        super::gil::blocking(|| b.mule_send(MuleDest::Farm(farm), &msg));
    }
    Ok(())
}

/// `uwsgi.mule_get_msg(signals=True, farms=True, buffer_size=65536, timeout=-1)`: bytes; `b''`
/// when the timeout (seconds) passed; None when a signal was handled instead.
#[pyfunction]
#[pyo3(signature = (signals = None, farms = None, buffer_size = 65536, timeout = -1))]
fn mule_get_msg<'py>(
    py: Python<'py>,
    signals: Option<&Bound<'py, PyAny>>,
    farms: Option<&Bound<'py, PyAny>>,
    buffer_size: usize,
    timeout: i64,
) -> PyResult<Option<Bound<'py, PyBytes>>> {
    let b = bus()?;
    if b.mule_id() == 0 {
        return Err(PyValueError::new_err(
            "you can receive mule messages only in a mule !!!",
        ));
    }
    // As uWSGI: only an explicit None or False turns one off.
    let off = |v: Option<&Bound<'py, PyAny>>| {
        v.is_some_and(|v| v.is_none() || v.is(pyo3::types::PyBool::new(py, false)))
    };
    let (signals, farms) = (!off(signals), !off(farms));
    let timeout = u64::try_from(timeout).ok().map(Duration::from_secs);
    let got = super::gil::blocking(|| b.mule_recv(signals, farms, buffer_size.max(1), timeout));
    Ok(match got {
        Received::Message(m) => Some(PyBytes::new(py, &m)),
        Received::Timeout => Some(PyBytes::new(py, b"")),
        Received::Signal(sig) => {
            if !run_signal_handler(sig) {
                log_raw(&format!(
                    "error managing signal {sig} on mule {}",
                    b.mule_id()
                ));
            }
            None
        }
        Received::Error => None,
    })
}

/// `uwsgi.farm_get_msg()`: the next message of this mule's farms.
#[pyfunction]
fn farm_get_msg(py: Python<'_>) -> PyResult<Option<Bound<'_, PyBytes>>> {
    let b = bus()?;
    if b.mule_id() == 0 {
        return Err(PyValueError::new_err(
            "you can receive farm messages only in a mule !!!",
        ));
    }
    Ok(super::gil::blocking(|| b.farm_recv()).map(|m| PyBytes::new(py, &m)))
}

/// `uwsgi.in_farm(name=None)`: True when this mule is in that farm (any farm), else None.
#[pyfunction]
#[pyo3(signature = (name = None))]
fn in_farm(py: Python<'_>, name: Option<&str>) -> Py<PyAny> {
    match BUS.get() {
        Some(b) if b.mule_id() > 0 && b.in_farm(name) => true
            .into_pyobject(py)
            .unwrap()
            .to_owned()
            .into_any()
            .unbind(),
        _ => py.None(),
    }
}

/// `uwsgi.set_user_harakiri(secs)`: the master kills this worker if it is still at work
/// `secs` seconds from now (0 cancels), as uWSGI's.
#[pyfunction]
fn set_user_harakiri(secs: i64) -> PyResult<()> {
    bus()?
        .set_user_harakiri(secs.max(0) as u64)
        .map_err(PyNotImplementedError::new_err)
}

/// Adds the functions of this file to the `uwsgi` module.
pub(crate) fn add_functions(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(register_signal, m)?)?;
    m.add_function(wrap_pyfunction!(signal_registered, m)?)?;
    m.add_function(wrap_pyfunction!(signal, m)?)?;
    m.add_function(wrap_pyfunction!(signal_wait, m)?)?;
    m.add_function(wrap_pyfunction!(signal_received, m)?)?;
    m.add_function(wrap_pyfunction!(add_timer, m)?)?;
    m.add_function(wrap_pyfunction!(add_rb_timer, m)?)?;
    m.add_function(wrap_pyfunction!(add_cron, m)?)?;
    m.add_function(wrap_pyfunction!(add_file_monitor, m)?)?;
    m.add_function(wrap_pyfunction!(mule_id, m)?)?;
    m.add_function(wrap_pyfunction!(mule_msg, m)?)?;
    m.add_function(wrap_pyfunction!(farm_msg, m)?)?;
    m.add_function(wrap_pyfunction!(mule_get_msg, m)?)?;
    m.add_function(wrap_pyfunction!(farm_get_msg, m)?)?;
    m.add_function(wrap_pyfunction!(in_farm, m)?)?;
    m.add_function(wrap_pyfunction!(set_user_harakiri, m)?)?;
    Ok(())
}

/// Runs a mule's `mule = ...` value: a `.py` file as `__main__`, or `module:callable` called
/// with no arguments; false when it is neither (a bare mule, which runs the mule loop).
pub fn run_mule_patch(patch: &str) -> bool {
    let script = patch.ends_with(".py");
    if !script && !patch.contains(':') {
        return false;
    }
    Python::attach(|py| {
        let res = (|| -> PyResult<()> {
            if script {
                let kwargs = pyo3::types::PyDict::new(py);
                kwargs.set_item("run_name", "__main__")?;
                py.import("runpy")?
                    .getattr("run_path")?
                    .call((patch,), Some(&kwargs))?;
            } else {
                let (module, name) = patch.split_once(':').unwrap_or((patch, "application"));
                py.import(module)?.getattr(name)?.call0()?;
            }
            Ok(())
        })();
        if let Err(e) = res {
            print_exception(py, &e);
        }
    });
    true
}
