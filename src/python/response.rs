//! `start_response` / `write` (one [`Responder`] per request), header validation, and
//! `wsgi.file_wrapper`.

use std::os::fd::RawFd;
use std::ptr::NonNull;
use std::sync::Mutex;

use pyo3::exceptions::{PyOSError, PyRuntimeError, PyStopIteration, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

use super::input::{lock_detached, with_locked};
use super::pyerr::{log_raw, print_exception};
use super::ResponseSink;
use crate::proto::http;

/// Headers and status of a server-made 500.
pub(crate) const ERROR_500_STATUS: &str = "500 Internal Server Error";
pub(crate) const ERROR_500_BODY: &[u8] = b"Internal Server Error";

// ---------------------------------------------------------------------------------------------
// Validation: proto's rules (the one home of what may be sent), applied to the Latin-1 bytes of
// the app's strings.

/// The Latin-1 bytes of `s`, or `None` when a char is above U+00FF (not encodable).
fn latin1_bytes(s: &str) -> Option<std::borrow::Cow<'_, [u8]>> {
    if s.is_ascii() {
        return Some(s.as_bytes().into());
    }
    s.chars()
        .map(|c| u8::try_from(c as u32).ok())
        .collect::<Option<Vec<u8>>>()
        .map(Into::into)
}

/// A WSGI status as [`http::validate_status`] judges it; returns the status code.
pub(super) fn validate_status(status: &str) -> Result<u16, String> {
    let bytes = latin1_bytes(status).ok_or("status is not latin-1 encodable")?;
    http::validate_status(&bytes).map_err(|e| e.to_string())
}

pub(super) fn validate_header_name(name: &str) -> Result<(), &'static str> {
    // A token is ASCII, so UTF-8 bytes that pass are the Latin-1 bytes: one pass for every name
    // an app really sends; the Latin-1 conversion only to say what is wrong with the others.
    if http::validate_header_name(name.as_bytes()).is_ok() {
        return Ok(());
    }
    let bytes = latin1_bytes(name).ok_or("header name is not latin-1 encodable")?;
    http::validate_header_name(&bytes)
}

pub(super) fn validate_header_value(value: &str) -> Result<(), &'static str> {
    // The ASCII part of proto's rule (HTAB, SP, VCHAR) in one pass over the UTF-8 bytes; a value
    // with anything else (obs-text, controls, chars above U+00FF) takes the full check.
    if value
        .bytes()
        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
    {
        return Ok(());
    }
    let bytes = latin1_bytes(value).ok_or("header value is not latin-1 encodable")?;
    http::validate_header_value(&bytes)
}

/// Append the Latin-1 encoding of `s` (whose chars must all be `<= U+00FF`, as every status and
/// header given to [`ResponseSink::start`] is) to `out`. Chars above U+00FF become `?`.
pub fn encode_latin1(s: &str, out: &mut Vec<u8>) {
    if s.is_ascii() {
        out.extend_from_slice(s.as_bytes());
    } else {
        out.extend(s.chars().map(|c| u8::try_from(c as u32).unwrap_or(b'?')));
    }
}

// ---------------------------------------------------------------------------------------------
// Responder.

/// Lifetime-erased pointer to the request's sink; same invariant as the body source pointer:
/// stored only while `call_app` borrows the sink, removed before it returns, and only
/// dereferenced with the [`Responder`] mutex held.
struct SinkPtr(NonNull<dyn ResponseSink>);

// SAFETY: the pointee is `ResponseSink: Send`; access is exclusive (mutex) and only while the
// borrow it came from is alive (see `SinkPtr`).
unsafe impl Send for SinkPtr {}

