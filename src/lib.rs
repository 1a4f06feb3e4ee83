//! rw: a uWSGI-compatible, pre-fork Python WSGI application server.
//!
//! Two entry points share everything else:
//! * the binary (`src/main.rs`), which embeds the libpython it was built against;
//! * the wheel's extension module `rw_server._rw` (feature `extension-module`, built by maturin
//!   from `pyproject.toml`), which runs inside the interpreter of the venv it is installed in:
//!   the `rw` console script calls `rw_server._rw.run(sys.argv)`.
//!
//! Both only parse the command line and dispatch to [`cmd`].

// These shadow std's macros in the whole crate: std's panic when the write fails (full disk,
// closed log pipe), which in the master would take every worker down. Ours drop and count the
// line instead (see `log::output`).
macro_rules! eprintln {
    () => {
        $crate::log::output::text(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::log::output::line(format_args!($($arg)*))
    };
}
macro_rules! eprint {
    ($($arg:tt)*) => {
        $crate::log::output::text(format_args!($($arg)*))
    };
}

pub mod cheaper;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod log;
pub mod net;
pub mod proto;
pub mod python;
pub mod server;
pub mod stats;
pub mod sys;
pub mod ui;

/// `PyInit__rw`: the module the wheel's `rw` script imports.
#[cfg(feature = "extension-module")]
#[pyo3::pymodule]
#[pyo3(name = "_rw")]
fn rw_extension_module(m: &pyo3::Bound<'_, pyo3::types::PyModule>) -> pyo3::PyResult<()> {
    python::extension::init_module(m, cmd::main_with_args)
}
