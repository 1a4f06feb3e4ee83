//! Pure protocol parsers and encoders over bytes (HTTP/1.1, uwsgi). Fuzzable: no I/O here.

pub mod chunked;
pub mod http;
pub mod uwsgi;

#[cfg(test)]
mod testutil;

/// One CGI var of a request (key, value), borrowed from the bytes it was parsed from where it
/// can be: a request's vars then cost no allocation each.
pub type Var<'a> = (std::borrow::Cow<'a, [u8]>, std::borrow::Cow<'a, [u8]>);
