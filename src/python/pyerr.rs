//! Logging helpers: Python tracebacks and one-line messages, written to stderr (the log).

use pyo3::prelude::*;
use pyo3::types::PyString;

/// Write `text` (a newline is added if missing) to stderr with one `write_all` so lines from
/// concurrent threads do not interleave.
pub(crate) fn log_raw(text: &str) {
    let mut buf = String::with_capacity(text.len() + 1);
    buf.push_str(text);
    if !buf.ends_with('\n') {
        buf.push('\n');
    }
    crate::log::output::write(buf.as_bytes());
}

/// Full Python traceback text (`traceback.format_exception`), as `PyErr_Print` would print it,
/// but without its side effects (`SystemExit` does not exit the process, no `sys.last_*`).
pub(crate) fn format_exception(py: Python<'_>, err: &PyErr) -> String {
    let formatted = (|| -> PyResult<String> {
        let tb = py.import("traceback")?;
        let lines = tb.call_method1(
            "format_exception",
            (err.get_type(py), err.value(py), err.traceback(py)),
        )?;
        let sep = PyString::new(py, "");
        let joined = sep.call_method1("join", (lines,))?;
        joined.extract::<String>()
    })();
    match formatted {
        Ok(s) => s,
        Err(_) => format!("{}: {}\n", type_name(py, err), err.value(py)),
    }
}

fn type_name(py: Python<'_>, err: &PyErr) -> String {
    err.get_type(py)
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "Exception".to_owned())
}

/// Log the traceback of `err` to stderr.
pub(crate) fn print_exception(py: Python<'_>, err: &PyErr) {
    log_raw(&format_exception(py, err));
}
