//! One glue file per subcommand; this file routes and owns exit statuses.

mod check_config;
mod connect_and_read;
mod control;
mod serve;
mod top;

use crate::cli::{Cli, Command};
use std::process::ExitCode;

/// Exit statuses shared by every subcommand.
pub mod exit {
    /// Everything went as asked.
    pub const OK: u8 = 0;
    /// The operation failed (bad config, no server, …).
    pub const FAILURE: u8 = 1;
    /// Usage error, or a subcommand not implemented yet.
    pub const USAGE: u8 = 2;
}

/// Runs the parsed command line and turns the outcome into an exit status.
pub fn main(cli: Cli) -> ExitCode {
    ExitCode::from(status(cli))
}

/// The wheel's entry (`rw_server._rw.run(sys.argv)`): parses `args` (the first is the program
/// name) as the binary does and returns the exit status instead of exiting, so that Python
/// shuts down normally. `--help` and usage errors print as they do from the binary.
pub fn main_with_args(args: Vec<std::ffi::OsString>) -> u8 {
    use clap::Parser;
    match Cli::try_parse_from(args) {
        Ok(cli) => status(cli),
        Err(e) => {
            let _ = e.print();
            e.exit_code().clamp(0, 255) as u8
        }
    }
}

fn status(cli: Cli) -> u8 {
    match run(cli) {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => exit::OK,
        Err(e) => {
            eprintln!("rw: error: {e:#}");
            exit::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::CheckConfig(args) => check_config::run(&args),
        Command::Generate(args) => {
            crate::cli::generate::write_all(&args.out)?;
            Ok(exit::OK)
        }
        Command::Serve(args) => serve::run(args.options),
        Command::Stop(args) => control::run(control::Op::Stop, &args),
        Command::Reload(args) => control::run(control::Op::Reload, &args),
        Command::ConnectAndRead(args) => connect_and_read::run(&args),
        Command::Top(args) => top::run(&args),
    }
}

/// `rw … | head` must end quietly (exit 0), as other Unix tools do.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
