//! `wsgi.input`: a Python file-like object over the server's [`BodySource`], valid only during
//! its request.

use std::io::ErrorKind;
use std::ptr::NonNull;
use std::sync::{Mutex, MutexGuard, PoisonError};

use pyo3::exceptions::{PyOSError, PyStopIteration};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use super::BodySource;

/// How much is pulled from the source at a time when looking for a newline.
const FILL_CHUNK: usize = 8192;

/// What a line is assumed to cost when deciding whether to read it with the GIL released
/// (`readline()` without a size): lines are short.
const LINE: usize = FILL_CHUNK;

/// Largest `read()` whose bytes object is allocated at its final size before reading.
const MAX_EXACT_READ: u64 = 64 << 20;

/// The buffer of a bytes object being filled (with the GIL released for large reads). Only this request's
/// `read` knows the object, which no Python code can reach until it is returned.
struct FillPtr(*mut u8);

// SAFETY: see `FillPtr`: the buffer is used by one thread at a time, while its object is alive.
unsafe impl Send for FillPtr {}

/// Lifetime-erased pointer to the request's body source.
///
/// Invariant (upheld by `call::call_app`): it is only stored in [`InputState::src`] while the
/// `&mut dyn BodySource` it was made from is borrowed by `call_app`, and is removed (under the
/// mutex) before `call_app` returns; it is only dereferenced with that mutex held.
struct SrcPtr(NonNull<dyn BodySource>);

// SAFETY: the pointee is `BodySource: Send`, and the pointer is only dereferenced under the
// `Input` mutex (exclusive access), while the borrow it came from is alive (see `SrcPtr`).
unsafe impl Send for SrcPtr {}

struct InputState {
    src: Option<SrcPtr>,
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
    /// Bytes handed to the app (for `tell()`).
    consumed: u64,
}

enum ReadError {
    Finished,
    Io(std::io::Error),
}

impl ReadError {
    fn into_pyerr(self, what: &str, size: i64) -> PyErr {
        match self {
            ReadError::Finished => {
                PyOSError::new_err("wsgi.input is no longer usable: its request has finished")
            }
            ReadError::Io(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
                PyOSError::new_err(format!("timeout during {what}({size}) on wsgi.input"))
            }
            ReadError::Io(e) => {
                PyOSError::new_err(format!("error during {what}({size}) on wsgi.input: {e}"))
            }
        }
    }
}

fn src_read(src: &mut Option<SrcPtr>, eof: &mut bool, dst: &mut [u8]) -> Result<usize, ReadError> {
    if *eof || dst.is_empty() {
        return Ok(0);
    }
    let Some(p) = src.as_mut() else {
        return Err(ReadError::Finished);
    };
    loop {
        // SAFETY: see `SrcPtr`: the pointer is valid while stored, and the caller holds the
        // `Input` mutex guard that owns `src`, so this is the only access.
        let r = unsafe { p.0.as_mut() }.read(dst);
        match r {
            Ok(0) => {
                *eof = true;
                return Ok(0);
            }
            Ok(n) => return Ok(n.min(dst.len())),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(ReadError::Io(e)),
        }
    }
}

impl InputState {
    /// # Safety
    /// As for [`Input::new`].
    unsafe fn fresh(src: &mut dyn BodySource) -> InputState {
        let ptr: NonNull<dyn BodySource + '_> = NonNull::from(src);
        // SAFETY: only the trait-object lifetime bound is erased; the caller guarantees the
        // pointer is not used after `invalidate` (which runs before the borrow ends).
        let ptr: NonNull<dyn BodySource + 'static> = unsafe { std::mem::transmute(ptr) };
        InputState {
            src: Some(SrcPtr(ptr)),
            buf: Vec::new(),
            pos: 0,
            eof: false,
            consumed: 0,
        }
    }

    /// Body bytes the source still holds, when it knows (Content-Length).
    fn remaining_hint(&mut self) -> Option<u64> {
        if self.eof {
            return Some(0);
        }
        let p = self.src.as_mut()?;
        // SAFETY: as in `src_read`: valid while stored, accessed under the `Input` mutex.
        unsafe { p.0.as_mut() }.size_hint()
    }

    fn buffered(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    fn consume(&mut self, n: usize, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.buf[self.pos..self.pos + n]);
        self.advance(n);
    }

    /// Marks `n` buffered bytes as handed to the app.
    fn advance(&mut self, n: usize) {
        self.pos += n;
        self.consumed += n as u64;
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
    }

