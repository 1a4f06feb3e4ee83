//! The command line: clap definitions only. `rw serve`'s uWSGI options come from the option
//! table, so flags, `--help`, man pages and completions cannot drift from the ini reader.

pub mod generate;

use crate::config::compat::{self, UArg};
use crate::config::options::{Kind, Support, OPTIONS};
use clap::{Arg, ArgAction, ArgMatches, Args, Parser, Subcommand, ValueHint};
use std::path::PathBuf;

/// rw: a uWSGI-compatible Python application server.
#[derive(Debug, Parser)]
#[command(
    name = "rw",
    version,
    about = "A uWSGI-compatible Python WSGI application server",
    long_about = "rw runs Django, Flask or any WSGI app with your existing uwsgi.ini: the same \
                  nginx uwsgi_pass, the same stats socket, the same pidfile. A master process \
                  supervises pre-forked worker processes, each with N threads.",
    propagate_version = true,
    arg_required_else_help = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server from uwsgi.ini files and/or uWSGI options
    #[command(
        long_about = "Run the server: a master process and pre-forked workers. Options are \
                      uWSGI's: read from --ini files, UWSGI_* environment variables and the \
                      flags below. Precedence: UWSGI_* variables first, then the command line \
                      left to right with each --ini file read where it appears; for single-value \
                      options the last one wins, list options (socket, env, static-map, …) \
                      accumulate.",
        after_help = "Every other uWSGI 2.0 option is accepted as well (not listed here; rw warns \
                      about what it does not implement — see docs/uwsgi-options.md).\n\n\
                      Examples:\n  rw serve --ini uwsgi.ini\n  rw serve --http :8000 --module app:application --processes 4"
    )]
    Serve(ServeArgs),
    /// Stop the server whose master pid is in PIDFILE, and wait until it has exited
    Stop(SignalArgs),
    /// Gracefully reload the server whose master pid is in PIDFILE (new workers re-import the app)
    Reload(SignalArgs),
    /// Print what a socket sends until it closes (e.g. the stats JSON)
    #[command(
        long_about = "Connect to ADDR and copy everything it sends to stdout until it closes \
                      (the stats JSON of a `stats` socket). ADDR is a unix socket path, \
                      @abstract, or host:port (an address with `:` is TCP). uWSGI's \
                      --connect-and-read writes to stderr; rw writes to stdout so the output \
                      pipes into jq or head. Exit status: 0, or 1 when it cannot connect or \
                      the server sends nothing for 10 seconds.",
        after_help = "Examples:\n  rw connect-and-read uwsgi.status\n  rw connect-and-read 127.0.0.1:9191 | jq .workers"
    )]
    ConnectAndRead(ConnectArgs),
    /// Validate a uwsgi.ini without starting anything
    #[command(
        long_about = "Validate a uwsgi.ini without starting anything. Every problem is printed as \
                      `file:line: error|warning: message`. Exit status: 0 when there is no error, \
                      1 on errors (and on warnings with --strict), 2 on usage errors.",
        after_help = "Examples:\n  rw check-config uwsgi.ini\n  rw check-config uwsgi.ini:production --json"
    )]
    CheckConfig(CheckArgs),
    /// Live view of a running server's workers, read from its stats socket
    #[command(
        long_about = "Live view of a running server's workers, read from its stats socket (a \
                      uwsgitop work-alike that also reads a real uWSGI). ADDR is a unix path, \
                      @abstract, host:port, or http://host:port for a stats-http socket. \
                      Columns are uwsgitop's plus P50/P99 latency and a busy bar. Keys: s \
                      cycles the sort column, r reverses it, c shows per-core rows, q quits. \
                      When the server goes away the view says so and retries every interval.",
        after_help = "Examples:\n  rw top uwsgi.status\n  rw top 127.0.0.1:9191 --once\n  rw top uwsgi.status --json | jq '.workers[].requests'"
    )]
    Top(TopArgs),
    /// Write man pages and shell completions (used to refresh man/ and completions/)
    #[command(hide = true)]
    Generate(GenerateArgs),
}

/// `rw stop` / `rw reload`.
#[derive(Debug, clap::Args)]
pub struct SignalArgs {
    /// The pidfile the server writes (the `pidfile` option)
    #[arg(value_name = "PIDFILE", value_hint = ValueHint::FilePath)]
    pub pidfile: PathBuf,
    /// Give up waiting after this many seconds (the signal stays sent)
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub timeout: u64,
}

/// `rw connect-and-read`.
#[derive(Debug, clap::Args)]
pub struct ConnectArgs {
    /// A unix socket path, @abstract, or host:port for TCP
    #[arg(value_name = "ADDR", value_hint = ValueHint::AnyPath)]
    pub addr: String,
}

/// `rw check-config`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The ini file, optionally with a section: uwsgi.ini or uwsgi.ini:production
    #[arg(value_name = "FILE[:SECTION]", value_hint = ValueHint::FilePath)]
    pub config: String,
    /// Print the fully resolved config (every variable expanded) as JSON
    #[arg(long)]
    pub json: bool,
    /// Fail (exit 1) on warnings too
    #[arg(long)]
    pub strict: bool,
}

/// `rw top`.
#[derive(Debug, clap::Args)]
pub struct TopArgs {
    /// The stats socket: a unix path, @abstract, host:port or http://host:port
    #[arg(value_name = "ADDR", value_hint = ValueHint::AnyPath)]
    pub addr: String,
    /// Seconds between refreshes
    #[arg(long, value_name = "SECS", default_value_t = 1.0)]
    pub interval: f64,
    /// Print one frame to stdout and exit
    #[arg(long)]
    pub once: bool,
    /// Print one snapshot as JSON and exit
    #[arg(long)]
    pub json: bool,
}

