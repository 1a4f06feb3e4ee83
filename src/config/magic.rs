//! uWSGI's per-file magic variables (`%d`, `%n`, `%p`, …), substituted as a file is read.

/// Facts about one config file, as the magic variables describe it.
#[derive(Debug, Clone, Default)]
pub struct FileFacts {
    /// Absolute path, not symlink-resolved (`%p`).
    pub path: String,
    /// The name exactly as given (`%o`).
    pub given: String,
    /// The section asked for with `file:section`, empty when none (`%x`).
    pub section: String,
    /// Inode number (`%i`).
    pub inode: u64,
}

/// Facts about the process and host, gathered once at startup.
#[derive(Debug, Clone, Default)]
pub struct HostFacts {
    pub cwd: String,
    pub hostname: String,
    pub cpus: usize,
    pub start_unix_us: u64,
    pub uid: u32,
    pub user: String,
    pub gid: u32,
    pub group: String,
    pub binary: String,
}

/// The version uWSGI-compatible tools see (`%V`, stats `version`).
pub const UWSGI_VERSION: &str = "2.0.30";

/// What a line's magic variables expand against.
pub struct MagicCtx<'a> {
    pub current: &'a FileFacts,
    pub first: &'a FileFacts,
    pub host: &'a HostFacts,
}

/// Expands every `%c` in `line`. `%(` is kept for the later `%(name)` pass; unknown letters
/// expand to nothing, as in uWSGI, and are reported in `unknown` so check-config can warn.
pub fn expand(line: &str, ctx: &MagicCtx, unknown: &mut Vec<char>) -> String {
    if !line.contains('%') {
        return line.to_string();
    }
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(m) = chars.next() else {
            // A lone trailing `%`: uWSGI drops it with the NUL it swallows.
            unknown.push('\0');
            break;
        };
        match m {
            '(' => out.push_str("%("),
            '%' => out.push('%'),
            '[' => out.push('\x1b'),
            'v' => out.push_str(&ctx.host.cwd),
            'h' => out.push_str(&ctx.host.hostname),
            'k' => out.push_str(&ctx.host.cpus.to_string()),
            'V' => out.push_str(UWSGI_VERSION),
            't' => out.push_str(&(ctx.host.start_unix_us / 1_000_000).to_string()),
            'T' => out.push_str(&ctx.host.start_unix_us.to_string()),
            'u' => out.push_str(&ctx.host.uid.to_string()),
            'U' => out.push_str(&ctx.host.user),
            'g' => out.push_str(&ctx.host.gid.to_string()),
            'G' => out.push_str(&ctx.host.group),
            'b' => out.push_str(&ctx.host.binary),
            _ => match file_var(m, ctx) {
                Some(v) => out.push_str(&v),
                None => unknown.push(m),
            },
        }
    }
    out
}

fn file_var(m: char, ctx: &MagicCtx) -> Option<String> {
    let (facts, lower) = if m.is_ascii_uppercase() {
        (ctx.first, m.to_ascii_lowercase())
    } else {
        (ctx.current, m)
    };
    let path = facts.path.as_str();
    let (dir, file) = match path.rfind('/') {
        Some(i) => (&path[..=i], &path[i + 1..]),
        None => ("", path),
    };
    let (stem, ext) = match file.rfind('.') {
        Some(i) => (&file[..i], &file[i + 1..]),
        None => (file, ""),
    };
    let components: Vec<&str> = dir.split('/').filter(|s| !s.is_empty()).collect();
    Some(match lower {
        'd' => dir.to_string(),
        'p' => path.to_string(),
        's' => file.to_string(),
        'n' => stem.to_string(),
        'e' => ext.to_string(),
        'c' => components.last().copied().unwrap_or("").to_string(),
        'x' => facts.section.clone(),
        'o' => facts.given.clone(),
        'i' => facts.inode.to_string(),
        'j' => format!("{:08X}", djb33x(path.as_bytes())),
        d @ '0'..='9' if !m.is_ascii_uppercase() => {
            let idx = d as usize - '0' as usize;
            components.get(idx).copied().unwrap_or("").to_string()
        }
        _ => return None,
    })
}

/// uWSGI's `djb33x_hash`, used for `%j`.
fn djb33x(bytes: &[u8]) -> u32 {
    bytes.iter().fold(5381u32, |h, &b| {
        (h.wrapping_shl(5).wrapping_add(h)) ^ u32::from(b)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(path: &str, given: &str) -> FileFacts {
        FileFacts {
            path: path.into(),
            given: given.into(),
            section: String::new(),
            inode: 7,
        }
    }

    fn host() -> HostFacts {
        HostFacts {
            cwd: "/srv/demo/cfg".into(),
            hostname: "vm".into(),
            cpus: 2,
            ..Default::default()
        }
    }

    fn run(line: &str) -> (String, Vec<char>) {
        let current = facts("/srv/demo/cfg/sub/base.ini", "sub/base.ini");
        let first = facts("/srv/demo/cfg/main.ini", "main.ini");
        let host = host();
        let ctx = MagicCtx {
            current: &current,
            first: &first,
            host: &host,
        };
        let mut unknown = Vec::new();
        (expand(line, &ctx, &mut unknown), unknown)
    }

    #[test]
    fn reference_table_values() {
        let cases = [
            ("%d", "/srv/demo/cfg/sub/"),
            ("%p", "/srv/demo/cfg/sub/base.ini"),
            ("%s", "base.ini"),
            ("%n", "base"),
            ("%e", "ini"),
            ("%c", "sub"),
            ("%0", "srv"),
            ("%3", "sub"),
            ("%9", ""),
            ("%x", ""),
            ("%o", "sub/base.ini"),
            ("%O", "main.ini"),
            ("%D", "/srv/demo/cfg/"),
            ("%N", "main"),
            ("%v", "/srv/demo/cfg"),
            ("%h", "vm"),
            ("%k", "2"),
            ("%V", "2.0.30"),
            ("%%", "%"),
            ("%(chdir)/x", "%(chdir)/x"),
            ("%[", "\x1b"),
            ("100%%", "100%"),
        ];
        for (input, want) in cases {
            assert_eq!(run(input).0, want, "{input}");
        }
    }

    #[test]
    fn unknown_letters_vanish_and_are_reported() {
        assert_eq!(run("a%Zb"), ("ab".to_string(), vec!['Z']));
        assert_eq!(run("x%").1, vec!['\0']);
    }

    #[test]
    fn hash_is_eight_hex_digits() {
        let (j, _) = run("%j");
        assert_eq!(j.len(), 8);
        assert!(j.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
