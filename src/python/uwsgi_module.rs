//! The `uwsgi` Python module stub that apps can `import` (opt, worker_id, numproc, logvars, hooks).

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PyModule, PyTuple};

use super::pyerr::{log_raw, print_exception};
use super::UWSGI_VERSION;

static WORKER_ID: AtomicU32 = AtomicU32::new(0);
static MASTER_PID: AtomicI32 = AtomicI32::new(0);
static RELOAD_REQUESTED: AtomicBool = AtomicBool::new(false);
static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

thread_local! {
    static LOGVARS: RefCell<Vec<(String, String)>> = const { RefCell::new(Vec::new()) };
}

/// `uwsgi.worker_id()`: 1-based worker id, 0 in the master.
#[pyfunction]
fn worker_id() -> u32 {
    WORKER_ID.load(Ordering::Relaxed)
}

/// `uwsgi.masterpid()`.
#[pyfunction]
fn masterpid() -> i32 {
    MASTER_PID.load(Ordering::Relaxed)
}

/// `uwsgi.mule_id()`: always 0 (no mules).
#[pyfunction]
fn mule_id() -> u32 {
    0
}

/// `uwsgi.set_logvar(key, value)`: stored per request (per thread), see [`take_logvars`].
#[pyfunction]
fn set_logvar(key: String, value: String) {
    LOGVARS.with(|l| {
        let mut l = l.borrow_mut();
        if let Some(slot) = l.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = value;
        } else {
            l.push((key, value));
        }
    });
}

/// `uwsgi.get_logvar(key)`.
#[pyfunction]
fn get_logvar(key: &str) -> Option<String> {
    LOGVARS.with(|l| {
        l.borrow()
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    })
}

/// `uwsgi.reload()`: asks for a graceful reload (the server polls [`take_reload_request`]).
#[pyfunction]
fn reload() -> bool {
    RELOAD_REQUESTED.store(true, Ordering::SeqCst);
    true
}

/// `uwsgi.log(msg)`: one line to the log.
#[pyfunction]
fn log(msg: &str) {
    log_raw(msg);
}

/// Build the module and register it in `sys.modules` (called by `init_interpreter`).
pub(crate) fn install(py: Python<'_>) -> PyResult<()> {
    MASTER_PID.store(std::process::id() as i32, Ordering::Relaxed);
    let m = PyModule::new(py, "uwsgi")?;
    m.add_function(wrap_pyfunction!(worker_id, &m)?)?;
    m.add_function(wrap_pyfunction!(masterpid, &m)?)?;
    m.add_function(wrap_pyfunction!(mule_id, &m)?)?;
    m.add_function(wrap_pyfunction!(set_logvar, &m)?)?;
    m.add_function(wrap_pyfunction!(get_logvar, &m)?)?;
    m.add_function(wrap_pyfunction!(reload, &m)?)?;
    m.add_function(wrap_pyfunction!(log, &m)?)?;
    m.add("opt", PyDict::new(py))?;
    m.add("numproc", 1u32)?;
    m.add("version", PyBytes::new(py, UWSGI_VERSION.as_bytes()))?;
    m.add("version_info", PyTuple::new(py, [2u32, 0, 30, 0])?)?;
    m.add("rw_version", env!("CARGO_PKG_VERSION"))?;
    m.add("post_fork_hook", py.None())?;
    m.add("atexit", py.None())?;
    m.add("applications", py.None())?;
    m.add("SPOOL_OK", -2)?;
    m.add("SPOOL_RETRY", -1)?;
    m.add("SPOOL_IGNORE", 0)?;
    m.add("HarakiriTimeout", super::harakiri::exception_type(py))?;
    py.import("sys")?
        .getattr("modules")?
        .set_item("uwsgi", &m)?;
    let _ = MODULE.set(py, m.unbind());
    Ok(())
}

fn module(py: Python<'_>) -> Option<Bound<'_, PyModule>> {
    MODULE.get(py).map(|m| m.bind(py).clone())
}

pub(crate) fn set_worker_id(id: u32) {
    WORKER_ID.store(id, Ordering::Relaxed);
}

/// Fill `uwsgi.opt`: keys are str, values bytes (as uWSGI does under Python 3); a key without
/// value (`None`, a bare flag) maps to `True`; a repeated key maps to a list of its values.
pub fn set_opt(options: &[(String, Option<String>)]) {
    Python::attach(|py| {
        let Some(m) = module(py) else { return };
        let res = (|| -> PyResult<()> {
            // Filled in place so that `from uwsgi import opt` done earlier sees the values.
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
                let val: Bound<'_, PyAny> = match v {
                    Some(v) => PyBytes::new(py, v.as_bytes()).into_any(),
                    None => pyo3::types::PyBool::new(py, true).to_owned().into_any(),
                };
                match d.get_item(k)? {
                    None => d.set_item(k, val)?,
                    Some(prev) => {
                        if let Ok(l) = prev.cast::<PyList>() {
                            l.append(val)?;
                        } else {
                            d.set_item(k, PyList::new(py, [prev, val])?)?;
                        }
                    }
                }
            }
            Ok(())
        })();
        if let Err(e) = res {
            print_exception(py, &e);
        }
    });
}

/// Set `uwsgi.numproc` (number of workers).
pub fn set_numproc(n: u32) {
    Python::attach(|py| {
        if let Some(m) = module(py) {
            let _ = m.setattr("numproc", n);
        }
    });
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

/// Run `uwsgi.post_fork_hook` (if set) in a new worker, after [`super::fork_with_gil`].
pub fn run_post_fork_hooks() {
    super::gil::pin_thread_state();
    Python::attach(|py| call_hook(py, "post_fork_hook"));
}

/// The `uwsgi.set_logvar` pairs of the last request served on this thread (taken: the list is
/// emptied). `call_app` also clears them when a request starts.
pub fn take_logvars() -> Vec<(String, String)> {
    LOGVARS.with(|l| std::mem::take(&mut *l.borrow_mut()))
}

pub(crate) fn clear_logvars() {
    LOGVARS.with(|l| {
        if let Ok(mut l) = l.try_borrow_mut() {
            if !l.is_empty() {
                l.clear();
            }
        }
    });
}

/// True once after an app called `uwsgi.reload()`.
pub fn take_reload_request() -> bool {
    RELOAD_REQUESTED.swap(false, Ordering::SeqCst)
}
