//! What the master's children that are not workers (kept daemons, cron runs) need to cross a
//! reload's exec: they stay children of the same pid, so the new image is told their pids in
//! an environment variable (JSON) and adopts those that are still its children.

use serde::{de::DeserializeOwned, Serialize};

/// Kept daemons of the previous image, stopped by the new one before it starts their successors.
pub const DAEMONS_ENV: &str = "RW_DAEMONS";

/// One kept daemon handed over.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct HandedDaemon {
    pub pid: i32,
    pub cmd: String,
    /// Spawns so far, so the respawn count goes on.
    pub spawns: u64,
}

/// Names `items` in `var` for the next image (nothing when empty).
pub fn put<T: Serialize>(var: &str, items: &[T]) {
    if items.is_empty() {
        std::env::remove_var(var);
        return;
    }
    if let Ok(json) = serde_json::to_string(items) {
        std::env::set_var(var, json);
    }
}

/// The exec failed: nothing is handed over.
pub fn clear(var: &str) {
    std::env::remove_var(var);
}

/// What the previous image handed over in `var` (removed from the environment), keeping the
/// entries whose `pid` is still a child of this process.
pub fn take<T: DeserializeOwned>(var: &str, pid: impl Fn(&T) -> i32) -> Vec<T> {
    let Some(json) = std::env::var_os(var) else {
        return Vec::new();
    };
    std::env::remove_var(var);
    let items: Vec<T> = serde_json::from_str(&json.to_string_lossy()).unwrap_or_default();
    let me = std::process::id() as i32;
    items
        .into_iter()
        .filter(|i| parent_of(pid(i)) == Some(me))
        .collect()
}

/// The parent of a live (not zombie) process, from /proc.
fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut f = stat.rsplit_once(')')?.1.split_whitespace();
    let state = f.next()?;
    (state != "Z").then_some(())?;
    f.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_live_children_are_taken() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let var = "RW_TEST_HANDOVER_UNIT";
        let items = vec![
            HandedDaemon {
                pid: child.id() as i32,
                cmd: "a".into(),
                spawns: 2,
            },
            // Our parent is alive but not our child.
            HandedDaemon {
                pid: nix::unistd::getppid().as_raw(),
                cmd: "b".into(),
                spawns: 1,
            },
        ];
        put(var, &items);
        let got: Vec<HandedDaemon> = take(var, |d: &HandedDaemon| d.pid);
        assert!(std::env::var_os(var).is_none());
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].cmd.as_str(), got[0].spawns), ("a", 2));
    }
}
