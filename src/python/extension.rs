//! rw inside an interpreter that was there first: the wheel's `rw_server._rw` module.
//!
//! The `rw` console script of the wheel runs in the venv's own Python and calls
//! `rw_server._rw.run(sys.argv)`. Then CPython is already initialised (static or shared build,
//! `sys.prefix` and `site-packages` are the venv's) and rw must not create another interpreter:
//! [`super::init_interpreter`] adopts this one, and a reload re-executes the same interpreter
//! with the same command line ([`reexec_command`]).

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::OnceLock;

/// What rw learnt about the interpreter it runs in, at [`run`] (never set in the binary).
#[derive(Debug)]
pub(crate) struct Host {
    /// `sys.executable`: the venv's `bin/python`, so that an exec finds the venv again.
    pub executable: PathBuf,
    /// The interpreter's own command line with `sys.executable` first (`sys.orig_argv`), e.g.
    /// `[/venv/bin/python, /venv/bin/rw, serve, --ini, uwsgi.ini]`.
    pub argv: Vec<OsString>,
    /// `sys.base_prefix`: where the standard library lives.
    pub base_prefix: PathBuf,
    /// rw's own command line (`sys.argv` with `rw` first), as the binary would see it: what a
    /// reload checks before it re-executes the interpreter.
    pub cli_argv: Vec<OsString>,
}

static HOST: OnceLock<Host> = OnceLock::new();

pub(crate) fn host() -> Option<&'static Host> {
    HOST.get()
}

/// The program and argv a graceful reload executes: the interpreter with its original command
/// line when rw runs from the wheel; `None` in the binary (which re-executes its own image).
pub fn reexec_command() -> Option<(PathBuf, Vec<OsString>)> {
    host().map(|h| (h.executable.clone(), h.argv.clone()))
}

/// rw's command line when it runs from the wheel (`[rw, serve, --ini, …]`); `None` in the
/// binary, whose process argv is that command line already.
pub fn cli_argv() -> Option<Vec<OsString>> {
    host().map(|h| h.cli_argv.clone())
}

/// The directory holding the standard library of the Python rw runs (wheel) or embeds (binary),
/// for the check that a uid drop leaves it readable.
pub fn stdlib_parent() -> Option<PathBuf> {
    if let Some(h) = host() {
        return Some(h.base_prefix.join("lib"));
    }
    let exe = std::path::Path::new(option_env!("RW_BUILD_PYTHON")?);
    Some(exe.parent()?.parent()?.join("lib"))
}

#[cfg(feature = "extension-module")]
mod module {
    use super::*;
    use pyo3::prelude::*;
    use pyo3::types::PyModule;

    type Entry = fn(Vec<OsString>) -> u8;
    static ENTRY: OnceLock<Entry> = OnceLock::new();

    /// Fills the `rw_server._rw` module: `run(argv) -> int` and `__version__`.
    pub fn init_module(m: &Bound<'_, PyModule>, entry: Entry) -> PyResult<()> {
        let _ = ENTRY.set(entry);
        m.add_function(pyo3::wrap_pyfunction!(run, m)?)?;
        m.add("__version__", env!("CARGO_PKG_VERSION"))?;
        Ok(())
    }

    /// `run(argv)`: runs the `rw` command line `argv` (`sys.argv`; its first item is replaced
    /// by `rw`) and returns the exit status. The GIL is released for the whole run: rw attaches
    /// where it calls Python, from the master and from every worker thread, as in the binary.
    #[pyfunction]
    fn run(py: Python<'_>, argv: Vec<OsString>) -> PyResult<u8> {
        let sys = py.import("sys")?;
        let mut executable: PathBuf = sys.getattr("executable")?.extract()?;
        if executable.as_os_str().is_empty() {
            // An embedding that did not say: the running image is the best guess.
            executable = std::fs::read_link("/proc/self/exe").unwrap_or_default();
        }
        let base_prefix: PathBuf = sys.getattr("base_prefix")?.extract()?;
        // `orig_argv` (3.10+) keeps interpreter options such as `-X dev` or `-m rw_server`;
        // before it, the script and its arguments are all there is.
        let orig: Option<Vec<OsString>> =
            sys.getattr("orig_argv").ok().and_then(|a| a.extract().ok());
        let tail: Vec<OsString> = match orig {
            Some(o) if !o.is_empty() => o[1..].to_vec(),
            _ => argv.clone(),
        };
        let mut reexec = vec![executable.clone().into_os_string()];
        reexec.extend(tail);
        let mut args = argv;
        if args.is_empty() {
            args.push("rw".into());
        } else {
            args[0] = "rw".into();
        }
        let _ = HOST.set(Host {
            executable,
            argv: reexec,
            base_prefix,
            cli_argv: args.clone(),
        });
        let entry = *ENTRY
            .get()
            .ok_or_else(|| pyo3::exceptions::PyRuntimeError::new_err("rw_server._rw not set up"))?;
        Ok(py.detach(move || entry(args)))
    }
}

#[cfg(feature = "extension-module")]
pub use module::init_module;
