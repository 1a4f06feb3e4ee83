//! Whole-config checks against the machine: paths that must exist, limits of the kernel,
//! privileges, and the uWSGI traps worth a warning.

use super::diag::{Diagnostic, Origin};
use super::options::{Kind, OPTIONS};
use super::resolve::{Config, Setting};
use std::path::{Path, PathBuf};

/// What the checks need to know about the machine (gathered by the caller).
pub struct SystemFacts<'a> {
    pub cwd: PathBuf,
    pub somaxconn: Option<u64>,
    pub euid: u32,
    pub user_exists: &'a dyn Fn(&str) -> bool,
    pub group_exists: &'a dyn Fn(&str) -> bool,
}

/// Options whose relative paths are resolved before `chdir` happens (uWSGI's startup order:
/// daemonize and pidfile come before the chdir, and uWSGI resolves spooler directories when
/// it reads them; sockets, apps and the rest after it).
const BEFORE_CHDIR: &[&str] = &[
    "pidfile",
    "daemonize",
    "logto",
    "chdir",
    "spooler",
    "spooler-external",
];

/// Runs every check; `anchor` is where whole-config remarks point (the main file's first line).
pub fn check(cfg: &Config, sys: &SystemFacts, anchor: &Origin) -> Vec<Diagnostic> {
    let mut d = Vec::new();
    let chdir = cfg.get("chdir").map(|s| sys.cwd.join(s.value.as_str()));
    for spec in OPTIONS {
        let base = if BEFORE_CHDIR.contains(&spec.name) {
            sys.cwd.clone()
        } else {
            chdir.clone().unwrap_or_else(|| sys.cwd.clone())
        };
        let settings: Vec<&Setting> = if spec.multi {
            cfg.list(spec.name).collect()
        } else {
            cfg.get(spec.name).into_iter().collect()
        };
        for s in settings {
            check_path(spec.name, spec.kind, s, &base, &mut d);
        }
    }
    check_limits(cfg, sys, &mut d);
    check_accounts(cfg, sys, &mut d);
    d.extend(super::option_values::check_system(
        cfg,
        sys.euid,
        sys.user_exists,
        sys.group_exists,
    ));
    check_traps(cfg, anchor, &mut d);
    d.extend(super::hooks::check_system(cfg, sys.euid));
    d
}

fn check_path(name: &str, kind: Kind, s: &Setting, base: &Path, d: &mut Vec<Diagnostic>) {
    let text = s.value.as_str();
    let err = |msg: String| Diagnostic::error(&s.origin, format!("{name}: {msg}"));
    match kind {
        Kind::Dir => {
            let p = base.join(text);
            if !p.is_dir() {
                d.push(err(format!("directory {} does not exist", p.display())));
            }
        }
        Kind::File => {
            let p = base.join(text);
            if !p.is_file() {
                d.push(err(format!("file {} does not exist", p.display())));
            }
        }
        Kind::NewPath => parent_exists(&base.join(text), d, &err),
        Kind::Address if is_unix_path(text) => parent_exists(&base.join(text), d, &err),
        Kind::Mapping => {
            if let Some((_, target)) = text.split_once('=') {
                let p = base.join(target);
                if !p.exists() {
                    d.push(err(format!("{} does not exist", p.display())));
                }
            }
        }
        _ => {}
    }
}

fn parent_exists(p: &Path, d: &mut Vec<Diagnostic>, err: &dyn Fn(String) -> Diagnostic) {
    if let Some(parent) = p.parent() {
        if !parent.as_os_str().is_empty() && !parent.is_dir() {
            d.push(err(format!(
                "directory {} does not exist (create it first)",
                parent.display()
            )));
        }
    }
}

/// A socket address with no `:` is a unix path; `@name` is abstract and has no file.
pub fn is_unix_path(addr: &str) -> bool {
    !addr.contains(':') && !addr.starts_with('@')
}

fn check_limits(cfg: &Config, sys: &SystemFacts, d: &mut Vec<Diagnostic>) {
    if let (Some(s), Some(max)) = (cfg.get("listen"), sys.somaxconn) {
        if s.value.as_u64() > max {
            d.push(Diagnostic::error(
                &s.origin,
                format!(
                    "listen = {} is greater than the system's net.core.somaxconn ({max}); \
                     lower it or raise the sysctl",
                    s.value.as_u64()
                ),
            ));
        }
    }
    if let Some(s) = cfg.get("processes").filter(|s| s.value.as_u64() == 0) {
        d.push(Diagnostic::warning(
            &s.origin,
            "processes = 0: uWSGI starts a master with no worker at all (nothing answers); rw \
             starts 1 worker",
        ));
    }
    if let Some(s) = cfg.get("threads").filter(|s| s.value.as_u64() == 0) {
        d.push(Diagnostic::warning(
            &s.origin,
            "threads = 0 means one thread per worker (as in uWSGI); write threads = 1",
        ));
    }
}

fn check_accounts(cfg: &Config, sys: &SystemFacts, d: &mut Vec<Diagnostic>) {
    for (name, exists) in [("uid", sys.user_exists), ("gid", sys.group_exists)] {
        let Some(s) = cfg.get(name) else { continue };
        let v = s.value.as_str();
        let numeric = v.bytes().all(|b| b.is_ascii_digit());
        if !numeric && !exists(v) {
            let what = if name == "uid" { "user" } else { "group" };
            d.push(Diagnostic::error(
                &s.origin,
                format!("{name}: no such {what} `{v}`"),
            ));
        } else if sys.euid != 0 && !(numeric && v.parse() == Ok(sys.euid)) {
            d.push(Diagnostic::error(
                &s.origin,
                format!(
                    "{name} = {v} needs root to switch to, and rw runs as uid {}",
                    sys.euid
                ),
            ));
        }
    }
}

fn check_traps(cfg: &Config, anchor: &Origin, d: &mut Vec<Diagnostic>) {
    let listeners = ["socket", "http", "http-socket", "http11-socket"]
        .iter()
        .map(|n| cfg.list(n).count())
        .sum::<usize>();
    if listeners == 0 {
        d.push(Diagnostic::error(
            anchor,
            "nothing to listen on: set socket, http, http-socket or http11-socket",
        ));
    }
    let has_app = cfg.get("module").is_some()
        || cfg.get("wsgi-file").is_some()
        || cfg.get("paste").is_some()
        || cfg.list("mount").count() > 0;
    if !has_app {
        d.push(Diagnostic::warning(
            anchor,
            "no app (module, wsgi-file or mount): every request will get a 500",
        ));
    }
    if let (Some(_), Some(file)) = (cfg.get("module"), cfg.get("wsgi-file")) {
        d.push(Diagnostic::warning(
            &file.origin,
            "wsgi-file is ignored because module is set (uWSGI skips it too)",
        ));
    }
    // `hook-master-start = unix_signal:15 gracefully_kill_them_all` is the other way to say it.
    let term_hooked = super::hooks::plan(cfg)
        .0
        .signal_actions()
        .any(|(_, n, _)| n == 15);
    if cfg.get("die-on-term").is_none() && !term_hooked {
        d.push(Diagnostic::warning(
            anchor,
            "SIGTERM will reload, not stop (uWSGI 2.0 semantics); set die-on-term = true when \
             systemd, docker or Kubernetes stop the server with SIGTERM",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_addresses() {
        assert!(is_unix_path("/run/app.sock"));
        assert!(is_unix_path("app.sock"));
        assert!(!is_unix_path("127.0.0.1:8000"));
        assert!(!is_unix_path(":8000"));
        assert!(!is_unix_path("@abstract"));
    }
}