impl RespState {
    /// # Safety
    /// As for [`Responder::new`].
    unsafe fn fresh(sink: &mut dyn ResponseSink) -> RespState {
        let ptr: NonNull<dyn ResponseSink + '_> = NonNull::from(sink);
        // SAFETY: only the trait-object lifetime bound is erased; the caller guarantees the
        // pointer is not used after `invalidate` (which runs before the borrow ends).
        let ptr: NonNull<dyn ResponseSink + 'static> = unsafe { std::mem::transmute(ptr) };
        RespState {
            sink: Some(SinkPtr(ptr)),
            status: None,
            spare_status: None,
            code: 0,
            headers: Vec::new(),
            headers_sent: false,
            body_bytes: 0,
            switches: 0,
            io_error: false,
            via_sendfile: false,
            finished: false,
        }
    }
}

pub(crate) struct RespState {
    sink: Option<SinkPtr>,
    /// Last valid status given to start_response (None: not called, or the last call was
    /// rejected).
    status: Option<String>,
    /// The previous request's status string, kept for its capacity (see `Responder::rebind`).
    spare_status: Option<String>,
    code: u16,
    /// Meaningful only while `status` is `Some`; otherwise strings kept for their capacity.
    headers: Vec<(String, String)>,
    pub(crate) headers_sent: bool,
    pub(crate) body_bytes: u64,
    pub(crate) switches: u32,
    pub(crate) io_error: bool,
    pub(crate) via_sendfile: bool,
    pub(crate) finished: bool,
}

/// Why a body write did not happen.
pub(crate) enum SendError {
    /// The app produced body before a (valid) start_response.
    NoHeaders,
    /// The request is over (the sink is gone).
    Finished,
    /// The sink failed: the client went away.
    Io(std::io::Error),
}

impl SendError {
    fn into_pyerr(self) -> PyErr {
        match self {
            SendError::NoHeaders => {
                PyRuntimeError::new_err("write() called before start_response()")
            }
            SendError::Finished => PyOSError::new_err("write(): the request has finished"),
            SendError::Io(_) => PyOSError::new_err("write error"),
        }
    }
}

impl RespState {
    fn sink(&mut self) -> Result<&mut dyn ResponseSink, SendError> {
        match self.sink.as_mut() {
            // SAFETY: see `SinkPtr`: valid while stored; `&mut self` comes from the mutex
            // guard, so this is the only access.
            Some(p) => Ok(unsafe { p.0.as_mut() }),
            None => Err(SendError::Finished),
        }
    }

    fn io(&mut self, r: std::io::Result<()>) -> Result<(), SendError> {
        r.map_err(|e| {
            self.io_error = true;
            SendError::Io(e)
        })
    }

    fn ensure_headers(&mut self) -> Result<(), SendError> {
        if self.headers_sent {
            return Ok(());
        }
        if self.io_error {
            return Err(SendError::Io(std::io::ErrorKind::BrokenPipe.into()));
        }
        let Some(status) = self.status.take() else {
            return Err(SendError::NoHeaders);
        };
        let headers = std::mem::take(&mut self.headers);
        let r = self.sink()?.start(&status, &headers);
        self.status = Some(status);
        self.headers = headers;
        self.io(r)?;
        self.headers_sent = true;
        Ok(())
    }

    /// Send a body chunk (headers first when needed). Empty chunks send nothing unless
    /// `force_headers` (a `write(b'')` call).
    /// `last`: the caller finishes the response right after this chunk.
    pub(crate) fn send_body(
        &mut self,
        chunk: &[u8],
        force_headers: bool,
        last: bool,
    ) -> Result<(), SendError> {
        if self.sink.is_none() {
            return Err(SendError::Finished);
        }
        if chunk.is_empty() {
            if force_headers {
                self.ensure_headers()?;
            }
            return Ok(());
        }
        self.ensure_headers()?;
        let r = self.sink()?.body(chunk, last);
        self.io(r)?;
        self.body_bytes += chunk.len() as u64;
        self.switches += 1;
        Ok(())
    }

