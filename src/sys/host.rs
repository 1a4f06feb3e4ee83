//! This machine and this process as the configuration sees them: the facts magic variables
//! expand to (gathered here, handed to the pure `config::load`), the hostname and the kernel's
//! ceiling on listen backlogs.

use crate::config::magic::HostFacts;

/// Reads cwd, hostname, CPU count, time, uid/gid and their names, and the binary path.
pub fn facts() -> HostFacts {
    let uid = nix::unistd::getuid();
    let gid = nix::unistd::getgid();
    HostFacts {
        cwd: std::env::current_dir()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default(),
        hostname: hostname(),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        start_unix_us: super::clock::unix_us(),
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

/// The machine's hostname (uWSGI's `%h`, `uwsgi.node`, the node `rw top` shows).
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .map(|h| h.to_string_lossy().into_owned())
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
