//! The expansion passes over the entry list: `$(ENV)`, then `@(file)`, then `%(name)`.

use super::diag::{Diagnostic, Origin};
use super::load::Entry;

/// What the passes may look up outside the entry list (injected so the passes stay pure).
pub struct Lookups<'a> {
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub read_file: &'a dyn Fn(&str) -> Result<String, String>,
}

/// Expands every entry's value in place. Unknown `%(name)` references, reference loops,
/// unreadable `@(file)`s and unterminated `$(`/`@(`/`%(` are errors; an unset `$(VAR)` is left
/// as written (as uWSGI does) with a warning.
pub fn expand_all(entries: &mut [Entry], look: &Lookups) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    for e in entries.iter_mut() {
        e.value = simple_pass(&e.value, '$', &e.origin, &mut diags, |name| {
            let v = (look.env)(name);
            if v.is_none() {
                Some(Err(format!(
                    "$({name}) is not set in the environment; left as written"
                )))
            } else {
                v.map(Ok)
            }
        });
        e.value = simple_pass(&e.value, '@', &e.origin, &mut diags, |path| {
            Some(
                (look.read_file)(path)
                    .map(|mut s| {
                        if s.ends_with('\n') || s.ends_with('\r') {
                            s.pop();
                        }
                        s
                    })
                    .map_err(|err| format!("@({path}): {err}")),
            )
        });
    }
    let originals: Vec<(String, String)> = entries
        .iter()
        .map(|e| (e.key.clone(), e.value.clone()))
        .collect();
    let mut resolver = Resolver {
        originals: &originals,
        cache: vec![None; originals.len()],
        visiting: Vec::new(),
    };
    for (i, entry) in entries.iter_mut().enumerate() {
        match resolver.resolve_index(i) {
            Ok(v) => entry.value = v,
            Err(msg) => diags.push(Diagnostic::error(&entry.origin, msg)),
        }
    }
    diags
}