    pub(crate) fn send_file(&mut self, fd: RawFd, offset: u64, len: u64) -> Result<(), SendError> {
        self.ensure_headers()?;
        self.via_sendfile = true;
        if len == 0 {
            return Ok(());
        }
        let r = self.sink()?.file(fd, offset, Some(len));
        match r {
            Ok(n) => {
                self.body_bytes += n;
                self.switches += 1;
                Ok(())
            }
            Err(e) => {
                self.io_error = true;
                Err(SendError::Io(e))
            }
        }
    }

    /// Complete response: headers if not sent yet, then `finish`.
    pub(crate) fn finish(&mut self) -> Result<(), SendError> {
        self.ensure_headers()?;
        let r = self.sink()?.finish();
        self.io(r)?;
        self.finished = true;
        Ok(())
    }

    /// Server-made `500 Internal Server Error`, only possible while no header was sent.
    pub(crate) fn send_500(&mut self) {
        self.send_error(500, ERROR_500_STATUS, ERROR_500_BODY);
    }

    /// Server-made `504 Gateway Timeout`: the request ran past harakiri and was interrupted.
    pub(crate) fn send_504(&mut self) {
        self.send_error(504, "504 Gateway Timeout", b"Gateway Timeout");
    }

    fn send_error(&mut self, code: u16, status: &str, body: &[u8]) {
        if self.headers_sent || self.io_error || self.sink.is_none() {
            return;
        }
        self.status = Some(status.to_owned());
        self.code = code;
        self.headers = vec![("Content-Type".to_owned(), "text/plain".to_owned())];
        if self.send_body(body, true, true).is_ok() {
            let _ = self.finish();
        }
    }

    /// Status code for the outcome: 500 unless the app produced valid headers.
    pub(crate) fn code(&self) -> u16 {
        if self.status.is_some() {
            self.code
        } else {
            500
        }
    }
}

/// The `start_response` callable of one request; its `write` method is the WSGI `write`.
#[pyclass(frozen, module = "uwsgi", name = "StartResponse")]
pub(crate) struct Responder {
    pub(crate) state: Mutex<RespState>,
}

impl Responder {
    /// # Safety
    /// `sink` must stay valid (and otherwise unused) until [`Responder::invalidate`] returned.
    pub(crate) unsafe fn new(sink: &mut dyn ResponseSink) -> Responder {
        Responder {
            // SAFETY: forwarded to the caller.
            state: Mutex::new(unsafe { RespState::fresh(sink) }),
        }
    }

    /// Makes a responder whose request ended (and that nothing else holds) serve a new one, as
    /// if it had just been made with [`Responder::new`].
    ///
    /// # Safety
    /// As for [`Responder::new`].
    pub(crate) unsafe fn rebind(&self, py: Python<'_>, sink: &mut dyn ResponseSink) {
        let mut st = lock_detached(py, &self.state);
        // The last response's strings keep their capacity for the next start_response, which
        // then copies the app's status and headers without allocating (a hello app sends the
        // same shape every time). A response with many headers does not pin its memory.
        let spare = st.status.take().or_else(|| st.spare_status.take());
        let mut headers = std::mem::take(&mut st.headers);
        if headers.len() > SPARE_HEADERS {
            headers = Vec::new();
        }
        // SAFETY: forwarded to the caller.
        *st = unsafe { RespState::fresh(sink) };
        st.spare_status = spare;
        st.headers = headers;
    }

    /// Forget the sink (end of request), waiting for a write in progress on another thread.
    pub(crate) fn invalidate(&self, py: Python<'_>) {
        lock_detached(py, &self.state).sink = None;
    }

    /// Run `f` on the state with the GIL released (all sink I/O goes through here).
    pub(crate) fn io<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut RespState) -> T + Send,
    ) -> T {
        self.io_sized(py, 0, f)
    }

    /// [`Responder::io`] for a call that moves about `bytes` bytes. With the GIL held (the sink
    /// gives it up to wait for the peer, see `blocking`), unless the transfer is large enough
    /// that copying it would keep the worker's other threads out of Python for long.
    pub(crate) fn io_sized<T: Send>(
        &self,
        py: Python<'_>,
        bytes: u64,
        f: impl FnOnce(&mut RespState) -> T + Send,
    ) -> T {
        with_locked(py, &self.state, bytes >= super::gil::LARGE_IO, f)
    }
}

