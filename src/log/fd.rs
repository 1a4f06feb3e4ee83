//! The bottom of the log: one line to fd 2 with one write(2), never dying of it. A line that
//! cannot be written (full disk, a pipe whose reader went away) is dropped and counted; the
//! first line that gets through again is preceded by a notice saying how many were lost and
//! why. Nothing of the crate is used here, so every part of the log machinery may call it.

use std::sync::atomic::{AtomicI32, AtomicU64, Ordering::Relaxed};

/// Lines dropped since the log last worked.
static DROPPED: AtomicU64 = AtomicU64::new(0);
/// The errno of the first failed write among them.
static FIRST_ERRNO: AtomicI32 = AtomicI32::new(0);

/// Writes `bytes` to the log with one write(2) (more only if the kernel takes part of it).
/// Returns whether they were written; if not, they are counted as lost.
pub fn write(bytes: &[u8]) -> bool {
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
