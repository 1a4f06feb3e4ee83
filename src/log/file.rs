//! The log file (`logto`, `daemonize`, `logto2`) on stdout and stderr of every process, and
//! how it is reopened and rotated without losing or cutting a line.
//!
//! Every process writes its own lines straight to the file (O_APPEND, one write(2) per line,
//! so concurrent lines never mix). Reopening and rotating are the master's: it renames (for
//! a rotation) and opens the path again, then bumps a generation counter in a page shared
//! with its workers. Each process compares that counter with the one it opened before each
//! line it writes (one atomic load) and reopens the path when they differ. A line written
//! between the rename and a worker's reopen lands in the renamed file: nothing is lost, and
//! no worker has to stop. (uWSGI 2.0 gets the same by sending every line through the master,
//! `log-master`, which `log-maxsize` and `touch-logreopen` turn on.)

use std::ffi::OsString;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::Mutex;

/// The path of the log file this process writes to, once one is opened.
static PATH: Mutex<Option<PathBuf>> = Mutex::new(None);
/// `logfile-chmod` (0: leave the mode alone).
static CHMOD: AtomicU32 = AtomicU32::new(0);
/// Address of the shared generation counter (0 until a log file is opened).
static SHARED: AtomicUsize = AtomicUsize::new(0);
/// The generation this process's fds 1 and 2 were opened at.
static SEEN: AtomicU64 = AtomicU64::new(0);

/// Sets `logfile-chmod`, applied to every log file rw opens from now on.
pub fn set_chmod(mode: Option<u32>) {
    CHMOD.store(mode.unwrap_or(0), SeqCst);
}

/// Opens `path` for appending (created 0640, as uWSGI), with `logfile-chmod` applied.
pub fn open_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)?;
    let mode = CHMOD.load(SeqCst);
    if mode != 0 {
        use std::os::unix::fs::PermissionsExt;
        if let Err(e) = f.set_permissions(std::fs::Permissions::from_mode(mode)) {
            say(format!("logfile-chmod {mode:o} on {}: {e}\n", path.display()).as_bytes());
        }
    }
    Ok(f)
}

/// `log-truncate` on a cold start: the log files opened at startup are emptied first.
static TRUNCATE: AtomicBool = AtomicBool::new(false);

/// Sets `log-truncate` (the caller passes false after a reload: a reload keeps the log).
pub fn set_truncate(on: bool) {
    TRUNCATE.store(on, SeqCst);
}

/// Opens a log file named by `logto`, `logto2` or `daemonize`: `open_file`, emptied first
/// under `log-truncate` (reopens and rotations never truncate).
pub fn open_start(path: &Path) -> std::io::Result<std::fs::File> {
    if TRUNCATE.load(SeqCst) {
        if let Ok(f) = std::fs::OpenOptions::new().write(true).open(path) {
            f.set_len(0)?;
        }
    }
    open_file(path)
}

/// A `logto`/`daemonize` value with a `:` is a UDP address for uWSGI (`HOST:PORT`, every line
/// one datagram): the host and port, or why it is not a usable one.
pub fn udp_address(value: &str) -> Option<Result<(&str, u16), String>> {
    let (host, port) = value.split_once(':')?;
    if host.is_empty() || port.is_empty() {
        return Some(Err(format!(
            "`{value}` is not a UDP address HOST:PORT (uWSGI exits with `invalid udp address`)"
        )));
    }
    // uWSGI's atoi: leading digits, the rest ignored.
    let digits: String = port.chars().take_while(|c| c.is_ascii_digit()).collect();
    Some(Ok((host, digits.parse().unwrap_or(0))))
}

/// Opens what a `logto`/`logto2`/`daemonize` value names: a log file (`open_start`), or a UDP
/// socket connected to `HOST:PORT`. The flag says whether it is a file.
pub fn open_target(path: &Path) -> std::io::Result<(std::fs::File, bool)> {
    let Some(udp) = path.to_str().and_then(udp_address) else {
        return Ok((open_start(path)?, true));
    };
    let (host, port) = udp.map_err(std::io::Error::other)?;
    let sock = std::net::UdpSocket::bind(("0.0.0.0", 0))?;
    sock.connect((host, port))?;
    Ok((std::fs::File::from(std::os::fd::OwnedFd::from(sock)), false))
}

/// Sends stdout and stderr to `path` (a file, or a UDP address) and makes a file the one
/// reopen and rotation act on.
pub fn redirect(path: &Path) -> std::io::Result<()> {
    let (f, is_file) = open_target(path)?;
    onto_stdio(&f)?;
    if is_file {
        remember(path);
    }
    Ok(())
}

/// Records `path` as the log file stdout and stderr already point to (daemonize).
pub fn remember(path: &Path) {
    *PATH.lock().unwrap_or_else(|e| e.into_inner()) = Some(path.to_path_buf());
    if SHARED.load(SeqCst) == 0 {
        SHARED.store(shared_page(), SeqCst);
    }
}