/// Header pairs a reused [`Responder`] keeps between requests.
const SPARE_HEADERS: usize = 16;

fn type_err(msg: &'static str) -> PyErr {
    PyTypeError::new_err(msg)
}

/// Extract and validate status + headers into Rust-owned strings (copied now: later mutation or
/// freeing of the Python objects cannot affect what is sent, cf. mod_wsgi CVE-2014-0242): the
/// status into `status_out`, the headers into `out` (both overwritten, reusing their capacity).
/// Returns the status code; on error the outputs hold partial data and must be dropped.
fn extract_response(
    status: &Bound<'_, PyAny>,
    headers: &Bound<'_, PyAny>,
    status_out: &mut String,
    out: &mut Vec<(String, String)>,
) -> PyResult<u16> {
    let status = status
        .cast::<PyString>()
        .map_err(|_| type_err("http status must be a string"))?;
    let status_s = status.to_str().map_err(|_| {
        reject(
            "status is not latin-1 encodable",
            &status.to_string_lossy(),
            None,
        )
    })?;
    let code = validate_status(status_s).map_err(|m| reject(&m, status_s, None))?;

    // Walked in place (no Vec of the items): a list or a tuple of pairs.
    if let Ok(l) = headers.cast::<PyList>() {
        extract_headers(l.iter(), out)?;
    } else if let Ok(t) = headers.cast::<PyTuple>() {
        extract_headers(t.iter(), out)?;
    } else {
        return Err(type_err("http headers must be in a python list"));
    }
    status_out.clear();
    status_out.push_str(status_s);
    Ok(code)
}

/// The validated `(name, value)` pairs of the app's header list, into `out` (overwritten).
fn extract_headers<'py>(
    items: impl Iterator<Item = Bound<'py, PyAny>>,
    out: &mut Vec<(String, String)>,
) -> PyResult<()> {
    let mut n = 0;
    for item in items {
        let t = item
            .cast::<PyTuple>()
            .map_err(|_| type_err("http header must be defined in a tuple"))?;
        if t.len() != 2 {
            return Err(type_err("http header tuples must have exactly 2 items"));
        }
        let k = t.get_item(0)?;
        let v = t.get_item(1)?;
        let k = k
            .cast::<PyString>()
            .map_err(|_| type_err("http header key must be a string"))?;
        let v = v
            .cast::<PyString>()
            .map_err(|_| type_err("http header value must be a string"))?;
        let ks = k.to_str().map_err(|_| {
            reject(
                "header name is not latin-1 encodable",
                &k.to_string_lossy(),
                None,
            )
        })?;
        let vs = v.to_str().map_err(|_| {
            reject(
                "header value is not latin-1 encodable",
                &v.to_string_lossy(),
                Some(ks),
            )
        })?;
        validate_header_name(ks).map_err(|m| reject(m, ks, None))?;
        validate_header_value(vs).map_err(|m| reject(m, vs, Some(ks)))?;
        match out.get_mut(n) {
            Some((k, v)) => {
                k.clear();
                k.push_str(ks);
                v.clear();
                v.push_str(vs);
            }
            None => out.push((ks.to_owned(), vs.to_owned())),
        }
        n += 1;
    }
    out.truncate(n);
    Ok(())
}

/// Log why the response is refused (escaped: the bad bytes never reach the log raw either) and
/// build the ValueError raised into the app.
fn reject(why: &str, offending: &str, header: Option<&str>) -> PyErr {
    let what = match header {
        Some(h) => format!("header {h:?}: {why}: {offending:?}"),
        None => format!("{why}: {offending:?}"),
    };
    log_raw(&format!(
        "[rw] start_response(): invalid response from the application refused ({what}); a 500 will be sent instead"
    ));
    PyValueError::new_err(format!("invalid response: {what}"))
}

