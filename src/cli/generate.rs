//! Man pages, shell completions and the README's option table, all generated from the clap
//! definitions and the option table (`rw generate --out DIR`; committed, checked by a test).

use crate::config::options::{Support, OPTIONS, UNSUPPORTED};
use clap_complete::Shell;
use std::path::Path;

/// Writes `DIR/man/*.1` and `DIR/completions/*`.
pub fn write_all(out: &Path) -> std::io::Result<()> {
    let man_dir = out.join("man");
    let comp_dir = out.join("completions");
    std::fs::create_dir_all(&man_dir)?;
    std::fs::create_dir_all(&comp_dir)?;
    let cmd = super::command();
    write_man(&cmd, "rw", &man_dir)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("rw-{}", sub.get_name());
        let sub = sub
            .clone()
            .name(name.clone())
            .version(env!("CARGO_PKG_VERSION"));
        write_man(&sub, &name, &man_dir)?;
    }
    for shell in [
        Shell::Bash,
        Shell::Zsh,
        Shell::Fish,
        Shell::Elvish,
        Shell::PowerShell,
    ] {
        let mut cmd = super::command();
        clap_complete::generate_to(shell, &mut cmd, "rw", &comp_dir)?;
    }
    Ok(())
}

fn write_man(cmd: &clap::Command, name: &str, dir: &Path) -> std::io::Result<()> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut buf)?;
    std::fs::write(dir.join(format!("{name}.1")), buf)
}

/// The README's compatibility table (markdown), from the option table.
pub fn options_markdown() -> String {
    let mut s = String::from(
        "| option | aliases | value | default | rw | what it does |\n|---|---|---|---|---|---|\n",
    );
    for o in OPTIONS {
        let aliases: Vec<String> = o
            .aliases
            .iter()
            .map(|a| format!("`{a}`"))
            .chain(o.short.map(|c| format!("`-{c}`")))
            .collect();
        let status = match o.support {
            Support::Yes => "yes".to_string(),
            Support::Moot(why) => format!("accepted: {why}"),
        };
        s.push_str(&format!(
            "| `{}` | {} | {}{} | {} | {} | {} |\n",
            o.name,
            aliases.join(" "),
            o.kind.value_name(),
            if o.multi { ", repeatable" } else { "" },
            o.default.map(|d| format!("`{d}`")).unwrap_or_default(),
            status,
            o.doc
        ));
    }
    s.push_str(
        "\nKnown uWSGI options that rw does not support (reported by `check-config` and at \
         startup, never silently ignored; `strict` makes them errors): ",
    );
    let names: Vec<String> = UNSUPPORTED.iter().map(|n| format!("`{n}`")).collect();
    s.push_str(&names.join(", "));
    s.push_str(", and every `hook-*` / `exec-*` option.\n");
    s
}
