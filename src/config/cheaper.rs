//! The checks uWSGI 2.0 makes on the cheaper options at startup (core/init.c), with its
//! wording: errors where it exits, warnings where it corrects a value and goes on, and the
//! traps (options that do nothing without `cheaper`, an algorithm it does not know).

use super::diag::Diagnostic;
use super::resolve::Config;

/// `cheaper-algo` names rw runs (the `cheaper` module parses the same list).
pub const ALGOS: &[&str] = &["spare", "spare2", "backlog", "busyness", "manual"];

/// Options that mean something only with `cheaper` set.
const NEEDS_CHEAPER: &[&str] = &[
    "cheaper-initial",
    "cheaper-step",
    "cheaper-overload",
    "cheaper-algo",
    "cheaper-idle",
    "cheaper-busyness-max",
    "cheaper-busyness-min",
    "cheaper-busyness-multiplier",
    "cheaper-busyness-penalty",
    "cheaper-busyness-verbose",
    "cheaper-busyness-backlog-alert",
    "cheaper-busyness-backlog-multiplier",
    "cheaper-busyness-backlog-step",
    "cheaper-busyness-backlog-nonzero",
];

/// uWSGI options that make it sample worker memory (its `memory-report` or an option flagged
/// `UWSGI_OPT_MEMORY`), which `cheaper-rss-limit-soft` needs.
fn samples_memory(cfg: &Config) -> bool {
    cfg.bool("memory-report")
        || [
            "reload-on-rss",
            "reload-on-as",
            "evil-reload-on-rss",
            "evil-reload-on-as",
        ]
        .iter()
        .any(|n| cfg.get(n).is_some())
}

pub fn check(cfg: &Config) -> Vec<Diagnostic> {
    let mut d = Vec::new();
    let cheaper = cfg.uint("cheaper");
    let processes = cfg.uint("processes");
    if let Some(s) = cfg
        .get("cheaper")
        .filter(|_| cheaper > 0 && cheaper >= processes)
    {
        d.push(Diagnostic::error(
            &s.origin,
            format!(
                "invalid cheaper value: must be lower than processes (cheaper = {cheaper}, \
                 processes = {processes}); uWSGI exits here too"
            ),
        ));
    }
    if cheaper == 0 {
        if let Some((name, s)) = NEEDS_CHEAPER
            .iter()
            .find_map(|n| cfg.get(n).map(|s| (n, s)))
        {
            d.push(Diagnostic::warning(
                &s.origin,
                format!(
                    "{name} has no effect: cheaper is not set, so all {} processes run all the \
                     time (uWSGI turns cheaper mode on only with cheaper > 0)",
                    processes.max(1)
                ),
            ));
        }
    } else if let Some(s) = cfg.get("cheaper-initial") {
        let initial = s.value.as_u64();
        if initial > 0 && initial < cheaper {
            d.push(Diagnostic::warning(
                &s.origin,
                format!(
                    "invalid cheaper-initial value ({initial}), must be equal or higher than \
                     cheaper ({cheaper}), using {cheaper} as initial number of workers"
                ),
            ));
        } else if initial > processes {
            d.push(Diagnostic::warning(
                &s.origin,
                format!(
                    "invalid cheaper-initial value ({initial}), must be lower or equal than \
                     worker count ({processes}), using {processes} as initial number of workers"
                ),
            ));
        }
    }
    if let Some(s) = cfg.get("cheaper-algo") {
        let algo = s.value.as_str();
        if algo == "spare2" {
            d.push(Diagnostic::warning(
                &s.origin,
                "cheaper-algo = spare2 is an algorithm of uWSGI 2.1: uWSGI 2.0 does not have it \
                 and falls back to spare; rw runs spare2",
            ));
        } else if !ALGOS.contains(&algo) {
            d.push(Diagnostic::warning(
                &s.origin,
                format!(
                    "unable to find requested cheaper algorithm `{algo}`, falling back to spare \
                     (as uWSGI does); rw has {}",
                    ALGOS.join(", ")
                ),
            ));
        }
    }
    if let Some(s) = cfg
        .get("cheaper-overload")
        .filter(|s| s.value.as_u64() == 0)
    {
        if cheaper > 0 && matches!(cfg.text("cheaper-algo"), Some("spare" | "busyness") | None) {
            d.push(Diagnostic::warning(
                &s.origin,
                "cheaper-overload = 0: uWSGI's spare and busyness algorithms divide by it (its \
                 master dies of SIGFPE); rw reads it as 1",
            ));
        }
    }
    if let Some(s) = cfg.get("die-on-idle").filter(|s| s.value.as_bool()) {
        if cfg.uint("idle") == 0 {
            d.push(Diagnostic::warning(
                &s.origin,
                "die-on-idle has no effect without idle = SECONDS (uWSGI ignores it too)",
            ));
        }
    }
    let soft = cfg
        .get("cheaper-rss-limit-soft")
        .filter(|s| s.value.as_u64() > 0);
    let hard = cfg
        .get("cheaper-rss-limit-hard")
        .filter(|s| s.value.as_u64() > 0);
    if let Some(s) = soft.filter(|_| !samples_memory(cfg)) {
        d.push(Diagnostic::error(
            &s.origin,
            "enabling cheaper-rss-limit-soft requires enabling also memory-report (uWSGI exits \
             here too); add memory-report = true",
        ));
    }
    match (soft, hard) {
        (None, Some(h)) => d.push(Diagnostic::error(
            &h.origin,
            "enabling cheaper-rss-limit-hard requires setting also cheaper-rss-limit-soft (uWSGI \
             exits here too)",
        )),
        (Some(s), Some(h)) if h.value.as_u64() <= s.value.as_u64() => d.push(Diagnostic::error(
            &h.origin,
            format!(
                "cheaper-rss-limit-hard value must be higher than cheaper-rss-limit-soft value \
                 ({} <= {}; uWSGI exits here too)",
                h.value.as_u64(),
                s.value.as_u64()
            ),
        )),
        _ => {}
    }
    d
}

