//! uWSGI signals, the master side: routing a signal to its target's channel, the timers
//! (`add_timer`, `add_rb_timer`), the signal cron (`add_cron`) and the file monitors
//! (`add_file_monitor`, inotify), driven from the master loop.

use super::uwsgi_signals::{self as bus, Command};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use polling::{Event, Poller};
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

/// Poller keys of the workers' channels start here (`+ index`), then the mules', then the
/// command channel and inotify (well above the master's other keys and its listener keys).
pub const KEY_BASE: usize = 1 << 20;
const MULE_KEY_BASE: usize = KEY_BASE + (1 << 16);
const COMMAND_KEY: usize = KEY_BASE + (1 << 17);
const INOTIFY_KEY: usize = COMMAND_KEY + 1;

/// Whether a master poller key is one of the desk's.
pub fn is_desk_key(key: usize) -> bool {
    key >= KEY_BASE
}

struct Timer {
    sig: u8,
    every: Duration,
    next: Instant,
    /// `add_rb_timer`: firings left (`None`: forever).
    left: Option<u32>,
}

struct Cron {
    sig: u8,
    fields: [i32; 5],
    /// Unix time it last fired (0: never, so a matching minute fires at once).
    last: i64,
}

/// Where a signal goes, parsed from its registered target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Any one worker ("", "worker", "worker0").
    AnyWorker,
    Workers,
    ActiveWorkers,
    Worker(usize),
    Spooler,
    Mules,
    AnyMule,
    Mule(usize),
    Farm(String),
    /// `farmN` (1-based).
    FarmNumber(usize),
    Invalid,
}

/// uWSGI's target strings (`uwsgi_route_signal`).
pub fn parse_target(t: &str) -> Target {
    let num = |s: &str| s.parse::<usize>().ok();
    match t {
        "" | "worker" | "worker0" => Target::AnyWorker,
        "workers" => Target::Workers,
        "active-workers" => Target::ActiveWorkers,
        "spooler" => Target::Spooler,
        "mules" => Target::Mules,
        "mule" | "mule0" => Target::AnyMule,
        _ => {
            if let Some(n) = t.strip_prefix("worker").and_then(num) {
                Target::Worker(n)
            } else if let Some(n) = t.strip_prefix("mule").and_then(num) {
                Target::Mule(n)
            } else if let Some(name) = t.strip_prefix("farm_") {
                Target::Farm(name.to_string())
            } else if let Some(n) = t.strip_prefix("farm").and_then(num) {
                Target::FarmNumber(n)
            } else {
                Target::Invalid
            }
        }
    }
}

/// The local time fields a cron entry is matched against (month 1–12, weekday 0 = Sunday).
#[derive(Debug, Clone, Copy)]
pub struct CronNow {
    pub minute: i32,
    pub hour: i32,
    pub mday: i32,
    pub month: i32,
    pub wday: i32,
}

impl CronNow {
    fn local(unix: i64) -> Option<CronNow> {
        // SAFETY: localtime_r fills the tm we own from a time_t we own.
        unsafe {
            let t: libc::time_t = unix;
            let mut tm: libc::tm = std::mem::zeroed();
            if libc::localtime_r(&t, &mut tm).is_null() {
                return None;
            }
            Some(CronNow {
                minute: tm.tm_min,
                hour: tm.tm_hour,
                mday: tm.tm_mday,
                month: tm.tm_mon + 1,
                wday: tm.tm_wday,
            })
        }
    }
}

/// uWSGI's cron match: each field equal, or negative `-N` matching every N (-1 is `*`);
/// weekday 7 is Sunday; day of month and weekday are ORed when both are given.
pub fn cron_matches(now: &CronNow, [minute, hour, day, month, week]: [i32; 5]) -> bool {
    let field = |want: i32, have: i32| {
        if want < 0 {
            have % want.abs() == 0
        } else {
            want == have
        }
    };
    let week_want = if week == 7 { 0 } else { week };
    let common = field(minute, now.minute) && field(hour, now.hour) && field(month, now.month);
    if day >= 0 && week >= 0 {
        common && (day == now.mday || week_want == now.wday)
    } else {
        common && field(day, now.mday) && field(week_want, now.wday)
    }
}

