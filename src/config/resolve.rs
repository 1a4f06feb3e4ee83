//! Applying the expanded entries to the option table: last-wins scalars, accumulated lists,
//! placeholders, and a diagnostic for every value of the wrong kind or unknown key.

use super::compat::{self, Class, UOpt};
use super::diag::{Diagnostic, Origin};
use super::load::Entry;
use super::options::{self, Kind, OptSpec, Support};
use super::value::{self, Value};
use std::collections::{BTreeMap, BTreeSet};

/// One applied value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub value: Value,
    pub origin: Origin,
}

/// The resolved configuration: every option keyed by its canonical name.
#[derive(Debug, Default, Clone)]
pub struct Config {
    pub scalars: BTreeMap<&'static str, Setting>,
    pub lists: BTreeMap<&'static str, Vec<Setting>>,
    pub placeholders: BTreeMap<String, (String, Origin)>,
    /// uWSGI options rw does not implement, with every value given (in order).
    pub ignored: BTreeMap<&'static str, Vec<(String, Origin)>>,
    /// Every key read, in order, as uWSGI exports it to apps (`uwsgi.opt`): the key as written,
    /// the value expanded, `None` for a command-line flag without value.
    pub exported: Vec<(String, Option<String>)>,
}

impl Config {
    fn spec(name: &str) -> &'static OptSpec {
        options::lookup(name).unwrap_or_else(|| panic!("`{name}` is not in the option table"))
    }

    /// The applied value of a scalar option, if set.
    pub fn get(&self, name: &str) -> Option<&Setting> {
        self.scalars.get(Self::spec(name).name)
    }

    /// A boolean option, its default when unset.
    pub fn bool(&self, name: &str) -> bool {
        match self.get(name) {
            Some(s) => s.value.as_bool(),
            None => Self::spec(name).default.is_some_and(value::parse_bool),
        }
    }

    /// A numeric option, its default (or 0) when unset.
    pub fn uint(&self, name: &str) -> u64 {
        match self.get(name) {
            Some(s) => s.value.as_u64(),
            None => Self::spec(name)
                .default
                .and_then(|d| d.parse().ok())
                .unwrap_or(0),
        }
    }

    /// A text option, its default when unset.
    pub fn text(&self, name: &str) -> Option<&str> {
        match self.get(name) {
            Some(s) => Some(s.value.as_str()),
            None => Self::spec(name).default,
        }
    }

    /// Every value of a list option, in order.
    /// Every value of the options `opts` (in that order) read by `parse`, which answers the
    /// value and its warnings; the first error carries the value's origin.
    pub fn parse_each<T>(
        &self,
        opts: &[&str],
        parse: impl Fn(&str, &str) -> Result<(T, Vec<String>), String>,
    ) -> Result<Vec<T>, Diagnostic> {
        let mut out = Vec::new();
        for opt in opts {
            for s in self.list(opt) {
                let (v, _) =
                    parse(opt, s.value.as_str()).map_err(|e| Diagnostic::error(&s.origin, e))?;
                out.push(v);
            }
        }
        Ok(out)
    }

    /// The checks of [`Config::parse_each`]: every error and warning, at its value's line.
    pub fn check_each<T>(
        &self,
        opts: &[&str],
        parse: impl Fn(&str, &str) -> Result<(T, Vec<String>), String>,
        d: &mut Vec<Diagnostic>,
    ) {
        for opt in opts {
            for s in self.list(opt) {
                match parse(opt, s.value.as_str()) {
                    Err(e) => d.push(Diagnostic::error(&s.origin, e)),
                    Ok((_, warns)) => {
                        d.extend(warns.into_iter().map(|w| Diagnostic::warning(&s.origin, w)));
                    }
                }
            }
        }
    }

    pub fn list(&self, name: &str) -> impl Iterator<Item = &Setting> {
        self.lists
            .get(Self::spec(name).name)
            .into_iter()
            .flat_map(|v| v.iter())
    }

    /// The fully resolved config as JSON: every option that is set (lists as arrays) and the
    /// placeholders.
    pub fn to_json(&self) -> serde_json::Value {
        let mut opts = serde_json::Map::new();
        for (name, s) in &self.scalars {
            opts.insert(
                (*name).to_string(),
                serde_json::to_value(&s.value).unwrap_or_default(),
            );
        }
        for (name, list) in &self.lists {
            let values: Vec<_> = list
                .iter()
                .map(|s| serde_json::to_value(&s.value).unwrap_or_default())
                .collect();
            opts.insert((*name).to_string(), values.into());
        }
        let ph: serde_json::Map<_, _> = self
            .placeholders
            .iter()
            .map(|(k, (v, _))| (k.clone(), serde_json::Value::from(v.as_str())))
            .collect();
        let ignored: serde_json::Map<_, _> = self
            .ignored
            .iter()
            .map(|(k, vs)| {
                let vs: Vec<_> = vs.iter().map(|(v, _)| v.as_str()).collect();
                ((*k).to_string(), serde_json::Value::from(vs))
            })
            .collect();
        serde_json::json!({ "options": opts, "placeholders": ph, "not_implemented": ignored })
    }
}