#[cfg(test)]
mod tests {
    /// The diagnostics of a config given as `key = value` lines (line numbers from 1).
    fn diags(lines: &[(&str, &str)]) -> Vec<String> {
        let c = super::super::testutil::config_of(lines);
        super::check(&c).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn cheaper_must_be_lower_than_processes() {
        let d = diags(&[("processes", "4"), ("cheaper", "4")]);
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(
            d[0].starts_with("t.ini:2: error: invalid cheaper value: must be lower than processes"),
            "{d:?}"
        );
        // processes defaults to 1.
        assert_eq!(diags(&[("cheaper", "1")]).len(), 1);
        assert!(diags(&[("processes", "4"), ("cheaper", "3")]).is_empty());
        assert!(diags(&[("processes", "4"), ("cheaper", "0")]).is_empty());
    }

    #[test]
    fn initial_outside_the_range_is_corrected_with_a_warning() {
        let d = diags(&[
            ("processes", "8"),
            ("cheaper", "2"),
            ("cheaper-initial", "1"),
        ]);
        assert_eq!(
            d,
            vec!["t.ini:3: warning: invalid cheaper-initial value (1), must be equal or higher than cheaper (2), using 2 as initial number of workers"]
        );
        let d = diags(&[
            ("processes", "8"),
            ("cheaper", "2"),
            ("cheaper-initial", "9"),
        ]);
        assert!(
            d[0].contains("must be lower or equal than worker count (8), using 8"),
            "{d:?}"
        );
        assert!(diags(&[
            ("processes", "8"),
            ("cheaper", "2"),
            ("cheaper-initial", "8")
        ])
        .is_empty());
    }

    #[test]
    fn cheaper_options_without_cheaper_are_a_trap() {
        let d = diags(&[("processes", "8"), ("cheaper-algo", "busyness")]);
        assert!(
            d[0].starts_with("t.ini:2: warning: cheaper-algo has no effect"),
            "{d:?}"
        );
    }

    #[test]
    fn algorithms() {
        let base = [("processes", "8"), ("cheaper", "2")];
        for a in super::ALGOS.iter().filter(|a| **a != "spare2") {
            assert!(
                diags(&[base[0], base[1], ("cheaper-algo", a)]).is_empty(),
                "{a}"
            );
        }
        let d = diags(&[base[0], base[1], ("cheaper-algo", "spare2")]);
        assert!(d[0].contains("uWSGI 2.0 does not have it"), "{d:?}");
        let d = diags(&[base[0], base[1], ("cheaper-algo", "backlog2")]);
        assert!(
            d[0].contains(
                "unable to find requested cheaper algorithm `backlog2`, falling back to spare"
            ),
            "{d:?}"
        );
    }

    #[test]
    fn die_on_idle_needs_idle() {
        let d = diags(&[("die-on-idle", "true")]);
        assert!(
            d[0].starts_with("t.ini:1: warning: die-on-idle has no effect"),
            "{d:?}"
        );
        assert!(diags(&[("idle", "60"), ("die-on-idle", "true")]).is_empty());
    }

    #[test]
    fn rss_limits_as_uwsgi_checks_them() {
        let base = [("processes", "8"), ("cheaper", "2")];
        let d = diags(&[base[0], base[1], ("cheaper-rss-limit-soft", "1000")]);
        assert!(
            d[0].contains(
                "error: enabling cheaper-rss-limit-soft requires enabling also memory-report"
            ),
            "{d:?}"
        );
        let ok = [
            base[0],
            base[1],
            ("memory-report", "true"),
            ("cheaper-rss-limit-soft", "1000"),
        ];
        assert!(diags(&ok).is_empty());
        let d = diags(&[
            ok[0],
            ok[1],
            ok[2],
            ok[3],
            ("cheaper-rss-limit-hard", "1000"),
        ]);
        assert!(
            d[0].starts_with("t.ini:5: error: cheaper-rss-limit-hard value must be higher"),
            "{d:?}"
        );
        let d = diags(&[base[0], base[1], ("cheaper-rss-limit-hard", "1000")]);
        assert!(
            d[0].contains("requires setting also cheaper-rss-limit-soft"),
            "{d:?}"
        );
        // reload-on-rss samples memory too (UWSGI_OPT_MEMORY).
        assert!(diags(&[
            base[0],
            base[1],
            ("reload-on-rss", "512"),
            ("cheaper-rss-limit-soft", "1000")
        ])
        .is_empty());
    }
}