/// What the desk needs to know about the worker slots to route.
pub struct SlotView {
    /// 1-based ids of workers that run and are not cheaped.
    pub active: Vec<usize>,
    /// Pids of the running spooler processes (woken with SIGUSR1 when a signal is queued).
    pub spoolers: Vec<i32>,
}

/// The master's signal state.
#[derive(Default)]
pub struct Desk {
    timers: Vec<Timer>,
    crons: Vec<Cron>,
    inotify: Option<Inotify>,
    watches: Vec<(WatchDescriptor, u8)>,
    /// The inotify fd is in the master's poller.
    inotify_registered: bool,
}

impl Desk {
    /// Registers every channel the master reads in `poller`.
    pub fn new(poller: &Poller) -> std::io::Result<Desk> {
        if let Some(ch) = bus::channels() {
            for (i, p) in ch.workers.iter().enumerate() {
                // SAFETY: the channels live for the life of the process, longer than the poller.
                unsafe { poller.add(p.master.as_raw_fd(), Event::readable(KEY_BASE + i))? };
            }
            for (i, p) in ch.mules.iter().enumerate() {
                // SAFETY: as above.
                unsafe { poller.add(p.master.as_raw_fd(), Event::readable(MULE_KEY_BASE + i))? };
            }
            // SAFETY: as above.
            unsafe { poller.add(ch.commands.master.as_raw_fd(), Event::readable(COMMAND_KEY))? };
        }
        Ok(Desk::default())
    }

    /// How long the master may sleep before the next timer is due.
    pub fn until_next(&self, now: Instant) -> Option<Duration> {
        self.timers
            .iter()
            .map(|t| t.next.saturating_duration_since(now))
            .min()
    }

    /// One turn of the master loop: reads the channels that woke it (`keys`), takes the
    /// master's own requests, fires due timers and crons, and routes every signal raised.
    pub fn turn(&mut self, poller: &Poller, keys: &[usize], slots: &SlotView) {
        let mut raised = Vec::new();
        let Some(ch) = bus::channels() else { return };
        for &key in keys.iter().filter(|k| is_desk_key(**k)) {
            let fd = if key == COMMAND_KEY {
                let mut buf = [0u8; 512];
                while let Ok(n) = nix::unistd::read(&ch.commands.master, &mut buf) {
                    if n == 0 {
                        break;
                    }
                    match Command::decode(&buf[..n]) {
                        Some(c) => self.apply(c, &mut raised),
                        None => eprintln!("ignoring a malformed signal command ({n} bytes)"),
                    }
                }
                ch.commands.master.as_raw_fd()
            } else if key == INOTIFY_KEY {
                self.read_inotify(&mut raised);
                match &self.inotify {
                    Some(i) => i.as_fd().as_raw_fd(),
                    None => continue,
                }
            } else {
                let p = if key >= MULE_KEY_BASE {
                    ch.mules.get(key - MULE_KEY_BASE)
                } else {
                    ch.workers.get(key - KEY_BASE)
                };
                let Some(p) = p else { continue };
                while let Some(sig) = bus::read_signal(p.master.as_raw_fd()) {
                    raised.push(sig);
                }
                p.master.as_raw_fd()
            };
            // SAFETY: the fd is one of the desk's, open for the life of the process.
            let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
            let _ = poller.modify(fd, Event::readable(key));
        }
        for c in bus::take_local() {
            self.apply(c, &mut raised);
        }
        self.register_inotify(poller);
        let now = Instant::now();
        self.timers.retain_mut(|t| {
            if t.next > now {
                return true;
            }
            raised.push(t.sig);
            // Late wakeups do not pile up: the next firing is a period from now.
            t.next = now + t.every;
            match &mut t.left {
                Some(0) | None => true,
                Some(n) => {
                    *n -= 1;
                    *n > 0
                }
            }
        });
        if !self.crons.is_empty() {
            let unix = crate::sys::clock::unix_secs() as i64;
            if let Some(tm) = CronNow::local(unix) {
                for c in &mut self.crons {
                    if cron_matches(&tm, c.fields) && unix - c.last >= 60 {
                        eprintln!("[uwsgi-cron] routing signal {}", c.sig);
                        c.last = unix;
                        raised.push(c.sig);
                    }
                }
            }
        }
        for sig in raised {
            route(sig, slots);
        }
    }

