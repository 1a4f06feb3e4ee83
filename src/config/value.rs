//! Reading one option value by its kind as uWSGI reads it (`atoi`/`strtoul` for numbers, its
//! boolean words), with a warning wherever that reading is a trap (an inline `; comment`, a
//! `4k` suffix, a word where a number belongs) and an error only where uWSGI refuses too or
//! the value is outside the option's range.

use super::options::Kind;
use serde::Serialize;

/// A typed option value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Value {
    Bool(bool),
    Int(u64),
    Text(String),
}

impl Value {
    pub fn as_bool(&self) -> bool {
        matches!(self, Value::Bool(true))
    }
    pub fn as_u64(&self) -> u64 {
        match self {
            Value::Int(n) => *n,
            Value::Bool(b) => u64::from(*b),
            Value::Text(_) => 0,
        }
    }
    pub fn as_str(&self) -> &str {
        match self {
            Value::Text(s) => s,
            _ => "",
        }
    }
}

/// Parses `text` strictly (digits only for numbers), for the table's own defaults.
pub fn parse(kind: Kind, text: &str, bare: bool) -> Result<Value, String> {
    match kind {
        Kind::Int | Kind::Bytes | Kind::Seconds | Kind::Bytes16 | Kind::Megabytes => {
            parse_uint(text, bare, u64::MAX).map(Value::Int)
        }
        _ => read(kind, (0, u64::MAX), text, bare).map(|(v, _)| v),
    }
}

/// Where an inline comment would start if uWSGI had them: ` ;` or ` #` (after a blank).
pub fn inline_comment(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    (1..b.len())
        .find(|&i| (b[i] == b';' || b[i] == b'#') && (b[i - 1] == b' ' || b[i - 1] == b'\t'))
}

/// C `atoi`/`strtoul` on `text`: leading blanks, a sign, then digits; the rest is ignored.
/// Returns the number (saturated) and the byte length that was read.
pub fn atoi(text: &str) -> (i128, usize) {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() && (b[i] == b' ' || (b'\t'..=b'\r').contains(&b[i])) {
        i += 1;
    }
    let neg = i < b.len() && b[i] == b'-';
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let start = i;
    let mut n: i128 = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        n = (n * 10 + i128::from(b[i] - b'0')).min(i128::from(u64::MAX) + 1);
        i += 1;
    }
    if i == start {
        return (0, 0);
    }
    (if neg { -n } else { n }, i)
}

/// Reads `text` for an option of `kind` with accepted `range`, as uWSGI reads it.
/// `bare` is true for a key written without `=`. Returns the value and the warnings about
/// how uWSGI's reading differs from what the text seems to say; errors say what to write.
pub fn read(
    kind: Kind,
    range: (u64, u64),
    text: &str,
    bare: bool,
) -> Result<(Value, Vec<String>), String> {
    let mut warnings = Vec::new();
    let comment = inline_comment(text);
    let value = match kind {
        Kind::Bool => {
            let b = parse_bool(text);
            if let Some(at) = comment {
                let lead = text[..at].trim_end();
                let surprise = !parse_bool(lead) && b;
                warnings.push(format!(
                    "`{text}`: uWSGI has no inline comments, so the whole text is the value{}; \
                     move the comment to its own line",
                    if surprise {
                        " and it reads as TRUE (only exactly false/off/no/0 are false)".to_string()
                    } else {
                        format!(" (read as {b})")
                    }
                ));
            }
            Value::Bool(b)
        }
        Kind::Int | Kind::Bytes | Kind::Seconds | Kind::Bytes16 | Kind::Megabytes => {
            let n = read_number(kind, range, text, bare, comment, &mut warnings)?;
            Value::Int(n)
        }
        _ => {
            let v = parse_text(kind, text, bare)?;
            if let Some(at) = comment {
                warnings.push(format!(
                    "`{text}`: uWSGI has no inline comments, so `{}` is part of the value; \
                     move the comment to its own line",
                    &text[at..]
                ));
            }
            v
        }
    };
    Ok((value, warnings))
}

