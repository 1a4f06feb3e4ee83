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

/// Writes `bytes` to the log: a worker under log-master hands the line to the master when it
/// can; otherwise one write(2) to the (possibly reopened) log file. Returns whether they were
/// written; if not, they are counted as lost (see `log/fd.rs`).
pub fn write(bytes: &[u8]) -> bool {
    if super::master::send(bytes) {
        return true;
    }
    super::file::write_followed(bytes)
}

/// Lines lost in this process since the log last worked.
pub fn dropped() -> u64 {
    super::fd::dropped()
}
