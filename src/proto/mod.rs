//! Pure protocol parsers and encoders over bytes (HTTP/1.1, uwsgi). Fuzzable: no I/O here.

pub mod chunked;
pub mod http;
pub mod uwsgi;

#[cfg(test)]
mod testutil;
