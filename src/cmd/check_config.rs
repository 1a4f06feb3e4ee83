//! `rw check-config FILE[:section]`: load, check against the machine, report, never start.

use super::exit;
use crate::cli::CheckArgs;
use crate::config::{self, check, Severity, Sources};
use crate::server::{preflight, settings::Settings};
use std::io::Write;

pub fn run(args: &CheckArgs) -> anyhow::Result<u8> {
    let host_facts = crate::sys::host::facts();
    let sources = Sources {
        env: std::env::vars().collect(),
        args: vec![("ini".to_string(), Some(args.config.clone()))],
    };
    let loaded = config::load(&sources, &host_facts);
    let user_exists = crate::sys::users::user_exists;
    let group_exists = crate::sys::users::group_exists;
    let facts = check::SystemFacts {
        cwd: host_facts.cwd.clone().into(),
        somaxconn: crate::sys::host::somaxconn(),
        euid: nix::unistd::geteuid().as_raw(),
        user_exists: &user_exists,
        group_exists: &group_exists,
    };
    let mut diags = loaded.diagnostics;
    // Checking paths of a config that failed to load would only repeat the same problem.
    if !diags
        .iter()
        .any(|d| d.is_error() && d.origin == config::Origin::Cli)
    {
        diags.extend(check::check(&loaded.config, &facts, &loaded.anchor));
        // What serve refuses before forking (the same function): said once per line.
        let s = Settings::from_config(&loaded.config, &facts.cwd);
        for d in preflight::worker_setup(&loaded.config, &s, &loaded.anchor) {
            if !diags.iter().any(|o| o.is_error() && o.origin == d.origin) {
                diags.push(d);
            }
        }
        diags.extend(app_module_missing(&loaded.config, &facts.cwd));
    }
    let errors = diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = diags.len() - errors;

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &loaded.config.to_json())?;
        writeln!(out)?;
    }
    let mut report: Box<dyn Write> = if args.json {
        Box::new(std::io::stderr())
    } else {
        Box::new(out)
    };
    for d in &diags {
        writeln!(report, "{d}")?;
    }
    // The summary goes to stderr: the report must be out first.
    report.flush()?;
    let verdict = if errors > 0 || (args.strict && warnings > 0) {
        exit::FAILURE
    } else {
        exit::OK
    };
    eprintln!(
        "{}: {} error{}, {} warning{}{}",
        args.config,
        errors,
        if errors == 1 { "" } else { "s" },
        warnings,
        if warnings == 1 { "" } else { "s" },
        if verdict == exit::OK { " — ok" } else { "" }
    );
    Ok(verdict)
}

/// With `need-app`, `rw serve` refuses when the app module cannot be imported; a module that
/// Python cannot even find is the common case (a typo, the wrong chdir or venv). Asks the
/// interpreter the server would use (the venv's, else the one rw was built with) whether the
/// top-level package exists, without importing it. When that interpreter cannot run, says
/// nothing: serve will tell.
fn app_module_missing(cfg: &config::Config, cwd: &std::path::Path) -> Option<config::Diagnostic> {
    if !cfg.bool("need-app") || cfg.get("wsgi-file").is_some() {
        return None;
    }
    let module = cfg.get("module")?;
    let name = module.value.as_str();
    let top = name.split([':', '.']).next().unwrap_or_default();
    if top.is_empty() || !top.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return None;
    }
    let dir = cfg
        .get("chdir")
        .map_or(cwd.to_path_buf(), |c| cwd.join(c.value.as_str()));
    let python = cfg
        .get("home")
        .map(|h| cwd.join(h.value.as_str()).join("bin/python"))
        .filter(|p| p.exists())
        .or_else(|| option_env!("RW_BUILD_PYTHON").map(Into::into))?;
    let paths: Vec<String> = cfg
        .list("pythonpath")
        .map(|s| s.value.as_str().to_string())
        .collect();
    let probe = "import importlib.util, sys\n\
                 sys.path[:0] = ['.'] + sys.argv[2:]\n\
                 sys.exit(0 if importlib.util.find_spec(sys.argv[1]) else 3)";
    let status = std::process::Command::new(python)
        .arg("-c")
        .arg(probe)
        .arg(top)
        .args(&paths)
        .current_dir(&dir)
        .env_remove("PYTHONPATH")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .ok()?;
    (status.code() == Some(3)).then(|| {
        config::Diagnostic::error(
            &module.origin,
            format!(
                "module = {name}: Python finds no module `{top}` in {} or the pythonpath, and \
                 need-app makes rw serve refuse to start without the app",
                dir.display()
            ),
        )
    })
}