    /// Read from the source into `dst`; 0 means end of body.
    fn source_read(&mut self, dst: &mut [u8]) -> Result<usize, ReadError> {
        src_read(&mut self.src, &mut self.eof, dst)
    }

    /// Pull one chunk into the buffer; false at end of body.
    fn fill(&mut self) -> Result<bool, ReadError> {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let old = self.buf.len();
        self.buf.resize(old + FILL_CHUNK, 0);
        let r = src_read(&mut self.src, &mut self.eof, &mut self.buf[old..]);
        let n = *r.as_ref().unwrap_or(&0);
        self.buf.truncate(old + n);
        r.map(|n| n > 0)
    }

    /// How many bytes `read(size)` will return, when the source knows its length; None for a
    /// body of unknown length (chunked) or one too large to allocate up front.
    fn exact_read_len(&mut self, size: Option<usize>) -> Result<Option<usize>, ReadError> {
        if self.src.is_none() {
            return Err(ReadError::Finished);
        }
        let Some(hint) = self.remaining_hint() else {
            return Ok(None);
        };
        let all = self.buffered().len() as u64 + hint;
        let len = size.map_or(all, |n| all.min(n as u64));
        Ok((len <= MAX_EXACT_READ).then_some(len as usize))
    }

    /// Fills `dst` from the buffer, then the source; returns the bytes written (fewer only at
    /// end of body).
    fn read_into(&mut self, dst: &mut [u8]) -> Result<usize, ReadError> {
        let take = self.buffered().len().min(dst.len());
        dst[..take].copy_from_slice(&self.buf[self.pos..self.pos + take]);
        self.advance(take);
        let mut filled = take;
        while filled < dst.len() {
            let got = self.source_read(&mut dst[filled..])?;
            if got == 0 {
                break;
            }
            filled += got;
            self.consumed += got as u64;
        }
        Ok(filled)
    }

    /// `read(size)`; `None` = everything left.
    fn read(&mut self, size: Option<usize>) -> Result<Vec<u8>, ReadError> {
        if self.src.is_none() {
            return Err(ReadError::Finished);
        }
        let mut out = Vec::new();
        let avail = self.buffered().len();
        match size {
            Some(n) => {
                let take = avail.min(n);
                self.consume(take, &mut out);
                if out.len() < n {
                    let start = out.len();
                    let mut filled = start;
                    while filled < n {
                        // Grow as data arrives: read(10**9) on a short body must not allocate
                        // (and zero) a gigabyte up front.
                        let want = (n - filled).min(1 << 20);
                        out.resize(filled + want, 0);
                        let got = match self.source_read(&mut out[filled..filled + want]) {
                            Ok(g) => g,
                            Err(e) => {
                                out.truncate(filled);
                                self.consumed += (filled - start) as u64;
                                return Err(e);
                            }
                        };
                        if got == 0 {
                            break;
                        }
                        filled += got;
                    }
                    out.truncate(filled);
                    self.consumed += (filled - start) as u64;
                }
            }
            None => {
                // Known length: one allocation of the right size, instead of growing (and
                // zeroing, and on large sizes mmap-faulting) 64 KiB at a time.
                let hint = self.remaining_hint().unwrap_or(0).min(64 << 20) as usize;
                out.reserve_exact(avail + hint);
                self.consume(avail, &mut out);
                loop {
                    let start = out.len();
                    let step = if out.capacity() > start {
                        out.capacity() - start
                    } else {
                        65536
                    };
                    out.resize(start + step, 0);
                    let got = match self.source_read(&mut out[start..]) {
                        Ok(g) => g,
                        Err(e) => {
                            out.truncate(start);
                            return Err(e);
                        }
                    };
                    out.truncate(start + got);
                    self.consumed += got as u64;
                    if got == 0 {
                        break;
                    }
                }
            }
        }
        Ok(out)
    }

    /// `readline(size)`: up to and including the next `\n`, at most `size` bytes.
    fn readline(&mut self, size: Option<usize>) -> Result<Vec<u8>, ReadError> {
        if self.src.is_none() {
            return Err(ReadError::Finished);
        }
        let limit = size.unwrap_or(usize::MAX);
        let mut out = Vec::new();
        let mut scanned = 0;
        loop {
            let avail = self.buffered();
            let window = avail.len().min(limit);
            if let Some(i) = avail[scanned..window].iter().position(|&b| b == b'\n') {
                self.consume(scanned + i + 1, &mut out);
                return Ok(out);
            }
            if window == limit {
                self.consume(limit, &mut out);
                return Ok(out);
            }
            scanned = window;
            if !self.fill()? {
                let n = self.buffered().len();
                self.consume(n, &mut out);
                return Ok(out);
            }
        }
    }
}

