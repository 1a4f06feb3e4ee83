//! Gathering the process and machine facts that magic variables and checks read.

use super::magic::HostFacts;

impl HostFacts {
    /// Reads cwd, hostname, CPU count, time, uid/gid and their names, and the binary path.
    pub fn gather() -> HostFacts {
        let uid = nix::unistd::getuid();
        let gid = nix::unistd::getgid();
        HostFacts {
            cwd: std::env::current_dir()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default(),
            hostname: hostname(),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            start_unix_us: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as u64),
            uid: uid.as_raw(),
            user: nix::unistd::User::from_uid(uid)
                .ok()
                .flatten()
                .map(|u| u.name)
                .unwrap_or_default(),
            gid: gid.as_raw(),
            group: nix::unistd::Group::from_gid(gid)
                .ok()
                .flatten()
                .map(|g| g.name)
                .unwrap_or_default(),
            binary: std::env::current_exe()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default(),
        }
    }
}

/// The machine's hostname (uWSGI's `%h` and `uwsgi.node`).
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default()
}

/// `net.core.somaxconn`, the ceiling of every listen backlog.
pub fn somaxconn() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()?
        .trim()
        .parse()
        .ok()
}
