//! The master FIFO (`master-fifo`): named pipes a deploy script writes one-byte commands to
//! (`echo r > /run/app.fifo`), as uWSGI 2.0 defines them. Several may be configured; one is
//! active at a time and the commands `0`–`9` switch between them.
//!
//! The byte → command table is a pure function so it can be tested and fuzzed; the master
//! decides what each command does (`server/master.rs`).

use anyhow::Context;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

/// One command byte, as uWSGI's FIFO table reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `0`–`9`: make the n-th configured FIFO the active one.
    Slot(u8),
    /// `r`: graceful reload (as SIGHUP).
    GracefulReload,
    /// `R`: brutal reload (as SIGTERM without die-on-term).
    BrutalReload,
    /// `c`: replace the workers one at a time, each new one accepting before the next stops.
    ChainReload,
    /// `w`: every worker finishes what it accepted and is replaced (no exec of the master).
    WorkersReload,
    /// `W`: every worker is killed now and replaced.
    BrutalWorkersReload,
    /// `q`: graceful shutdown (as SIGINT).
    Stop,
    /// `Q`: brutal shutdown: workers are killed now.
    BrutalStop,
    /// `l`: reopen the log file (after logrotate renamed it).
    ReopenLogs,
    /// `L`: rotate the log file now.
    RotateLogs,
    /// `s`: request counters to the log (as SIGUSR1).
    Stats,
    /// `p`: pause the workers, or resume them.
    PauseResume,
    /// `P`: write the pidfile again.
    RewritePidfile,
    /// `+`: one worker more (cheaper mode).
    MoreWorkers,
    /// `-`: one worker less (cheaper mode).
    FewerWorkers,
    /// A command of uWSGI's table for a subsystem rw does not have (emperor, subscriptions…).
    Missing(u8, &'static str),
    /// Whitespace (`echo` adds a newline): nothing to do, nothing to log.
    Blank,
    /// A byte no table knows.
    Unknown(u8),
}

/// The command a byte stands for.
pub fn command(b: u8) -> Command {
    use Command::*;
    match b {
        b'0'..=b'9' => Slot(b - b'0'),
        b'r' => GracefulReload,
        b'R' => BrutalReload,
        b'c' => ChainReload,
        b'w' => WorkersReload,
        b'W' => BrutalWorkersReload,
        b'q' => Stop,
        b'Q' => BrutalStop,
        b'l' => ReopenLogs,
        b'L' => RotateLogs,
        b's' => Stats,
        b'p' => PauseResume,
        b'P' => RewritePidfile,
        b'+' => MoreWorkers,
        b'-' => FewerWorkers,
        b'B' => Missing(b, "ask the Emperor for reinforcements (rw has no Emperor)"),
        b'C' => Missing(
            b,
            "go cheap: stop every worker until the next request (not built in rw)",
        ),
        b'E' => Missing(b, "make the Emperor rescan its vassals (rw has no Emperor)"),
        b'f' => Missing(
            b,
            "re-fork the master (uWSGI's fork-server mode; not built in rw)",
        ),
        b'S' => Missing(
            b,
            "block or unblock subscriptions (rw has no subscription system)",
        ),
        b' ' | b'\t' | b'\n' | b'\r' => Blank,
        _ => Unknown(b),
    }
}

/// Most bytes taken from the FIFO per wakeup; the rest waits for the next turn of the loop.
const READ_MAX: usize = 256;

/// The configured FIFOs and the open read end of the active one.
pub struct MasterFifo {
    paths: Vec<PathBuf>,
    active: usize,
    fd: OwnedFd,
}

