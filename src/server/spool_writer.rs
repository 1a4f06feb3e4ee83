//! Writing a task as uWSGI writes one (`uwsgi.spool`): the spool file's name, priority
//! subdirectory and `at` mtime as uWSGI makes them, so an existing uWSGI spooler runs rw's
//! files and rw runs uWSGI's. The file is written under a name no spooler reads, then
//! renamed into place: a spooler never sees it half written.

use super::spool_state::Installed;
use crate::proto::spool::{self, Special};
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// [`crate::python::Spooling`] over the installed spoolers.
pub struct Writer {
    inst: &'static Installed,
    hostname: String,
    /// uWSGI's per-process counter in the file name (the pid tells processes apart).
    counter: Mutex<u64>,
}

impl Writer {
    pub fn new(inst: &'static Installed, hostname: String) -> Writer {
        Writer {
            inst,
            hostname,
            counter: Mutex::new(0),
        }
    }

    fn dir_for(&self, sp: &Special) -> Result<&PathBuf, String> {
        let Some(first) = self.inst.dirs.first() else {
            return Err("[uwsgi-spooler] no spooler available".into());
        };
        let Some(name) = &sp.spooler else {
            return Ok(first);
        };
        self.inst
            .dirs
            .iter()
            .find(|d| d.as_os_str().as_encoded_bytes() == name.as_slice())
            .ok_or_else(|| {
                format!(
                    "[uwsgi-spooler] unable to find spooler \"{}\"",
                    String::from_utf8_lossy(name)
                )
            })
    }

    fn write(&self, vars: &[(Vec<u8>, Vec<u8>)], body: &[u8]) -> Result<String, String> {
        let args = spool::encode_vars(vars).map_err(|e| format!("[uwsgi-spooler] {e}"))?;
        let sp = Special::of(vars);
        let dir = self.dir_for(&sp)?.clone();
        let file = spool::encode_file(&args, body).map_err(|e| format!("[uwsgi-spooler] {e}"))?;
        let counter = {
            let mut c = super::sync::lock(&self.counter);
            *c += 1;
            *c
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let random = (std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
            & 0x7fff_ffff) as u32;
        let name = spool::file_name(
            &self.hostname,
            std::process::id(),
            counter,
            random,
            now.as_secs(),
            now.subsec_micros(),
        );
        let target_dir = match &sp.priority {
            Some(p) => {
                let d = dir.join(String::from_utf8_lossy(p).as_ref());
                // As uWSGI: mkdir and carry on (it may exist already).
                let _ = std::fs::create_dir(&d);
                d
            }
            None => dir.clone(),
        };
        let path = target_dir.join(&name);
        let tmp = target_dir.join(format!(".{name}.tmp"));
        let res = (|| -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&file)?;
            if sp.at > 0 {
                let t = UNIX_EPOCH + Duration::from_secs(sp.at);
                f.set_times(std::fs::FileTimes::new().set_accessed(t).set_modified(t))?;
            }
            drop(f);
            std::fs::rename(&tmp, &path)
        })();
        if let Err(e) = res {
            let _ = std::fs::remove_file(&tmp);
            return Err(format!("[spooler] unable to write {}: {e}", path.display()));
        }
        let path = path.display().to_string();
        if !self.inst.settings.quiet {
            eprintln!("[spooler] written {} bytes to file {path}", file.len());
        }
        self.wake(&dir);
        Ok(path)
    }

    /// A new task wakes the idle spoolers of its directory (SIGUSR1, as uWSGI).
    fn wake(&self, dir: &PathBuf) {
        for (i, d) in self.inst.dirs.iter().enumerate() {
            let slot = self.inst.shared.slot(i);
            let pid = slot.pid.load(Relaxed);
            if d == dir && pid > 0 && slot.running.load(Relaxed) == 0 {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGUSR1,
                );
            }
        }
    }
}

impl crate::python::Spooling for Writer {
    fn spool(&self, vars: Vec<(Vec<u8>, Vec<u8>)>, body: Vec<u8>) -> Result<String, String> {
        self.write(&vars, &body).inspect_err(|e| eprintln!("{e}"))
    }

    fn dirs(&self) -> Vec<String> {
        self.inst
            .dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect()
    }

    fn pids(&self) -> Vec<i32> {
        (0..self.inst.dirs.len())
            .map(|i| self.inst.shared.slot(i).pid.load(Relaxed))
            .collect()
    }

    fn set_frequency(&self, secs: u64) {
        self.inst.shared.frequency().store(secs, Relaxed);
    }
}