/// The log file, when rw opened one.
pub fn path() -> Option<PathBuf> {
    PATH.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

fn onto_stdio(f: &std::fs::File) -> std::io::Result<()> {
    for target in [1, 2] {
        // SAFETY: dup2 of a valid fd onto a standard fd number; it atomically replaces what
        // that number pointed to, so a concurrent write goes to the old file or the new one.
        if unsafe { libc::dup2(f.as_raw_fd(), target) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// One page of shared anonymous memory holding the generation counter, inherited by every
/// worker forked after it exists. 0 if it cannot be mapped (reopen then stays the master's).
fn shared_page() -> usize {
    crate::sys::shm::map_shared(4096, false).map_or(0, |p| p.as_ptr() as usize)
}

fn generation() -> Option<&'static AtomicU64> {
    let p = SHARED.load(SeqCst);
    // SAFETY: a non-zero SHARED is the start of the page mapped above, aligned and live for
    // the process's lifetime; only atomics touch it.
    (p != 0).then(|| unsafe { &*(p as *const AtomicU64) })
}

/// One notice to the log, straight (the caller is the log machinery itself).
fn say(bytes: &[u8]) {
    super::fd::write(bytes);
}

/// One line to the log file, after following a reopen or rotation the master made since the
/// last line.
pub fn write_followed(bytes: &[u8]) -> bool {
    follow();
    super::fd::write(bytes)
}

/// Serialises reopening among the threads of one process.
static REOPEN: Mutex<()> = Mutex::new(());

/// Reopens the log file if the master reopened or rotated it since this process last looked.
/// Cheap when nothing changed (one atomic load); called before each log line.
pub fn follow() {
    let Some(gen) = generation() else { return };
    let now = gen.load(SeqCst);
    if now == SEEN.load(SeqCst) {
        return;
    }
    let _guard = REOPEN.lock().unwrap_or_else(|e| e.into_inner());
    if now == SEEN.load(SeqCst) {
        return;
    }
    SEEN.store(now, SeqCst);
    if let Some(p) = path() {
        if let Err(e) = open_file(&p).and_then(|f| onto_stdio(&f)) {
            // Keep writing to the file we have: its lines are not lost, only misplaced.
            say(format!(
                "cannot reopen log file {}: {e}; logging on to the previous file\n",
                p.display()
            )
            .as_bytes());
        }
    }
}

/// Tells every process to reopen the log file on its next line (after the caller reopened).
fn publish() {
    if let Some(gen) = generation() {
        let _guard = REOPEN.lock().unwrap_or_else(|e| e.into_inner());
        let now = gen.fetch_add(1, SeqCst) + 1;
        SEEN.store(now, SeqCst);
    }
}

/// The log file's size (fstat of stderr), when rw writes to one.
pub fn size() -> Option<u64> {
    path()?;
    // SAFETY: fstat on fd 2 into a zeroed stat buffer.
    let st = unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        (libc::fstat(2, &mut st) == 0).then_some(st)?
    };
    ((st.st_mode & libc::S_IFMT) == libc::S_IFREG).then_some(st.st_size as u64)
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The master's reopen (`touch-logreopen`): the path is opened again (logrotate has renamed
/// the old file and maybe created a new one) and every worker follows.
pub fn reopen() {
    let Some(p) = path() else { return };
    let size = size().unwrap_or(0);
    say(format!(
        "[{}] logsize: {size}, triggering log-reopen...\n",
        unix_now()
    )
    .as_bytes());
    match open_file(&p).and_then(|f| onto_stdio(&f)) {
        Ok(()) => {
            publish();
            say(format!("[{}] {} reopened.\n", unix_now(), p.display()).as_bytes());
        }
        Err(e) => say(format!(
            "cannot reopen log file {}: {e}; logging on to the previous file\n",
            p.display()
        )
        .as_bytes()),
    }
}

/// Where a rotation moves the log file: `log-backupname`, else `PATH.<unix time>` as uWSGI.
pub fn backup_name(path: &Path, backupname: Option<&Path>, now: i64) -> PathBuf {
    match backupname {
        Some(b) => b.to_path_buf(),
        None => {
            let mut s: OsString = path.as_os_str().to_owned();
            s.push(format!(".{now}"));
            PathBuf::from(s)
        }
    }
}

/// The master's rotation (`log-maxsize`, `touch-logrotate`): rename the file to its backup
/// name, open the path afresh, and let every worker follow. Returns false when it must wait:
/// the timestamped backup name of this second is taken (a second rotation within one second
/// would overwrite the first backup, which uWSGI does; rw waits for the next second).
pub fn rotate(backupname: Option<&Path>) -> bool {
    let Some(p) = path() else { return true };
    let now = unix_now();
    let target = backup_name(&p, backupname, now);
    if backupname.is_none() && target.exists() {
        return false;
    }
    let size = size().unwrap_or(0);
    let mut line = Vec::new();
    super::date::push_ctime(&mut line, now);
    line.extend_from_slice(
        format!(
            " - logsize: {size}, triggering rotation to {}...\n",
            target.display()
        )
        .as_bytes(),
    );
    say(&line);
    let owner = stdio_owner();
    if let Err(e) = std::fs::rename(&p, &target) {
        say(format!("unable to rotate log: rename(): {e}\n").as_bytes());
        return true;
    }
    let fresh = open_file(&p).and_then(|f| {
        if let Some((uid, gid, mode)) = owner {
            // The new file keeps the old one's owner and mode, so workers that dropped
            // privileges after the master (master-as-root, logfile-chown) can reopen it.
            use std::os::unix::fs::PermissionsExt;
            // SAFETY: fchown on an fd we own, with ids read from the previous file.
            unsafe { libc::fchown(f.as_raw_fd(), uid, gid) };
            let _ = f.set_permissions(std::fs::Permissions::from_mode(mode & 0o7777));
        }
        onto_stdio(&f)
    });
    match fresh {
        Ok(()) => publish(),
        Err(e) => say(format!(
            "cannot open log file {} after rotating it: {e}; logging on to {}\n",
            p.display(),
            target.display()
        )
        .as_bytes()),
    }
    true
}

/// Owner and mode of the file on stderr.
fn stdio_owner() -> Option<(libc::uid_t, libc::gid_t, u32)> {
    // SAFETY: fstat on fd 2 into a zeroed stat buffer.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        (libc::fstat(2, &mut st) == 0).then_some((st.st_uid, st.st_gid, st.st_mode))
    }
}

/// `logfile-chown`: gives the log file to the account the processes will run as, before
/// privileges are dropped (so a reopen after the drop can still open it).
pub fn chown(uid: Option<u32>, gid: Option<u32>) -> std::io::Result<()> {
    // SAFETY: fchown on fd 2 with plain integers (-1 = unchanged).
    let r = unsafe {
        libc::fchown(
            2,
            uid.unwrap_or(u32::MAX) as libc::uid_t,
            gid.unwrap_or(u32::MAX) as libc::gid_t,
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// What the master watches for the log: the size limit and the touch files.
#[derive(Debug, Default)]
pub struct Watch {
    pub maxsize: u64,
    pub backupname: Option<PathBuf>,
    reopen: Vec<(PathBuf, Option<std::time::SystemTime>)>,
    rotate: Vec<(PathBuf, Option<std::time::SystemTime>)>,
    /// A rotation is due but waits for a free backup name.
    pending: bool,
}

fn mtime(p: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn touched(list: &mut [(PathBuf, Option<std::time::SystemTime>)]) -> bool {
    let mut any = false;
    for (p, seen) in list {
        let now = mtime(p);
        if now != *seen {
            *seen = now;
            any = true;
        }
    }
    any
}

impl Watch {
    pub fn new(
        maxsize: u64,
        backupname: Option<PathBuf>,
        touch_reopen: &[PathBuf],
        touch_rotate: &[PathBuf],
    ) -> Watch {
        let stamp = |l: &[PathBuf]| l.iter().map(|p| (p.clone(), mtime(p))).collect();
        Watch {
            maxsize,
            backupname,
            reopen: stamp(touch_reopen),
            rotate: stamp(touch_rotate),
            pending: false,
        }
    }

    /// Rotates at the next look (the master FIFO's `L`).
    pub fn rotate_soon(&mut self) {
        self.pending = true;
    }

    /// One look, from the master loop: rotate when the file is too large or a rotate file
    /// was touched, else reopen when a reopen file was touched.
    pub fn check(&mut self) {
        let big = self.maxsize > 0 && size().is_some_and(|s| s > self.maxsize);
        let rotate = touched(&mut self.rotate) || big || self.pending;
        let reopen = touched(&mut self.reopen);
        if rotate {
            self.pending = !super::file::rotate(self.backupname.as_deref());
        } else if reopen {
            super::file::reopen();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_addresses_as_uwsgi_reads_them() {
        assert_eq!(udp_address("/var/log/a.log"), None);
        assert_eq!(udp_address("127.0.0.1:1717"), Some(Ok(("127.0.0.1", 1717))));
        assert_eq!(
            udp_address("logs.internal:514x"),
            Some(Ok(("logs.internal", 514)))
        );
        assert!(udp_address(":1717").unwrap().is_err());
        assert!(udp_address("host:").unwrap().is_err());
    }

    #[test]
    fn backup_names() {
        let p = Path::new("/var/log/app.log");
        assert_eq!(
            backup_name(p, None, 1_795_934_307),
            PathBuf::from("/var/log/app.log.1795934307")
        );
        assert_eq!(
            backup_name(p, Some(Path::new("/var/log/app.old")), 5),
            PathBuf::from("/var/log/app.old")
        );
    }
}
