//! Applying the expanded entries to the option table: last-wins scalars, accumulated lists,
//! placeholders, and a diagnostic for every value of the wrong kind or unknown key.

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
        serde_json::json!({ "options": opts, "placeholders": ph })
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
        let Some(spec) = options::lookup(&e.key) else {
            unknown_key(e, referenced, strict, &mut cfg, &mut diags);
            continue;
        };
        if matches!(spec.kind, Kind::Include) {
            continue;
        }
        let parsed = match value::parse(spec.kind, &e.value, e.bare) {
            Ok(v) => v,
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

fn unknown_key(
    e: &Entry,
    referenced: &BTreeSet<String>,
    strict: bool,
    cfg: &mut Config,
    diags: &mut Vec<Diagnostic>,
) {
    if options::is_unsupported(&e.key) {
        let msg = format!(
            "`{}` is a uWSGI option that is not supported by rw; it is ignored",
            e.key
        );
        diags.push(if strict {
            Diagnostic::error(&e.origin, msg)
        } else {
            Diagnostic::warning(&e.origin, msg)
        });
        return;
    }
    cfg.placeholders
        .entry(e.key.clone())
        .or_insert((e.value.clone(), e.origin.clone()));
    if let Some(s) = options::suggest(&e.key) {
        diags.push(Diagnostic::error(
            &e.origin,
            format!("unknown option `{}`; did you mean `{s}`?", e.key),
        ));
    } else if strict {
        diags.push(Diagnostic::error(
            &e.origin,
            format!(
                "unknown option `{}` (strict mode refuses placeholders; use set-placeholder)",
                e.key
            ),
        ));
    } else if !referenced.contains(&e.key) {
        diags.push(Diagnostic::warning(
            &e.origin,
            format!(
                "unknown option `{}`: kept as a placeholder as uWSGI does, but no %({}) uses it",
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
        let (_, d) = run(&[entry("processes", "four", 7), entry("proceses", "4", 8)]);
        assert!(
            d[0].starts_with("t.ini:7: error: processes: `four` is not a whole number"),
            "{d:?}"
        );
        assert_eq!(
            d[1],
            "t.ini:8: error: unknown option `proceses`; did you mean `processes`?"
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
        assert!(d[0]
            .contains("t.ini:3: warning: `emperor` is a uWSGI option that is not supported by rw"));
        assert!(d[1].contains("t.ini:4: warning: unknown option `lonely`"));
    }

    #[test]
    fn strict_makes_unknowns_errors() {
        let (_, d) = run(&[entry("strict", "true", 1), entry("lonely", "x", 2)]);
        assert!(d[0].starts_with("t.ini:2: error:"), "{d:?}");
    }

    #[test]
    fn moot_options_warn_only_when_they_ask_for_something() {
        let (_, d) = run(&[entry("enable-threads", "true", 1)]);
        assert!(d.is_empty(), "{d:?}");
        let (_, d) = run(&[entry("enable-threads", "false", 1)]);
        assert!(
            d[0].contains("no effect: Python threads are always enabled"),
            "{d:?}"
        );
    }
}
