//! Per-worker constants ([`WorkerContext`]) and the per-request WSGI environ builder (hot path).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple};

use super::response::FileWrapper;
use super::uwsgi_module;
use crate::config::magic::UWSGI_VERSION;

/// CGI / HTTP variable names common enough to be worth interning (their hash is cached, so dict
/// insertion and the app's lookups are faster, and no str is allocated per request).
const COMMON_KEYS: &[&str] = &[
    "REQUEST_METHOD",
    "REQUEST_URI",
    "PATH_INFO",
    "QUERY_STRING",
    "SERVER_PROTOCOL",
    "SCRIPT_NAME",
    "SERVER_NAME",
    "SERVER_PORT",
    "SERVER_ADDR",
    "SERVER_SOFTWARE",
    "GATEWAY_INTERFACE",
    "REMOTE_ADDR",
    "REMOTE_PORT",
    "REMOTE_USER",
    "AUTH_TYPE",
    "CONTENT_TYPE",
    "CONTENT_LENGTH",
    "DOCUMENT_ROOT",
    "DOCUMENT_URI",
    "REQUEST_SCHEME",
    "HTTPS",
    "UWSGI_SCHEME",
    "UWSGI_ROUTER",
    "HTTP_HOST",
    "HTTP_USER_AGENT",
    "HTTP_ACCEPT",
    "HTTP_ACCEPT_ENCODING",
    "HTTP_ACCEPT_LANGUAGE",
    "HTTP_ACCEPT_CHARSET",
    "HTTP_CONNECTION",
    "HTTP_KEEP_ALIVE",
    "HTTP_COOKIE",
    "HTTP_REFERER",
    "HTTP_ORIGIN",
    "HTTP_AUTHORIZATION",
    "HTTP_CACHE_CONTROL",
    "HTTP_PRAGMA",
    "HTTP_DNT",
    "HTTP_TE",
    "HTTP_RANGE",
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_IF_NONE_MATCH",
    "HTTP_IF_MATCH",
    "HTTP_IF_RANGE",
    "HTTP_IF_UNMODIFIED_SINCE",
    "HTTP_UPGRADE",
    "HTTP_UPGRADE_INSECURE_REQUESTS",
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_REAL_IP",
    "HTTP_X_REQUESTED_WITH",
    "HTTP_X_CSRFTOKEN",
    "HTTP_X_REQUEST_ID",
    "HTTP_SEC_FETCH_DEST",
    "HTTP_SEC_FETCH_MODE",
    "HTTP_SEC_FETCH_SITE",
    "HTTP_SEC_FETCH_USER",
    "HTTP_SEC_CH_UA",
    "HTTP_SEC_CH_UA_MOBILE",
    "HTTP_SEC_CH_UA_PLATFORM",
    "HTTP_PRIORITY",
];

/// FxHash-style hasher: the keys are short, trusted-size byte strings; SipHash is overkill.
#[derive(Default)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut h = self.0;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            h = (h.rotate_left(5) ^ w).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            h = (h.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
        self.0 = h;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type KeyTable = HashMap<&'static [u8], Py<PyString>, BuildHasherDefault<FxHasher>>;

/// Per-worker constants, built once per worker after fork (shared by all its threads).
pub struct WorkerContext {
    /// `wsgi.multithread` (threads > 1); also enables `uwsgi.core` in the environ.
    pub multithread: bool,
    /// `wsgi.multiprocess` (processes > 1).
    pub multiprocess: bool,
    /// 1-based worker id (`uwsgi.worker_id()`).
    pub worker_id: u32,
    /// Hostname, sent as `uwsgi.node` (bytes).
    pub node: String,
    /// `uwsgi.version` (bytes in the environ): [`UWSGI_VERSION`].
    pub version: &'static str,
    py: CtxObjects,
}