/// `rw generate`.
#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// Directory that receives man/ and completions/
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub out: PathBuf,
}

/// `rw serve`: every uWSGI option of the table as a flag, kept in command-line order because
/// order is precedence (`--ini a.ini --processes 4` differs from `--processes 4 --ini a.ini`).
#[derive(Debug, Default, Clone)]
pub struct ServeArgs {
    /// (option name, value) in the order given; `None` for a flag given without a value.
    pub options: Vec<(String, Option<String>)>,
}

impl Args for ServeArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        let mut cmd = cmd.next_help_heading("uWSGI options");
        for spec in OPTIONS.iter().filter(|o| o.name != "include") {
            let mut help = spec.doc.to_string();
            if let Some(d) = spec.default {
                help.push_str(&format!(" [default: {d}]"));
            }
            if spec.multi {
                help.push_str(" (repeatable)");
            }
            match spec.support {
                Support::Moot(why) | Support::Same(why) => {
                    help.push_str(&format!(" (accepted; {why})"));
                }
                Support::Yes => {}
            }
            let mut arg = Arg::new(spec.name)
                .long(spec.name)
                .help(help)
                .value_name(spec.kind.value_name())
                .action(ArgAction::Append)
                .value_hint(value_hint(spec.kind));
            if !spec.aliases.is_empty() {
                arg = arg.visible_aliases(spec.aliases.iter().copied());
            }
            if let Some(c) = spec.short {
                arg = arg.short(c);
            }
            if spec.kind == Kind::Bool {
                // A flag without value is a bare key (`uwsgi.opt` shows True for it).
                arg = arg.num_args(0..=1).default_missing_value(NO_VALUE);
            } else if spec.kind == Kind::Str
                && compat::uwsgi_option(spec.name).is_some_and(|u| u.arg == UArg::Optional)
            {
                // `--log-date` alone, as uWSGI's optional argument allows.
                arg = arg.num_args(0..=1).default_missing_value("");
            }
            cmd = cmd.arg(arg);
        }
        // The rest of uWSGI's vocabulary: accepted (rw warns about what it ignores), hidden
        // so that --help, the man page and the completions list what rw implements (clap's
        // completers list hidden flags too, so docs are generated without them).
        let extra = (!FOR_DOCS.load(std::sync::atomic::Ordering::Relaxed))
            .then(compat::cli_extra)
            .into_iter()
            .flatten();
        for u in extra {
            let mut arg = Arg::new(u.name)
                .long(u.name)
                .hide(true)
                .action(ArgAction::Append);
            arg = match u.arg {
                UArg::Required => arg.num_args(1),
                UArg::None | UArg::Optional => arg.num_args(0..=1).default_missing_value(NO_VALUE),
            };
            cmd = cmd.arg(arg);
        }
        cmd
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

fn value_hint(kind: Kind) -> ValueHint {
    match kind {
        Kind::File | Kind::Include => ValueHint::FilePath,
        Kind::Dir => ValueHint::DirPath,
        Kind::NewPath | Kind::Address => ValueHint::AnyPath,
        Kind::Account => ValueHint::Username,
        _ => ValueHint::Other,
    }
}

impl clap::FromArgMatches for ServeArgs {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let mut seen: Vec<(usize, String, Option<String>)> = Vec::new();
        let names = OPTIONS
            .iter()
            .filter(|o| o.name != "include")
            .map(|o| o.name)
            .chain(compat::cli_extra().map(|u| u.name));
        for name in names {
            let (Some(idx), Some(vals)) = (m.indices_of(name), m.get_raw(name)) else {
                continue;
            };
            for (i, v) in idx.zip(vals) {
                let v = v.to_string_lossy().into_owned();
                seen.push((i, name.to_string(), (v != NO_VALUE).then_some(v)));
            }
        }
        seen.sort_by_key(|(i, _, _)| *i);
        Ok(ServeArgs {
            options: seen.into_iter().map(|(_, k, v)| (k, v)).collect(),
        })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

/// What clap records for a flag given without a value (`--master`): the option then reaches the
/// config as a bare key, as uWSGI sees it (a flag it exports to apps as `True`). No command line
/// can contain it (a NUL cannot be passed in argv).
const NO_VALUE: &str = "\0";

/// Set while man pages and completions are generated: leaves the hidden uWSGI flags out.
pub static FOR_DOCS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The full clap command, for docs generation.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_are_consistent() {
        command().debug_assert();
    }

    #[test]
    fn serve_keeps_command_line_order() {
        let cli = Cli::try_parse_from([
            "rw",
            "serve",
            "--processes",
            "5",
            "--ini",
            "a.ini",
            "--master",
            "-p",
            "3",
            "--workers=7",
            "--cheaper-algo",
            "busyness",
            "--die-on-idle",
            "--log-4xx",
            "--log-date",
        ])
        .unwrap();
        let Command::Serve(s) = cli.command else {
            panic!()
        };
        let got: Vec<(&str, Option<&str>)> = s
            .options
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("processes", Some("5")),
                ("ini", Some("a.ini")),
                ("master", None),
                ("processes", Some("3")),
                ("processes", Some("7")),
                ("cheaper-algo", Some("busyness")),
                ("die-on-idle", None),
                ("log-4xx", None),
                ("log-date", Some("")),
            ]
        );
    }
}
