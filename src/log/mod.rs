//! Request logging: uWSGI's default request line, `log-format` templates, log-safe escaping,
//! and writing to the log without dying of a full disk or a closed pipe.

pub mod output;
pub mod request_line;
pub mod sanitize;
