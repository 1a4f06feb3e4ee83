//! The ini reader: text of one file → `key = value` lines of one section, with line numbers.
//!
//! Written by hand rather than with rust-ini because uWSGI's dialect differs from what that
//! crate reads (no inline comments, no quotes or escapes, repeated keys kept in order, section
//! name = text after `[` minus the last character) and check-config needs each entry's line.

/// One `key = value` line of the selected section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub key: String,
    pub value: String,
    /// Written as a bare key (`master`), which uWSGI reads as the empty string.
    pub bare: bool,
    /// 1-based line number in the file.
    pub line: u32,
}

/// What the reader found in one file.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Section {
    pub lines: Vec<Line>,
    /// Whether any `[section]` header of the wanted name was seen.
    pub found: bool,
}

/// Reads the lines of `section` from `text`. Each raw line passes through `line_hook` first
/// (uWSGI substitutes magic variables in the raw text before parsing, so they apply
/// everywhere, even in comments and other sections).
pub fn read_section(
    text: &str,
    section: &str,
    mut line_hook: impl FnMut(&str, u32) -> String,
) -> Section {
    let mut out = Section::default();
    let mut current: Option<String> = None;
    for (idx, raw) in text.split('\n').enumerate() {
        let number = u32::try_from(idx + 1).unwrap_or(u32::MAX);
        let line = line_hook(raw, number);
        let line = line.trim_matches(|c| c == ' ' || c == '\t' || c == '\r');
        if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            // uWSGI drops the last character, whatever it is (normally `]`).
            let mut name = rest.to_string();
            name.pop();
            if name == section {
                out.found = true;
            }
            current = Some(name);
            continue;
        }
        if current.as_deref() != Some(section) {
            continue;
        }
        let (key, value, bare) = match line.split_once('=') {
            Some((k, v)) => (
                k.trim_end_matches([' ', '\t']),
                v.trim_matches([' ', '\t']),
                false,
            ),
            None => (line, "", true),
        };
        if key.is_empty() {
            continue;
        }
        out.lines.push(Line {
            key: key.to_string(),
            value: value.to_string(),
            bare,
            line: number,
        });
    }
    out
}

/// Splits `file.ini:section` at the last `:` (after the last `/`); an empty section means `uwsgi`.
pub fn split_section(spec: &str) -> (&str, &str) {
    let slash = spec.rfind('/').map_or(0, |i| i + 1);
    match spec[slash..].rfind(':') {
        Some(i) => {
            let (file, sec) = (&spec[..slash + i], &spec[slash + i + 1..]);
            (file, if sec.is_empty() { "uwsgi" } else { sec })
        }
        None => (spec, "uwsgi"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, section: &str) -> Section {
        read_section(text, section, |l, _| l.to_string())
    }

    fn kv(s: &Section) -> Vec<(&str, &str, bool, u32)> {
        s.lines
            .iter()
            .map(|l| (l.key.as_str(), l.value.as_str(), l.bare, l.line))
            .collect()
    }

    #[test]
    fn uwsgi_dialect() {
        let text = "top = ignored\n[uwsgi]\n; comment\n# comment\n  master  \nsocket = a = b\n\
                    key = v ; not a comment\nquoted = \"x\"\r\n[other]\nprocesses = 9\n[uwsgi]\nsocket = /b\n";
        let s = read(text, "uwsgi");
        assert!(s.found);
        assert_eq!(
            kv(&s),
            vec![
                ("master", "", true, 5),
                ("socket", "a = b", false, 6),
                ("key", "v ; not a comment", false, 7),
                ("quoted", "\"x\"", false, 8),
                ("socket", "/b", false, 12),
            ]
        );
    }

    #[test]
    fn section_name_drops_last_character() {
        let s = read("[app)\nx = 1\n", "app");
        assert_eq!(kv(&s), vec![("x", "1", false, 2)]);
        assert!(!read("x = 1\n", "uwsgi").found);
    }

    #[test]
    fn empty_key_lines_are_skipped() {
        assert!(read("[uwsgi]\n= 5\n", "uwsgi").lines.is_empty());
    }

    #[test]
    fn section_specs() {
        assert_eq!(split_section("a.ini"), ("a.ini", "uwsgi"));
        assert_eq!(split_section("a.ini:prod"), ("a.ini", "prod"));
        assert_eq!(split_section("a.ini:"), ("a.ini", "uwsgi"));
        assert_eq!(split_section("/x:y/a.ini"), ("/x:y/a.ini", "uwsgi"));
        assert_eq!(split_section(":other"), ("", "other"));
    }

    #[test]
    fn never_panics_on_mutations() {
        let sample = "[uwsgi]\nsocket = %(chdir)/x.sock\nmaster\n[other]\n";
        let mut seed = 12345u64;
        for _ in 0..2000 {
            let mut bytes = sample.as_bytes().to_vec();
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            let pos = (seed >> 33) as usize % bytes.len();
            bytes[pos] = (seed >> 20) as u8;
            let text = String::from_utf8_lossy(&bytes);
            let _ = read(&text, "uwsgi");
        }
    }
}
