//! The one pyo3 boundary: interpreter, app loading, WSGI calls. Nothing else names pyo3.
//!
//! Life cycle, as the server drives it:
//!
//! 1. master: [`init_interpreter`] once (returns `sys.version` for the banner),
//!    [`set_module_facts`] and [`set_server_facts`] (what the `uwsgi` module shows), then
//!    [`load_app`] (unless lazy-apps);
//! 2. master: every worker is created with [`fork_with_gil`]; in the child the server builds one
//!    [`WorkerContext`] (shared by all threads of the worker), calls [`run_post_fork_hooks`]
//!    (and [`load_app`] with lazy-apps);
//! 3. worker threads: [`call_app`] per request; [`BodySource`] / [`ResponseSink`] calls run
//!    with the GIL held, and the server wraps its waits for a slow peer in [`blocking`], which
//!    releases it;
//! 4. worker exit: [`run_exit_hooks`].
//!
//! Every OS thread that calls into this module gets a permanent Python thread state the first
//! time (like uWSGI cores: `threading.local` data survives between requests), so call
//! [`call_app`] from long-lived worker threads, not from short-lived per-connection threads.
//!
//! Strings handed to [`ResponseSink::start`] only contain characters `U+0000..=U+00FF` (they were
//! Latin-1 encodable `str` in Python): encode them with [`encode_latin1`] to get the bytes the app
//! meant (not `as_bytes()`, which would give UTF-8 for `é`).

mod app;
mod call;
mod environ;
pub mod extension;
mod gil;
mod harakiri;
mod input;
mod interp;
mod pyerr;
mod response;
mod server_facts;
mod spooler;
mod uwsgi_module;
mod uwsgi_signals;

#[cfg(test)]
pub(crate) mod tests;

use std::os::fd::RawFd;
use std::path::PathBuf;

pub use app::{alias_modules, load_app, App};
pub use call::call_app;
pub use environ::WorkerContext;
pub use gil::blocking;
pub use harakiri::{current_thread_id, interrupt_thread};
pub use interp::{
    fork_maybe_with_gil, fork_with_gil, init_interpreter, interpreter_address, run_exit_hooks,
    set_gc_freeze,
};
pub use response::encode_latin1;
pub use server_facts::{
    set_server_facts, CacheMath, ModuleFacts, ServerFacts, SharedCache, WorkerFacts,
};
pub use spooler::{
    become_spooler, publish_spoolers, run_task as run_spooler_task, set_spooling, Spooling,
};
pub use uwsgi_module::{run_post_fork_hooks, set_module_facts, take_logvars};
pub use uwsgi_signals::{
    run_mule_msg_hook, run_mule_patch, run_signal_handler, set_signal_bus, MuleDest, Received,
    SignalBus,
};

/// How to set up the interpreter (filled by the server from the config).
#[derive(Debug, Clone, Default)]
pub struct InterpreterOptions {
    /// `home` / `virtualenv` / `venv` / `pyhome`.
    pub home: Option<PathBuf>,
    /// `pythonpath` entries in config order; globs allowed.
    pub pythonpath: Vec<String>,
    /// Program name used when there is no `home` (e.g. the build interpreter's executable), so
    /// that `sys.prefix` resolves to the interpreter we were built against.
    pub program_name_fallback: Option<PathBuf>,
    /// `no-site`: do not import `site` (PyConfig.site_import = 0).
    pub no_site: bool,
}

/// Where the app comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppSource {
    /// `module`: `"pkg.mod"`, `"pkg.mod:name"` or `"pkg.mod:factory()"`.
    Module { spec: String },
    /// `wsgi-file`.
    File { path: PathBuf },
    /// `paste`: `paste.deploy.loadapp(uri)`; `logger` (`paste-logger`) first runs
    /// `logging.config.fileConfig` on the file after `config:`.
    Paste { uri: String, logger: bool },
}

/// One app to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSpec {
    pub source: AppSource,
    /// `callable` option, default `"application"`; a `:name` in a module spec wins.
    pub callable: String,
    pub mountpoint: String,
}

/// Body of the request, already de-framed by the server (de-chunked, bounded by
/// Content-Length): `read` returns 0 at end.
pub trait BodySource: Send {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize>;
    /// Bytes left when the server knows (Content-Length): `read()` of everything sizes its
    /// buffer once instead of growing it.
    fn size_hint(&self) -> Option<u64> {
        None
    }
}

/// Where the response goes. Status and headers arrive validated (no CR/LF/NUL/controls, header
/// names are tokens, status is `NNN[ reason]`) and were copied into Rust-owned memory inside
/// `start_response`. The server decides HTTP framing. Every call happens with the GIL released.
pub trait ResponseSink: Send {
    /// Once, before the first body byte (or at the end when there is no body). Characters are
    /// all `<= U+00FF`; see [`encode_latin1`].
    fn start(&mut self, status: &str, headers: &[(String, String)]) -> std::io::Result<()>;
    /// One call per non-empty body chunk. `last`: nothing follows but [`Self::finish`], so a
    /// connection that closes after this response can send the chunk and its close together.
    fn body(&mut self, chunk: &[u8], last: bool) -> std::io::Result<()>;
    /// `wsgi.file_wrapper` around a regular file: send `len` (`None` = to EOF) bytes of `fd`
    /// from `offset` (sendfile). Returns bytes sent. `call_app` always passes `Some(size - offset)`
    /// computed from `fstat` at that moment.
    fn file(&mut self, fd: RawFd, offset: u64, len: Option<u64>) -> std::io::Result<u64>;
    /// The response is complete. Not called when the response was aborted (exception after the
    /// headers went out, or an I/O error): the server must then close the connection.
    fn finish(&mut self) -> std::io::Result<()>;
}

/// What happened during one [`call_app`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CallOutcome {
    /// Status code sent (or attempted); 500 if the app never produced valid headers.
    pub status: u16,
    /// `sink.start` was called successfully.
    pub headers_sent: bool,
    /// Body bytes handed to the sink (including sendfile bytes and server-made 500 bodies).
    pub body_bytes: u64,
    /// An exception escaped the app, its iterator or `close()` (traceback already logged).
    pub exception: bool,
    /// Number of body chunks handed to the sink.
    pub switches: u32,
    /// The sink failed (client went away); the connection must be closed.
    pub io_error: bool,
    /// The body went through [`ResponseSink::file`].
    pub via_sendfile: bool,
    /// `sink.finish()` was called and succeeded: the response is complete on the wire (this
    /// includes a server-made 500). When false the server must close the connection.
    pub finished: bool,
    /// The request was interrupted by harakiri (`uwsgi.HarakiriTimeout` raised in its thread):
    /// answered 504 when no header had gone out.
    pub harakiri: bool,
}
