//! `rw stop` and `rw reload`: signal the master named in a pidfile, then wait until it has
//! exited or a new generation of workers serves.

use super::exit;
use crate::cli::SignalArgs;
use crate::config::load::RELOADS_ENV;
use crate::server::{pidfile, reload, signals};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::time::{Duration, Instant};

/// Which control command.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Stop,
    Reload,
}

pub fn run(op: Op, args: &SignalArgs) -> anyhow::Result<u8> {
    let pid = match pidfile::read(&args.pidfile) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("rw: {e:#}");
            return Ok(exit::FAILURE);
        }
    };
    if !alive(pid) {
        eprintln!(
            "rw: stale pidfile {}: no process {pid} is running (nothing signalled)",
            args.pidfile.display()
        );
        return Ok(exit::FAILURE);
    }
    if !pidfile::is_rw_master(pid) {
        eprintln!(
            "rw: process {pid} from {} is not an rw master; refusing to signal it",
            args.pidfile.display()
        );
        return Ok(exit::FAILURE);
    }
    let before = (reloads_of(pid), crate::sys::proc::children(pid));
    let status_file = reload::status_path(&args.pidfile);
    let status_before = read_status(&status_file).map_or(0, |(n, _, _)| n);
    let (sig, what) = match op {
        Op::Stop => (signals::STOP, "stopping"),
        Op::Reload => (signals::RELOAD, "reloading"),
    };
    kill(Pid::from_raw(pid), sig)?;
    let pb = crate::ui::progress::spinner(&format!("{what} rw (pid {pid})"));
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let done = loop {
        // The master says how its reload went in the status file (see server/reload.rs);
        // without one (no pidfile directory to write it in), the process tree tells.
        let status = read_status(&status_file).filter(|(n, _, _)| *n > status_before);
        if let Some((_, state, why)) = &status {
            if op == Op::Reload && state == "failed" {
                pb.finish_and_clear();
                eprintln!("rw: reload of pid {pid} failed; the running generation keeps serving:");
                for line in why.lines() {
                    eprintln!("  {line}");
                }
                return Ok(exit::FAILURE);
            }
        }
        let finished = match op {
            Op::Stop => !alive(pid),
            Op::Reload if status_file.exists() => status.is_some_and(|(_, s, _)| s == "ok"),
            Op::Reload => reloaded(pid, &before),
        };
        if finished {
            break true;
        }
        if Instant::now() >= deadline || (op == Op::Reload && !alive(pid)) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    pb.finish_and_clear();
    match (op, done) {
        (Op::Stop, true) => {
            println!("rw (pid {pid}) stopped");
            Ok(exit::OK)
        }
        (Op::Reload, true) => {
            let workers: Vec<String> = crate::sys::proc::children(pid)
                .iter()
                .map(i32::to_string)
                .collect();
            println!("rw (pid {pid}) reloaded; workers: {}", workers.join(" "));
            Ok(exit::OK)
        }
        (Op::Reload, false) if !alive(pid) => {
            eprintln!("rw: the master (pid {pid}) exited during the reload; see its log");
            Ok(exit::FAILURE)
        }
        (_, false) => {
            eprintln!(
                "rw: {sig} sent to pid {pid}, but it did not finish {what} within {} s",
                args.timeout
            );
            Ok(exit::FAILURE)
        }
    }
}

/// Alive and not a zombie.
fn alive(pid: i32) -> bool {
    match crate::sys::proc::state(pid) {
        Some(state) => state != 'Z',
        None => kill(Pid::from_raw(pid), None::<Signal>).is_ok(),
    }
}

/// The master's exec-reload count, from the environment its current image started with.
fn reloads_of(pid: i32) -> u32 {
    let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    env.split(|&b| b == 0)
        .filter_map(|kv| std::str::from_utf8(kv).ok())
        .find_map(|kv| kv.strip_prefix(RELOADS_ENV)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A new image runs, none of the old workers is left, and new ones serve.
fn reloaded(pid: i32, before: &(u32, Vec<i32>)) -> bool {
    let now = crate::sys::proc::children(pid);
    reloads_of(pid) > before.0 && !now.is_empty() && now.iter().all(|p| !before.1.contains(p))
}

/// The master's last reload outcome: (reload number, state, message).
fn read_status(path: &std::path::Path) -> Option<(u64, String, String)> {
    let text = std::fs::read_to_string(path).ok()?;
    let (n, state, why) = reload::parse_status(&text)?;
    Some((n, state.to_owned(), why.to_owned()))
}
