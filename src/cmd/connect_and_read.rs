//! `rw connect-and-read ADDR`: print what a socket sends (the stats JSON) until it closes.

use crate::cli::ConnectArgs;
use std::time::Duration;

/// How long a silent server is waited for before giving up.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Copies the socket to stdout (uWSGI's `--connect-and-read` uses stderr; stdout pipes into
/// `jq` and `head`). Exit 0, or 1 when it cannot connect or read.
pub fn run(args: &ConnectArgs) -> anyhow::Result<u8> {
    let mut out = std::io::stdout().lock();
    Ok(crate::stats::client::connect_and_read(
        &args.addr,
        &mut out,
        READ_TIMEOUT,
    ))
}