fn read_number(
    kind: Kind,
    (min, max): (u64, u64),
    text: &str,
    bare: bool,
    comment: Option<usize>,
    warnings: &mut Vec<String>,
) -> Result<u64, String> {
    let (n, used) = atoi(text);
    if n < 0 {
        return Err(format!(
            "`{text}` is negative; it must be 0 or more (uWSGI exits here too)"
        ));
    }
    let rest = text[used..].trim();
    if bare || text.trim().is_empty() {
        warnings.push("no value: uWSGI reads an empty number as 0".to_string());
    } else if used == 0 {
        warnings.push(format!(
            "`{text}` is not a number: uWSGI reads it as 0; write a number"
        ));
    } else if let Some(at) = comment.filter(|&at| text[used..at].trim().is_empty()) {
        warnings.push(format!(
            "uWSGI has no inline comments: `{}` is part of the value, which uWSGI reads as {n} \
             (its leading digits); move the comment to its own line",
            &text[at..]
        ));
    } else if !rest.is_empty() {
        warnings.push(format!(
            "`{text}` is read as {n} by uWSGI (only the leading digits count; no suffixes such \
             as k or M); write the plain number"
        ));
    }
    let mut n = u64::try_from(n).unwrap_or(u64::MAX);
    if kind == Kind::Bytes16 && n > 65535 {
        warnings.push(format!(
            "{n} is above 65535, the largest size the uwsgi protocol's 16-bit field can carry; \
             uWSGI and rw use 65535"
        ));
        n = 65535;
    }
    if n < min || n > max {
        return Err(format!(
            "{n} is out of range: write a number from {min} to {max}"
        ));
    }
    Ok(n)
}

fn parse_text(kind: Kind, text: &str, bare: bool) -> Result<Value, String> {
    match kind {
        // Numbers and booleans are read by `read`; text is their last resort.
        Kind::Bool | Kind::Int | Kind::Bytes | Kind::Seconds | Kind::Bytes16 | Kind::Megabytes => {
            Ok(Value::Text(text.to_string()))
        }
        Kind::Mode => parse_mode(text, bare).map(|m| Value::Int(u64::from(m))),
        Kind::KeyValue | Kind::Mapping | Kind::Mount => {
            if bare || text.is_empty() {
                return Err("needs a value of the form KEY=VALUE".into());
            }
            match text.split_once('=') {
                Some((k, _)) if !k.trim().is_empty() => Ok(Value::Text(text.to_string())),
                _ => Err(format!("`{text}` is not of the form KEY=VALUE")),
            }
        }
        Kind::Header => match text.split_once(':') {
            Some((name, _)) if is_token(name.trim_end()) && !name.is_empty() => {
                if text.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
                    Err("header contains control characters".into())
                } else {
                    Ok(Value::Text(text.to_string()))
                }
            }
            _ => Err(format!(
                "`{text}` is not a header of the form `Name: value`"
            )),
        },
        Kind::Address => {
            if text.is_empty() {
                Err("needs an address: host:port, :port or a unix socket path".into())
            } else {
                Ok(Value::Text(text.to_string()))
            }
        }
        Kind::Str | Kind::File | Kind::Dir | Kind::NewPath | Kind::Account | Kind::Include => {
            if text.is_empty() && !matches!(kind, Kind::Str) {
                Err("needs a value".into())
            } else {
                Ok(Value::Text(text.to_string()))
            }
        }
    }
}

/// uWSGI: false only for `false`, `off`, `no` (any case) or exactly `0`; everything else is true.
pub fn parse_bool(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    !(t == "false" || t == "off" || t == "no" || t == "0")
}

fn parse_uint(text: &str, bare: bool, max: u64) -> Result<u64, String> {
    if bare || text.is_empty() {
        return Err("needs a number (uWSGI would silently read an empty value as 0)".into());
    }
    if let Some(rest) = text.strip_prefix('-') {
        if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("`{text}` is negative; it must be 0 or more"));
        }
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        let lead: String = text.chars().take_while(|c| c.is_ascii_digit()).collect();
        let hint = if lead.is_empty() {
            "uWSGI would silently read it as 0".to_string()
        } else {
            format!("uWSGI would silently read it as {lead}; write the plain number")
        };
        return Err(format!("`{text}` is not a whole number ({hint})"));
    }
    match text.parse::<u64>() {
        Ok(n) if n <= max => Ok(n),
        _ => Err(format!("`{text}` is too large")),
    }
}

