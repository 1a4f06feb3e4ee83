//! Harakiri's first attempt: an exception raised in the one thread whose request ran too long,
//! so that the worker's other threads, and their requests, live on.

use std::os::raw::c_long;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Mutex;

use pyo3::ffi;
use pyo3::prelude::*;

use super::gil::pin_thread_state;
use super::pyerr::log_raw;

pyo3::create_exception!(
    uwsgi,
    HarakiriTimeout,
    pyo3::exceptions::PyBaseException,
    "The request ran longer than `harakiri` seconds and rw interrupted it. A BaseException, so \
     that `except Exception:` does not swallow it."
);

/// Threads an exception was raised in, until their request ends (see [`disarm_current`]).
static ARMED: Mutex<Vec<u64>> = Mutex::new(Vec::new());
/// `ARMED` is not empty: the one check every request pays.
static ANY_ARMED: AtomicBool = AtomicBool::new(false);

/// The calling thread's id as Python (`threading.get_ident()`) and `pthread_kill` know it.
pub fn current_thread_id() -> u64 {
    // SAFETY: pthread_self has no preconditions.
    unsafe { libc::pthread_self() as u64 }
}

/// Raises `uwsgi.HarakiriTimeout` in thread `id` (CPython delivers it when that thread next
/// runs bytecode), if `still_stuck()` says its request is still the one harakiri fired on:
/// checked with the GIL held, so a request that ends meanwhile is not hit (and a request that
/// ends before the exception fires clears it, see [`disarm_current`]). With `verbose`, first
/// logs the thread's Python stack, `label` naming it. Returns whether the exception was set.
///
/// Blocks while another thread holds the GIL and never gives it up (a long C call that keeps
/// it): the master kills the worker after `harakiri-graceful-timeout` then.
pub fn interrupt_thread(
    id: u64,
    label: &str,
    verbose: bool,
    still_stuck: impl FnOnce() -> bool,
) -> bool {
    pin_thread_state();
    Python::attach(|py| {
        if !still_stuck() {
            return false;
        }
        if verbose {
            log_stack(py, id, label);
        }
        {
            let mut armed = ARMED.lock().unwrap_or_else(|e| e.into_inner());
            armed.push(id);
            ANY_ARMED.store(true, Relaxed);
        }
        let exc = py.get_type::<HarakiriTimeout>();
        // SAFETY: the GIL is held; `exc` is a live exception type (borrowed, not stolen).
        unsafe { ffi::PyThreadState_SetAsyncExc(id as c_long, exc.as_ptr()) == 1 }
    })
}

/// At the end of a request (GIL held): drops an interrupt meant for this request that never
/// fired, so that it cannot hit the thread's next request.
pub(crate) fn disarm_current(_py: Python<'_>) {
    if !ANY_ARMED.load(Relaxed) {
        return;
    }
    let id = current_thread_id();
    let mut armed = ARMED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(i) = armed.iter().position(|&t| t == id) {
        armed.swap_remove(i);
        ANY_ARMED.store(!armed.is_empty(), Relaxed);
        // SAFETY: the GIL is held (`_py`); a NULL exception clears the pending one.
        unsafe { ffi::PyThreadState_SetAsyncExc(id as c_long, std::ptr::null_mut()) };
    }
}

/// Whether `e` is the interrupt raised by [`interrupt_thread`].
pub(crate) fn is_harakiri(py: Python<'_>, e: &PyErr) -> bool {
    e.is_instance_of::<HarakiriTimeout>(py)
}

/// The `uwsgi.HarakiriTimeout` class, for the `uwsgi` module.
pub(crate) fn exception_type(py: Python<'_>) -> Bound<'_, pyo3::types::PyType> {
    py.get_type::<HarakiriTimeout>()
}

fn log_stack(py: Python<'_>, id: u64, label: &str) {
    let stack = (|| -> PyResult<Option<String>> {
        let frames = py.import("sys")?.call_method0("_current_frames")?;
        let frame = frames.call_method1("get", (id,))?;
        if frame.is_none() {
            return Ok(None);
        }
        let lines = py
            .import("traceback")?
            .call_method1("format_stack", (frame,))?;
        let text: Vec<String> = lines.extract()?;
        Ok(Some(text.concat()))
    })();
    match stack {
        Ok(Some(s)) => log_raw(&format!(
            "HARAKIRI: Python stack of {label} (most recent call last):\n{s}"
        )),
        Ok(None) => log_raw(&format!("HARAKIRI: {label} is running no Python code")),
        Err(e) => log_raw(&format!("HARAKIRI: no Python stack for {label}: {e}")),
    }
}
