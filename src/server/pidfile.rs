//! The pidfile: written by the master, read by `rw stop`/`rw reload`, removed by `vacuum`.

use anyhow::{bail, Context};
use std::path::Path;

/// Writes `"<pid>\n"`, as uWSGI does.
pub fn write(path: &Path, pid: u32) -> anyhow::Result<()> {
    std::fs::write(path, format!("{pid}\n"))
        .with_context(|| format!("cannot write pidfile {}", path.display()))
}

/// Refuses to start when `path` names a running rw master other than this process: a second
/// `rw serve` started by mistake must neither take over nor delete the live instance's pidfile.
pub fn check_not_taken(path: &Path) -> anyhow::Result<()> {
    match read(path) {
        Ok(pid) if pid != std::process::id() as i32 && is_rw_master(pid) => bail!(
            "pidfile {} names a running rw master (pid {pid}); stop it first \
             (`rw stop {}`) or give this instance another pidfile",
            path.display(),
            path.display()
        ),
        _ => Ok(()),
    }
}

/// Removes the pidfile only if it still holds this process's pid. Returns whether it did.
pub fn remove_if_ours(path: &Path) -> bool {
    read(path).ok() == Some(std::process::id() as i32) && std::fs::remove_file(path).is_ok()
}

/// Reads a pid, refusing what is not one: an empty or garbled pidfile must never turn into
/// `kill(0, …)` (which signals the caller's whole process group, a real uWSGI bug).
pub fn read(path: &Path) -> anyhow::Result<i32> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read pidfile {}", path.display()))?;
    let t = text.trim();
    if t.is_empty() {
        bail!("pidfile {} is empty", path.display());
    }
    match t.parse::<i32>() {
        Ok(pid) if pid > 1 => Ok(pid),
        _ => bail!(
            "pidfile {} does not hold a pid: {:?}",
            path.display(),
            crate::config::diag::printable(t)
        ),
    }
}

/// rw's subcommands other than `serve`: a process running one of them is no master.
const OTHER_COMMANDS: &[&str] = &["stop", "reload", "check-config", "connect-and-read", "top"];

/// Whether `pid` is a running rw master: its image is rw and it does not run another
/// subcommand. Its title may be anything (`procname-master`), so the title is not required
/// to say `serve` or `rw master`.
pub fn is_rw_master(pid: i32) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let exe_is_rw = std::fs::read_link(format!("/proc/{pid}/exe"))
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().starts_with("rw")))
        .unwrap_or(false)
        || runs_rw_wheel(pid);
    // The first words only: the program (or interpreter and script) and the subcommand.
    let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    let other = text
        .split(' ')
        .filter(|w| !w.is_empty())
        .take(3)
        .any(|w| OTHER_COMMANDS.contains(&w));
    exe_is_rw && !other
}

/// From the wheel the image is Python's: an rw master there has the `rw_server._rw` extension
/// module mapped.
fn runs_rw_wheel(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .is_ok_and(|maps| maps.lines().any(|l| l.contains("/rw_server/_rw.")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_not_a_pid() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.pid");
        for (content, ok) in [
            ("1234\n", true),
            ("", false),
            ("\n", false),
            ("0", false),
            ("1", false),
            ("-5", false),
            ("12ab", false),
        ] {
            std::fs::write(&p, content).unwrap();
            assert_eq!(read(&p).is_ok(), ok, "{content:?}");
        }
        assert!(read(&dir.path().join("missing.pid")).is_err());
    }
}
