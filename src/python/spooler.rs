//! The spooler's side of the `uwsgi` module: `uwsgi.spool` / `send_to_spooler`,
//! `spooler_jobs`, `spooler_pid(s)`, `set_spooler_frequency`, `spooler_get_task`,
//! `i_am_the_spooler`, and the call of the app's `uwsgi.spooler` callable for one task in a
//! spooler process, with uWSGI 2.0's Python 3 types (bytes keys and values).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PyModule, PyTuple};

use super::pyerr::{log_raw, print_exception};

/// What the spooler functions need from the server (the spool directories, their processes,
/// writing a task), so this side never imports it.
pub trait Spooling: Send + Sync {
    /// Writes a task (vars and body) as a spool file; the file's path, or why not (already
    /// logged as uWSGI logs it). Called with the GIL released.
    fn spool(&self, vars: Vec<(Vec<u8>, Vec<u8>)>, body: Vec<u8>) -> Result<String, String>;
    /// Every spooler's directory, one entry per spooler process (as uWSGI lists them).
    fn dirs(&self) -> Vec<String>;
    /// Every spooler process's pid (0 while not running), in the order of [`Self::dirs`].
    fn pids(&self) -> Vec<i32>;
    /// `uwsgi.set_spooler_frequency`: seconds between scans, for every spooler.
    fn set_frequency(&self, secs: u64);
}

static SPOOLING: OnceLock<Box<dyn Spooling>> = OnceLock::new();
/// The `uwsgi` module these functions were added to (it holds `uwsgi.spooler`).
static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
static I_AM_THE_SPOOLER: AtomicBool = AtomicBool::new(false);

/// Hands the server's spoolers to the `uwsgi` module (once, in the master before the app's
/// import; children inherit it).
pub fn set_spooling(s: Box<dyn Spooling>) {
    let _ = SPOOLING.set(s);
}

/// uWSGI's error for what the Python 3 spooler dict may not hold.
const ONLY_BYTES: &str = "spooler callable dictionary must contains only bytes";

/// A dict value as uWSGI's `PyObject_Bytes` takes it: bytes, or what has `__bytes__` or the
/// buffer protocol (str and int do not).
fn value_bytes(v: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(b) = v.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if v.is_instance_of::<pyo3::types::PyString>() || v.is_instance_of::<pyo3::types::PyInt>() {
        return Err(PyValueError::new_err(ONLY_BYTES));
    }
    let py = v.py();
    let bytes = py
        .import("builtins")?
        .getattr("bytes")?
        .call1((v,))
        .map_err(|_| PyValueError::new_err(ONLY_BYTES))?;
    Ok(bytes.cast::<PyBytes>()?.as_bytes().to_vec())
}

/// `uwsgi.spool(dict)`, `uwsgi.spool(key=value, ...)`, `uwsgi.send_to_spooler(...)`: writes
/// the task and returns its file's path (bytes). A `b'body'` item is taken out of the dict
/// (uWSGI deletes it from the caller's dict too) and stored after the vars.
#[pyfunction]
#[pyo3(signature = (*args, **kwargs))]
fn spool<'py>(
    py: Python<'py>,
    args: &Bound<'py, PyTuple>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let not_a_dict =
        || PyValueError::new_err("The argument of spooler callable must be a dictionary");
    let d = match args.get_item(0) {
        Ok(a) => a.cast_into::<PyDict>().map_err(|_| not_a_dict())?,
        Err(_) => kwargs.cloned().ok_or_else(not_a_dict)?,
    };
    let body_key = PyBytes::new(py, b"body");
    let mut body = Vec::new();
    if let Some(b) = d.get_item(&body_key)? {
        if let Ok(b) = b.cast::<PyBytes>() {
            body = b.as_bytes().to_vec();
            d.del_item(&body_key)?;
        }
    }
    let mut vars = Vec::with_capacity(d.len());
    for (k, v) in d.iter() {
        let k = k
            .cast::<PyBytes>()
            .map_err(|_| PyValueError::new_err(ONLY_BYTES))?;
        vars.push((k.as_bytes().to_vec(), value_bytes(&v)?));
    }
    let Some(s) = SPOOLING.get() else {
        log_raw("[uwsgi-spooler] no spooler available");
        return Err(PyValueError::new_err("unable to spool job"));
    };
    let r = py.detach(|| s.spool(vars, body));
    match r {
        Ok(path) => Ok(PyBytes::new(py, path.as_bytes())),
        Err(_) => Err(PyValueError::new_err("unable to spool job")),
    }
}

