//! Turning request-head pieces into WSGI environ values: CGI header names and decoded PATH_INFO.

use super::is_tchar;

/// The CGI/WSGI environ key for a request header: `HTTP_X_FOO`, or `CONTENT_TYPE` /
/// `CONTENT_LENGTH` unprefixed. `None` for names containing `_` (or anything but tchar): they
/// would collide with their `-` twin in environ, so they are dropped as gunicorn 22+ and nginx do.
pub fn header_cgi_name(name: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(name.len() + 5);
    header_cgi_name_into(name, &mut out).then_some(out)
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