impl MasterFifo {
    /// Creates the first FIFO (mode 0600) and opens it. `paths` is not empty.
    pub fn open(paths: &[PathBuf]) -> anyhow::Result<MasterFifo> {
        let fd = create(&paths[0])?;
        Ok(MasterFifo {
            paths: paths.to_vec(),
            active: 0,
            fd,
        })
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub fn active_path(&self) -> &Path {
        &self.paths[self.active]
    }

    /// The commands waiting in the active FIFO (never blocks).
    pub fn read(&self) -> Vec<Command> {
        let mut buf = [0u8; READ_MAX];
        // SAFETY: reads into a local buffer of READ_MAX bytes from an fd we own.
        let n = unsafe { libc::read(self.fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            // EAGAIN: nothing (yet). EOF cannot happen: we hold a write end ourselves.
            return Vec::new();
        }
        buf[..n as usize].iter().map(|&b| command(b)).collect()
    }

    /// Makes FIFO number `slot` the active one: created and opened now, the previous one
    /// closed (its path stays; a writer that opens it afterwards waits for a reader, as in
    /// uWSGI). Returns the new active path.
    pub fn switch(&mut self, slot: usize) -> anyhow::Result<&Path> {
        let Some(path) = self.paths.get(slot) else {
            anyhow::bail!(
                "there is no master fifo {slot}: {} configured (0 to {})",
                self.paths.len(),
                self.paths.len() - 1
            );
        };
        if slot != self.active {
            self.fd = create(path)?;
            self.active = slot;
        }
        Ok(self.active_path())
    }

    /// Removes the active FIFO's file (vacuum). The other paths are left as they are.
    pub fn vacuum(&self) -> bool {
        is_fifo(self.active_path()) && std::fs::remove_file(self.active_path()).is_ok()
    }
}

fn is_fifo(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_fifo())
}

/// uWSGI unlinks whatever is at the path and makes a new FIFO there. rw does the same (a
/// stale FIFO from a previous run must go), but says so when what it removes was not a FIFO.
fn create(path: &Path) -> anyhow::Result<OwnedFd> {
    use nix::sys::stat::Mode;
    match std::fs::symlink_metadata(path) {
        Ok(m) if !m.file_type().is_fifo() => {
            eprintln!(
                "warning: master-fifo {} existed and was not a FIFO; it is replaced by one (as uWSGI does)",
                path.display()
            );
            std::fs::remove_file(path)
                .with_context(|| format!("master-fifo: cannot remove {}", path.display()))?;
        }
        Ok(_) => std::fs::remove_file(path)
            .with_context(|| format!("master-fifo: cannot remove {}", path.display()))?,
        Err(_) => {}
    }
    nix::unistd::mkfifo(path, Mode::S_IRUSR | Mode::S_IWUSR).with_context(|| {
        format!(
            "master-fifo: cannot create {} (does its directory exist and is it writable?)",
            path.display()
        )
    })?;
    // Read-write rather than uWSGI's read-only: with a write end of our own the FIFO never
    // reports EOF when a writer closes, so the poller is not woken by a hang-up after every
    // `echo` and nothing needs re-creating.
    let fd = nix::fcntl::open(
        path,
        nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("master-fifo: cannot open {}", path.display()))?;
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_has_a_meaning_and_known_ones_are_uwsgis() {
        assert_eq!(command(b'r'), Command::GracefulReload);
        assert_eq!(command(b'7'), Command::Slot(7));
        assert_eq!(command(b'\n'), Command::Blank);
        assert_eq!(command(0xff), Command::Unknown(0xff));
        assert!(matches!(command(b'E'), Command::Missing(b'E', _)));
        for b in 0..=255u8 {
            let _ = command(b);
        }
    }

    #[test]
    fn commands_are_read_without_blocking_and_slots_switch() {
        let dir = tempfile::tempdir().unwrap();
        let paths = vec![dir.path().join("a.fifo"), dir.path().join("b.fifo")];
        // A stale regular file is replaced.
        std::fs::write(&paths[0], "x").unwrap();
        let mut f = MasterFifo::open(&paths).unwrap();
        assert!(is_fifo(&paths[0]));
        assert!(f.read().is_empty());
        std::fs::write(&paths[0], "s\n").unwrap();
        assert_eq!(f.read(), vec![Command::Stats, Command::Blank]);
        assert!(f.read().is_empty(), "no EOF after the writer closed");
        assert_eq!(f.switch(1).unwrap(), paths[1].as_path());
        std::fs::write(&paths[1], "q").unwrap();
        assert_eq!(f.read(), vec![Command::Stop]);
        assert!(f.switch(2).is_err());
        assert!(f.vacuum());
        assert!(!paths[1].exists());
    }
}
