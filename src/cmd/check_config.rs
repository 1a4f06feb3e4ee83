//! `rw check-config FILE[:section]`: load, check against the machine, report, never start.

use super::exit;
use crate::cli::CheckArgs;
use crate::config::{self, check, host, magic::HostFacts, Severity, Sources};
use std::io::Write;

pub fn run(args: &CheckArgs) -> anyhow::Result<u8> {
    let host_facts = HostFacts::gather();
    let sources = Sources {
        env: std::env::vars().collect(),
        args: vec![("ini".to_string(), Some(args.config.clone()))],
    };
    let loaded = config::load(&sources, &host_facts);
    let user_exists = |n: &str| nix::unistd::User::from_name(n).ok().flatten().is_some();
    let group_exists = |n: &str| nix::unistd::Group::from_name(n).ok().flatten().is_some();
    let facts = check::SystemFacts {
        cwd: host_facts.cwd.clone().into(),
        somaxconn: host::somaxconn(),
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
