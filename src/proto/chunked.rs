//! Incremental, strict decoder for `Transfer-Encoding: chunked` request bodies.
//!
//! A byte-at-a-time state machine so it resumes at any split point (a slow client, or a fuzzer,
//! decides where reads end) and never backtracks. Strict where lenient parsers were exploited
//! (security-cases §3.1): hex-only sizes without `0x`, `+` or whitespace, overflow refused, CRLF only
//! (no bare LF), extensions and trailers validated and discarded, and a body is never reported
//! complete before its final CRLF.

use super::http::{is_field_vchar, is_tchar, HttpError};

/// Longest chunk-size line (size plus extensions) accepted: extensions are never needed, so a long
/// line is an attack or garbage.
pub const MAX_SIZE_LINE: usize = 4096;
/// Largest trailer section accepted (trailers are read only to be discarded).
pub const MAX_TRAILERS: usize = 16 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    SizeStart,
    Size,
    ExtNameStart,
    ExtName,
    ExtValueStart,
    ExtToken,
    ExtQuoted,
    ExtQuotedEscape,
    ExtAfterQuoted,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    TrailerStart,
    TrailerName,
    TrailerValue,
    TrailerLf,
    FinalLf,
    Done,
    Failed(HttpError),
}

/// Decodes one chunked body; create a new one per request.
#[derive(Clone, Debug)]
pub struct ChunkedDecoder {
    state: State,
    max_body: Option<u64>,
    /// Size being parsed, then bytes left in the current chunk.
    size: u64,
    /// Decoded body bytes so far.
    total: u64,
    /// Bytes in the current size line, or in the trailer section.
    line_len: usize,
    /// The current trailer field's name, lower-cased, as far as it fits (forbidden names are short).
    trailer_name: [u8; TRAILER_NAME_MAX],
    /// Length of that name; `TRAILER_NAME_MAX + 1` once it is longer than any forbidden name.
    trailer_name_len: usize,
}

const TRAILER_NAME_MAX: usize = 24;

/// Fields a trailer must not carry (RFC 9110 §6.5.1): framing, routing and connection control.
/// A recipient that merged them into the header section would be desynchronised or misrouted, so
/// they are refused rather than discarded, as the hardened peers do.
const FORBIDDEN_TRAILERS: &[&[u8]] = &[
    b"content-length",
    b"transfer-encoding",
    b"host",
    b"trailer",
    b"te",
    b"connection",
    b"keep-alive",
    b"upgrade",
    b"expect",
];

const fn bad(reason: &'static str) -> HttpError {
    HttpError::new(400, reason)
}

impl ChunkedDecoder {
    /// `max_body`: largest decoded body (`limit-post`); more gives 413 before the chunk is read.
    pub fn new(max_body: Option<u64>) -> Self {
        ChunkedDecoder {
            state: State::SizeStart,
            max_body,
            size: 0,
            total: 0,
            line_len: 0,
            trailer_name: [0; TRAILER_NAME_MAX],
            trailer_name_len: 0,
        }
    }