struct CtxObjects {
    /// The per-worker constants in a dict with room for a whole request's vars: each environ
    /// starts as a copy of it (CPython copies such a dict's table with one memcpy, keeping its
    /// size), so neither the constants nor the vars cost a resize or a per-key merge.
    base: Py<PyDict>,
    keys: KeyTable,
    k_input: Py<PyString>,
    k_scheme: Py<PyString>,
    k_core: Py<PyString>,
    http: Py<PyString>,
    https: Py<PyString>,
}

impl WorkerContext {
    /// Build the per-worker objects (interned keys, the base environ dict) and set
    /// `uwsgi.worker_id()`. Needs [`super::init_interpreter`] first. Panics if the base objects
    /// cannot be created (out of memory).
    pub fn new(
        multithread: bool,
        multiprocess: bool,
        worker_id: u32,
        node: impl Into<String>,
    ) -> WorkerContext {
        let node = node.into();
        uwsgi_module::set_worker_id(worker_id);
        super::gil::pin_thread_state();
        let objs = Python::attach(|py| build_objects(py, multithread, multiprocess, &node))
            .expect("building the WSGI base environ failed");
        WorkerContext {
            multithread,
            multiprocess,
            worker_id,
            node,
            version: UWSGI_VERSION,
            py: objs,
        }
    }
}

fn build_objects(
    py: Python<'_>,
    multithread: bool,
    multiprocess: bool,
    node: &str,
) -> PyResult<CtxObjects> {
    let base = presized_dict(py, ENVIRON_ROOM)?;
    base.set_item("wsgi.version", PyTuple::new(py, [1u32, 0])?)?;
    base.set_item("wsgi.errors", py.import("sys")?.getattr("stderr")?)?;
    base.set_item("wsgi.multithread", multithread)?;
    base.set_item("wsgi.multiprocess", multiprocess)?;
    base.set_item("wsgi.run_once", false)?;
    base.set_item("wsgi.input_terminated", true)?;
    base.set_item("wsgi.file_wrapper", py.get_type::<FileWrapper>())?;
    base.set_item("uwsgi.version", PyBytes::new(py, UWSGI_VERSION.as_bytes()))?;
    base.set_item("uwsgi.node", PyBytes::new(py, node.as_bytes()))?;
    base.set_item("rw.version", env!("CARGO_PKG_VERSION"))?;
    let mut keys = KeyTable::default();
    for k in COMMON_KEYS {
        keys.insert(k.as_bytes(), PyString::intern(py, k).unbind());
    }
    debug_assert!(base
        .keys()
        .iter()
        .all(|k| is_reserved(k.to_string().as_bytes())));
    Ok(CtxObjects {
        base: base.unbind(),
        keys,
        k_input: PyString::intern(py, "wsgi.input").unbind(),
        k_scheme: PyString::intern(py, "wsgi.url_scheme").unbind(),
        k_core: PyString::intern(py, "uwsgi.core").unbind(),
        http: PyString::intern(py, "http").unbind(),
        https: PyString::intern(py, "https").unbind(),
    })
}

/// Decode bytes as Latin-1 into a new `str` (every byte maps to one code point: never fails
/// except on memory exhaustion).
pub(crate) fn latin1<'py>(py: Python<'py>, b: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: the pointer/length pair describes `b`, which outlives the call (the data is
    // copied); a NULL `errors` means "strict"; we hold the GIL (`py`). The returned pointer is a
    // new reference or NULL with an exception set, which from_owned_ptr_or_err handles.
    unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            ffi::PyUnicode_DecodeLatin1(
                b.as_ptr().cast(),
                b.len() as ffi::Py_ssize_t,
                std::ptr::null(),
            ),
        )
    }
}

extern "C" {
    // Exported by libpython 3.11 (cpython/dictobject.h) but not bound by pyo3-ffi.
    fn _PyDict_NewPresized(minused: pyo3::ffi::Py_ssize_t) -> *mut pyo3::ffi::PyObject;
}

/// Items the base environ dict has room for: its constants, a request's vars (nginx sends ~30)
/// and the per-request keys. A request with more vars resizes its own copy.
const ENVIRON_ROOM: usize = 64;

