//! The checks uWSGI 2.0 makes on the recycling options at startup (core/init.c), with its
//! wording where it has one, and the traps: options that do nothing without another one.

use super::diag::Diagnostic;
use super::resolve::Config;

pub fn check(cfg: &Config) -> Vec<Diagnostic> {
    let mut d = Vec::new();
    let max = cfg.uint("max-worker-lifetime");
    let min = cfg.uint("min-worker-lifetime");
    if max > 0 && min >= max {
        // uWSGI exits 1 here, also when min-worker-lifetime is its default of 10: a config
        // with only `max-worker-lifetime = 5` does not start under uWSGI 2.0.
        let at = cfg
            .get("min-worker-lifetime")
            .or(cfg.get("max-worker-lifetime"))
            .map(|s| s.origin.clone());
        if let Some(origin) = at {
            d.push(Diagnostic::error(
                &origin,
                format!(
                    "invalid min-worker-lifetime value ({min}), must be lower than \
                     max-worker-lifetime ({max}); uWSGI exits here too (min-worker-lifetime \
                     defaults to 10: set it below max-worker-lifetime, 0 for no minimum)"
                ),
            ));
        }
    }
    if let Some(s) = cfg
        .get("max-worker-lifetime-delta")
        .filter(|s| s.value.as_u64() > 0 && max == 0)
    {
        d.push(Diagnostic::warning(
            &s.origin,
            "max-worker-lifetime-delta has no effect without max-worker-lifetime (uWSGI ignores \
             it too)",
        ));
    }
    let evil = cfg.uint("evil-reload-on-rss") > 0 || cfg.uint("evil-reload-on-as") > 0;
    if let Some(s) = cfg.get("mem-collector-freq").filter(|_| !evil) {
        d.push(Diagnostic::warning(
            &s.origin,
            "mem-collector-freq has no effect without evil-reload-on-rss or evil-reload-on-as \
             (uWSGI collects memory for them only)",
        ));
    }
    d
}

#[cfg(test)]
mod tests {
    use super::super::diag::Origin;
    use super::super::load::Entry;
    use super::super::resolve::{apply, referenced_names};

    /// The diagnostics of a config given as `key = value` lines (line numbers from 1).
    fn diags(lines: &[(&str, &str)]) -> Vec<String> {
        let es: Vec<Entry> = lines
            .iter()
            .enumerate()
            .map(|(i, (k, v))| Entry {
                key: (*k).into(),
                value: (*v).into(),
                bare: false,
                placeholder: false,
                origin: Origin::File {
                    path: "t.ini".into(),
                    line: i as u32 + 1,
                },
            })
            .collect();
        let (c, _) = apply(&es, &referenced_names(&es));
        super::check(&c).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn min_lifetime_must_be_lower_than_max_lifetime() {
        // The default minimum (10 s) against a shorter maximum: uWSGI refuses to start.
        let d = diags(&[("processes", "2"), ("max-worker-lifetime", "5")]);
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(
            d[0].starts_with(
                "t.ini:2: error: invalid min-worker-lifetime value (10), must be lower than \
                 max-worker-lifetime (5)"
            ),
            "{d:?}"
        );
        // Pointed at the minimum when it is written.
        let d = diags(&[("max-worker-lifetime", "30"), ("min-worker-lifetime", "30")]);
        assert!(d[0].starts_with("t.ini:2: error:"), "{d:?}");
        assert!(diags(&[("max-worker-lifetime", "30")]).is_empty());
        assert!(diags(&[("max-worker-lifetime", "2"), ("min-worker-lifetime", "0")]).is_empty());
        // No maximum: any minimum goes.
        assert!(diags(&[("min-worker-lifetime", "100")]).is_empty());
    }

    #[test]
    fn options_without_their_partner_warn() {
        let d = diags(&[("max-worker-lifetime-delta", "5")]);
        assert!(d[0].starts_with("t.ini:1: warning: max-worker-lifetime-delta has no effect"));
        let d = diags(&[("mem-collector-freq", "1")]);
        assert!(d[0].starts_with("t.ini:1: warning: mem-collector-freq has no effect"));
        assert!(diags(&[("mem-collector-freq", "1"), ("evil-reload-on-rss", "200")]).is_empty());
    }
}
