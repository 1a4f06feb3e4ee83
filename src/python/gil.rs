//! The GIL rules of rw's threads: each OS thread keeps one permanent Python thread state, and a
//! wait for a slow peer (never the I/O itself, unless large) runs with the GIL released.

use pyo3::ffi;
use std::cell::Cell;

thread_local! {
    static THREAD_PINNED: Cell<bool> = const { Cell::new(false) };
}

/// Give the current OS thread a permanent Python thread state (once per thread).
///
/// Without it every `Python::attach` on a thread Python did not create would build and tear
/// down a thread state per request (slow, and `threading.local` data such as DB connections
/// would be lost between requests). `PyGILState_Ensure` without a matching release keeps the
/// thread state alive; later attaches reuse it. Returns true the first time on this thread.
pub(crate) fn pin_thread_state() -> bool {
    if THREAD_PINNED.with(|p| p.get()) {
        return false;
    }
    // SAFETY: Py_IsInitialized may be called at any time; PyGILState_Check (evaluated only
    // after init) too.
    if unsafe { ffi::Py_IsInitialized() == 0 || ffi::PyGILState_Check() != 0 } {
        // Already attached (e.g. called from inside Python code): nothing to pin now.
        return false;
    }
    // SAFETY: the interpreter is initialised (callers check or run after init) and this thread
    // does not hold the GIL (checked above);
    // Ensure acquires it (creating the thread state), SaveThread releases it again while the
    // thread state stays registered with the GILState counter at 1 for the thread's lifetime.
    unsafe {
        let _ = ffi::PyGILState_Ensure();
        ffi::PyEval_SaveThread();
    }
    THREAD_PINNED.with(|p| p.set(true));
    true
}

/// Transfers of at least this many bytes run with the GIL released even when they do not block:
/// copying them takes long enough (a millisecond and up) to matter to the worker's other threads.
pub(crate) const LARGE_IO: u64 = 1 << 20;

/// Runs `f`, a wait for a socket, with the GIL released if this thread holds it, so that other
/// Python threads run meanwhile. Socket I/O during a request runs with the GIL held (releasing
/// and retaking it around every read and write cost ~5% of a small request); only a wait for a
/// slow peer gives it up.
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: Py_IsInitialized may be called at any time; PyGILState_Check only once the
    // runtime exists (before that it answers 1 for every thread).
    let held = unsafe { pyo3::ffi::Py_IsInitialized() != 0 && pyo3::ffi::PyGILState_Check() == 1 };
    if !held {
        return f();
    }
    struct Reattach(*mut pyo3::ffi::PyThreadState);
    impl Drop for Reattach {
        fn drop(&mut self) {
            // SAFETY: restores the thread state saved below, on this same thread.
            unsafe { pyo3::ffi::PyEval_RestoreThread(self.0) };
        }
    }
    // SAFETY: this thread holds the GIL (checked above); `f` does not touch Python, and the
    // guard takes the GIL back before returning (or unwinding).
    let _reattach = Reattach(unsafe { pyo3::ffi::PyEval_SaveThread() });
    f()
}
