//! The uwsgi request packet (what nginx `uwsgi_pass` sends): a 4-byte header and a block of vars.
//!
//! Layout (uwsgi-compat §3): `modifier1: u8`, `datasize: u16le`, `modifier2: u8`, then exactly
//! `datasize` bytes of `u16le keylen | key | u16le vallen | value`. The request body follows and is
//! framed only by `CONTENT_LENGTH` ([`content_length`]); the caller serves one request per
//! connection, so body bytes are never parsed as a second packet (uWSGI #2336). Every error means:
//! log its Display line and close without a response, as uWSGI does.

use std::fmt;

/// Most vars accepted in one packet. uWSGI's default `max-vars` (64) lets through up to 128; nginx
/// sends ~15 params plus one var per header, so 256 leaves room for header-heavy clients while
/// bounding the per-request allocations.
pub const MAX_VARS: usize = 256;

/// The packet header is 4 bytes.
pub const HEADER_LEN: usize = 4;

/// A parsed packet. `modifier1` 0 is WSGI; the caller rejects any other (uWSGI logs
/// `unavailable modifier requested`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Packet<'a> {
    /// Request type; 0 = Python/WSGI.
    pub modifier1: u8,
    /// 0 for normal requests.
    pub modifier2: u8,
    /// Vars in packet order (order matters: environ is built in this order, duplicates included),
    /// borrowed from the parsed buffer.
    pub vars: Vec<(&'a [u8], &'a [u8])>,
}

impl Packet<'_> {
    /// The first value for `key` (exact, case-sensitive like CGI).
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.vars.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

/// Why a packet was refused. Offsets count from the start of the vars block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UwsgiError {
    /// `datasize` above `buffer-size`.
    BlockTooBig {
        /// Announced vars block size.
        size: usize,
        /// The limit (`buffer-size`).
        max: usize,
    },
    /// `datasize` 0.
    Empty,
    /// A var with a zero-length key.
    EmptyKey {
        /// Where the var starts.
        offset: usize,
    },
    /// A length field cut by the end of the block.
    TruncatedLength {
        /// Where the length field starts.
        offset: usize,
    },
    /// A key running past the end of the block.
    KeyOverrun {
        /// Where the key starts.
        offset: usize,
        /// Its announced length.
        len: usize,
        /// Bytes actually left in the block.
        left: usize,
    },
    /// A value running past the end of the block.
    ValueOverrun {
        /// Where the value starts.
        offset: usize,
        /// Its announced length.
        len: usize,
        /// Bytes actually left in the block.
        left: usize,
    },
    /// More than [`MAX_VARS`] vars.
    TooManyVars,
    /// `CONTENT_LENGTH` is not `^[0-9]*$` or does not fit i64.
    BadContentLength,
    /// `CONTENT_LENGTH` given twice: which copy frames the body would be a guess.
    DuplicateContentLength,
}

impl fmt::Display for UwsgiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            UwsgiError::BlockTooBig { size, max } => {
                write!(f, "invalid request block size: {size} (max {max})...skip")
            }
            UwsgiError::Empty => f.write_str("empty request (uwsgi datasize 0). skip."),
            UwsgiError::EmptyKey { offset } => {
                write!(f, "uwsgi key cannot be null (var at offset {offset}). skip.")
            }
            UwsgiError::TruncatedLength { offset } => write!(
                f,
                "invalid uwsgi request: length field at offset {offset} cut by the end of the block. skip."
            ),
            UwsgiError::KeyOverrun { offset, len, left } => write!(
                f,
                "invalid uwsgi request: key of {len} bytes at offset {offset} runs past the block ({left} left). skip."
            ),
            UwsgiError::ValueOverrun { offset, len, left } => write!(
                f,
                "invalid uwsgi request: value of {len} bytes at offset {offset} runs past the block ({left} left). skip."
            ),
            UwsgiError::TooManyVars => {
                write!(f, "max vars reached: more than {MAX_VARS} uwsgi vars. skip.")
            }
            UwsgiError::BadContentLength => f.write_str("invalid CONTENT_LENGTH. skip."),
            UwsgiError::DuplicateContentLength => f.write_str("duplicate CONTENT_LENGTH. skip."),
        }
    }
}

impl std::error::Error for UwsgiError {}

/// Parse a packet at the start of `buf`. `Ok(None)`: need more bytes (call again with the whole
/// buffer; works however the bytes were split). `Ok(Some((packet, consumed)))`: the body starts at
/// `buf[consumed..]`. The size checks fire as soon as the 4-byte header is in, before waiting for
/// the block.
pub fn parse_packet(
    buf: &[u8],
    max_block: usize,
) -> Result<Option<(Packet<'_>, usize)>, UwsgiError> {
    let Some(&[modifier1, lo, hi, modifier2]) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    let size = usize::from(u16::from_le_bytes([lo, hi]));
    if size > max_block {
        return Err(UwsgiError::BlockTooBig {
            size,
            max: max_block,
        });
    }
    if size == 0 {
        return Err(UwsgiError::Empty);
    }
    let Some(block) = buf.get(HEADER_LEN..HEADER_LEN + size) else {
        return Ok(None);
    };
    let mut vars = Vec::with_capacity(32);
    for var in Vars::new(block) {
        if vars.len() == MAX_VARS {
            return Err(UwsgiError::TooManyVars);
        }
        vars.push(var?);
    }
    let packet = Packet {
        modifier1,
        modifier2,
        vars,
    };
    Ok(Some((packet, HEADER_LEN + size)))
}