/// The `wsgi.input` object (`uwsgi._Input` in uWSGI).
#[pyclass(frozen, module = "uwsgi", name = "_Input")]
pub(crate) struct Input {
    state: Mutex<InputState>,
}

impl Input {
    /// `read()` of a known length: the bytes object is made at its final size and filled
    /// straight from the socket, with no zeroed buffer and no copy.
    fn read_exact_len<'py>(
        &self,
        py: Python<'py>,
        len: usize,
    ) -> Result<Bound<'py, PyBytes>, ReadError> {
        if len == 0 {
            return Ok(PyBytes::new(py, b""));
        }
        // SAFETY: a NULL source asks for a new, uninitialised bytes object of `len` bytes.
        let raw =
            unsafe { ffi::PyBytes_FromStringAndSize(std::ptr::null(), len as ffi::Py_ssize_t) };
        if raw.is_null() {
            // Out of memory: the Python error is replaced by an OSError from the caller.
            drop(PyErr::take(py));
            return Err(ReadError::Io(ErrorKind::OutOfMemory.into()));
        }
        // SAFETY: `raw` is a new reference to a bytes object; the Bound owns it from here.
        let obj = unsafe { Bound::from_owned_ptr(py, raw).cast_into_unchecked::<PyBytes>() };
        // SAFETY: `raw` is a bytes object, whose buffer holds `len` bytes (+ a NUL).
        let dst = FillPtr(unsafe { ffi::PyBytes_AsString(raw) }.cast());
        let filled = self.with_state(py, Some(len as u64), move |s| {
            let dst = dst;
            // SAFETY: see `FillPtr`: `len` writable bytes, no other user until we return.
            s.read_into(unsafe { std::slice::from_raw_parts_mut(dst.0, len) })
        })?;
        if filled == len {
            return Ok(obj);
        }
        // The body ended early (another thread read part of it): a bytes object of the size
        // that arrived.
        Ok(PyBytes::new(py, &obj.as_bytes()[..filled]))
    }

    /// Wrap the body source of the current request.
    ///
    /// # Safety
    /// `src` must stay valid (and otherwise unused) until [`Input::invalidate`] has returned.
    pub(crate) unsafe fn new(src: &mut dyn BodySource) -> Input {
        Input {
            // SAFETY: forwarded to the caller.
            state: Mutex::new(unsafe { InputState::fresh(src) }),
        }
    }

    /// Makes an input whose request ended (and that nothing else holds) read a new body, as
    /// if it had just been made with [`Input::new`].
    ///
    /// # Safety
    /// As for [`Input::new`].
    pub(crate) unsafe fn rebind(&self, py: Python<'_>, src: &mut dyn BodySource) {
        // SAFETY: forwarded to the caller.
        *lock_detached(py, &self.state) = unsafe { InputState::fresh(src) };
    }

    /// Forget the body source (end of request). Waits (with the GIL released) for a read in
    /// progress on another thread to finish.
    pub(crate) fn invalidate(&self, py: Python<'_>) {
        let mut g = lock_detached(py, &self.state);
        g.src = None;
        g.buf = Vec::new();
        g.pos = 0;
    }

    /// Runs `f`, which reads up to `bytes` bytes (None: unknown), on the state. With the GIL
    /// held (the source gives it up to wait for the peer, see `blocking`), unless the read may be
    /// large enough that copying it would keep the worker's other threads out of Python for long.
    fn with_state<T: Send>(
        &self,
        py: Python<'_>,
        bytes: Option<u64>,
        f: impl FnOnce(&mut InputState) -> T + Send,
    ) -> T {
        let large = bytes.is_none_or(|n| n >= super::gil::LARGE_IO);
        with_locked(py, &self.state, large, f)
    }
}

/// Runs `f` on what `m` guards. Small transfers keep the GIL (the server releases it only to
/// wait for the peer, see `blocking`); `large` ones run with it released all along, since
/// copying them would keep the worker's other threads out of Python for long.
pub(crate) fn with_locked<T: Send, R: Send>(
    py: Python<'_>,
    m: &Mutex<T>,
    large: bool,
    f: impl FnOnce(&mut T) -> R + Send,
) -> R {
    if large {
        return py.detach(|| f(&mut m.lock().unwrap_or_else(PoisonError::into_inner)));
    }
    f(&mut lock_detached(py, m))
}

