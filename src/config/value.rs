//! Parsing one option value by its kind, as uWSGI spells values but without `atoi`'s silent zeros.

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

/// Parses `text` for an option of `kind`. `bare` is true for a key written without `=`.
///
/// Errors are one sentence that says what to write instead.
pub fn parse(kind: Kind, text: &str, bare: bool) -> Result<Value, String> {
    match kind {
        Kind::Bool => Ok(Value::Bool(parse_bool(text))),
        Kind::Int | Kind::Bytes | Kind::Seconds => parse_uint(text, bare, u64::MAX).map(Value::Int),
        Kind::Bytes16 => parse_uint(text, bare, u64::MAX).and_then(|n| {
            if n > 65535 {
                Err(format!(
                    "{n} is above 65535, the largest size the uwsgi protocol's 16-bit field can carry \
                     (uWSGI silently clamps or wraps it); use 65535"
                ))
            } else {
                Ok(Value::Int(n))
            }
        }),
        Kind::Megabytes => parse_uint(text, bare, u64::MAX / (1 << 20)).map(Value::Int),
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
            _ => Err(format!("`{text}` is not a header of the form `Name: value`")),
        },
        Kind::Address => {
            if text.is_empty() {
                Err("needs an address: host:port, :port or a unix socket path".into())
            } else {
                Ok(Value::Text(text.to_string()))
            }
        }
        Kind::Str
        | Kind::File
        | Kind::Dir
        | Kind::NewPath
        | Kind::Account
        | Kind::Include => {
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
    fn integers_are_strict() {
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

    #[test]
    fn buffer_size_is_sixteen_bits() {
        assert_eq!(parse(Kind::Bytes16, "65535", false), Ok(Value::Int(65535)));
        assert!(parse(Kind::Bytes16, "65536", false)
            .unwrap_err()
            .contains("65535"));
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
        assert!(parse(Kind::Megabytes, "18446744073709551615", false).is_err());
        assert_eq!(parse(Kind::Megabytes, "512", false), Ok(Value::Int(512)));
    }
}
