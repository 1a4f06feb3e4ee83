//! Escapes untrusted request bytes so they cannot forge log lines or drive a terminal.
//!
//! A request can carry ESC sequences (recolour or rewrite an operator's terminal), CR/LF (fake a
//! second log line) and arbitrary non-UTF-8 bytes. Everything outside printable ASCII becomes
//! `\xNN`. `\` and `"` are escaped too (as nginx does): without `\` the output would be ambiguous
//! (a literal `\x1b` in a URI would read like an escaped ESC), and without `"` a User-Agent could
//! close a quoted field of an Apache-style log-format and forge the fields after it.

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Whether `b` is written as itself.
#[inline]
fn is_plain(b: u8) -> bool {
    (0x20..0x7f).contains(&b) && b != b'\\' && b != b'"'
}

/// Appends `bytes` to `out`, writing every byte that is not plain printable ASCII as `\xNN`.
pub fn push_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    // Hot path (called several times per logged request): copy clean runs in one go.
    let mut rest = bytes;
    while let Some(pos) = rest.iter().position(|&b| !is_plain(b)) {
        out.extend_from_slice(&rest[..pos]);
        let b = rest[pos];
        out.extend_from_slice(&[
            b'\\',
            b'x',
            HEX[usize::from(b >> 4)],
            HEX[usize::from(b & 0xf)],
        ]);
        rest = &rest[pos + 1..];
    }
    out.extend_from_slice(rest);
}

/// `bytes` escaped as by [`push_escaped`], as a `String`.
pub fn escaped(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len());
    push_escaped(&mut out, bytes);
    // Only printable ASCII and hex digits were written.
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_ascii_is_kept() {
        let s = b"GET /a/b?c=d&e=%20f~!@#$%^&*()_+{}|:<>?,./;'[]=-`";
        assert_eq!(escaped(s).as_bytes(), s);
    }

    #[test]
    fn control_and_high_bytes_are_hex_escaped() {
        assert_eq!(
            escaped(b"/\x1b[31mred\r\nfake"),
            "/\\x1b[31mred\\x0d\\x0afake"
        );
        assert_eq!(escaped(b"\x00\x7f\x80\xff\t"), "\\x00\\x7f\\x80\\xff\\x09");
        assert_eq!(escaped("é".as_bytes()), "\\xc3\\xa9");
    }

    #[test]
    fn backslash_and_quote_are_escaped_so_output_is_unambiguous() {
        assert_eq!(escaped(b"a\\x1b"), "a\\x5cx1b");
        assert_eq!(escaped(b"curl\" \"x"), "curl\\x22 \\x22x");
    }

    #[test]
    fn appends_to_existing_buffer() {
        let mut out = b"uri=".to_vec();
        push_escaped(&mut out, b"/\n");
        push_escaped(&mut out, b"");
        assert_eq!(out, b"uri=/\\x0a");
    }
}
