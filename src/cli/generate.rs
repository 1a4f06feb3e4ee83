//! Man pages, shell completions and the README's option table, all generated from the clap
//! definitions and the option table (`rw generate --out DIR`; committed, checked by a test).

use crate::config::compat::{self, Class, VOCAB};
use crate::config::options::{Kind, OPTIONS};
use clap_complete::Shell;
use std::path::Path;

/// Writes `DIR/man/*.1` and `DIR/completions/*`.
pub fn write_all(out: &Path) -> std::io::Result<()> {
    let man_dir = out.join("man");
    let comp_dir = out.join("completions");
    std::fs::create_dir_all(&man_dir)?;
    std::fs::create_dir_all(&comp_dir)?;
    super::FOR_DOCS.store(true, std::sync::atomic::Ordering::Relaxed);
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
        "| option | aliases | value | default | range | rw | what it does |\n|---|---|---|---|---|---|---|\n",
    );
    for o in OPTIONS {
        let aliases: Vec<String> = o
            .aliases
            .iter()
            .map(|a| format!("`{a}`"))
            .chain(o.short.map(|c| format!("`-{c}`")))
            .collect();
        let numeric = matches!(
            o.kind,
            Kind::Int | Kind::Bytes | Kind::Bytes16 | Kind::Megabytes | Kind::Seconds
        );
        let range = if numeric {
            let (lo, hi) = o.limits();
            format!("{lo}–{hi}")
        } else {
            String::new()
        };
        s.push_str(&format!(
            "| `{}` | {} | {}{} | {} | {} | {} | {} |\n",
            o.name,
            aliases.join(" "),
            o.kind.value_name(),
            if o.multi { ", repeatable" } else { "" },
            o.default.map(|d| format!("`{d}`")).unwrap_or_default(),
            range,
            compat::support_text(o),
            o.doc
        ));
    }
    let (mut logic, mut not_impl) = (0, 0);
    for u in VOCAB {
        match compat::classify(u.name) {
            Class::Logic => logic += 1,
            Class::NotImplemented(_) => not_impl += 1,
            _ => {}
        }
    }
    s.push_str(&format!(
        "\nThe other {} names of uWSGI 2.0's vocabulary are {logic} config-logic keys (`if-*`, \
         `for*`, `end*`, read as uWSGI reads them) and {not_impl} options rw accepts without \
         implementing them: `check-config` and `rw serve` warn about each one that asks for \
         something (saying what will differ), and `strict` makes that an error except for \
         the options planned for rw's next releases (the rest of the logging, recycling \
         and uwsgi API options). The full list, with what differs \
         for each, is [docs/uwsgi-options.md](docs/uwsgi-options.md).\n",
        logic + not_impl
    ));
    s
}

/// docs/uwsgi-options.md: every name of uWSGI 2.0's vocabulary and what rw does with it.
pub fn vocabulary_markdown() -> String {
    let mut s = String::from(
        "# Every uWSGI 2.0 option and what rw does with it\n\n\
         Generated from src/config/vocab.rs (itself generated from uWSGI's `uwsgi-2.0` tree by \
         tools/uwsgi-vocab.py) and src/config/options.rs; `RW_BLESS=1 cargo test` rewrites it. \
         A key that is not listed here is not a uWSGI option: uWSGI and rw keep it as a \
         placeholder for `%(name)`.\n\n| option | from | rw |\n|---|---|---|\n",
    );
    for u in VOCAB {
        let rw = match compat::classify(u.name) {
            Class::Table(spec) if spec.name == u.name => compat::support_text(spec),
            Class::Table(spec) => {
                format!("{} (alias of `{}`)", compat::support_text(spec), spec.name)
            }
            Class::Logic => "config logic: read as uWSGI reads it".to_string(),
            Class::NotImplemented(u) => format!("not implemented: {}", compat::what_differs(u)),
            Class::Placeholder => "placeholder".to_string(),
        };
        s.push_str(&format!("| `{}` | {} | {} |\n", u.name, u.plugin, rw));
    }
    s
}
