//! Writing to the log (fd 2) so that no process ever dies of it.
//!
//! A full disk (`logto` on a full filesystem) or a log pipe whose reader went away (`rw serve |
//! tee` after `tee` exits, a restarted log shipper) makes write(2) fail. std's `eprintln!`
//! panics then, which in the master takes every worker down with it. Here a line that cannot be
//! written is dropped and counted; the first line that gets through again is preceded by a
//! notice saying how many were lost and why. Each line is one write(2), so lines of concurrent
//! threads and processes never mix.
//!
//! The crate's `eprintln!`/`eprint!` (defined in lib.rs) come here, so every log line of the
//! master and the workers, present and future, gets this treatment.

use std::sync::atomic::{AtomicI32, AtomicU64, Ordering::Relaxed};

/// Lines dropped since the log last worked.
static DROPPED: AtomicU64 = AtomicU64::new(0);
/// The errno of the first failed write among them.
static FIRST_ERRNO: AtomicI32 = AtomicI32::new(0);

/// Writes one formatted line (a newline is added), as `eprintln!` does, after the
/// `log-date` stamp when one is set (server lines only: request lines carry none, as in uWSGI).
pub fn line(args: std::fmt::Arguments<'_>) {
    let mut buf = Vec::with_capacity(128);
    if let Some(stamp) = super::date::stamp() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        stamp.push(&mut buf, now);
    }
    let _ = std::io::Write::write_fmt(&mut buf, args);
    buf.push(b'\n');
    server(&buf);
}

/// Writes formatted text as it is, as `eprint!` does.
pub fn text(args: std::fmt::Arguments<'_>) {
    let mut buf = Vec::with_capacity(128);
    let _ = std::io::Write::write_fmt(&mut buf, args);
    server(&buf);
}

/// A server line: through `log-encoder` to the `logger`s when set, else to the log.
fn server(bytes: &[u8]) {
    if !super::loggers::server(bytes) {
        write(bytes);
    }
}

/// A request line: to the `req-logger`s when set, else the server lines' way.
pub fn request(bytes: &[u8]) {
    if !super::loggers::request(bytes) {
        write(bytes);
    }
}

/// Writes `bytes` to the log with one write(2) (more only if the kernel takes part of it).
/// Returns whether they were written; if not, they are counted as lost.
pub fn write(bytes: &[u8]) -> bool {
    // A worker under log-master hands the line to the master when it can.
    if super::master::send(bytes) {
        return true;
    }
    // The master may have reopened or rotated the log file since the last line.
    super::file::follow();
    let lost = DROPPED.swap(0, Relaxed);
    if lost > 0 {
        let errno = FIRST_ERRNO.swap(0, Relaxed);
        let notice = format!(
            "*** rw (pid {}): {lost} log line{} lost while the log could not be written ({}); \
             logging again ***\n",
            std::process::id(),
            if lost == 1 { " was" } else { "s were" },
            std::io::Error::from_raw_os_error(errno)
        );
        if write_fd2(notice.as_bytes()).is_err() {
            // Still failing: put the count back, with this line.
            let _ = FIRST_ERRNO.compare_exchange(0, errno, Relaxed, Relaxed);
            DROPPED.fetch_add(lost + 1, Relaxed);
            return false;
        }
    }
    match write_fd2(bytes) {
        Ok(()) => true,
        Err(e) => {
            let _ =
                FIRST_ERRNO.compare_exchange(0, e.raw_os_error().unwrap_or(0), Relaxed, Relaxed);
            DROPPED.fetch_add(1, Relaxed);
            false
        }
    }
}

/// Lines lost in this process since the log last worked.
pub fn dropped() -> u64 {
    DROPPED.load(Relaxed)
}

fn write_fd2(mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        // SAFETY: write(2) from a valid buffer of the given length.
        let n = unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                // No log at all (stderr closed): nothing to lose or to recover, as std does.
                Some(libc::EBADF) => return Ok(()),
                _ => return Err(e),
            }
        }
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        bytes = &bytes[n as usize..];
    }
    Ok(())
}
