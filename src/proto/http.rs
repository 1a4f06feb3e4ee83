//! HTTP/1.x request heads: strict parsing (httparse plus the checks it leaves out) into an owned, reusable head.
//!
//! Strictness is the point: every rule here closes a request-smuggling or desync hole that another
//! server shipped (see security-cases §3.1). On any `Err` the caller must answer with
//! [`error_response`] and close the connection without looking at the bytes after the bad head:
//! they may be a smuggled request, and their framing is unknowable once one head was bad.

use std::fmt;

mod environ;
mod response;

pub use environ::{
    common_header_cgi_name, header_cgi_name, header_cgi_name_into, percent_decode,
    percent_decode_into,
};

pub use response::{
    error_response, reason_phrase, response_framing, validate_header, validate_header_name,
    validate_header_value, validate_status, write_response_head, InvalidStatus, ResponseFraming,
};

#[cfg(test)]
mod tests;

/// A request the server refuses: the status to answer with and a short, static detail for logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpError {
    /// 400, 408, 413, 414, 417, 431, 501 or 505.
    pub status: u16,
    /// Which rule the request broke (static so building an error never allocates).
    pub reason: &'static str,
}

impl HttpError {
    /// An error with an arbitrary status.
    pub const fn new(status: u16, reason: &'static str) -> Self {
        HttpError { status, reason }
    }

    const fn bad(reason: &'static str) -> Self {
        HttpError::new(400, reason)
    }

    /// For the caller's header deadline: the parser itself never times out.
    pub const TIMEOUT: HttpError = HttpError::new(408, "timed out reading the request");
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status,
            reason_phrase(self.status),
            self.reason
        )
    }
}

impl std::error::Error for HttpError {}

/// Size limits for one request head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeadLimits {
    /// Whole head (request line + headers + blank line), uWSGI's `buffer-size` (default 4096).
    pub max_head: usize,
    /// Request line (method SP target SP version, without CRLF). Defaults to `max_head`: uWSGI has
    /// no separate limit, the whole head must fit `buffer-size`, so a larger default (Apache's 8190)
    /// could never be reached. Kept `<= max_head` so an over-long line gives 414, not 431.
    pub max_uri: usize,
    /// Header fields, like gunicorn's `limit_request_fields` (default 100).
    pub max_headers: usize,
}

impl HeadLimits {
    /// uWSGI's default `buffer-size`.
    pub const DEFAULT_BUFFER_SIZE: usize = 4096;
    /// Default header-field count.
    pub const DEFAULT_MAX_HEADERS: usize = 100;

    /// Limits derived from `buffer-size`.
    pub const fn new(buffer_size: usize) -> Self {
        HeadLimits {
            max_head: buffer_size,
            max_uri: buffer_size,
            max_headers: Self::DEFAULT_MAX_HEADERS,
        }
    }
}

impl Default for HeadLimits {
    fn default() -> Self {
        HeadLimits::new(Self::DEFAULT_BUFFER_SIZE)
    }
}

/// How the request body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BodyFraming {
    /// No Content-Length, no Transfer-Encoding: no body at all (requests are never close-delimited).
    #[default]
    None,
    /// Exactly this many bytes follow the head.
    Length(u64),
    /// `Transfer-Encoding: chunked`; decode with [`crate::proto::chunked::ChunkedDecoder`].
    Chunked,
}

/// Which of the four RFC 9112 §3.2 shapes the request target has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TargetForm {
    /// `/path?query`
    #[default]
    Origin,
    /// `http://host/path?query` (proxies send it; servers must accept it).
    Absolute,
    /// `host:port`, CONNECT only.
    Authority,
    /// `*`, OPTIONS only.
    Asterisk,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
}

/// A parsed request head. It owns one copy of the head bytes and indexes into it, so reusing it with
/// [`parse_head_into`] costs no allocation once its buffers have grown.
#[derive(Clone, Debug, Default)]
pub struct RequestHead {
    raw: Vec<u8>,
    method: Span,
    target: Span,
    path: Span,
    query: Span,
    headers: Vec<(Span, Span)>,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// Shape of the request target.
    pub form: TargetForm,
    /// How the body is delimited.
    pub framing: BodyFraming,
    /// Whether the client allows another request on this connection after the response.
    pub keep_alive: bool,
    /// HTTP/1.1 `Expect: 100-continue`: send `100 Continue` before reading the body.
    pub expect_continue: bool,
}

impl RequestHead {
    fn get(&self, s: Span) -> &[u8] {
        &self.raw[s.start..s.end]
    }

    /// The method, as sent (case-sensitive, tchar only).
    pub fn method(&self) -> &[u8] {
        self.get(self.method)
    }

