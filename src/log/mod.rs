//! Request logging: uWSGI's default request line, `log-format` templates, log-safe escaping,
//! which requests are logged, the `log-date` stamp, the log file (reopen, rotation), and
//! writing to the log without dying of a full disk or a closed pipe.

pub mod date;
pub mod encoder;
pub mod fd;
pub mod file;
pub mod limit;
pub mod loggers;
pub mod master;
pub mod output;
pub mod request_line;
pub mod sanitize;
pub mod select;
