//! Anonymous shared memory: the one mapping every cross-process structure (scoreboard, user
//! locks, caches, the log's generation page) is built on. Mapped by the master before it
//! forks, so every worker inherits the same pages; zero-filled by the kernel.

use std::io;
use std::ptr::NonNull;

/// Maps `len` zeroed bytes shared with the children forked after this call. `noreserve`
/// leaves the pages unaccounted until touched (large caches that are mostly empty).
pub fn map_shared(len: usize, noreserve: bool) -> io::Result<NonNull<u8>> {
    let flags =
        libc::MAP_SHARED | libc::MAP_ANONYMOUS | if noreserve { libc::MAP_NORESERVE } else { 0 };
    // SAFETY: an anonymous mapping with no address hint; the result is checked below.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            flags,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    NonNull::new(p.cast()).ok_or_else(|| io::Error::other("mmap returned NULL"))
}