#[pymethods]
impl Responder {
    /// `start_response(status, headers, exc_info=None)` → `write`.
    #[pyo3(signature = (status, headers, exc_info=None))]
    fn __call__<'py>(
        slf: &Bound<'py, Self>,
        status: &Bound<'py, PyAny>,
        headers: &Bound<'py, PyAny>,
        exc_info: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let this = slf.get();
        let exc_info = exc_info.filter(|e| !e.is_none());
        if let Some(ei) = exc_info {
            // PEP 3333: with exc_info after the headers went out, re-raise it.
            let value = ei.get_item(1)?;
            let sent = lock_detached(py, &this.state).headers_sent;
            if sent {
                if value.is_none() {
                    return Err(PyOSError::new_err("headers already sent"));
                }
                return Err(PyErr::from_value(value));
            }
            if !value.is_none() {
                print_exception(py, &PyErr::from_value(value));
            }
        }
        if exc_info.is_none() && lock_detached(py, &this.state).headers_sent {
            return Err(PyOSError::new_err("headers already sent"));
        }
        // Parsed under the state's lock, into the strings of the previous call or request (no
        // Python code runs meanwhile: type checks and UTF-8 views only).
        let mut st = lock_detached(py, &this.state);
        let mut status_buf = st
            .status
            .take()
            .or_else(|| st.spare_status.take())
            .unwrap_or_default();
        let mut header_buf = std::mem::take(&mut st.headers);
        match extract_response(status, headers, &mut status_buf, &mut header_buf) {
            Ok(code) => {
                st.status = Some(status_buf);
                st.code = code;
                st.headers = header_buf;
            }
            Err(e) => {
                // Poison the response: nothing from this call (or an earlier one) is sent.
                st.status = None;
                return Err(e);
            }
        }
        drop(st);
        slf.getattr(pyo3::intern!(py, "write"))
    }

    /// WSGI `write(data)`: sends immediately (headers first).
    fn write(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let b = data
            .cast::<PyBytes>()
            .map_err(|_| type_err("write() argument must be bytes"))?;
        let bytes = b.as_bytes();
        self.io_sized(py, bytes.len() as u64, |s| s.send_body(bytes, true, false))
            .map_err(SendError::into_pyerr)
    }
}

// ---------------------------------------------------------------------------------------------
// wsgi.file_wrapper

/// `wsgi.file_wrapper(filelike, blksize=8192)`. When the app returns one whose `filelike` has a
/// `fileno()` naming a regular file, `call_app` hands the fd to [`ResponseSink::file`]
/// (sendfile) from the current position (`tell()`); otherwise it is iterated (`read(blksize)`).
#[pyclass(frozen, module = "uwsgi", name = "FileWrapper")]
pub(crate) struct FileWrapper {
    pub(crate) filelike: Py<PyAny>,
    blksize: i64,
}

#[pymethods]
impl FileWrapper {
    #[new]
    #[pyo3(signature = (filelike, blksize=8192))]
    fn new(filelike: Py<PyAny>, blksize: i64) -> Self {
        FileWrapper {
            filelike,
            blksize: if blksize > 0 { blksize } else { 8192 },
        }
    }

    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let data = self
            .filelike
            .bind(py)
            .call_method1(pyo3::intern!(py, "read"), (self.blksize,))?;
        if data.is_truthy()? {
            Ok(data)
        } else {
            Err(PyStopIteration::new_err(()))
        }
    }

    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let f = self.filelike.bind(py);
        if let Some(close) = f.getattr_opt(pyo3::intern!(py, "close"))? {
            close.call0()?;
        }
        Ok(())
    }

    #[getter]
    fn filelike(&self, py: Python<'_>) -> Py<PyAny> {
        self.filelike.clone_ref(py)
    }

    #[getter]
    fn blksize(&self) -> i64 {
        self.blksize
    }
}
