//! `log-encoder` / `log-req-encoder`: uWSGI 2.0's chain of rewrites applied to each log line
//! before its loggers get it. Pure: a chain is parsed once and applied to bytes.
//!
//! Encoders: `prefix TEXT`, `suffix TEXT`, `nl` (a newline after the line), and the templates
//! `format TEMPLATE` and `json TEMPLATE` with `${msg}` (the line without its newline),
//! `${msgnl}` (with it), `${unix}`, `${micros}`, `${millis}` and `${strftime:FORMAT}`; `json`
//! escapes what it puts in. As in uWSGI, `format` and `json` end the line only where the
//! template says so (`${msgnl}`, or a following `nl` encoder).

use std::ffi::CString;

/// One encoder of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Encoder {
    Prefix(Vec<u8>),
    Suffix(Vec<u8>),
    Newline,
    Format(Vec<Piece>),
    Json(Vec<Piece>),
}

/// A piece of a `format`/`json` template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(Vec<u8>),
    Msg,
    MsgNl,
    Unix,
    Micros,
    Millis,
    Strftime(CString),
    /// A `${name}` uWSGI does not know: nothing.
    Nothing,
}

/// What `log-encoder = VALUE` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// The encoder, and the named logger it is only for (`NAME:ID …`; `log-route` feeds those).
    Encoder(Encoder, Option<String>),
    /// An encoder rw does not have (`gzip`, `compress`, a plugin's).
    Unknown(String),
}

/// Parses one `log-encoder` value: `NAME[:ID][ ARGS]`.
pub fn parse(value: &str) -> Parsed {
    let (head, args) = value.split_once(' ').unwrap_or((value, ""));
    let (name, id) = match head.split_once(':') {
        Some((n, id)) => (n, Some(id)),
        None => (head, None),
    };
    let enc = match name {
        "prefix" => Encoder::Prefix(args.as_bytes().to_vec()),
        "suffix" => Encoder::Suffix(args.as_bytes().to_vec()),
        "nl" => Encoder::Newline,
        "format" => Encoder::Format(template(args)),
        "json" => Encoder::Json(template(args)),
        _ => return Parsed::Unknown(name.to_string()),
    };
    Parsed::Encoder(enc, id.map(str::to_string))
}

/// Splits a template into text and `${…}` pieces, as uWSGI's scanner does: a `$` not followed
/// by `{` stays text, and an unclosed `${…` is text too.
fn template(t: &str) -> Vec<Piece> {
    let b = t.as_bytes();
    let mut out = Vec::new();
    let mut text = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' && b.get(i + 1) == Some(&b'{') {
            if let Some(close) = b[i + 2..].iter().position(|&c| c == b'}') {
                if !text.is_empty() {
                    out.push(Piece::Text(std::mem::take(&mut text)));
                }
                let name = &t[i + 2..i + 2 + close];
                out.push(match name {
                    "msg" => Piece::Msg,
                    "msgnl" => Piece::MsgNl,
                    "unix" => Piece::Unix,
                    "micros" => Piece::Micros,
                    "millis" => Piece::Millis,
                    _ => match name.strip_prefix("strftime:") {
                        Some(f) => Piece::Strftime(CString::new(f).unwrap_or_default()),
                        None => Piece::Nothing,
                    },
                });
                i += 2 + close + 1;
                continue;
            }
        }
        text.push(b[i]);
        i += 1;
    }
    if !text.is_empty() {
        out.push(Piece::Text(text));
    }
    out
}

/// Applies `chain` to `line` (which normally ends with its newline), at time `now_us`.
pub fn apply(chain: &[Encoder], line: &[u8], now_us: u64) -> Vec<u8> {
    let mut cur = line.to_vec();
    for e in chain {
        cur = match e {
            Encoder::Prefix(p) => [p.as_slice(), &cur].concat(),
            Encoder::Suffix(s) => [cur.as_slice(), s].concat(),
            Encoder::Newline => [cur.as_slice(), b"\n"].concat(),
            Encoder::Format(t) => render(t, &cur, now_us, false),
            Encoder::Json(t) => render(t, &cur, now_us, true),
        };
    }
    cur
}