    /// The raw request target: `REQUEST_URI`.
    pub fn target(&self) -> &[u8] {
        self.get(self.target)
    }

    /// The raw (still percent-encoded) path, before `?`. Decode it with [`percent_decode`] for
    /// `PATH_INFO` only after any static-file check ran on this raw form. For an absolute-form
    /// target without a path this is `/` (RFC 9112 §3.3); for CONNECT it is empty.
    pub fn path(&self) -> &[u8] {
        if self.form == TargetForm::Absolute && self.path.start == self.path.end {
            return b"/";
        }
        self.get(self.path)
    }

    /// The query after the first `?`, empty when there is none: `QUERY_STRING` (always present).
    pub fn query(&self) -> &[u8] {
        self.get(self.query)
    }

    /// `HTTP/1.0` or `HTTP/1.1`: `SERVER_PROTOCOL`.
    pub fn server_protocol(&self) -> &'static str {
        if self.minor_version == 0 {
            "HTTP/1.0"
        } else {
            "HTTP/1.1"
        }
    }

    /// Header fields in arrival order, names as sent, values without surrounding OWS.
    pub fn headers(&self) -> impl ExactSizeIterator<Item = (&[u8], &[u8])> + '_ {
        self.headers
            .iter()
            .map(|&(n, v)| (self.get(n), self.get(v)))
    }

    /// The first value of a header, name compared case-insensitively.
    pub fn header(&self, name: &[u8]) -> Option<&[u8]> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The body length when it is known up front.
    pub fn content_length(&self) -> Option<u64> {
        match self.framing {
            BodyFraming::Length(n) => Some(n),
            _ => None,
        }
    }
}

/// Parse a request head at the start of `buf`.
///
/// `Ok(None)`: the head is incomplete and still within limits; read more and call again with the
/// whole buffer. `Ok(Some((head, consumed)))`: the body (or the next pipelined request) starts at
/// `buf[consumed..]`. `Err`: answer with [`error_response`] and close, see the module docs.
pub fn parse_head(
    buf: &[u8],
    limits: &HeadLimits,
) -> Result<Option<(RequestHead, usize)>, HttpError> {
    let mut head = RequestHead::default();
    Ok(parse_head_into(buf, limits, &mut head)?.map(|n| (head, n)))
}

/// Header slots kept on the stack; larger `max_headers` fall back to one heap allocation per call.
const STACK_HEADERS: usize = 128;

/// [`parse_head`] into an existing head, reusing its buffers. On `Ok(None)` or `Err` the head's
/// contents are unspecified.
pub fn parse_head_into(
    buf: &[u8],
    limits: &HeadLimits,
    head: &mut RequestHead,
) -> Result<Option<usize>, HttpError> {
    let mut stack = [httparse::EMPTY_HEADER; STACK_HEADERS];
    let mut heap = Vec::new();
    let slots: &mut [httparse::Header<'_>] = if limits.max_headers <= STACK_HEADERS {
        &mut stack[..limits.max_headers]
    } else {
        heap.resize(limits.max_headers, httparse::EMPTY_HEADER);
        &mut heap
    };
    // httparse refuses a request target that is not UTF-8 (it hands the path out as a `&str`),
    // yet obs-text there is real traffic that uWSGI serves. Such a line is parsed from a copy
    // with those bytes masked; spans are offsets, so they hold for the original bytes. The same
    // copy carries `HTTP/1.2`…`HTTP/1.9` as `HTTP/1.1`, which httparse would refuse.
    let masked = mask_request_line(buf);
    let src: &[u8] = masked.as_deref().unwrap_or(buf);
    let mut req = httparse::Request::new(slots);
    let consumed = match req.parse(src) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            // httparse takes bare LF as a line end; refuse it before it could ever complete a head.
            if has_bare_lf(buf) {
                return Err(HttpError::bad("bare LF in request head"));
            }
            check_request_line(buf, limits)?;
            if buf.len() > limits.max_head {
                return Err(HttpError::new(431, "request head larger than buffer-size"));
            }
            return Ok(None);
        }
        Err(httparse::Error::Version) => return Err(version_error(buf)),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(HttpError::new(431, "too many header fields"))
        }
        Err(httparse::Error::HeaderName) => return Err(HttpError::bad("invalid header name")),
        Err(httparse::Error::HeaderValue) => return Err(HttpError::bad("invalid header value")),
        Err(httparse::Error::NewLine) => return Err(HttpError::bad("invalid line ending")),
        Err(_) => return Err(HttpError::bad("invalid request line")),
    };
    let bytes = &src[..consumed];
    if has_bare_lf(bytes) {
        return Err(HttpError::bad("bare LF in request head"));
    }
    check_request_line(bytes, limits)?;
    if consumed > limits.max_head {
        return Err(HttpError::new(431, "request head larger than buffer-size"));
    }

    head.raw.clear();
    head.raw.extend_from_slice(&buf[..consumed]);
    head.headers.clear();
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(HttpError::bad("invalid request line"));
    };
    head.method = span_of(bytes, method.as_bytes());
    head.target = span_of(bytes, target.as_bytes());
    head.minor_version = minor;
    // The original bytes, not the masked copy's.
    let (method, target) = (
        &buf[head.method.start..head.method.end],
        &buf[head.target.start..head.target.end],
    );
    // Re-checked rather than trusted: these bytes decide framing, and the check is one cheap pass.
    if !method.iter().copied().all(is_tchar) {
        return Err(HttpError::bad("invalid method"));
    }
    classify_target(head, method, target)?;

    let mut hdr = HeaderFacts::default();
    for h in req.headers.iter() {
        let (name, value) = (h.name.as_bytes(), h.value);
        if name.is_empty() || !name.iter().copied().all(is_tchar) {
            return Err(HttpError::bad("invalid header name"));
        }
        if !value.iter().all(|&b| is_field_vchar(b)) {
            return Err(HttpError::bad("control character in header value"));
        }
        hdr.note(name, value, minor)?;
        head.headers
            .push((span_of(bytes, name), span_of(bytes, value)));
    }
    hdr.finish(head)?;
    Ok(Some(consumed))
}

