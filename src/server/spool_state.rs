//! What the master, the spooler processes and `uwsgi.spool` share about the spoolers: the
//! `spooler*` settings, one directory per spooler process, and the shared page each spooler
//! reports in (pid, running, tasks, harakiri deadline).

use crate::config::Config;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64};

/// The `spooler*` options, typed.
#[derive(Debug, Clone, Default)]
pub struct SpoolerSettings {
    /// `spooler`, absolutised against the startup directory (uWSGI resolves it when read).
    pub dirs: Vec<PathBuf>,
    /// `spooler-external`: directories rw writes tasks to and another instance runs.
    pub external: Vec<PathBuf>,
    /// `spooler-processes` (at least 1) per directory.
    pub processes: usize,
    /// `spooler-frequency`.
    pub frequency: u64,
    pub imports: Vec<String>,
    pub max_tasks: u64,
    pub harakiri: u64,
    pub ordered: bool,
    pub chdir: Option<PathBuf>,
    pub quiet: bool,
    /// `touch-spoolers-reload`.
    pub touch_reload: Vec<PathBuf>,
}

impl SpoolerSettings {
    pub fn from_config(c: &Config, cwd: &Path) -> SpoolerSettings {
        SpoolerSettings {
            dirs: c
                .list("spooler")
                .map(|s| cwd.join(s.value.as_str()))
                .collect(),
            external: c
                .list("spooler-external")
                .map(|s| cwd.join(s.value.as_str()))
                .collect(),
            processes: (c.uint("spooler-processes") as usize).max(1),
            frequency: c.uint("spooler-frequency"),
            imports: c
                .list("spooler-import")
                .map(|s| s.value.as_str().to_string())
                .collect(),
            max_tasks: c.uint("spooler-max-tasks"),
            harakiri: c.uint("spooler-harakiri"),
            ordered: c.bool("spooler-ordered"),
            chdir: c.text("spooler-chdir").map(PathBuf::from),
            quiet: c.bool("spooler-quiet"),
            touch_reload: c
                .list("touch-spoolers-reload")
                .map(|s| PathBuf::from(s.value.as_str()))
                .collect(),
        }
    }
}

/// One spooler process's counters, in the shared page.
#[repr(C)]
#[derive(Default)]
pub struct SpoolerSlot {
    pub pid: AtomicI32,
    /// 1 while a task runs (a new task then does not wake it).
    pub running: AtomicU32,
    /// Tasks run since this process started (uWSGI resets it at each spawn).
    pub tasks: AtomicU64,
    /// Unix time after which the master kills it (spooler-harakiri), 0 when no task runs.
    pub harakiri_at: AtomicU64,
}

/// The shared page: the frequency `uwsgi.set_spooler_frequency` sets, then one slot per
/// spooler process.
#[repr(C)]
struct Page {
    frequency: AtomicU64,
}

/// The anonymous shared mapping of [`Page`] and the slots, mapped before any fork.
pub struct Shared {
    base: NonNull<u8>,
    slots: usize,
}

// SAFETY: the mapping holds only atomics and lives for the whole process (never unmapped).
unsafe impl Send for Shared {}
// SAFETY: as above: every access goes through atomics.
unsafe impl Sync for Shared {}

impl Shared {
    pub fn new(slots: usize) -> std::io::Result<Shared> {
        let len = std::mem::size_of::<Page>() + slots * std::mem::size_of::<SpoolerSlot>();
        let base = crate::sys::shm::map_shared(len, false)?;
        Ok(Shared { base, slots })
    }

    /// 0: `spooler-frequency` applies.
    pub fn frequency(&self) -> &AtomicU64 {
        // SAFETY: the mapping starts with a zero-filled Page (atomics are valid when zeroed)
        // and is never unmapped.
        unsafe { &(*self.base.as_ptr().cast::<Page>()).frequency }
    }

    pub fn slot(&self, i: usize) -> &SpoolerSlot {
        assert!(i < self.slots);
        // SAFETY: slot i lies inside the mapping (checked above), zero-filled atomics, never
        // unmapped; the offset keeps the 8-byte alignment of the page-aligned mapping.
        unsafe {
            &*self
                .base
                .as_ptr()
                .add(std::mem::size_of::<Page>())
                .cast::<SpoolerSlot>()
                .add(i)
        }
    }
}

/// The spoolers of this instance, set up by [`install`].
pub struct Installed {
    pub settings: SpoolerSettings,
    /// One directory (resolved) per spooler process, in uWSGI's order.
    pub dirs: Vec<PathBuf>,
    /// Per entry of `dirs`: a `spooler-external` one, run by no process of ours.
    pub external: Vec<bool>,
    pub shared: Shared,
}