/// Iterator over the `(key, value)` pairs of a vars block, borrowing it; stops after the first error.
#[derive(Clone, Debug)]
pub struct Vars<'a> {
    block: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> Vars<'a> {
    /// Iterate a vars block (the `datasize` bytes after the header).
    pub fn new(block: &'a [u8]) -> Self {
        Vars {
            block,
            pos: 0,
            failed: false,
        }
    }

    fn read_len(&mut self) -> Result<usize, UwsgiError> {
        let offset = self.pos;
        match self.block.get(offset..offset + 2) {
            Some(&[lo, hi]) => {
                self.pos += 2;
                Ok(usize::from(u16::from_le_bytes([lo, hi])))
            }
            _ => Err(UwsgiError::TruncatedLength { offset }),
        }
    }

    fn next_var(&mut self) -> Result<(&'a [u8], &'a [u8]), UwsgiError> {
        let var_start = self.pos;
        let klen = self.read_len()?;
        if klen == 0 {
            return Err(UwsgiError::EmptyKey { offset: var_start });
        }
        let key = self.take(klen, |offset, len, left| UwsgiError::KeyOverrun {
            offset,
            len,
            left,
        })?;
        let vlen = self.read_len()?;
        let value = self.take(vlen, |offset, len, left| UwsgiError::ValueOverrun {
            offset,
            len,
            left,
        })?;
        Ok((key, value))
    }

    fn take(
        &mut self,
        len: usize,
        overrun: fn(usize, usize, usize) -> UwsgiError,
    ) -> Result<&'a [u8], UwsgiError> {
        let offset = self.pos;
        let bytes = self
            .block
            .get(offset..offset + len)
            .ok_or_else(|| overrun(offset, len, self.block.len() - offset))?;
        self.pos += len;
        Ok(bytes)
    }
}

impl<'a> Iterator for Vars<'a> {
    type Item = Result<(&'a [u8], &'a [u8]), UwsgiError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.block.len() {
            return None;
        }
        let item = self.next_var();
        self.failed = item.is_err();
        Some(item)
    }
}

/// Build a packet. Used by tests, fuzzing and any client side.
///
/// # Panics
/// If a key, a value or the whole block exceeds 65535 bytes (the u16 fields cannot say it).
pub fn encode_packet(modifier1: u8, vars: &[(&[u8], &[u8])], modifier2: u8) -> Vec<u8> {
    let u16_len = |n: usize| u16::try_from(n).expect("uwsgi field longer than 65535 bytes");
    let size: usize = vars.iter().map(|(k, v)| 4 + k.len() + v.len()).sum();
    let mut out = Vec::with_capacity(HEADER_LEN + size);
    out.push(modifier1);
    out.extend_from_slice(&u16_len(size).to_le_bytes());
    out.push(modifier2);
    for (k, v) in vars {
        out.extend_from_slice(&u16_len(k.len()).to_le_bytes());
        out.extend_from_slice(k);
        out.extend_from_slice(&u16_len(v.len()).to_le_bytes());
        out.extend_from_slice(v);
    }
    out
}

/// The body length from `CONTENT_LENGTH`: missing or empty = 0 (uWSGI: no body), otherwise digits
/// only and at most i64::MAX (no `+5`, `-1`, spaces or `0x`); a second CONTENT_LENGTH is refused.
pub fn content_length<K: AsRef<[u8]>, V: AsRef<[u8]>>(vars: &[(K, V)]) -> Result<u64, UwsgiError> {
    let mut found = vars
        .iter()
        .filter(|(k, _)| k.as_ref() == b"CONTENT_LENGTH")
        .map(|(_, v)| v.as_ref());
    let value = found.next();
    if found.next().is_some() {
        return Err(UwsgiError::DuplicateContentLength);
    }
    match value {
        None | Some(b"") => Ok(0),
        Some(v) => super::http::parse_decimal(v).ok_or(UwsgiError::BadContentLength),
    }
}

/// The version for the status line of a response to a uwsgi request, from its `SERVER_PROTOCOL`.
///
/// Only two answers: `HTTP/1.0` for a 1.0 (or absent) protocol, `HTTP/1.1` for anything else.
/// The frontend's bytes never reach the status line, so CR/LF there cannot inject headers (uWSGI
/// copies them verbatim), and nginx in front of an HTTP/2 or HTTP/3 client (`HTTP/2.0`) still
/// gets a status line it parses.
pub fn status_line_version(server_protocol: &[u8]) -> &'static [u8] {
    match server_protocol {
        b"" | b"HTTP/1.0" => b"HTTP/1.0",
        _ => b"HTTP/1.1",
    }
}

/// Whether `SERVER_PROTOCOL` is a plain protocol token (`HTTP/2.0`, `HTTP/1.1`), so a request whose
/// value carries controls or spaces can be logged as hostile.
pub fn is_plain_protocol(server_protocol: &[u8]) -> bool {
    server_protocol
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || b == b'/' || b == b'.')
}

#[cfg(test)]
mod tests;