    fn apply(&mut self, c: Command, raised: &mut Vec<u8>) {
        match c {
            Command::Raise(sig) => raised.push(sig),
            Command::Timer {
                sig,
                secs,
                iterations,
            } => {
                let every = Duration::from_secs(secs.max(1) as u64);
                let left = match iterations {
                    None => None,
                    Some(n) if n <= 0 => None,
                    Some(n) => Some(n as u32),
                };
                if self.timers.len() >= 64 {
                    eprintln!("you can register max 64 timers !!!");
                    return;
                }
                self.timers.push(Timer {
                    sig,
                    every,
                    next: Instant::now() + every,
                    left,
                });
            }
            Command::Cron { sig, fields } => self.crons.push(Cron {
                sig,
                fields,
                last: 0,
            }),
            Command::FileMonitor { sig, path } => self.watch(sig, &path),
        }
    }

    fn watch(&mut self, sig: u8, path: &[u8]) {
        use std::os::unix::ffi::OsStrExt;
        let path = std::path::Path::new(std::ffi::OsStr::from_bytes(path));
        if self.inotify.is_none() {
            match Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC) {
                Ok(i) => self.inotify = Some(i),
                Err(e) => {
                    eprintln!(
                        "inotify_init(): {e}: file monitor for {} not added",
                        path.display()
                    );
                    return;
                }
            }
            self.inotify_registered = false;
        }
        let Some(ino) = &self.inotify else { return };
        let flags = AddWatchFlags::IN_ATTRIB
            | AddWatchFlags::IN_CREATE
            | AddWatchFlags::IN_MODIFY
            | AddWatchFlags::IN_DELETE
            | AddWatchFlags::IN_DELETE_SELF
            | AddWatchFlags::IN_MOVE_SELF
            | AddWatchFlags::IN_MOVED_FROM
            | AddWatchFlags::IN_MOVED_TO;
        match ino.add_watch(path, flags) {
            Ok(wd) => {
                eprintln!("added file monitor for {} (signal {sig})", path.display());
                self.watches.push((wd, sig));
            }
            Err(e) => eprintln!("inotify_add_watch({}): {e}", path.display()),
        }
    }

    fn read_inotify(&mut self, raised: &mut Vec<u8>) {
        let Some(ino) = &self.inotify else { return };
        while let Ok(events) = ino.read_events() {
            if events.is_empty() {
                break;
            }
            for e in events {
                raised.extend(
                    self.watches
                        .iter()
                        .filter(|(wd, _)| *wd == e.wd)
                        .map(|w| w.1),
                );
            }
        }
    }

    /// Puts the inotify fd in the poller once it exists (after a file monitor was added).
    fn register_inotify(&mut self, poller: &Poller) {
        if self.inotify_registered {
            return;
        }
        if let Some(ino) = &self.inotify {
            // SAFETY: the inotify fd lives in the desk, as long as the master's poller.
            if unsafe { poller.add(ino.as_fd().as_raw_fd(), Event::readable(INOTIFY_KEY)) }.is_ok()
            {
                self.inotify_registered = true;
            }
        }
    }

    /// Bytes waiting in each worker's channel (the stats' per-worker `signal_queue`) and in the
    /// "any worker" channel (the top-level one), as uWSGI reads them (FIONREAD).
    pub fn queues(&self) -> (u64, Vec<u64>) {
        let Some(ch) = bus::channels() else {
            return (0, vec![]);
        };
        let inq = |fd: &std::os::fd::OwnedFd| -> u64 {
            let mut n: libc::c_int = 0;
            // SAFETY: FIONREAD writes one int into `n`; the fd is a channel we own.
            let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) };
            if r == 0 {
                n.max(0) as u64
            } else {
                0
            }
        };
        (
            inq(&ch.worker_pool.child),
            ch.workers.iter().map(|p| inq(&p.child)).collect(),
        )
    }
}

