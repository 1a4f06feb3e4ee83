//! `rw top ADDR [--interval SECS] [--once] [--json]`: live view of a stats socket.

use crate::cli::TopArgs;

/// Runs the live view (or one frame with `--once`, the JSON with `--json`).
pub fn run(args: &TopArgs) -> anyhow::Result<u8> {
    crate::ui::top::run(args)
}