/// Lock `m` while holding the GIL without risking a deadlock: if it is busy (its holder may be
/// a detached thread doing I/O), wait for it with the GIL released.
pub(crate) fn lock_detached<'a, T: Send>(py: Python<'_>, m: &'a Mutex<T>) -> MutexGuard<'a, T> {
    loop {
        match m.try_lock() {
            Ok(g) => return g,
            Err(std::sync::TryLockError::Poisoned(p)) => return p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => {
                py.detach(|| drop(m.lock().unwrap_or_else(PoisonError::into_inner)));
            }
        }
    }
}

fn size_arg(size: Option<i64>) -> Option<usize> {
    match size {
        Some(n) if n >= 0 => Some(n as usize),
        _ => None,
    }
}

#[pymethods]
impl Input {
    /// `read(size=-1)`: up to `size` bytes (fewer only at end of body); everything left when
    /// `size` is negative or None. `read(0)` returns `b''` (PEP 3333; uWSGI reads everything).
    #[pyo3(signature = (size=None))]
    fn read<'py>(&self, py: Python<'py>, size: Option<i64>) -> PyResult<Bound<'py, PyBytes>> {
        let n = size_arg(size);
        if n == Some(0) {
            return Ok(PyBytes::new(py, b""));
        }
        let err = |e: ReadError| e.into_pyerr("read", size.unwrap_or(-1));
        let exact = lock_detached(py, &self.state)
            .exact_read_len(n)
            .map_err(err)?;
        if let Some(len) = exact {
            return self.read_exact_len(py, len).map_err(err);
        }
        let data = self
            .with_state(py, n.map(|n| n as u64), |s| s.read(n))
            .map_err(err)?;
        Ok(PyBytes::new(py, &data))
    }

    /// `readline(size=-1)`.
    #[pyo3(signature = (size=None))]
    fn readline<'py>(&self, py: Python<'py>, size: Option<i64>) -> PyResult<Bound<'py, PyBytes>> {
        let n = size_arg(size);
        if n == Some(0) {
            return Ok(PyBytes::new(py, b""));
        }
        let data = self
            .with_state(py, Some(n.unwrap_or(LINE) as u64), |s| s.readline(n))
            .map_err(|e| e.into_pyerr("readline", size.unwrap_or(-1)))?;
        Ok(PyBytes::new(py, &data))
    }

    /// `readlines(hint=-1)`: lines until end of body, or until their total size reaches `hint`.
    #[pyo3(signature = (hint=None))]
    fn readlines<'py>(&self, py: Python<'py>, hint: Option<i64>) -> PyResult<Bound<'py, PyList>> {
        let hint = size_arg(hint).filter(|&h| h > 0);
        let lines = self
            .with_state(py, hint.map(|h| h as u64), |s| {
                let mut lines: Vec<Vec<u8>> = Vec::new();
                let mut total = 0usize;
                loop {
                    let line = s.readline(None)?;
                    if line.is_empty() {
                        break;
                    }
                    total += line.len();
                    lines.push(line);
                    if hint.is_some_and(|h| total >= h) {
                        break;
                    }
                }
                Ok(lines)
            })
            .map_err(|e: ReadError| e.into_pyerr("readlines", -1))?;
        PyList::new(py, lines.iter().map(|l| PyBytes::new(py, l)))
    }

    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let line = self
            .with_state(py, Some(LINE as u64), |s| s.readline(None))
            .map_err(|e| e.into_pyerr("readline", -1))?;
        if line.is_empty() {
            return Err(PyStopIteration::new_err(()));
        }
        Ok(PyBytes::new(py, &line))
    }

    /// Bytes read so far by the app.
    fn tell(&self, py: Python<'_>) -> u64 {
        lock_detached(py, &self.state).consumed
    }

    /// Not seekable (no post-buffering): same message as uWSGI.
    #[pyo3(signature = (*_args))]
    fn seek(&self, _args: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<()> {
        Err(PyOSError::new_err(
            "seeking wsgi.input without post_buffering is IMPOSSIBLE !!!",
        ))
    }

    fn seekable(&self) -> bool {
        false
    }

    fn readable(&self) -> bool {
        true
    }

    /// No-op (the server owns the connection).
    fn close(&self) {}
}
