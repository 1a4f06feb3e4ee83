//! Processes as /proc shows them: memory of a pid, the children of a master, whether a pid is
//! alive, and where this process's argv lives (for process titles).

/// The fields of `/proc/<pid>/stat` after the command name, from field 3 (state) on. The name
/// is skipped by its last `)`, since it may itself hold spaces and parentheses.
fn stat_fields(pid: &str) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// The state letter of `pid` (`R`, `S`, `Z`, …), or `None` when there is no such process (or
/// no /proc).
pub fn state(pid: i32) -> Option<char> {
    stat_fields(&pid.to_string())?.first()?.chars().next()
}

/// Live (not zombie) pids whose parent is `pid`: the workers of a master.
pub fn children(pid: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| {
            stat_fields(&p.to_string()).is_some_and(|f| {
                f.first().is_some_and(|s| s != "Z")
                    && f.get(1).and_then(|pp| pp.parse::<i32>().ok()) == Some(pid)
            })
        })
        .collect()
}

/// Resident and virtual size of a process in bytes, from /proc.
pub fn memory_of(pid: i32) -> Option<(u64, u64)> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let mut it = statm.split_whitespace();
    let vsz: u64 = it.next()?.parse().ok()?;
    let rss: u64 = it.next()?.parse().ok()?;
    // SAFETY: sysconf with a constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
    Some((rss * page, vsz * page))
}

/// `[arg_start, arg_end)` of this process, from /proc/self/stat (fields 48 and 49).
pub fn argv_area() -> Option<(usize, usize)> {
    let fields = stat_fields("self")?;
    // `fields` starts at field 3.
    let start = fields.get(48 - 3)?.parse().ok()?;
    let end = fields.get(49 - 3)?.parse().ok()?;
    Some((start, end))
}

/// `MemAvailable` from /proc/meminfo, in bytes.
pub fn mem_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_is_listed_and_alive_until_reaped() {
        let me = std::process::id() as i32;
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        assert!(children(me).contains(&pid));
        assert!(state(pid).is_some_and(|s| s != 'Z'));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!children(me).contains(&pid));
        assert_eq!(state(pid), None);
    }

    #[test]
    fn memory_and_argv_of_this_process() {
        let (rss, vsz) = memory_of(std::process::id() as i32).unwrap();
        assert!(rss > 0 && vsz >= rss);
        let (start, end) = argv_area().unwrap();
        assert!(start > 0 && end > start);
    }
}
