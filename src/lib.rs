//! rw: a uWSGI-compatible, pre-fork Python WSGI application server.
//!
//! The binary (`src/main.rs`) only parses the command line and dispatches to [`cmd`].

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

pub mod cli;
pub mod cmd;
pub mod config;
pub mod log;
pub mod net;
pub mod proto;
pub mod python;
pub mod server;
pub mod stats;
pub mod ui;