fn render(t: &[Piece], msg: &[u8], now_us: u64, json: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.len() + 64);
    let put = |out: &mut Vec<u8>, bytes: &[u8]| {
        if json {
            push_json_escaped(out, bytes);
        } else {
            out.extend_from_slice(bytes);
        }
    };
    for p in t {
        match p {
            Piece::Text(s) => out.extend_from_slice(s),
            Piece::Msg => put(&mut out, msg.strip_suffix(b"\n").unwrap_or(msg)),
            Piece::MsgNl => put(&mut out, msg),
            Piece::Unix => out.extend_from_slice((now_us / 1_000_000).to_string().as_bytes()),
            Piece::Micros => out.extend_from_slice(now_us.to_string().as_bytes()),
            Piece::Millis => out.extend_from_slice((now_us / 1000).to_string().as_bytes()),
            Piece::Strftime(f) => {
                let mut s = Vec::new();
                super::date::push_strftime(&mut s, f, (now_us / 1_000_000) as i64);
                put(&mut out, &s);
            }
            Piece::Nothing => {}
        }
    }
    out
}

/// JSON string escaping: uWSGI's (`"`, `\`, tab, CR, LF), plus every other control byte as
/// `\u00XX`, which uWSGI leaves raw (making the line invalid JSON).
fn push_json_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f | 0x7f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(values: &[&str]) -> Vec<Encoder> {
        values
            .iter()
            .map(|v| match parse(v) {
                Parsed::Encoder(e, None) => e,
                other => panic!("{v}: {other:?}"),
            })
            .collect()
    }

    const NOW: u64 = 1_795_934_307_123_456;

    #[test]
    fn json_with_a_newline_encoder() {
        let c = chain(&[
            r#"json {"unix":${unix},"ms":${millis},"msg":"${msg}"}"#,
            "nl",
        ]);
        let out = apply(&c, b"GET /a\"b\\c\tq\x01 => generated\n", NOW);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"unix\":1795934307,\"ms\":1795934307123,\"msg\":\"GET /a\\\"b\\\\c\\tq\\u0001 => generated\"}\n"
        );
        let v: serde_json::Value =
            serde_json::from_slice(apply(&c, b"x\x1b[31m\n", NOW).strip_suffix(b"\n").unwrap())
                .unwrap();
        assert_eq!(v["msg"], "x\u{1b}[31m");
    }

    #[test]
    fn format_prefix_suffix_and_msgnl() {
        let c = chain(&["format [${micros}] ${msgnl}", "prefix >> "]);
        assert_eq!(
            apply(&c, b"hello\n", NOW),
            b">> [1795934307123456] hello\n".to_vec()
        );
        let c = chain(&["suffix !"]);
        assert_eq!(apply(&c, b"x", NOW), b"x!".to_vec());
        // Without ${msgnl} or `nl` the line has no end, as in uWSGI.
        let c = chain(&["format <${msg}>"]);
        assert_eq!(apply(&c, b"x\n", NOW), b"<x>".to_vec());
    }

    #[test]
    fn template_scanner_and_odd_names() {
        let c = chain(&["format $5 ${nope} ${msg ${unix}"]);
        assert_eq!(apply(&c, b"m\n", NOW), b"$5  ".to_vec());
        let c = chain(&["format ${strftime:%Y}|${msg}"]);
        let out = String::from_utf8(apply(&c, b"m\n", NOW)).unwrap();
        assert!(out == "2026|m" || out == "2027|m", "{out}");
        let c = chain(&["format"]);
        assert_eq!(apply(&c, b"m\n", NOW), b"".to_vec());
    }

    #[test]
    fn unknown_and_named() {
        assert_eq!(parse("gzip"), Parsed::Unknown("gzip".into()));
        assert_eq!(
            parse("json:mylog {}"),
            Parsed::Encoder(
                Encoder::Json(vec![Piece::Text(b"{}".to_vec())]),
                Some("mylog".into())
            )
        );
    }
}
