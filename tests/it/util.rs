//! Shared test helpers: the rw binary, fixture paths, temp dirs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `rw` binary cargo built for this test run.
pub fn rw() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rw"))
}

/// Runs rw with `args` and returns its output.
pub fn run(args: &[&str]) -> Output {
    rw().args(args).output().expect("rw runs")
}

/// `tests/fixtures/<rel>`.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// The project root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Everything a command printed, both streams, for assertions and failure messages.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Whether `RW_BLESS=1` asks tests to rewrite generated files instead of comparing them.
pub fn bless() -> bool {
    std::env::var("RW_BLESS").is_ok_and(|v| v == "1")
}
