//! HTTP/1.x response heads: validating what the app hands over, framing the body, writing the bytes.
//!
//! rw is the backend behind nginx or a client, so it must never emit a byte that could split a
//! response (security-cases §3.2): statuses and headers from the app are checked here, and the
//! caller turns a failed check into a 500 instead of sending anything malformed.

use std::fmt;

use super::{is_field_vchar, is_tchar, HttpError};

#[cfg(test)]
mod tests;

/// The standard reason phrase, `Unknown` for codes without one (as uWSGI completes them).
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        208 => "Already Reported",
        226 => "IM Used",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        418 => "I'm a teapot",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        423 => "Locked",
        424 => "Failed Dependency",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        506 => "Variant Also Negotiates",
        507 => "Insufficient Storage",
        508 => "Loop Detected",
        510 => "Not Extended",
        511 => "Network Authentication Required",
        _ => "Unknown",
    }
}

/// Why an app's status string was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidStatus(pub &'static str);

impl fmt::Display for InvalidStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid HTTP status: {}", self.0)
    }
}

impl std::error::Error for InvalidStatus {}

/// Check a WSGI status (`"200 OK"`, or a bare `"404"` that [`write_response_head`] completes) and
/// return its code. The code must be 100..=599, the only classes a client can interpret; the
/// reason may be empty but holds no CR, LF, NUL or other control besides HTAB. This is the one
/// status check: `start_response` applies it (to the Latin-1 bytes of the app's `str`), so
/// whatever passed it can be framed and written without a second opinion.
pub fn validate_status(s: &[u8]) -> Result<u16, InvalidStatus> {
    let (code, rest) = s.split_at(s.len().min(3));
    if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
        return Err(InvalidStatus("must start with a 3-digit code"));
    }
    let n = code.iter().fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'));
    if !(100..=599).contains(&n) {
        return Err(InvalidStatus(
            "code outside 100..=599 (no client can interpret it)",
        ));
    }
    match rest {
        [] => Ok(n),
        [b' ', reason @ ..] if reason.iter().all(|&b| is_field_vchar(b)) => Ok(n),
        [b' ', ..] => Err(InvalidStatus("control character in reason phrase")),
        _ => Err(InvalidStatus("code must be followed by a space")),
    }
}

/// A response header is safe to send: the name is a non-empty token, the value has no CR, LF,
/// NUL or other control besides HTAB (no response splitting, CVE-2018-1000164).
pub fn validate_header(name: &[u8], value: &[u8]) -> bool {
    validate_header_name(name).is_ok() && validate_header_value(value).is_ok()
}

/// A response header name is a non-empty RFC 9110 token; `Err` says what is wrong.
pub fn validate_header_name(name: &[u8]) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("header name is empty");
    }
    if name.iter().all(|&b| is_tchar(b)) {
        Ok(())
    } else {
        Err("header name is not a token (contains separators, spaces or control characters)")
    }
}

/// A response header value holds only HTAB, SP, visible ASCII and obs-text bytes (no CR, LF,
/// NUL, DEL or other controls); `Err` says what is wrong.
pub fn validate_header_value(value: &[u8]) -> Result<(), &'static str> {
    if value.iter().all(|&b| is_field_vchar(b)) {
        Ok(())
    } else {
        Err("header value contains control characters (CR, LF, NUL, ...)")
    }
}

/// Append `HTTP/1.x <status>\r\n`, the app's headers, the server's `extra` headers and the blank
/// line. `status_line_rest` is the app's status; a bare code gets its reason appended like uWSGI
/// does. Everything must already have passed [`validate_status`] / [`validate_header`]: this only
/// writes (debug builds assert it).
pub fn write_response_head<A: AsRef<[u8]>, B: AsRef<[u8]>>(
    out: &mut Vec<u8>,
    minor_version: u8,
    status_line_rest: &[u8],
    headers: &[(A, B)],
    extra: &[(&[u8], &[u8])],
) {
    debug_assert!(validate_status(status_line_rest).is_ok());
    out.extend_from_slice(if minor_version == 0 {
        b"HTTP/1.0 "
    } else {
        b"HTTP/1.1 "
    });
    out.extend_from_slice(status_line_rest);
    if let (3, Ok(code)) = (status_line_rest.len(), validate_status(status_line_rest)) {
        out.push(b' ');
        out.extend_from_slice(reason_phrase(code).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    let app = headers.iter().map(|(n, v)| (n.as_ref(), v.as_ref()));
    for (name, value) in app.chain(extra.iter().copied()) {
        debug_assert!(validate_header(name, value));
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// How to send one response body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseFraming {
    /// Whether any body bytes may be sent (false for HEAD, 1xx, 204, 304: drop what the app yields).
    pub body_allowed: bool,
    /// rw must add `Transfer-Encoding: chunked` and chunk the body.
    pub chunked: bool,
    /// The connection may carry another request. When false, send `Connection: close` (1.1) and close.
    pub keep_alive: bool,
    /// Keep the app's Content-Length header: yes on HEAD/304 (it describes the representation),
    /// never on 1xx/204 where RFC 9110 §8.6 forbids it.
    pub keep_content_length: bool,
}

impl ResponseFraming {
    /// The `Connection` header value rw must add, if any.
    pub fn connection_header(&self, minor_version: u8) -> Option<&'static [u8]> {
        match (minor_version, self.keep_alive) {
            (0, true) => Some(b"keep-alive"),
            (0, false) => None,
            (_, true) => None,
            (_, false) => Some(b"close"),
        }
    }
}

/// Decide response framing (RFC 9112 §6.3, security-cases §3.2).
///
/// With a Content-Length the caller must send exactly that many bytes and close if the app yields
/// fewer (or drop the excess). `app_sets_te`: the app sent its own Transfer-Encoding, a hop-by-hop
/// header PEP 3333 forbids; rw cannot trust it to delimit the body, so it adds no chunking and
/// closes afterwards (the caller should also drop that header).
pub fn response_framing(
    status: u16,
    is_head: bool,
    minor: u8,
    app_content_length: Option<u64>,
    app_sets_te: bool,
    keep_alive_requested: bool,
) -> ResponseFraming {
    let informational = (100..200).contains(&status);
    let body_allowed = !is_head && !informational && status != 204 && status != 304;
    let chunked = body_allowed && minor >= 1 && app_content_length.is_none() && !app_sets_te;
    let delimited = !body_allowed || chunked || (app_content_length.is_some() && !app_sets_te);
    ResponseFraming {
        body_allowed,
        chunked,
        keep_alive: keep_alive_requested && delimited,
        keep_content_length: app_content_length.is_some() && !informational && status != 204,
    }
}

/// A complete, self-delimited error response that closes the connection.
pub fn error_response(err: &HttpError) -> Vec<u8> {
    let phrase = reason_phrase(err.status);
    let body = format!("{} {}: {}\n", err.status, phrase, err.reason);
    format!(
        "HTTP/1.1 {} {}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{}",
        err.status,
        phrase,
        body.len(),
        body
    )
    .into_bytes()
}