/// Sends `sig` where the master's table says (any worker when the master did not register
/// it), logging what cannot be delivered as uWSGI does.
fn route(sig: u8, slots: &SlotView) {
    let Some(ch) = bus::channels() else { return };
    let target = bus::target(sig).unwrap_or_default();
    let worker = |i: usize| {
        if !ch
            .workers
            .get(i - 1)
            .is_some_and(|p| bus::send_signal(&p.master, sig))
        {
            eprintln!("could not deliver signal {sig} to worker {i}");
        }
    };
    match parse_target(&target) {
        Target::AnyWorker => {
            if !bus::send_signal(&ch.worker_pool.master, sig) {
                eprintln!("could not deliver signal {sig} to workers pool");
            }
        }
        Target::Workers => (1..=ch.workers.len()).for_each(worker),
        Target::ActiveWorkers => slots.active.iter().copied().for_each(worker),
        Target::Worker(i) if i >= 1 && i <= ch.workers.len() => worker(i),
        Target::Spooler => {
            if slots.spoolers.is_empty() || !bus::send_signal(&ch.spooler.master, sig) {
                eprintln!("could not deliver signal {sig} to the spooler");
            }
            for &pid in &slots.spoolers {
                // The spooler sleeps until SIGUSR1 (a new task) or its frequency: wake it.
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGUSR1,
                );
            }
        }
        Target::Mules => {
            for (i, p) in ch.mules.iter().enumerate() {
                if !bus::send_signal(&p.master, sig) {
                    eprintln!("could not deliver signal {sig} to mule {}", i + 1);
                }
            }
        }
        Target::AnyMule => {
            if ch.mules.is_empty() || !bus::send_signal(&ch.mule_pool.master, sig) {
                eprintln!("could not deliver signal {sig} to a mule");
            }
        }
        Target::Mule(i) if i >= 1 && i <= ch.mules.len() => {
            if !bus::send_signal(&ch.mules[i - 1].master, sig) {
                eprintln!("could not deliver signal {sig} to mule {i}");
            }
        }
        Target::Farm(name) => match ch.farm(&name) {
            Some(f) => {
                if !bus::send_signal(&f.signal.master, sig) {
                    eprintln!("could not deliver signal {sig} to farm {name}");
                }
            }
            None => eprintln!("unknown farm: {name}"),
        },
        Target::FarmNumber(n) if n >= 1 && n <= ch.farms.len() => {
            let f = &ch.farms[n - 1];
            if !bus::send_signal(&f.signal.master, sig) {
                eprintln!("could not deliver signal {sig} to farm {n} ({})", f.name);
            }
        }
        _ => eprintln!("invalid signal target: {target}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_as_uwsgi_reads_them() {
        assert_eq!(parse_target(""), Target::AnyWorker);
        assert_eq!(parse_target("worker0"), Target::AnyWorker);
        assert_eq!(parse_target("worker3"), Target::Worker(3));
        assert_eq!(parse_target("workers"), Target::Workers);
        assert_eq!(parse_target("active-workers"), Target::ActiveWorkers);
        assert_eq!(parse_target("mule"), Target::AnyMule);
        assert_eq!(parse_target("mule2"), Target::Mule(2));
        assert_eq!(parse_target("mules"), Target::Mules);
        assert_eq!(parse_target("spooler"), Target::Spooler);
        assert_eq!(parse_target("farm_a"), Target::Farm("a".into()));
        assert_eq!(parse_target("farm1"), Target::FarmNumber(1));
        assert_eq!(parse_target("workerx"), Target::Invalid);
        assert_eq!(parse_target("nobody"), Target::Invalid);
    }

    #[test]
    fn cron_fields_match_as_uwsgi() {
        // Wednesday 2026-12-02 16:30.
        let now = CronNow {
            minute: 30,
            hour: 16,
            mday: 2,
            month: 12,
            wday: 3,
        };
        assert!(cron_matches(&now, [-1, -1, -1, -1, -1]));
        assert!(cron_matches(&now, [30, 16, -1, -1, -1]));
        assert!(cron_matches(&now, [-5, -1, -1, 12, -1]));
        assert!(!cron_matches(&now, [-7, -1, -1, -1, -1]));
        assert!(!cron_matches(&now, [31, -1, -1, -1, -1]));
        // Day of month and weekday are ORed when both are set.
        assert!(cron_matches(&now, [30, 16, 9, 12, 3]));
        assert!(cron_matches(&now, [30, 16, 2, 12, 0]));
        assert!(!cron_matches(&now, [30, 16, 9, 12, 0]));
        // 7 is Sunday too.
        let sunday = CronNow { wday: 0, ..now };
        assert!(cron_matches(&sunday, [30, 16, -1, -1, 7]));
    }
}
