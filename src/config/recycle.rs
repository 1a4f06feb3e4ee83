//! The checks uWSGI 2.0 makes on the recycling options at startup (core/init.c), with its
//! wording where it has one, and the traps: options that do nothing without another one.

use super::diag::Diagnostic;
use super::resolve::Config;

/// What rw does with `harakiri-graceful-signal = N` (see [`graceful_signal`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GracefulSignal {
    /// Unset, or uWSGI's default SIGTERM: no signal; the graceful attempt is the exception
    /// raised in the stuck thread.
    None,
    /// Sent to the worker at the graceful attempt, for the app's own handler (such as
    /// `faulthandler.register(signal.SIGUSR2, all_threads=True)`, which logs every thread's
    /// stack).
    Send(i32),
    /// Not sent: why.
    Refused(String),
}

/// uWSGI's default (SIGTERM): a uWSGI worker exits on it, killing every request it serves;
/// rw's graceful attempt interrupts only the stuck thread instead.
const SIGTERM: u64 = 15;

/// Reads `harakiri-graceful-signal`. uWSGI sends it to the worker at the first harakiri try.
/// rw sends the standard signals an app can handle; not the ones that stop or pause an rw
/// worker (HUP, INT, QUIT, KILL, TERM, STOP, TSTP), nor SIGCHLD, nor real-time signals (rw
/// interrupts stuck threads with those).
pub fn graceful_signal(cfg: &Config) -> GracefulSignal {
    let Some(s) = cfg.get("harakiri-graceful-signal") else {
        return GracefulSignal::None;
    };
    match s.value.as_u64() {
        SIGTERM => GracefulSignal::None,
        n @ (1 | 2 | 3 | 9 | 17 | 19 | 20) => GracefulSignal::Refused(format!(
            "harakiri-graceful-signal = {n}: rw does not send it (it stops, pauses or is              ignored by an rw worker); the graceful attempt stays the exception raised in the              stuck thread; use a signal the app handles, such as 10 (SIGUSR1) or 12 (SIGUSR2)"
        )),
        n @ 1..=31 => GracefulSignal::Send(n as i32),
        n => GracefulSignal::Refused(format!(
            "harakiri-graceful-signal = {n}: not a standard signal (1-31; rw uses real-time              signals for harakiri's interrupt): not sent"
        )),
    }
}

pub fn check(cfg: &Config) -> Vec<Diagnostic> {
    let mut d = Vec::new();
    if let (GracefulSignal::Refused(why), Some(s)) =
        (graceful_signal(cfg), cfg.get("harakiri-graceful-signal"))
    {
        d.push(Diagnostic::warning(&s.origin, why));
    }
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
    /// The diagnostics of a config given as `key = value` lines (line numbers from 1).
    fn diags(lines: &[(&str, &str)]) -> Vec<String> {
        let c = super::super::testutil::config_of(lines);
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
    fn graceful_signals_an_app_can_handle_are_sent() {
        let read = |v: &str| {
            super::graceful_signal(&super::super::testutil::config_of(&[(
                "harakiri-graceful-signal",
                v,
            )]))
        };
        use super::GracefulSignal::*;
        assert_eq!(read("12"), Send(12));
        assert_eq!(read("10"), Send(10));
        assert_eq!(read("15"), None);
        assert!(matches!(read("9"), Refused(_)));
        assert!(matches!(read("1"), Refused(_)));
        assert!(matches!(read("35"), Refused(_)));
        assert!(matches!(read("0"), Refused(_)));
        let d = diags(&[("harakiri-graceful-signal", "2")]);
        assert!(
            d[0].starts_with("t.ini:1: warning: harakiri-graceful-signal = 2: rw does not send it")
        );
        assert!(diags(&[("harakiri-graceful-signal", "12")]).is_empty());
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
