//! Turning request-head pieces into WSGI environ values: CGI header names and decoded PATH_INFO.

use super::is_tchar;

/// The CGI/WSGI environ key for a request header: `HTTP_X_FOO`, or `CONTENT_TYPE` /
/// `CONTENT_LENGTH` unprefixed. `None` for names containing `_` (or anything but tchar): they
/// would collide with their `-` twin in environ, so they are dropped as gunicorn 22+ and nginx do.
pub fn header_cgi_name(name: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(name.len() + 5);
    header_cgi_name_into(name, &mut out).then_some(out)
}

/// Headers most requests carry, with their CGI names.
const COMMON_HEADERS: &[(&[u8], &[u8])] = &[
    (b"host", b"HTTP_HOST"),
    (b"user-agent", b"HTTP_USER_AGENT"),
    (b"accept", b"HTTP_ACCEPT"),
    (b"accept-encoding", b"HTTP_ACCEPT_ENCODING"),
    (b"accept-language", b"HTTP_ACCEPT_LANGUAGE"),
    (b"connection", b"HTTP_CONNECTION"),
    (b"content-type", b"CONTENT_TYPE"),
    (b"content-length", b"CONTENT_LENGTH"),
    (b"cookie", b"HTTP_COOKIE"),
    (b"referer", b"HTTP_REFERER"),
    (b"cache-control", b"HTTP_CACHE_CONTROL"),
    (b"x-forwarded-for", b"HTTP_X_FORWARDED_FOR"),
    (b"x-forwarded-proto", b"HTTP_X_FORWARDED_PROTO"),
    (b"x-real-ip", b"HTTP_X_REAL_IP"),
    (b"authorization", b"HTTP_AUTHORIZATION"),
    (b"origin", b"HTTP_ORIGIN"),
];

/// [`header_cgi_name`] of a common header without allocating; None for any other name (which
/// may still have a CGI name).
pub fn common_header_cgi_name(name: &[u8]) -> Option<&'static [u8]> {
    COMMON_HEADERS
        .iter()
        .find(|(h, _)| h.len() == name.len() && h.eq_ignore_ascii_case(name))
        .map(|&(_, cgi)| cgi)
}

/// [`header_cgi_name`] into a caller buffer (cleared first); returns false when the header is dropped.
pub fn header_cgi_name_into(name: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    if name.is_empty() || name.iter().any(|&b| b == b'_' || !is_tchar(b)) {
        return false;
    }
    if !name.eq_ignore_ascii_case(b"content-type") && !name.eq_ignore_ascii_case(b"content-length")
    {
        out.extend_from_slice(b"HTTP_");
    }
    out.extend(name.iter().map(|&b| match b {
        b'-' => b'_',
        _ => b.to_ascii_uppercase(),
    }));
    true
}

/// Decode `%XX` escapes for `PATH_INFO`. Invalid escapes stay literal; `%00` decodes to NUL and
/// `%2F` to `/` (the caller decides what to refuse). Never decode before path checks: keep the raw form.
pub fn percent_decode(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    percent_decode_into(raw, &mut out);
    out
}

/// [`percent_decode`] appending to a caller buffer.
pub fn percent_decode_into(raw: &[u8], out: &mut Vec<u8>) {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' && i + 2 < raw.len() {
            if let (Some(h), Some(l)) = (hex(raw[i + 1]), hex(raw[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(raw[i]);
        i += 1;
    }
}