fn parse_mode(text: &str, bare: bool) -> Result<u32, String> {
    if bare || text.is_empty() {
        return Err(
            "needs a mode such as 660 (uWSGI exits with `invalid chmod value` here)".into(),
        );
    }
    if text == "1" {
        return Ok(0o666);
    }
    if text.len() == 3 && text.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return u32::from_str_radix(text, 8).map_err(|e| e.to_string());
    }
    Err(format!(
        "`{text}` is not a mode: write three octal digits such as 660, or 1 for 666"
    ))
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_as_uwsgi_spells_them() {
        for t in ["true", "1", "yes", "on", "banana", "", "TRUE"] {
            assert!(parse_bool(t), "{t}");
        }
        for t in ["false", "0", "no", "off", "Off", "NO", "False"] {
            assert!(!parse_bool(t), "{t}");
        }
    }

    #[test]
    fn defaults_are_strict() {
        assert_eq!(parse(Kind::Int, "4", false), Ok(Value::Int(4)));
        for bad in ["four", "4k", "+4", "0x4", " 4", "4.0", "٥"] {
            assert!(parse(Kind::Int, bad, false).is_err(), "{bad}");
        }
        assert!(parse(Kind::Int, "", true)
            .unwrap_err()
            .contains("needs a number"));
        assert!(parse(Kind::Int, "-1", false)
            .unwrap_err()
            .contains("negative"));
        assert!(parse(Kind::Int, "99999999999999999999999", false).is_err());
        assert!(parse(Kind::Int, "4k", false)
            .unwrap_err()
            .contains("read it as 4"));
    }

    fn rd(kind: Kind, text: &str) -> Result<(Value, Vec<String>), String> {
        read(kind, (0, super::super::options::C_INT_MAX), text, false)
    }

    #[test]
    fn buffer_size_is_clamped_like_uwsgi() {
        assert_eq!(
            rd(Kind::Bytes16, "65535").unwrap(),
            (Value::Int(65535), vec![])
        );
        let (v, w) = rd(Kind::Bytes16, "65536").unwrap();
        assert_eq!(v, Value::Int(65535));
        assert!(w[0].contains("65535"), "{w:?}");
    }

    #[test]
    fn numbers_read_as_atoi_with_warnings() {
        let (v, w) = rd(Kind::Seconds, "60 ; kill after 60 s").unwrap();
        assert_eq!(v, Value::Int(60));
        assert!(w[0].contains("no inline comments"), "{w:?}");
        let (v, w) = rd(Kind::Int, "4k").unwrap();
        assert_eq!(v, Value::Int(4));
        assert!(w[0].contains("read as 4"), "{w:?}");
        let (v, w) = rd(Kind::Bytes, "true").unwrap();
        assert_eq!(v, Value::Int(0));
        assert!(w[0].contains("not a number"), "{w:?}");
        let (v, w) = read(Kind::Int, (0, 10), "", true).unwrap();
        assert_eq!(v, Value::Int(0));
        assert!(w[0].contains("empty"), "{w:?}");
        assert_eq!(rd(Kind::Int, " 7").unwrap(), (Value::Int(7), vec![]));
        assert!(rd(Kind::Int, "-1").unwrap_err().contains("negative"));
        let e = read(Kind::Int, (1, 4096), "4294967296", false).unwrap_err();
        assert!(e.contains("from 1 to 4096"), "{e}");
        assert!(rd(Kind::Int, "99999999999999999999999999").is_err());
    }

    #[test]
    fn booleans_with_comments() {
        let (v, w) = rd(Kind::Bool, "true ; comment").unwrap();
        assert_eq!(v, Value::Bool(true));
        assert_eq!(w.len(), 1);
        let (v, w) = rd(Kind::Bool, "false ; off in dev").unwrap();
        assert_eq!(v, Value::Bool(true));
        assert!(w[0].contains("TRUE"), "{w:?}");
        assert_eq!(rd(Kind::Bool, "no").unwrap(), (Value::Bool(false), vec![]));
    }

    #[test]
    fn chmod_modes() {
        assert_eq!(parse(Kind::Mode, "660", false), Ok(Value::Int(0o660)));
        assert_eq!(parse(Kind::Mode, "1", false), Ok(Value::Int(0o666)));
        assert!(parse(Kind::Mode, "", true).is_err());
        assert!(parse(Kind::Mode, "888", false).is_err());
        assert!(parse(Kind::Mode, "0660", false).is_err());
    }

    #[test]
    fn pairs_and_headers() {
        assert!(parse(Kind::KeyValue, "A=b", false).is_ok());
        assert!(parse(Kind::KeyValue, "A", false).is_err());
        assert!(parse(Kind::KeyValue, "=b", false).is_err());
        assert!(parse(Kind::Mapping, "/static=/srv/static", false).is_ok());
        assert!(parse(Kind::Header, "X-Frame-Options: DENY", false).is_ok());
        assert!(parse(Kind::Header, "Bad Header: x", false).is_err());
        assert!(parse(Kind::Header, "X-A: a\u{1}", false).is_err());
    }

    #[test]
    fn megabytes_do_not_overflow() {
        let limits = (0, (i64::MAX as u64) >> 20);
        assert!(read(Kind::Megabytes, limits, "18446744073709551615", false).is_err());
        assert_eq!(
            read(Kind::Megabytes, limits, "512", false),
            Ok((Value::Int(512), vec![]))
        );
    }
}