    /// The final CRLF has been consumed.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decoded bytes so far.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Decode from `input`, appending body bytes to `out`. Returns how many input bytes were used
    /// and whether the body is complete; bytes after the end (a pipelined request) are left
    /// unconsumed. Once an error is returned every later call returns it again.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(usize, bool), HttpError> {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                State::Done => break,
                State::Failed(e) => return Err(e),
                State::Data => {
                    // Bulk copy: the only state that handles more than one byte per step.
                    let n = (input.len() - i).min(usize::try_from(self.size).unwrap_or(usize::MAX));
                    out.extend_from_slice(&input[i..i + n]);
                    i += n;
                    self.size -= n as u64;
                    self.total += n as u64;
                    if self.size == 0 {
                        self.state = State::DataCr;
                    }
                }
                _ => {
                    let b = input[i];
                    i += 1;
                    if let Err(e) = self.step(b) {
                        self.state = State::Failed(e);
                        return Err(e);
                    }
                }
            }
        }
        if let State::Failed(e) = self.state {
            return Err(e);
        }
        Ok((i, self.state == State::Done))
    }

    fn step(&mut self, b: u8) -> Result<(), HttpError> {
        use State::*;
        if matches!(
            self.state,
            SizeStart | Size | ExtNameStart | ExtName | ExtValueStart
        ) || matches!(
            self.state,
            ExtToken | ExtQuoted | ExtQuotedEscape | ExtAfterQuoted
        ) {
            self.line_len += 1;
            if self.line_len > MAX_SIZE_LINE {
                return Err(bad("chunk size line too long"));
            }
        } else if matches!(
            self.state,
            TrailerStart | TrailerName | TrailerValue | TrailerLf
        ) {
            self.line_len += 1;
            if self.line_len > MAX_TRAILERS {
                return Err(HttpError::new(431, "chunked trailers too large"));
            }
        }
        self.state = match (self.state, b) {
            (SizeStart | Size, _) if b.is_ascii_hexdigit() => {
                let digit = u64::from((b as char).to_digit(16).unwrap_or(0));
                self.size = self
                    .size
                    .checked_mul(16)
                    .and_then(|s| s.checked_add(digit))
                    .ok_or(bad("chunk size overflow"))?;
                Size
            }
            (SizeStart, _) => return Err(bad("invalid chunk size")),
            (Size | ExtName | ExtToken | ExtAfterQuoted, b';') => ExtNameStart,
            (Size | ExtName | ExtToken | ExtAfterQuoted, b'\r') => SizeLf,
            (Size, _) => return Err(bad("invalid chunk size")),
            (ExtNameStart | ExtName, _) if is_tchar(b) => ExtName,
            (ExtName, b'=') => ExtValueStart,
            (ExtValueStart, b'"') => ExtQuoted,
            (ExtValueStart | ExtToken, _) if is_tchar(b) => ExtToken,
            (ExtQuoted, b'"') => ExtAfterQuoted,
            (ExtQuoted, b'\\') => ExtQuotedEscape,
            // qdtext and quoted-pair (RFC 9110 §5.6.4): a bare CR or other control never passes.
            (ExtQuoted | ExtQuotedEscape, _) if is_field_vchar(b) => ExtQuoted,
            (
                ExtNameStart | ExtName | ExtValueStart | ExtToken | ExtQuoted | ExtQuotedEscape
                | ExtAfterQuoted,
                _,
            ) => return Err(bad("invalid chunk extension")),
            (SizeLf, b'\n') if self.size == 0 => {
                self.line_len = 0;
                TrailerStart
            }
            (SizeLf, b'\n') => {
                let total = self.total.saturating_add(self.size);
                if self.max_body.is_some_and(|max| total > max) {
                    return Err(HttpError::new(413, "chunked body larger than limit-post"));
                }
                Data
            }
            (DataCr, b'\r') => DataLf,
            (DataCr, _) => return Err(bad("chunk data not followed by CRLF")),
            (DataLf, b'\n') => {
                self.line_len = 0;
                SizeStart
            }
            (TrailerStart, b'\r') => FinalLf,
            (TrailerStart, b' ' | b'\t') => return Err(bad("obs-fold in chunked trailer")),
            (TrailerStart | TrailerName, _) if is_tchar(b) => {
                if self.state == TrailerStart {
                    self.trailer_name_len = 0;
                }
                if let Some(slot) = self.trailer_name.get_mut(self.trailer_name_len) {
                    *slot = b.to_ascii_lowercase();
                }
                self.trailer_name_len = (self.trailer_name_len + 1).min(TRAILER_NAME_MAX + 1);
                TrailerName
            }
            (TrailerName, b':') => {
                let name = self
                    .trailer_name
                    .get(..self.trailer_name_len)
                    .unwrap_or(&[]);
                if FORBIDDEN_TRAILERS.contains(&name) {
                    return Err(bad("forbidden field in chunked trailer"));
                }
                TrailerValue
            }
            (TrailerStart | TrailerName, _) => return Err(bad("invalid chunked trailer name")),
            (TrailerValue, b'\r') => TrailerLf,
            (TrailerValue, _) if is_field_vchar(b) => TrailerValue,
            (TrailerValue, _) => return Err(bad("invalid chunked trailer value")),
            (TrailerLf, b'\n') => TrailerStart,
            (FinalLf, b'\n') => Done,
            (SizeLf | DataLf | TrailerLf | FinalLf, _) => {
                return Err(bad("chunked: CR not followed by LF"))
            }
            // decode() never steps in these states.
            (Data | Done | Failed(_), _) => self.state,
        };
        Ok(())
    }
}
#[cfg(test)]
mod tests;