/// Names referenced as `%(name)` anywhere in the raw values: such unknown keys are
/// placeholders on purpose.
pub fn referenced_names(entries: &[Entry]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for e in entries {
        let mut rest = e.value.as_str();
        while let Some(i) = rest.find("%(") {
            rest = &rest[i + 2..];
            let end = rest.find(')').unwrap_or(rest.len());
            for tok in rest[..end].split_whitespace() {
                names.insert(tok.trim_start_matches("%(").to_string());
            }
        }
    }
    names
}

/// Applies entries in order. `referenced` comes from [`referenced_names`] on the raw entries.
pub fn apply(entries: &[Entry], referenced: &BTreeSet<String>) -> (Config, Vec<Diagnostic>) {
    let mut cfg = Config::default();
    let mut diags = Vec::new();
    let strict = entries
        .iter()
        .rfind(|e| e.key == "strict")
        .is_some_and(|e| value::parse_bool(&e.value));
    for e in entries {
        if e.placeholder {
            cfg.placeholders
                .entry(e.key.clone())
                .or_insert((e.value.clone(), e.origin.clone()));
            continue;
        }
        let spec = match compat::classify(&e.key) {
            Class::Table(spec) => spec,
            // Consumed by the loader; nothing to apply.
            Class::Logic => continue,
            Class::NotImplemented(u) => {
                not_implemented(e, u, strict, &mut cfg, &mut diags);
                continue;
            }
            Class::Placeholder => {
                unknown_key(e, referenced, strict, &mut cfg, &mut diags);
                continue;
            }
        };
        if matches!(spec.kind, Kind::Include) {
            continue;
        }
        let parsed = match value::read(spec.kind, spec.limits(), &e.value, e.bare) {
            Ok((v, warnings)) => {
                for mut w in warnings {
                    if spec.name == "post-buffering" && v == value::Value::Int(0) {
                        w.push_str(
                            " (0 leaves post-buffering off; write a size in bytes such as 8192)",
                        );
                    }
                    diags.push(Diagnostic::warning(&e.origin, format!("{}: {w}", e.key)));
                }
                v
            }
            Err(msg) => {
                diags.push(Diagnostic::error(&e.origin, format!("{}: {msg}", e.key)));
                continue;
            }
        };
        if let Support::Moot(why) = spec.support {
            // Only worth saying when the value asks for something rw does differently.
            let default = spec
                .default
                .and_then(|d| value::parse(spec.kind, d, false).ok());
            if default.as_ref() != Some(&parsed) {
                diags.push(Diagnostic::warning(
                    &e.origin,
                    format!("{} = {} has no effect: {why}", e.key, e.value),
                ));
            }
        }
        let setting = Setting {
            value: parsed,
            origin: e.origin.clone(),
        };
        if spec.multi {
            cfg.lists.entry(spec.name).or_default().push(setting);
        } else {
            cfg.scalars.insert(spec.name, setting);
        }
    }
    (cfg, diags)
}

/// A uWSGI option rw does not implement: accepted (uWSGI would run it), with a warning saying
/// what will differ unless the value asks for nothing; under `strict` rw cannot honour it.
fn not_implemented(
    e: &Entry,
    u: &'static UOpt,
    strict: bool,
    cfg: &mut Config,
    diags: &mut Vec<Diagnostic>,
) {
    cfg.ignored
        .entry(u.name)
        .or_default()
        .push((e.value.clone(), e.origin.clone()));
    if compat::asks_for_nothing(u, &e.value, e.bare) {
        return;
    }
    let shown = if e.bare {
        e.key.clone()
    } else {
        format!("{} = {}", e.key, e.value)
    };
    let msg = format!(
        "`{shown}`: not implemented in rw: {}",
        compat::what_differs(u)
    );
    diags.push(if strict && !compat::planned(u) {
        Diagnostic::error(
            &e.origin,
            format!("{msg} (strict refuses options rw cannot honour)"),
        )
    } else {
        Diagnostic::warning(&e.origin, msg)
    });
}

