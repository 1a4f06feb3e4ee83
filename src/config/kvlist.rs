//! uWSGI's `key=val,key=val` lists (`uwsgi_kvlist_parse`, used by `attach-daemon2` and
//! `cron2`): `\` escapes the next character (so `\,` is a comma inside a value), the first
//! `=` of an item splits key from value, a repeated key's last value wins. uWSGI skips
//! unknown keys and items without `=` silently; here they are returned, so a warning can
//! name them.

use std::collections::BTreeMap;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct KvList {
    values: BTreeMap<String, String>,
    /// Keys not in the known list, and items without `=`, in order.
    pub ignored: Vec<String>,
}

impl KvList {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }
}

/// Splits `src` into items at unescaped commas, removing the escaping backslashes.
fn items(src: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut escaped = false;
    for c in src.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

pub fn parse(src: &str, known: &[&str]) -> KvList {
    let mut kv = KvList::default();
    for item in items(src) {
        match item.split_once('=') {
            Some((k, v)) if known.contains(&k) => {
                kv.values.insert(k.to_string(), v.to_string());
            }
            Some((k, _)) => kv.ignored.push(k.to_string()),
            None if item.is_empty() => {}
            None => kv.ignored.push(item),
        }
    }
    kv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_last_wins_and_ignored() {
        let kv = parse(
            r"cmd=echo a\,b,freq=3,freq=5,x=1,bare,,cmd2=z",
            &["cmd", "freq"],
        );
        assert_eq!(kv.get("cmd"), Some("echo a,b"));
        assert_eq!(kv.get("freq"), Some("5"));
        assert_eq!(kv.ignored, vec!["x", "bare", "cmd2"]);
        let kv = parse("cmd=a=b", &["cmd"]);
        assert_eq!(kv.get("cmd"), Some("a=b"));
        assert_eq!(parse("", &["cmd"]), KvList::default());
    }
}