/// `uwsgi.spooler_jobs()`: the task files waiting in the first spooler's directory (not its
/// priority subdirectories, as uWSGI).
#[pyfunction]
fn spooler_jobs(py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
    let dir = SPOOLING.get().and_then(|s| s.dirs().into_iter().next());
    let mut jobs = Vec::new();
    if let Some(dir) = dir {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                let name = e.file_name();
                let name = name.to_string_lossy();
                if !name.starts_with(crate::proto::spool::PREFIX) {
                    continue;
                }
                let path = format!("{dir}/{name}");
                let regular = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file());
                if regular && std::fs::OpenOptions::new().write(true).open(&path).is_ok() {
                    jobs.push(PyBytes::new(py, path.as_bytes()));
                }
            }
        }
    }
    PyList::new(py, jobs)
}

/// `uwsgi.spooler_pid()`: the first spooler's pid, 0 when there is none (or it is not up yet).
#[pyfunction]
fn spooler_pid() -> i32 {
    SPOOLING
        .get()
        .and_then(|s| s.pids().first().copied())
        .unwrap_or(0)
}

/// `uwsgi.spooler_pids()`: every spooler process's pid.
#[pyfunction]
fn spooler_pids() -> Vec<i32> {
    SPOOLING.get().map(|s| s.pids()).unwrap_or_default()
}

/// `uwsgi.set_spooler_frequency(secs)`: True.
#[pyfunction]
fn set_spooler_frequency(secs: u64) -> bool {
    if let Some(s) = SPOOLING.get() {
        s.set_frequency(secs);
    }
    true
}

/// `uwsgi.i_am_the_spooler()`: True in a spooler process, None elsewhere (as uWSGI answers).
#[pyfunction]
fn i_am_the_spooler() -> Option<bool> {
    I_AM_THE_SPOOLER.load(Ordering::Relaxed).then_some(true)
}

/// `uwsgi.spooler_get_task(path)`: the task dict of a spool file, None when it cannot be read.
#[pyfunction]
fn spooler_get_task<'py>(py: Python<'py>, path: &str) -> PyResult<Option<Bound<'py, PyDict>>> {
    let Ok(bytes) = std::fs::read(path) else {
        return Ok(None);
    };
    let Ok(task) = crate::proto::spool::decode_file(&bytes) else {
        return Ok(None);
    };
    task_dict(py, path, &task.vars, &task.body).map(Some)
}

/// The dict the `spooler` callable gets: `'spooler_task_name'` (a str key, as uWSGI sets it)
/// with the file's name, every var with bytes keys and values, then `'body'` when there is one.
fn task_dict<'py>(
    py: Python<'py>,
    name: &str,
    vars: &[(Vec<u8>, Vec<u8>)],
    body: &[u8],
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("spooler_task_name", PyBytes::new(py, name.as_bytes()))?;
    for (k, v) in vars {
        d.set_item(PyBytes::new(py, k), PyBytes::new(py, v))?;
    }
    if !body.is_empty() {
        d.set_item("body", PyBytes::new(py, body))?;
    }
    Ok(d)
}

