//! What each worker sets up after fork that the config alone can make fail, checked once in
//! the master before any fork (`rw serve`), before a reload's exec (`server/reload.rs`) and by
//! `rw check-config`: a worker that cannot start is a startup error pointing at the line to
//! fix, not a worker that fails after every fork while the master respawns it.

use super::settings::Settings;
use super::static_files::{SetupError, StaticMap};
use crate::config::{Config, Diagnostic, Origin};

/// The map a worker serves with, from its settings: roots resolve against `chdir2`, else
/// `chdir`, else the current directory. The worker builds it after fork; [`worker_setup`]
/// builds it once before, so that a root that does not resolve stops the start instead of
/// every worker.
pub fn static_map(s: &Settings) -> Result<StaticMap, SetupError> {
    let base = s
        .compat
        .chdir2
        .clone()
        .or_else(|| s.chdir.clone())
        .unwrap_or_else(|| std::env::current_dir().unwrap_or_default());
    StaticMap::new(&s.static_map, &s.check_static, &base)?.with_options(&s.compat.statics, &base)
}

/// The errors every worker would hit for this config; `anchor` is where a problem with no one
/// line points.
pub fn worker_setup(cfg: &Config, s: &Settings, anchor: &Origin) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    // Each worker changes into it once its apps are loaded.
    if let (Some(dir), Some(entry)) = (&s.compat.chdir2, cfg.get("chdir2")) {
        if !dir.is_dir() {
            out.push(Diagnostic::error(
                &entry.origin,
                format!(
                    "chdir2: directory {} does not exist (each worker changes into it)",
                    dir.display()
                ),
            ));
            // The static roots resolve against it: checking them would only repeat this.
            return out;
        }
    }
    if let Err(e) = static_map(s) {
        let origin = e
            .entry
            .and_then(|(option, i)| cfg.list(option).nth(i))
            .map_or(anchor, |entry| &entry.origin);
        out.push(Diagnostic::error(origin, e.message));
    }
    out
}