/// A dict with room for `n` items.
fn presized_dict(py: Python<'_>, n: usize) -> PyResult<Bound<'_, PyDict>> {
    // SAFETY: called with the GIL held (we have `py`); returns a new reference or NULL with an
    // exception set, which from_owned_ptr_or_err turns into a PyErr.
    let any = unsafe {
        Bound::from_owned_ptr_or_err(py, _PyDict_NewPresized(n as pyo3::ffi::Py_ssize_t))?
    };
    // SAFETY: _PyDict_NewPresized always returns a dict.
    Ok(unsafe { any.cast_into_unchecked::<PyDict>() })
}

/// Keys the per-worker constants own; a request var may not shadow them.
fn is_reserved(k: &[u8]) -> bool {
    k.starts_with(b"wsgi.") || k.starts_with(b"uwsgi.") || k.starts_with(b"rw.")
}

/// Build the environ of one request.
///
/// Order: the worker's constant keys (a copy of the base dict), then the request vars in packet
/// order (keys and values Latin-1 `str`) except those named like the constants (`wsgi.*`,
/// `uwsgi.*`, `rw.*`: a request var can never override them), then `wsgi.input`,
/// `wsgi.url_scheme` and (multithread only) `uwsgi.core`.
///
/// `wsgi.url_scheme`: the `UWSGI_SCHEME` var verbatim if sent (nginx `uwsgi_param`), else
/// `https` if `HTTPS` is `on` (any case) or starts with `1`, else `REQUEST_SCHEME` if it is
/// exactly `http` or `https` (nginx's `uwsgi_params` sends it), else `http`. Forwarded headers
/// (`X-Forwarded-Proto`, `X-Forwarded-Ssl`) are deliberately NOT trusted (uWSGI does trust them).
pub(crate) fn build_environ<'py>(
    py: Python<'py>,
    ctx: &WorkerContext,
    vars: &[crate::proto::Var<'_>],
    input: &Bound<'py, PyAny>,
    core_id: u32,
) -> PyResult<Bound<'py, PyDict>> {
    let o = &ctx.py;
    // SAFETY: the GIL is held (`py`); `base` is a dict, so PyDict_Copy returns a new dict
    // reference or NULL with an exception set (from_owned_ptr_or_err).
    let env = unsafe {
        Bound::from_owned_ptr_or_err(py, pyo3::ffi::PyDict_Copy(o.base.as_ptr()))?
            .cast_into_unchecked::<PyDict>()
    };
    let mut uwsgi_scheme: Option<Bound<'py, PyAny>> = None;
    let mut https_on = false;
    let mut req_scheme_https: Option<bool> = None;
    for (k, v) in vars {
        if is_reserved(k) {
            continue; // the per-worker wsgi.*/uwsgi.* constants win, as merged below
        }
        let val = latin1(py, v)?;
        match o.keys.get(&k[..]) {
            Some(key) => env.set_item(key.bind(py), &val)?,
            None => env.set_item(latin1(py, k)?, &val)?,
        }
        match &k[..] {
            b"UWSGI_SCHEME" if !v.is_empty() => uwsgi_scheme = Some(val),
            b"HTTPS" => https_on = v.eq_ignore_ascii_case(b"on") || v.first() == Some(&b'1'),
            b"REQUEST_SCHEME" => {
                req_scheme_https = match &v[..] {
                    b"https" => Some(true),
                    b"http" => Some(false),
                    _ => req_scheme_https,
                }
            }
            _ => {}
        }
    }
    env.set_item(o.k_input.bind(py), input)?;
    let k_scheme = o.k_scheme.bind(py);
    match uwsgi_scheme {
        Some(s) => env.set_item(k_scheme, s)?,
        None => {
            let https = https_on || req_scheme_https == Some(true);
            env.set_item(k_scheme, if https { &o.https } else { &o.http }.bind(py))?
        }
    }
    if ctx.multithread {
        env.set_item(o.k_core.bind(py), core_id)?;
    }
    Ok(env)
}
