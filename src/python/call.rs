//! [`call_app`]: one WSGI request from environ to the last body byte (the hot path).

use std::cell::Cell;
use std::os::fd::RawFd;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

use super::app::App;
use super::environ::{build_environ, WorkerContext};
use super::gil::pin_thread_state;
use super::input::Input;
use super::pyerr::{log_raw, print_exception};
use super::response::{FileWrapper, RespState, Responder, SendError};
use super::uwsgi_module::begin_request;
use super::{BodySource, CallOutcome, ResponseSink};

/// Run one request.
///
/// * environ from `vars` (see `environ.rs`), `start_response`, app call;
/// * result: `bytes` sent whole (uWSGI); exact `list`/`tuple` sent item by item (the last item
///   and `finish` share one GIL release); `wsgi.file_wrapper` over a regular file goes to
///   [`ResponseSink::file`]; anything else is iterated;
/// * headers go out with the first non-empty chunk (or `write()`), else at the end;
/// * a non-`bytes` item is an application error (PEP 3333; uWSGI skips it): logged as
///   `[ERROR] Unhandled object from iterator: <repr>` and handled like an exception;
/// * an exception (app, iterator, `close()`) logs its traceback; if no header was sent the
///   server answers `500 Internal Server Error` (text/plain, `Internal Server Error`), else the
///   response is aborted (`finish` not called: the server must close the connection);
/// * a body returned without (valid) `start_response` gets a 500 too (logged);
/// * the result's `close()` is called on every path once the result exists;
/// * the `wsgi.input` / `start_response` / `write` objects stop working (raise) when this returns.
pub fn call_app(
    app: &App,
    ctx: &WorkerContext,
    vars: &[crate::proto::Var<'_>],
    input: &mut dyn BodySource,
    sink: &mut dyn ResponseSink,
    core_id: u32,
) -> CallOutcome {
    let first_on_thread = pin_thread_state();
    begin_request(core_id);
    Python::attach(|py| {
        if first_on_thread {
            name_thread(py, ctx.worker_id, core_id);
        }
        // For both arms: `input` and `sink` are borrowed for the whole closure and not used
        // directly again; `Invalidate` (dropped before the closure returns, also on unwinding)
        // removes both pointers under their mutexes.
        let (inp, resp) = match SPARE.take() {
            // Held by nobody else: the app kept neither, so nothing can tell them from new ones.
            Some((inp, resp)) if sole_owner(py, &inp) && sole_owner(py, &resp) => {
                // SAFETY: see above.
                unsafe {
                    inp.get().rebind(py, input);
                    resp.get().rebind(py, sink);
                }
                (inp, resp)
            }
            _ => {
                // SAFETY: see above.
                let (inp, resp) = unsafe { (Input::new(input), Responder::new(sink)) };
                let inp = Py::new(py, inp).expect("allocating wsgi.input failed");
                let resp = match Py::new(py, resp) {
                    Ok(r) => r,
                    Err(e) => {
                        inp.get().invalidate(py);
                        panic!("allocating start_response failed: {e}");
                    }
                };
                (inp, resp)
            }
        };
        let guard = Invalidate {
            py,
            inp: &inp,
            resp: &resp,
        };
        let (exception, harakiri) = run(py, app, ctx, vars, inp.bind(py), resp.bind(py), core_id);
        super::harakiri::disarm_current(py);
        drop(guard);
        let st = super::input::lock_detached(py, &resp.get().state);
        let outcome = CallOutcome {
            status: st.code(),
            headers_sent: st.headers_sent,
            body_bytes: st.body_bytes,
            exception,
            switches: st.switches,
            io_error: st.io_error,
            via_sendfile: st.via_sendfile,
            finished: st.finished,
            harakiri,
        };
        drop(st);
        SPARE.set(Some((inp, resp)));
        outcome
    })
}

/// Whether `obj` has no other reference than this one.
fn sole_owner<T>(_py: Python<'_>, obj: &Py<T>) -> bool {
    // SAFETY: a live object (we hold a reference) read with the GIL held (`_py`).
    unsafe { pyo3::ffi::Py_REFCNT(obj.as_ptr()) == 1 }
}

thread_local! {
    /// This thread's `wsgi.input` and `start_response` from its last request, invalidated: the
    /// next request reuses them when nothing else holds them (two Python objects fewer to make
    /// and free per request). An app that kept one keeps a dead object; the request gets new ones.
    static SPARE: Cell<Option<(Py<Input>, Py<Responder>)>> = const { Cell::new(None) };
}

struct Invalidate<'a, 'py> {
    py: Python<'py>,
    inp: &'a Py<Input>,
    resp: &'a Py<Responder>,
}

impl Drop for Invalidate<'_, '_> {
    fn drop(&mut self) {
        self.inp.get().invalidate(self.py);
        self.resp.get().invalidate(self.py);
    }
}

fn name_thread(py: Python<'_>, worker: u32, core: u32) {
    let _ = py
        .import("threading")
        .and_then(|t| t.call_method0("current_thread"))
        .and_then(|t| t.setattr("name", format!("uWSGIWorker{worker}Core{core}")));
}

/// How sending the result ended.
enum Stop {
    Done,
    /// An exception escaped (already logged).
    Exception,
    /// Body without a valid start_response.
    NoHeaders,
    /// Client gone.
    Io,
    /// Harakiri interrupted the request (`uwsgi.HarakiriTimeout`, traceback logged).
    Harakiri,
}

/// Returns whether an exception escaped, and whether it was harakiri's interrupt. All outcome
/// counters live in the responder state.
fn run(
    py: Python<'_>,
    app: &App,
    ctx: &WorkerContext,
    vars: &[crate::proto::Var<'_>],
    inp: &Bound<'_, Input>,
    resp: &Bound<'_, Responder>,
    core_id: u32,
) -> (bool, bool) {
    let r = resp.get();
    let env = match build_environ(py, ctx, vars, inp.as_any(), core_id) {
        Ok(e) => e,
        Err(e) => {
            print_exception(py, &e);
            r.io(py, RespState::send_500);
            return (true, false);
        }
    };
    let stop = match app.callable().bind(py).call1((env, resp)) {
        Err(e) => app_error(py, r, e),
        Ok(result) => {
            let stop = send_result(py, r, &result);
            let close_err = call_close(py, &result);
            match stop {
                Stop::Done if close_err => Stop::Exception,
                s => s,
            }
        }
    };
    match stop {
        Stop::Done => {
            let no_headers = r.io(py, |s| {
                if s.finished || s.io_error {
                    return false;
                }
                match s.finish() {
                    Err(SendError::NoHeaders) => {
                        s.send_500();
                        true
                    }
                    _ => false,
                }
            });
            if no_headers {
                log_no_start_response();
            }
            (false, false)
        }
        Stop::NoHeaders => {
            log_no_start_response();
            r.io(py, RespState::send_500);
            (false, false)
        }
        Stop::Exception => {
            r.io(py, RespState::send_500);
            (true, false)
        }
        Stop::Harakiri => {
            r.io(py, RespState::send_504);
            (false, true)
        }
        Stop::Io => (false, false),
    }
}

fn log_no_start_response() {
    log_raw(
        "[rw] the application returned a body without a successful start_response(): answering 500",
    );
}

/// An exception escaped the app call or the iterator: log it unless it is the `write()` error
/// caused by a client that went away.
fn app_error(py: Python<'_>, r: &Responder, e: PyErr) -> Stop {
    let io = super::input::lock_detached(py, &r.state).io_error;
    if io {
        return Stop::Io;
    }
    print_exception(py, &e);
    if super::harakiri::is_harakiri(py, &e) {
        return Stop::Harakiri;
    }
    Stop::Exception
}

/// Call `result.close()` if it exists (not for exact bytes/list/tuple, which have none).
/// Returns true if it raised (traceback logged).
fn call_close(py: Python<'_>, result: &Bound<'_, PyAny>) -> bool {
    if result.is_exact_instance_of::<PyBytes>()
        || result.is_exact_instance_of::<PyList>()
        || result.is_exact_instance_of::<PyTuple>()
    {
        return false;
    }
    let res = match result.getattr_opt(intern!(py, "close")) {
        Ok(Some(close)) => close.call0().map(drop),
        Ok(None) => Ok(()),
        Err(e) => Err(e),
    };
    match res {
        Ok(()) => false,
        Err(e) => {
            print_exception(py, &e);
            true
        }
    }
}

fn send_result(py: Python<'_>, r: &Responder, result: &Bound<'_, PyAny>) -> Stop {
    if let Ok(b) = result.cast_exact::<PyBytes>() {
        return send_item(py, r, b.as_any(), true);
    }
    if let Ok(l) = result.cast_exact::<PyList>() {
        let mut i = 0;
        loop {
            let n = l.len();
            if i >= n {
                return Stop::Done;
            }
            let item = match l.get_item(i) {
                Ok(it) => it,
                Err(_) => return Stop::Done,
            };
            match send_item(py, r, &item, i + 1 == n) {
                Stop::Done => {}
                s => return s,
            }
            i += 1;
        }
    }
    if let Ok(t) = result.cast_exact::<PyTuple>() {
        let n = t.len();
        for (i, item) in t.iter().enumerate() {
            match send_item(py, r, &item, i + 1 == n) {
                Stop::Done => {}
                s => return s,
            }
        }
        return Stop::Done;
    }
    if let Ok(fw) = result.cast_exact::<FileWrapper>() {
        if let Some((fd, off, len)) = sendfile_params(py, fw.get()) {
            return match r.io_sized(py, len, |s| s.send_file(fd, off, len)) {
                Ok(()) => Stop::Done,
                Err(e) => send_error(e),
            };
        }
    }
    let iter = match result.try_iter() {
        Ok(it) => it,
        Err(e) => return app_error(py, r, e),
    };
    for item in iter {
        let stop = match item {
            Ok(item) => send_item(py, r, &item, false),
            Err(e) => app_error(py, r, e),
        };
        if !matches!(stop, Stop::Done) {
            return stop;
        }
    }
    Stop::Done
}

fn send_error(e: SendError) -> Stop {
    match e {
        SendError::NoHeaders => Stop::NoHeaders,
        SendError::Io(err) => {
            log_raw(&format!("[rw] response write failed: {err}"));
            Stop::Io
        }
        SendError::Finished => Stop::Io,
    }
}

/// Send one body item; `last` also finishes the response in the same GIL release.
fn send_item(py: Python<'_>, r: &Responder, item: &Bound<'_, PyAny>, last: bool) -> Stop {
    let Ok(b) = item.cast::<PyBytes>() else {
        let repr = item
            .repr()
            .map(|s| s.to_string())
            .unwrap_or_else(|_| "<unprintable>".to_owned());
        let shown: String = repr.chars().take(200).collect();
        log_raw(&format!(
            "[ERROR] Unhandled object from iterator: {shown} ({:p}): WSGI body items must be bytes",
            item.as_ptr()
        ));
        return Stop::Exception;
    };
    let data = b.as_bytes();
    let res = r.io_sized(py, data.len() as u64, |s| {
        s.send_body(data, false, last)?;
        if last {
            s.finish()?;
        }
        Ok(())
    });
    match res {
        Ok(()) => Stop::Done,
        Err(e) => send_error(e),
    }
}

/// `(fd, offset, len)` when the wrapped object is backed by a regular file.
fn sendfile_params(py: Python<'_>, fw: &FileWrapper) -> Option<(RawFd, u64, u64)> {
    let f = fw.filelike.bind(py);
    let fd: RawFd = f.call_method0(intern!(py, "fileno")).ok()?.extract().ok()?;
    if fd < 0 {
        return None;
    }
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat writes a `stat` into the buffer we own; an invalid fd just fails.
    if unsafe { libc::fstat(fd, st.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: fstat succeeded, so it initialised the struct.
    let st = unsafe { st.assume_init() };
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return None;
    }
    // Pending buffered writes must reach the file before the kernel copies it.
    if let Ok(Some(flush)) = f.getattr_opt(intern!(py, "flush")) {
        let _ = flush.call0();
    }
    let offset: u64 = match f
        .call_method0(intern!(py, "tell"))
        .and_then(|t| t.extract())
    {
        Ok(o) => o,
        Err(_) => {
            // SAFETY: lseek on an fd we just fstat'ed; it only queries the offset.
            let o = unsafe { libc::lseek(fd, 0, libc::SEEK_CUR) };
            u64::try_from(o).ok()?
        }
    };
    let size = u64::try_from(st.st_size).unwrap_or(0);
    Some((fd, offset, size.saturating_sub(offset)))
}
