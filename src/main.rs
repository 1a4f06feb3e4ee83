//! The `rw` binary: parse the command line, dispatch, exit.

use clap::Parser;

fn main() -> std::process::ExitCode {
    rw::cmd::main(rw::cli::Cli::parse())
}