/// Not a uWSGI option: a placeholder, as uWSGI keeps it; an error only under `strict`.
fn unknown_key(
    e: &Entry,
    referenced: &BTreeSet<String>,
    strict: bool,
    cfg: &mut Config,
    diags: &mut Vec<Diagnostic>,
) {
    cfg.placeholders
        .entry(e.key.clone())
        .or_insert((e.value.clone(), e.origin.clone()));
    if let Some((_, meant)) = compat::KNOWN_MISSPELLINGS.iter().find(|(m, _)| *m == e.key) {
        diags.push(Diagnostic::warning(
            &e.origin,
            format!(
                "`{}` is a widespread misspelling of `{meant}`: uWSGI keeps it as a placeholder \
                 that does nothing (and its strict mode refuses it); rw accepts it, also under \
                 strict, and it does nothing here either; write `{meant}`",
                e.key
            ),
        ));
        return;
    }
    let guess = compat::suggest(&e.key)
        .map(|s| format!("; did you mean `{s}`?"))
        .unwrap_or_default();
    if strict {
        diags.push(Diagnostic::error(
            &e.origin,
            format!(
                "`{}` is not a uWSGI option (strict mode refuses placeholders; declare it with \
                 set-placeholder){guess}",
                e.key
            ),
        ));
    } else if !guess.is_empty() {
        diags.push(Diagnostic::warning(
            &e.origin,
            format!(
                "`{}` is not a uWSGI option: uWSGI keeps it as a placeholder and it does \
                 nothing{guess}",
                e.key
            ),
        ));
    } else if !referenced.contains(&e.key) {
        diags.push(Diagnostic::warning(
            &e.origin,
            format!(
                "`{}` is not a uWSGI option: kept as a placeholder as uWSGI does, but no %({}) \
                 uses it",
                e.key, e.key
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, value: &str, line: u32) -> Entry {
        Entry {
            key: key.into(),
            value: value.into(),
            bare: false,
            placeholder: false,
            origin: Origin::File {
                path: "t.ini".into(),
                line,
            },
        }
    }

    fn run(es: &[Entry]) -> (Config, Vec<String>) {
        let (c, d) = apply(es, &referenced_names(es));
        (c, d.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn last_scalar_wins_and_lists_accumulate() {
        let (c, d) = run(&[
            entry("processes", "2", 1),
            entry("workers", "4", 2),
            entry("socket", "/a", 3),
            entry("uwsgi-socket", "/b", 4),
        ]);
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(c.uint("processes"), 4);
        let socks: Vec<_> = c
            .list("socket")
            .map(|s| s.value.as_str().to_string())
            .collect();
        assert_eq!(socks, vec!["/a", "/b"]);
    }

    #[test]
    fn defaults_apply_when_unset() {
        let (c, _) = run(&[]);
        assert_eq!(c.uint("buffer-size"), 4096);
        assert_eq!(c.uint("listen"), 100);
        assert!(!c.bool("master"));
        assert_eq!(c.text("callable"), Some("application"));
    }

    #[test]
    fn wrong_kinds_and_typos_point_at_the_line() {
        let (_, d) = run(&[entry("processes", "-4", 7), entry("proceses", "4", 8)]);
        assert!(
            d[0].starts_with("t.ini:7: error: processes: `-4` is negative"),
            "{d:?}"
        );
        assert!(
            d[1].starts_with("t.ini:8: warning: `proceses` is not a uWSGI option")
                && d[1].ends_with("did you mean `processes`?"),
            "{d:?}"
        );
    }

    #[test]
    fn placeholders_and_unsupported() {
        let (c, d) = run(&[
            entry("project", "demo", 1),
            entry("chdir", "/srv/%(project)", 2),
            entry("emperor", "/etc/vassals", 3),
            entry("lonely", "x", 4),
        ]);
        assert_eq!(c.placeholders["project"].0, "demo");
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(
            d[0].contains("t.ini:3: warning: `emperor = /etc/vassals`: not implemented in rw"),
            "{d:?}"
        );
        assert!(d[1].contains("t.ini:4: warning: `lonely` is not a uWSGI option"));
        assert_eq!(c.ignored["emperor"][0].0, "/etc/vassals");
    }

    #[test]
    fn strict_makes_unknowns_errors() {
        let (_, d) = run(&[entry("strict", "true", 1), entry("lonely", "x", 2)]);
        assert!(d[0].starts_with("t.ini:2: error:"), "{d:?}");
    }

    #[test]
    fn same_effect_options_are_silent() {
        for (k, v) in [
            ("enable-threads", "true"),
            ("single-interpreter", "true"),
            ("offload-threads", "4"),
            ("thunder-lock", "true"),
        ] {
            let (_, d) = run(&[entry(k, v, 1)]);
            assert!(d.is_empty(), "{k}: {d:?}");
        }
    }

    #[test]
    fn not_implemented_options_warn_only_when_they_ask_for_something() {
        let (_, d) = run(&[entry("limit-as", "0", 1), entry("cheaper", "0", 2)]);
        assert!(d.is_empty(), "{d:?}");
        let (_, d) = run(&[entry("limit-as", "512", 1)]);
        assert!(d[0].contains("not implemented in rw"), "{d:?}");
        // Options planned for the next issues stay warnings under strict; others are errors.
        let (_, d) = run(&[entry("strict", "true", 1), entry("limit-as", "512", 2)]);
        assert!(d[0].starts_with("t.ini:2: warning:"), "{d:?}");
        let (_, d) = run(&[entry("strict", "true", 1), entry("emperor", "/etc/v", 2)]);
        assert!(d[0].starts_with("t.ini:2: error:"), "{d:?}");
    }

    #[test]
    fn no_uwsgi_option_is_ever_a_placeholder() {
        for u in compat::VOCAB {
            let (c, d) = run(&[entry(u.name, "1", 1)]);
            assert!(c.placeholders.is_empty(), "{}", u.name);
            assert!(
                !d.iter().any(|m| m.contains("not a uWSGI option")),
                "{}: {d:?}",
                u.name
            );
        }
    }
}