/// What the header fields say about framing and connection reuse, gathered before deciding so
/// that a duplicate anywhere in the head is seen.
#[derive(Default)]
struct HeaderFacts<'a> {
    content_length: Option<&'a [u8]>,
    cl_count: u32,
    transfer_encoding: Option<&'a [u8]>,
    te_count: u32,
    host: Option<&'a [u8]>,
    host_count: u32,
    content_type_count: u32,
    expect_continue: bool,
    close: bool,
    keep_alive: bool,
}

impl<'a> HeaderFacts<'a> {
    fn note(&mut self, name: &[u8], value: &'a [u8], minor: u8) -> Result<(), HttpError> {
        if name.eq_ignore_ascii_case(b"content-length") {
            self.cl_count += 1;
            self.content_length = Some(value);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            self.te_count += 1;
            self.transfer_encoding = Some(value);
        } else if name.eq_ignore_ascii_case(b"host") {
            self.host_count += 1;
            self.host = Some(value);
        } else if name.eq_ignore_ascii_case(b"content-type") {
            self.content_type_count += 1;
        } else if name.eq_ignore_ascii_case(b"connection") {
            for opt in value.split(|&b| b == b',').map(trim_ows) {
                self.close |= opt.eq_ignore_ascii_case(b"close");
                self.keep_alive |= opt.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case(b"expect") && minor >= 1 {
            // RFC 9110 §10.1.1: an HTTP/1.0 server ignores Expect, so only 1.1 can fail here.
            if !value.eq_ignore_ascii_case(b"100-continue") {
                return Err(HttpError::new(417, "unsupported expectation"));
            }
            self.expect_continue = true;
        }
        Ok(())
    }

    fn finish(self, head: &mut RequestHead) -> Result<(), HttpError> {
        let minor = head.minor_version;
        if self.cl_count > 1 {
            // Even equal copies: uWSGI #2775 merged them and read only the first.
            return Err(HttpError::bad("duplicate Content-Length"));
        }
        if self.te_count > 1 {
            return Err(HttpError::bad("duplicate Transfer-Encoding"));
        }
        if self.host_count > 1 {
            return Err(HttpError::bad("duplicate Host"));
        }
        if self.content_type_count > 1 {
            return Err(HttpError::bad("duplicate Content-Type"));
        }
        match self.host {
            None if minor >= 1 => return Err(HttpError::bad("HTTP/1.1 request without Host")),
            Some(h) if !h.iter().all(|&b| is_host_char(b)) => {
                return Err(HttpError::bad("invalid Host"))
            }
            _ => {}
        }
        head.framing = match (self.content_length, self.transfer_encoding) {
            (Some(_), Some(_)) => {
                // RFC 9112 §6.1 lets a server process such a message; refusing it is the only way
                // to be sure no front end framed it the other way.
                return Err(HttpError::bad("both Content-Length and Transfer-Encoding"));
            }
            (None, Some(_)) if minor == 0 => {
                return Err(HttpError::bad("Transfer-Encoding on HTTP/1.0"))
            }
            (None, Some(te)) => {
                check_transfer_encoding(te)?;
                BodyFraming::Chunked
            }
            (Some(cl), None) => BodyFraming::Length(
                parse_decimal(cl).ok_or(HttpError::bad("invalid Content-Length"))?,
            ),
            (None, None) => BodyFraming::None,
        };
        head.keep_alive = !self.close && (minor >= 1 || self.keep_alive);
        head.expect_continue = self.expect_continue;
        Ok(())
    }
}

/// Accept exactly one `chunked`; pick 501 only for a clean token list that ends in `chunked`
/// (a coding we merely don't implement, RFC 9110 §6.1), 400 for anything malformed or where chunked
/// is missing, repeated or not last (RFC 9112 §6.3: the length cannot be determined).
fn check_transfer_encoding(te: &[u8]) -> Result<(), HttpError> {
    if te.eq_ignore_ascii_case(b"chunked") {
        return Ok(());
    }
    let (mut chunked, mut last_is_chunked) = (0u32, false);
    for coding in te.split(|&b| b == b',').map(trim_ows) {
        // Parameters, quotes and odd whitespace (\x0b, \xa0, \x85) all fail here: a coding must be
        // a bare token, so `chunked;q=1`, `"chunked"` and `xchunked` never count as chunked.
        if coding.is_empty() || !coding.iter().copied().all(is_tchar) {
            return Err(HttpError::bad("malformed Transfer-Encoding"));
        }
        last_is_chunked = coding.eq_ignore_ascii_case(b"chunked");
        chunked += u32::from(last_is_chunked);
    }
    if chunked > 1 {
        return Err(HttpError::bad("chunked applied more than once"));
    }
    if !last_is_chunked {
        return Err(HttpError::bad("chunked is not the final transfer coding"));
    }
    Err(HttpError::new(501, "unsupported transfer coding"))
}

/// Split the target into path and query and enforce which form each method may use.
fn classify_target(head: &mut RequestHead, method: &[u8], target: &[u8]) -> Result<(), HttpError> {
    if !target.iter().all(|&b| b > b' ' && b != 0x7f) {
        return Err(HttpError::bad("invalid request target"));
    }
    let base = head.target.start;
    let at = |start: usize, end: usize| Span {
        start: base + start,
        end: base + end,
    };
    let query_at = |from: usize| match target[from..].iter().position(|&b| b == b'?') {
        Some(q) => (from + q, at(from + q + 1, target.len())),
        None => (target.len(), at(target.len(), target.len())),
    };
    let connect = method == b"CONNECT";
    if target == b"*" {
        if method != b"OPTIONS" {
            return Err(HttpError::bad("asterisk-form outside OPTIONS"));
        }
        head.form = TargetForm::Asterisk;
        (head.path, head.query) = (at(0, 1), at(1, 1));
    } else if target[0] == b'/' && !connect {
        let (end, query) = query_at(0);
        head.form = TargetForm::Origin;
        (head.path, head.query) = (at(0, end), query);
    } else if let Some(auth_start) = absolute_form_authority(target).filter(|_| !connect) {
        let path_start = target[auth_start..]
            .iter()
            .position(|&b| b == b'/' || b == b'?')
            .map_or(target.len(), |p| auth_start + p);
        let (end, query) = query_at(path_start);
        head.form = TargetForm::Absolute;
        (head.path, head.query) = (at(path_start, end), query);
    } else if connect && is_authority_form(target) {
        head.form = TargetForm::Authority;
        (head.path, head.query) = (at(0, 0), at(0, 0));
    } else if connect {
        return Err(HttpError::bad("CONNECT needs authority-form"));
    } else {
        return Err(HttpError::bad(
            "authority-form or invalid target outside CONNECT",
        ));
    }
    Ok(())
}

/// `scheme://` at the start of an absolute-form target: where the authority begins.
fn absolute_form_authority(target: &[u8]) -> Option<usize> {
    let colon = target.iter().position(|&b| b == b':')?;
    let scheme = &target[..colon];
    let scheme_ok = scheme.first().is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    (scheme_ok && target[colon + 1..].starts_with(b"//")).then_some(colon + 3)
}

/// `host:port` with a non-empty host and a decimal port, nothing path-like.
fn is_authority_form(target: &[u8]) -> bool {
    let Some(colon) = target.iter().rposition(|&b| b == b':') else {
        return false;
    };
    let (host, port) = (&target[..colon], &target[colon + 1..]);
    !host.is_empty()
        && host.iter().all(|&b| is_host_char(b))
        && !port.is_empty()
        && port.iter().all(u8::is_ascii_digit)
}

/// Version errors: 505 for a well-formed `HTTP/x.y` we don't speak (HTTP/2.0, HTTP/0.9),
/// 400 for anything that is not an HTTP version at all.
fn version_error(buf: &[u8]) -> HttpError {
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(0);
    let line = &buf[start..];
    let line = &line[..line.iter().position(|&b| b == b'\n').unwrap_or(line.len())];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let version = line.rsplit(|&b| b == b' ').next().unwrap_or(b"");
    match version.strip_prefix(b"HTTP/") {
        Some([d, ..]) if d.is_ascii_digit() => HttpError::new(505, "unsupported HTTP version"),
        _ => HttpError::bad("invalid HTTP version"),
    }
}

/// 414 when the request line (without its CRLF) exceeds `max_uri`, decided even before its LF
/// arrives. Leading empty lines are skipped like httparse does (their total is bounded by 431).
fn check_request_line(buf: &[u8], limits: &HeadLimits) -> Result<(), HttpError> {
    let mut start = 0;
    while buf[start..].starts_with(b"\r\n") {
        start += 2;
    }
    let window = &buf[start
        ..buf
            .len()
            .min(start.saturating_add(limits.max_uri).saturating_add(2))];
    let line_len = match window.iter().position(|&b| b == b'\n') {
        Some(lf) => lf - usize::from(lf > 0 && window[lf - 1] == b'\r'),
        // No LF yet: a trailing CR may still be the start of the CRLF.
        None => window.len() - usize::from(window.last() == Some(&b'\r')),
    };
    if line_len > limits.max_uri {
        return Err(HttpError::new(414, "request line too long"));
    }
    Ok(())
}

/// A copy of `buf` with the bytes >= 0x80 of its request line replaced by `a`, when it has any.
fn mask_request_line(buf: &[u8]) -> Option<Vec<u8>> {
    let mut start = 0;
    while buf[start..].starts_with(b"\r\n") {
        start += 2;
    }
    let end = buf[start..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(buf.len(), |p| start + p);
    let line = &buf[start..end];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    // RFC 9110 §2.5: a 1.x minor above 1 is served as the highest 1.x we speak (1.1).
    let later_minor = line.len() > 9
        && line[..line.len() - 8].ends_with(b" ")
        && matches!(&line[line.len() - 8..], [b'H', b'T', b'T', b'P', b'/', b'1', b'.', d] if (b'2'..=b'9').contains(d));
    if line.is_ascii() && !later_minor {
        return None;
    }
    let mut copy = buf.to_vec();
    for b in &mut copy[start..end] {
        if *b >= 0x80 {
            *b = b'a';
        }
    }
    if later_minor {
        copy[start + line.len() - 1] = b'1';
    }
    Some(copy)
}

fn has_bare_lf(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || bytes[i - 1] != b'\r'))
}

fn span_of(base: &[u8], part: &[u8]) -> Span {
    // httparse hands back subslices of `base`; their offset is a plain address difference.
    let start = part.as_ptr() as usize - base.as_ptr() as usize;
    Span {
        start,
        end: start + part.len(),
    }
}

fn trim_ows(s: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = s.iter().position(|b| !is_ows(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !is_ows(b)).map_or(start, |e| e + 1);
    &s[start..end]
}

/// `^[0-9]+$` into a u64 no larger than i64::MAX (what a signed `off_t` or Python can hold).
/// Signs, `0x`, inner spaces and non-ASCII digits such as `٥` all fail.
pub(crate) fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    (n <= i64::MAX as u64).then_some(n)
}

/// RFC 9110 tchar: ALPHA / DIGIT / one of `` !#$%&'*+-.^_`|~ ``.
pub(crate) fn is_tchar(b: u8) -> bool {
    // A table: every request and response header name goes through here byte by byte, and
    // searching the punctuation list (a `memchr` per byte) cost more than the rest of the check.
    TCHAR[usize::from(b)]
}

const TCHAR_PUNCT: &[u8] = b"!#$%&'*+-.^_`|~";

static TCHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let mut i = 0;
    while i < TCHAR_PUNCT.len() {
        t[TCHAR_PUNCT[i] as usize] = true;
        i += 1;
    }
    t
};

/// Bytes allowed inside a field value: HTAB, SP, VCHAR, obs-text. No CR, LF, NUL, DEL or other controls.
pub(crate) fn is_field_vchar(b: u8) -> bool {
    b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80
}

/// uri-host / IP-literal / port characters (RFC 3986): unreserved, pct-encoded, sub-delims, `:[]`.
fn is_host_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=:[]".contains(&b)
}