/// One `X(…)` pass. `lookup` returns None to leave the text as written, Some(Err) for a
/// diagnostic (an error unless the text is kept, then a warning).
fn simple_pass(
    value: &str,
    sigil: char,
    origin: &Origin,
    diags: &mut Vec<Diagnostic>,
    mut lookup: impl FnMut(&str) -> Option<Result<String, String>>,
) -> String {
    let open = format!("{sigil}(");
    if !value.contains(&open) {
        return value.to_string();
    }
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find(&open) {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = matching_paren(after) else {
            diags.push(Diagnostic::error(
                origin,
                format!("unterminated `{open}` in `{value}`"),
            ));
            out.push_str(&rest[start..]);
            return out;
        };
        let name = &after[..end];
        match lookup(name) {
            Some(Ok(v)) => out.push_str(&v),
            Some(Err(msg)) => {
                if sigil == '$' {
                    diags.push(Diagnostic::warning(origin, msg));
                } else {
                    diags.push(Diagnostic::error(origin, msg));
                }
                out.push_str(&rest[start..start + 2 + end + 1]);
            }
            None => out.push_str(&rest[start..start + 2 + end + 1]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Index of the `)` closing a `(` that was just consumed, honouring nesting.
fn matching_paren(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => return Some(i),
            ')' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// Options whose values are templates with their own `%(name)` variables: uWSGI leaves
/// unknown names in them as written, so they are not config errors there.
const TEMPLATE_KEYS: &[&str] = &["log-format", "logformat"];

struct Resolver<'a> {
    originals: &'a [(String, String)],
    cache: Vec<Option<Result<String, String>>>,
    visiting: Vec<usize>,
}

impl Resolver<'_> {
    fn resolve_index(&mut self, i: usize) -> Result<String, String> {
        if let Some(done) = &self.cache[i] {
            return done.clone();
        }
        if let Some(pos) = self.visiting.iter().position(|&v| v == i) {
            let mut names: Vec<&str> = self.visiting[pos..]
                .iter()
                .map(|&v| self.originals[v].0.as_str())
                .collect();
            names.push(&self.originals[i].0);
            return Err(format!("reference loop: {}", names.join(" -> ")));
        }
        self.visiting.push(i);
        let value = self.originals[i].1.clone();
        let lenient = TEMPLATE_KEYS.contains(&self.originals[i].0.as_str());
        let result = self.expand_refs(&value, 0, lenient);
        self.visiting.pop();
        self.cache[i] = Some(result.clone());
        result
    }

    /// `lenient`: unknown names are kept as written (log-format variables).
    fn expand_refs(&mut self, value: &str, depth: usize, lenient: bool) -> Result<String, String> {
        if depth > 16 || self.visiting.len() > 256 {
            return Err("references nested too deeply".to_string());
        }
        if !value.contains("%(") {
            return Ok(value.to_string());
        }
        let mut out = String::new();
        let mut rest = value;
        while let Some(start) = rest.find("%(") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end =
                matching_paren(after).ok_or_else(|| format!("unterminated `%(` in `{value}`"))?;
            let inner = self.expand_refs(&after[..end], depth + 1, lenient)?;
            let v = if inner.contains(' ') {
                self.math(&inner)
            } else {
                self.lookup(&inner)
            };
            match v {
                Ok(v) => out.push_str(&v),
                Err(_) if lenient => out.push_str(&rest[start..start + 2 + end + 1]),
                Err(e) => return Err(e),
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// `%(name)` is the first entry with that key (uWSGI), falling back to an alias's entry.
    fn lookup(&mut self, name: &str) -> Result<String, String> {
        let idx = self
            .originals
            .iter()
            .position(|(k, _)| k == name)
            .or_else(|| {
                let spec = super::options::lookup(name)?;
                self.originals.iter().position(|(k, _)| {
                    super::options::lookup(k).is_some_and(|o| o.name == spec.name)
                })
            });
        match idx {
            Some(i) => self.resolve_index(i),
            None => Err(format!(
                "%({name}) refers to nothing: no option or placeholder `{name}` is set"
            )),
        }
    }

    /// uWSGI's math mode: tokens left to right, `+ - * /`, `++`/`--`, juxtaposition concatenates.
    fn math(&mut self, expr: &str) -> Result<String, String> {
        let mut acc: Option<String> = None;
        let mut op: Option<&str> = None;
        for tok in expr.split_whitespace() {
            match tok {
                "+" | "-" | "*" | "/" => op = Some(tok),
                "++" | "--" => {
                    let n = as_num(acc.as_deref().unwrap_or("0"), expr)?;
                    acc = Some((if tok == "++" { n + 1 } else { n - 1 }).to_string());
                }
                _ => {
                    let v = if tok.bytes().all(|b| b.is_ascii_digit()) {
                        tok.to_string()
                    } else {
                        self.lookup(tok)?
                    };
                    acc = Some(match (acc.take(), op.take()) {
                        (None, _) => v,
                        (Some(a), None) => a + &v,
                        (Some(a), Some(o)) => {
                            let (x, y) = (as_num(&a, expr)?, as_num(&v, expr)?);
                            match o {
                                "+" => x + y,
                                "-" => x - y,
                                "*" => x.saturating_mul(y),
                                _ if y == 0 => {
                                    return Err(format!("division by zero in %({expr})"))
                                }
                                _ => x / y,
                            }
                            .to_string()
                        }
                    });
                }
            }
        }
        Ok(acc.unwrap_or_default())
    }
}

fn as_num(s: &str, expr: &str) -> Result<i64, String> {
    s.trim()
        .parse::<i64>()
        .map_err(|_| format!("`{s}` is not a number in %({expr})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(pairs: &[(&str, &str)]) -> Vec<Entry> {
        pairs
            .iter()
            .enumerate()
            .map(|(i, (k, v))| Entry {
                key: k.to_string(),
                value: v.to_string(),
                bare: false,
                placeholder: false,
                origin: Origin::File {
                    path: "t.ini".into(),
                    line: i as u32 + 1,
                },
            })
            .collect()
    }

    fn run(pairs: &[(&str, &str)]) -> (Vec<String>, Vec<String>) {
        let mut e = entries(pairs);
        let env = |k: &str| (k == "HOME_DIR").then(|| "/home/x".to_string());
        let read = |p: &str| {
            if p == "secret.txt" {
                Ok("s3cret\n".to_string())
            } else {
                Err("no such file".to_string())
            }
        };
        let d = expand_all(
            &mut e,
            &Lookups {
                env: &env,
                read_file: &read,
            },
        );
        (
            e.into_iter().map(|e| e.value).collect(),
            d.into_iter().map(|d| d.to_string()).collect(),
        )
    }

    #[test]
    fn references_resolve_forward_and_backward() {
        let (v, d) = run(&[
            ("socket", "%(chdir)/uwsgi/uwsgi.sock"),
            ("chdir", "/srv/app"),
            ("chdir", "/ignored"),
        ]);
        assert_eq!(v[0], "/srv/app/uwsgi/uwsgi.sock");
        assert!(d.is_empty(), "{d:?}");
    }

    #[test]
    fn env_and_file_passes() {
        let (v, d) = run(&[
            ("home", "$(HOME_DIR)/venv"),
            ("x", "[$(NO_SUCH)]"),
            ("pw", "@(secret.txt)"),
        ]);
        assert_eq!(v, vec!["/home/x/venv", "[$(NO_SUCH)]", "s3cret"]);
        assert_eq!(d.len(), 1);
        assert!(d[0].starts_with("t.ini:2: warning:"), "{d:?}");
        let (_, d) = run(&[("pw", "@(missing.txt)")]);
        assert!(
            d[0].contains("t.ini:1: error: @(missing.txt): no such file"),
            "{d:?}"
        );
    }

    #[test]
    fn unknown_reference_loop_and_unterminated_are_errors() {
        let (_, d) = run(&[("socket", "%(nope)/x")]);
        assert!(
            d[0].contains("t.ini:1: error: %(nope) refers to nothing"),
            "{d:?}"
        );
        let (_, d) = run(&[("a", "%(b)"), ("b", "%(a)")]);
        assert!(
            d.iter().any(|m| m.contains("reference loop: a -> b -> a")),
            "{d:?}"
        );
        let (_, d) = run(&[("a", "%(b")]);
        assert!(d[0].contains("unterminated `%(`"), "{d:?}");
        let (_, d) = run(&[("a", "%(a)")]);
        assert!(d[0].contains("reference loop"), "{d:?}");
    }

    #[test]
    fn math_mode() {
        let (v, _) = run(&[
            ("processes", "4"),
            ("m", "%(processes + 2)"),
            ("c", "%(processes processes)"),
            ("i", "%(processes ++)"),
        ]);
        assert_eq!(v[1], "6");
        assert_eq!(v[2], "44");
        assert_eq!(v[3], "5");
    }

    #[test]
    fn log_format_keeps_its_own_variables() {
        let (v, d) = run(&[("chdir", "/a"), ("log-format", "%(addr) %(uri) %(chdir)")]);
        assert_eq!(v[1], "%(addr) %(uri) /a");
        assert!(d.is_empty(), "{d:?}");
    }

    #[test]
    fn nested_references() {
        let (v, _) = run(&[("name", "chdir"), ("chdir", "/a"), ("x", "%(%(name))")]);
        assert_eq!(v[2], "/a");
    }
}
