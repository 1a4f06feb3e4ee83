//! The expansion passes over the entry list: `$(ENV)`, then `@(file)`, then `%(name)`.

use super::diag::{Diagnostic, Origin};
use super::load::Entry;

/// What the passes may look up outside the entry list (injected so the passes stay pure).
pub struct Lookups<'a> {
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub read_file: &'a dyn Fn(&str) -> Result<String, String>,
}

/// Expands every entry's value in place. Reference loops, unreadable `@(file)`s and
/// unterminated `$(`/`@(`/`%(` are errors; an unset `$(VAR)` and an unknown `%(name)` are left
/// as written (as uWSGI does) with a warning.
pub fn expand_all(entries: &mut [Entry], look: &Lookups) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    for e in entries.iter_mut() {
        if let Some(u) = super::compat::uwsgi_option(&e.key).filter(|u| u.immediate) {
            // uWSGI applies immediate options as they are read, before any expansion.
            if ["%(", "$(", "@("].iter().any(|s| e.value.contains(s)) {
                diags.push(Diagnostic::warning(
                    &e.origin,
                    format!(
                        "{} is applied by uWSGI the moment it is read, before %(…), $(…) and \
                         @(…) are expanded, so it gets `{}` as written",
                        u.name, e.value
                    ),
                ));
            }
            continue;
        }
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
    let immediate: Vec<bool> = entries
        .iter()
        .map(|e| super::compat::uwsgi_option(&e.key).is_some_and(|u| u.immediate))
        .collect();
    let originals: Vec<(String, String)> = entries
        .iter()
        .map(|e| (e.key.clone(), e.value.clone()))
        .collect();
    let mut resolver = Resolver {
        originals: &originals,
        cache: vec![None; originals.len()],
        visiting: Vec::new(),
        unknown: Vec::new(),
        notes: Vec::new(),
    };
    for (i, entry) in entries.iter_mut().enumerate() {
        if immediate[i] {
            continue;
        }
        resolver.unknown.clear();
        resolver.notes.clear();
        match resolver.resolve_index(i) {
            Ok(v) => entry.value = v,
            Err(msg) => diags.push(Diagnostic::error(&entry.origin, msg)),
        }
        let lenient = TEMPLATE_KEYS.contains(&entry.key.as_str());
        let mut named: Vec<String> = std::mem::take(&mut resolver.unknown);
        named.dedup();
        let mut notes = std::mem::take(&mut resolver.notes);
        notes.dedup();
        for note in notes {
            diags.push(Diagnostic::warning(&entry.origin, note));
        }
        for name in named.into_iter().filter(|_| !lenient) {
            diags.push(Diagnostic::warning(
                &entry.origin,
                format!(
                    "%({name}) refers to nothing: no option or placeholder `{name}` is set, so \
                     it stays as written (as uWSGI leaves it)"
                ),
            ));
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

/// Marks a lookup error as "no such name" (kept as written) rather than a real error.
const UNKNOWN: &str = "\0unknown:";

struct Resolver<'a> {
    originals: &'a [(String, String)],
    cache: Vec<Option<Result<String, String>>>,
    visiting: Vec<usize>,
    /// Names that referred to nothing while resolving the current entry.
    unknown: Vec<String>,
    /// Math traps met while resolving the current entry (warnings).
    notes: Vec<String>,
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
                Err(e) if lenient || e.starts_with(UNKNOWN) => {
                    if let Some(name) = e.strip_prefix(UNKNOWN) {
                        self.unknown.push(name.to_string());
                    }
                    out.push_str(&rest[start..start + 2 + end + 1]);
                }
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
            None => Err(format!("{UNKNOWN}{name}")),
        }
    }

    /// uWSGI's math mode, as its placeholder code runs it: tokens left to right; numbers,
    /// operators `+ - * /` and `++`/`--`; any other token is the first value of that name
    /// (empty when unknown); two values without an operator concatenate; operands are read
    /// with `strtoll` (so a word is 0) and a division by zero gives 0. Parentheses do not
    /// group: `(2` is just an unknown name. Each such trap is noted for a warning.
    fn math(&mut self, expr: &str) -> Result<String, String> {
        #[derive(Clone, Copy, PartialEq)]
        enum St {
            Concat,
            Sum,
            Sub,
            Mul,
            Div,
        }
        let mut state = St::Concat;
        let mut acc: Option<String> = None;
        let strtoll = |s: &str| {
            super::value::atoi(s)
                .0
                .clamp(i64::MIN.into(), i64::MAX.into()) as i64
        };
        for tok in expr.split(' ').filter(|t| !t.is_empty()) {
            let value = match tok {
                "+" => {
                    state = St::Sum;
                    continue;
                }
                "-" => {
                    state = St::Sub;
                    continue;
                }
                "*" => {
                    state = St::Mul;
                    continue;
                }
                "/" => {
                    state = St::Div;
                    continue;
                }
                "++" | "--" => {
                    if let Some(a) = acc.take() {
                        let n = strtoll(&a);
                        let n = if tok == "++" {
                            n.wrapping_add(1)
                        } else {
                            n.wrapping_sub(1)
                        };
                        acc = Some(n.to_string());
                    }
                    state = St::Concat;
                    continue;
                }
                _ if tok.bytes().all(|b| b.is_ascii_digit()) => tok.to_string(),
                _ => match self.lookup(tok) {
                    Ok(v) => v,
                    Err(e) if e.starts_with(UNKNOWN) => {
                        self.notes.push(if tok.contains(['(', ')']) {
                            format!(
                                "%({expr}): uWSGI's %(…) math has no parentheses: `{tok}` is read \
                                 as a name that is not set (empty); use one operator per \
                                 placeholder or precompute the value"
                            )
                        } else {
                            format!("%({expr}): `{tok}` is not set, so uWSGI uses an empty value")
                        });
                        String::new()
                    }
                    Err(e) => return Err(e),
                },
            };
            let a = acc.take();
            if state != St::Concat {
                for operand in [a.as_deref().unwrap_or(""), value.as_str()] {
                    if super::value::atoi(operand).1 != operand.len() || operand.is_empty() {
                        self.notes.push(format!(
                            "%({expr}): `{operand}` is not a number; uWSGI computes with it as {}",
                            strtoll(operand)
                        ));
                    }
                }
            }
            let (x, y) = (strtoll(a.as_deref().unwrap_or("")), strtoll(&value));
            acc = Some(match state {
                St::Concat => a.unwrap_or_default() + &value,
                St::Sum => x.wrapping_add(y).to_string(),
                St::Sub => x.wrapping_sub(y).to_string(),
                St::Mul => x.wrapping_mul(y).to_string(),
                St::Div if y == 0 => {
                    self.notes
                        .push(format!("%({expr}): division by zero gives 0 in uWSGI"));
                    "0".to_string()
                }
                St::Div => x.wrapping_div(y).to_string(),
            });
            state = St::Concat;
        }
        Ok(acc.unwrap_or_default())
    }
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
        let (v, d) = run(&[("socket", "%(nope)/x")]);
        assert!(
            d[0].contains("t.ini:1: warning: %(nope) refers to nothing"),
            "{d:?}"
        );
        assert_eq!(v[0], "%(nope)/x");
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
        // uWSGI 2.0 (verified): no grouping, unknown names are empty, x / 0 = 0.
        let (v, d) = run(&[
            ("processes", "4"),
            ("g", "%((2 * 2) + 1)"),
            ("z", "%(processes / 0)"),
            ("w", "%(processes + nope)"),
        ]);
        assert_eq!(v[1], "1");
        assert_eq!(v[2], "0");
        assert_eq!(v[3], "4");
        assert!(d.iter().any(|m| m.contains("no parentheses")), "{d:?}");
        assert!(d.iter().any(|m| m.contains("division by zero")), "{d:?}");
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
