//! Request logging: uWSGI's default request line, `log-format` templates, and log-safe escaping.

pub mod request_line;
pub mod sanitize;