fn module(py: Python<'_>) -> Option<Bound<'_, PyModule>> {
    MODULE.get(py).map(|m| m.bind(py).clone())
}

pub(crate) fn add_functions(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let _ = MODULE.set(m.py(), m.clone().unbind());
    let spool_fn = wrap_pyfunction!(spool, m)?;
    m.add("spool", &spool_fn)?;
    m.add("send_to_spooler", &spool_fn)?;
    m.add_function(wrap_pyfunction!(spooler_jobs, m)?)?;
    m.add_function(wrap_pyfunction!(spooler_pid, m)?)?;
    m.add_function(wrap_pyfunction!(spooler_pids, m)?)?;
    m.add_function(wrap_pyfunction!(set_spooler_frequency, m)?)?;
    m.add_function(wrap_pyfunction!(i_am_the_spooler, m)?)?;
    m.add_function(wrap_pyfunction!(spooler_get_task, m)?)?;
    Ok(())
}

/// `uwsgi.spoolers`: the spooler directories (set once the server installed them).
pub fn publish_spoolers() {
    let Some(s) = SPOOLING.get() else { return };
    Python::attach(|py| {
        let Some(m) = module(py) else {
            return;
        };
        let dirs: Vec<Bound<'_, PyBytes>> = s
            .dirs()
            .iter()
            .map(|d| PyBytes::new(py, d.as_bytes()))
            .collect();
        if let Ok(t) = PyTuple::new(py, dirs) {
            let _ = m.setattr("spoolers", t);
        }
    });
}

/// This process is a spooler from now on: `uwsgi.i_am_the_spooler()` says so, and every
/// `spooler-import` module is imported (a `/` or `.py` names a file), as uWSGI's spooler init.
pub fn become_spooler(imports: &[String]) {
    I_AM_THE_SPOOLER.store(true, Ordering::Relaxed);
    Python::attach(|py| {
        for name in imports {
            let r = if name.contains('/') || name.ends_with(".py") {
                import_file(py, name)
            } else {
                py.import(name.as_str()).map(|_| ())
            };
            if let Err(e) = r {
                print_exception(py, &e);
            }
        }
    });
}

fn import_file(py: Python<'_>, path: &str) -> PyResult<()> {
    let stem = std::path::Path::new(path).file_stem().map_or_else(
        || "spooler_import".to_string(),
        |s| s.to_string_lossy().replace(['.', '-'], "_"),
    );
    let util = py.import("importlib.util")?;
    let spec = util.call_method1("spec_from_file_location", (stem.as_str(), path))?;
    if spec.is_none() {
        return Err(pyo3::exceptions::PyImportError::new_err(format!(
            "cannot import {path}"
        )));
    }
    let module = util.call_method1("module_from_spec", (&spec,))?;
    py.import("sys")?
        .getattr("modules")?
        .set_item(stem.as_str(), &module)?;
    spec.getattr("loader")?
        .call_method1("exec_module", (&module,))?;
    Ok(())
}

/// Runs one task through the app's `uwsgi.spooler` callable: its int result (`SPOOL_OK` -2,
/// `SPOOL_RETRY` -1, `SPOOL_IGNORE` 0), 0 when there is no callable (uWSGI then leaves the
/// task alone), -1 when it raised (the traceback is logged) or returned a non-int.
pub fn run_task(name: &str, vars: &[(Vec<u8>, Vec<u8>)], body: &[u8]) -> i32 {
    Python::attach(|py| {
        let Some(m) = module(py) else {
            return 0;
        };
        let Ok(f) = m.getattr("spooler") else {
            return 0;
        };
        if f.is_none() {
            return 0;
        }
        let d = match task_dict(py, name, vars, body) {
            Ok(d) => d,
            Err(e) => {
                print_exception(py, &e);
                return -2;
            }
        };
        match f.call1((d,)) {
            Ok(r) if r.is_instance_of::<pyo3::types::PyInt>() => {
                r.extract::<i64>().map_or(-1, |v| v as i32)
            }
            Ok(_) => -1,
            Err(e) => {
                print_exception(py, &e);
                -1
            }
        }
    })
}
