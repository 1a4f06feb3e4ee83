//! uWSGI signals and mule messages, the process side: the socket pairs made by the master
//! before it forks (one signal channel per worker and per mule, the shared "any worker" and
//! "any mule" channels, the mule queues and farms, one command channel to the master), which
//! process this one is, and [`python::SignalBus`] over them.
//!
//! Signals are single bytes on stream pairs, as uWSGI's: a child writes one to its own channel
//! to have the master route it; the master writes one to the target's channel. What a child
//! asks of the master's tables (timers, cron, file monitors) goes as one datagram on the command
//! channel; in the master itself (the app's import) it is queued for the master loop instead.

use crate::python::{MuleDest, Received, SignalBus};
use crate::stats::scoreboard::Scoreboard;
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// One socket pair: the master (or the sender, for queues) uses `master`, the process it
/// serves `child`.
pub struct Pair {
    pub master: OwnedFd,
    pub child: OwnedFd,
}

fn pair(ty: SockType, bufsize: usize) -> std::io::Result<Pair> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        ty,
        None,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
    )?;
    if bufsize > 0 {
        for fd in [&a, &b] {
            let _ = nix::sys::socket::setsockopt(fd, nix::sys::socket::sockopt::SndBuf, &bufsize);
            let _ = nix::sys::socket::setsockopt(fd, nix::sys::socket::sockopt::RcvBuf, &bufsize);
        }
    }
    Ok(Pair {
        master: a,
        child: b,
    })
}

/// A `farm = NAME:MULE[,MULE...]`.
pub struct Farm {
    pub name: String,
    pub mules: Vec<u32>,
    pub signal: Pair,
    pub queue: Pair,
}

/// Every channel of the instance (one image), made before the first fork.
pub struct Channels {
    /// "worker": the first worker free to read it takes the signal.
    pub worker_pool: Pair,
    /// Worker N's channel is `workers[N - 1]`.
    pub workers: Vec<Pair>,
    /// "mule" / "mule0".
    pub mule_pool: Pair,
    pub mules: Vec<Pair>,
    /// `mule_msg(msg)`: any mule.
    pub mule_queue: Pair,
    pub mule_queues: Vec<Pair>,
    pub farms: Vec<Farm>,
    /// Children's requests to the master's tables (datagrams).
    pub commands: Pair,
    /// "spooler": any spooler process takes the signal between two tasks.
    pub spooler: Pair,
}

impl Channels {
    fn new(
        workers: usize,
        mules: usize,
        farms: &[String],
        msg_size: usize,
    ) -> anyhow::Result<Self> {
        let sig = |_| pair(SockType::Stream, 0);
        let queue = |_| pair(SockType::SeqPacket, msg_size);
        let mut fs = Vec::new();
        for spec in farms {
            let (name, ids) = crate::config::option_values::parse_farm(spec, mules)
                .map_err(anyhow::Error::msg)?;
            fs.push(Farm {
                name,
                mules: ids,
                signal: pair(SockType::Stream, 0)?,
                queue: pair(SockType::SeqPacket, msg_size)?,
            });
        }
        Ok(Channels {
            worker_pool: pair(SockType::Stream, 0)?,
            workers: (0..workers).map(sig).collect::<Result<_, _>>()?,
            mule_pool: pair(SockType::Stream, 0)?,
            mules: (0..mules).map(sig).collect::<Result<_, _>>()?,
            mule_queue: pair(SockType::SeqPacket, msg_size)?,
            mule_queues: (0..mules).map(queue).collect::<Result<_, _>>()?,
            farms: fs,
            commands: pair(SockType::SeqPacket, 0)?,
            spooler: pair(SockType::Stream, 0)?,
        })
    }

    pub fn farm(&self, name: &str) -> Option<&Farm> {
        self.farms.iter().find(|f| f.name == name)
    }

    /// The farms mule `id` belongs to.
    pub fn farms_of(&self, id: u32) -> impl Iterator<Item = &Farm> {
        self.farms.iter().filter(move |f| f.mules.contains(&id))
    }
}

static CHANNELS: OnceLock<Channels> = OnceLock::new();
/// Worker id of this process (0: not a worker).
static WORKER: AtomicU32 = AtomicU32::new(0);
/// Mule id of this process (0: not a mule).
static MULE: AtomicU32 = AtomicU32::new(0);
/// What the master's own Python code asked (at the app's import), for the master loop.
static LOCAL: Mutex<Vec<Command>> = Mutex::new(Vec::new());
/// The master's routing table: target by signal number, for signals the master registered.
static TARGETS: Mutex<Vec<Option<String>>> = Mutex::new(Vec::new());

/// Makes the channels and hands the bus to the `uwsgi` module. In the master, before the app
/// is imported (it may register signals and timers) and before any fork.
pub fn install(s: &super::settings::Settings) -> anyhow::Result<()> {
    let ch = Channels::new(s.processes, s.mules.len(), &s.farms, s.mule_msg_size)?;
    for f in &ch.farms {
        let ids: Vec<String> = f.mules.iter().map(u32::to_string).collect();
        eprintln!(
            "created farm {} name: {} mules:{}",
            ch.farms.iter().position(|x| x.name == f.name).unwrap_or(0) + 1,
            f.name,
            ids.join(",")
        );
    }
    let _ = CHANNELS.set(ch);
    crate::python::set_signal_bus(Box::new(Bus));
    Ok(())
}

pub fn channels() -> Option<&'static Channels> {
    CHANNELS.get()
}

/// This process is worker `id` (called right after fork).
pub fn enter_worker(id: usize) {
    WORKER.store(id as u32, Relaxed);
}

/// This process is mule `id` (called right after fork).
pub fn enter_mule(id: usize) {
    MULE.store(id as u32, Relaxed);
}

/// The worker's channel and the "any worker" channel, to poll between requests.
pub fn worker_fds(id: usize) -> Vec<RawFd> {
    let Some(ch) = channels() else { return vec![] };
    let mut fds = vec![ch.worker_pool.child.as_raw_fd()];
    if let Some(p) = ch.workers.get(id.wrapping_sub(1)) {
        fds.push(p.child.as_raw_fd());
    }
    fds
}

/// The signal channels a mule reads: its own, "any mule", its farms'.
pub fn mule_signal_fds(id: usize) -> Vec<RawFd> {
    let Some(ch) = channels() else { return vec![] };
    let mut fds = vec![ch.mule_pool.child.as_raw_fd()];
    if let Some(p) = ch.mules.get(id.wrapping_sub(1)) {
        fds.push(p.child.as_raw_fd());
    }
    fds.extend(ch.farms_of(id as u32).map(|f| f.signal.child.as_raw_fd()));
    fds
}

/// The queues a mule reads: its own, "any mule", and (with `farms`) its farms'.
pub fn mule_queue_fds(id: usize, farms: bool) -> Vec<RawFd> {
    let Some(ch) = channels() else { return vec![] };
    let mut fds = Vec::new();
    if let Some(p) = ch.mule_queues.get(id.wrapping_sub(1)) {
        fds.push(p.child.as_raw_fd());
    }
    fds.push(ch.mule_queue.child.as_raw_fd());
    if farms {
        fds.extend(ch.farms_of(id as u32).map(|f| f.queue.child.as_raw_fd()));
    }
    fds
}

/// One signal byte from `fd`, if one is there (non-blocking).
pub fn read_signal(fd: RawFd) -> Option<u8> {
    let mut b = [0u8; 1];
    // SAFETY: reading into a 1-byte buffer we own; `fd` is one of our channels.
    let n = unsafe { libc::read(fd, b.as_mut_ptr().cast(), 1) };
    (n == 1).then_some(b[0])
}

/// One read (a whole datagram on the queues) from a channel fd.
pub fn read_raw(fd: RawFd, buf: &mut [u8]) -> nix::Result<usize> {
    // SAFETY: the channels live for the life of the process.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    nix::unistd::read(fd, buf)
}

/// Sends one signal byte; false (and logged, as uWSGI) when the channel is full.
pub fn send_signal(fd: impl AsFd, sig: u8) -> bool {
    match nix::unistd::write(fd, &[sig]) {
        Ok(1) => true,
        Err(nix::errno::Errno::EAGAIN) => {
            eprintln!("*** SIGNAL QUEUE IS FULL: signal {sig} dropped ***");
            false
        }
        _ => false,
    }
}

/// What a process asks of the master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Route signal N (the master's own `uwsgi.signal`; children write the byte instead).
    Raise(u8),
    /// `add_timer` (`iterations` None) or `add_rb_timer`.
    Timer {
        sig: u8,
        secs: i32,
        iterations: Option<i32>,
    },
    Cron {
        sig: u8,
        fields: [i32; 5],
    },
    FileMonitor {
        sig: u8,
        path: Vec<u8>,
    },
}

impl Command {
    /// One datagram: a tag, the signal, then the arguments.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Command::Raise(sig) => out.extend([b'S', *sig]),
            Command::Timer {
                sig,
                secs,
                iterations,
            } => {
                out.extend([b'T', *sig]);
                out.extend(secs.to_le_bytes());
                out.extend(iterations.unwrap_or(-1).to_le_bytes());
                out.push(u8::from(iterations.is_some()));
            }
            Command::Cron { sig, fields } => {
                out.extend([b'C', *sig]);
                for f in fields {
                    out.extend(f.to_le_bytes());
                }
            }
            Command::FileMonitor { sig, path } => {
                out.extend([b'F', *sig]);
                out.extend(path);
            }
        }
        out
    }

    pub fn decode(b: &[u8]) -> Option<Command> {
        let (&tag, rest) = b.split_first()?;
        let (&sig, rest) = rest.split_first()?;
        let int = |i: usize| -> Option<i32> {
            Some(i32::from_le_bytes(
                rest.get(i * 4..i * 4 + 4)?.try_into().ok()?,
            ))
        };
        Some(match tag {
            b'S' if rest.is_empty() => Command::Raise(sig),
            b'T' if rest.len() == 9 => Command::Timer {
                sig,
                secs: int(0)?,
                iterations: (rest[8] == 1).then_some(int(1)?),
            },
            b'C' if rest.len() == 20 => Command::Cron {
                sig,
                fields: [int(0)?, int(1)?, int(2)?, int(3)?, int(4)?],
            },
            b'F' if !rest.is_empty() => Command::FileMonitor {
                sig,
                path: rest.to_vec(),
            },
            _ => return None,
        })
    }
}

/// Commands the master's own Python code queued (the master loop takes them each turn).
pub fn take_local() -> Vec<Command> {
    std::mem::take(&mut *LOCAL.lock().unwrap_or_else(|p| p.into_inner()))
}

/// The master's routing target for `sig`: `None` when the master did not register it (the
/// signal then goes to any worker, as in uWSGI).
pub fn target(sig: u8) -> Option<String> {
    let t = TARGETS.lock().unwrap_or_else(|p| p.into_inner());
    t.get(sig as usize).cloned().flatten()
}

fn is_master() -> bool {
    WORKER.load(Relaxed) == 0 && MULE.load(Relaxed) == 0
}

/// Hands a command to the master: queued when we are it, a datagram otherwise.
fn ask(cmd: Command) -> Result<(), String> {
    if is_master() {
        LOCAL.lock().unwrap_or_else(|p| p.into_inner()).push(cmd);
        return Ok(());
    }
    let ch = channels().ok_or("no master channels")?;
    nix::unistd::write(&ch.commands.child, &cmd.encode())
        .map(|_| ())
        .map_err(|e| format!("cannot reach the master: {e}"))
}

/// Waits for readability on `fds` (at most `timeout`); the first ready one.
pub fn wait_any(fds: &[RawFd], timeout: Option<Duration>) -> Option<RawFd> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        // SAFETY: the fds are channels that live as long as the process.
        let borrowed: Vec<_> = fds
            .iter()
            .map(|&fd| unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) })
            .collect();
        let mut pfds: Vec<PollFd<'_>> = borrowed
            .iter()
            .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
            .collect();
        let left = match deadline {
            None => PollTimeout::NONE,
            Some(d) => {
                let ms = d.saturating_duration_since(Instant::now()).as_millis();
                PollTimeout::try_from(ms.min(i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX)
            }
        };
        match poll(&mut pfds, left) {
            Ok(0) => return None,
            Ok(_) => {
                let ready = pfds.iter().position(|p| {
                    p.revents()
                        .is_some_and(|r| r.intersects(PollFlags::POLLIN | PollFlags::POLLHUP))
                });
                if let Some(i) = ready {
                    return Some(fds[i]);
                }
            }
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return None,
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
    }
}

/// Handles one signal byte read from `fd`, as a worker or mule does between its other work;
/// logs a signal this process has no handler for, as uWSGI does.
pub fn handle_one(fd: RawFd) -> Option<u8> {
    let sig = read_signal(fd)?;
    if !crate::python::run_signal_handler(sig) {
        let (what, id) = match MULE.load(Relaxed) {
            0 => ("worker", WORKER.load(Relaxed)),
            m => ("mule", m),
        };
        eprintln!("error managing signal {sig} on {what} {id}");
    }
    Some(sig)
}

/// Runs the handlers of every signal waiting for the spooler (target `spooler`); a spooler
/// process calls it between two tasks and after each wakeup, as uWSGI's spooler does.
pub fn drain_spooler() {
    let Some(ch) = channels() else { return };
    while handle_one(ch.spooler.child.as_raw_fd()).is_some() {}
}

/// This worker's scoreboard slot (signal counts, user harakiri), set by the worker.
static SLOT: OnceLock<(Scoreboard, usize)> = OnceLock::new();

/// The worker's scoreboard and id, for what the uwsgi module records in its slot.
pub fn set_worker_slot(scoreboard: Scoreboard, id: usize) {
    let _ = SLOT.set((scoreboard, id));
}

struct Bus;

impl SignalBus for Bus {
    fn register(&self, sig: u8, target: &str) -> Result<(), String> {
        let (worker, mule) = (WORKER.load(Relaxed), MULE.load(Relaxed));
        if mule > 0 {
            return Err("only the master and the workers can register signal handlers".into());
        }
        if worker == 0 {
            let mut t = TARGETS.lock().unwrap_or_else(|p| p.into_inner());
            if t.len() < 256 {
                t.resize(256, None);
            }
            if t[sig as usize].is_some() {
                return Err("you cannot re-register a signal as the master !!!".into());
            }
            t[sig as usize] = Some(target.to_string());
        }
        let shown = if target.is_empty() {
            "default, any worker"
        } else {
            target
        };
        eprintln!(
            "[uwsgi-signal] signum {sig} registered (wid: {worker} modifier1: 0 target: {shown})"
        );
        Ok(())
    }

    fn raise(&self, sig: u8) -> bool {
        let Some(ch) = channels() else { return false };
        let (worker, mule) = (WORKER.load(Relaxed) as usize, MULE.load(Relaxed) as usize);
        if worker > 0 {
            ch.workers
                .get(worker - 1)
                .is_some_and(|p| send_signal(&p.child, sig))
        } else if mule > 0 {
            ch.mules
                .get(mule - 1)
                .is_some_and(|p| send_signal(&p.child, sig))
        } else {
            ask(Command::Raise(sig)).is_ok()
        }
    }

    fn add_timer(&self, sig: u8, secs: i32, iterations: Option<i32>) -> Result<(), String> {
        // uWSGI accepts a period of 0 or less and its timer never fires: so here.
        if secs <= 0 {
            return Ok(());
        }
        ask(Command::Timer {
            sig,
            secs,
            iterations,
        })
    }

    fn add_cron(&self, sig: u8, fields: [i32; 5]) -> Result<(), String> {
        ask(Command::Cron { sig, fields })
    }

    fn add_file_monitor(&self, sig: u8, path: &str) -> Result<(), String> {
        if path.is_empty() || path.len() > 254 {
            return Err("uwsgi_add_file_monitor: invalid filename length".into());
        }
        ask(Command::FileMonitor {
            sig,
            path: path.as_bytes().to_vec(),
        })
    }

    fn wait_signal(&self) -> Option<u8> {
        let (worker, mule) = (WORKER.load(Relaxed) as usize, MULE.load(Relaxed) as usize);
        let fds = if mule > 0 {
            mule_signal_fds(mule)
        } else {
            worker_fds(worker)
        };
        loop {
            let fd = wait_any(&fds, None)?;
            if let Some(sig) = read_signal(fd) {
                return Some(sig);
            }
        }
    }

    fn mule_id(&self) -> u32 {
        MULE.load(Relaxed)
    }

    fn mules(&self) -> usize {
        channels().map_or(0, |c| c.mules.len())
    }

    fn farm_exists(&self, name: &str) -> bool {
        channels().is_some_and(|c| c.farm(name).is_some())
    }

    fn mule_send(&self, dest: MuleDest<'_>, msg: &[u8]) -> bool {
        let Some(ch) = channels() else { return false };
        let fd = match dest {
            MuleDest::Any => &ch.mule_queue.master,
            MuleDest::Mule(n) => match ch.mule_queues.get(n as usize - 1) {
                Some(p) => &p.master,
                None => return false,
            },
            MuleDest::Farm(name) => match ch.farm(name) {
                Some(f) => &f.queue.master,
                None => return false,
            },
        };
        match nix::unistd::write(fd, msg) {
            Ok(n) => n == msg.len(),
            Err(nix::errno::Errno::EAGAIN) => {
                eprintln!(
                    "*** MULE MSG QUEUE IS FULL: message of {} bytes dropped (you can tune it with --mule-msg-size) ***",
                    msg.len()
                );
                false
            }
            Err(e) => {
                eprintln!("mule_send_msg(): {e} (message of {} bytes)", msg.len());
                false
            }
        }
    }

    fn mule_recv(
        &self,
        signals: bool,
        farms: bool,
        buffer: usize,
        timeout: Option<Duration>,
    ) -> Received {
        let id = MULE.load(Relaxed) as usize;
        let queues = mule_queue_fds(id, farms);
        let sigs = if signals { mule_signal_fds(id) } else { vec![] };
        let all: Vec<RawFd> = queues.iter().chain(&sigs).copied().collect();
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let Some(fd) = wait_any(&all, left) else {
                return Received::Timeout;
            };
            if sigs.contains(&fd) {
                if let Some(sig) = read_signal(fd) {
                    return Received::Signal(sig);
                }
                continue;
            }
            let mut buf = vec![0u8; buffer];
            match read_raw(fd, &mut buf) {
                Ok(n) => {
                    buf.truncate(n);
                    return Received::Message(buf);
                }
                Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => continue,
                Err(_) => return Received::Error,
            }
        }
    }

    fn farm_recv(&self) -> Option<Vec<u8>> {
        let id = MULE.load(Relaxed);
        let fds: Vec<RawFd> = channels()?
            .farms_of(id)
            .map(|f| f.queue.child.as_raw_fd())
            .collect();
        if fds.is_empty() {
            return None;
        }
        loop {
            let fd = wait_any(&fds, None)?;
            let mut buf = vec![0u8; 65536];
            match read_raw(fd, &mut buf) {
                Ok(n) => {
                    buf.truncate(n);
                    return Some(buf);
                }
                Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => continue,
                Err(_) => return None,
            }
        }
    }

    fn in_farm(&self, name: Option<&str>) -> bool {
        let id = MULE.load(Relaxed);
        channels().is_some_and(|c| {
            c.farms_of(id)
                .any(|f| name.is_none_or(|n| n == f.name.as_str()))
        })
    }

    fn count_signal(&self) {
        if let Some((sb, id)) = SLOT.get() {
            sb.worker(*id).signals.fetch_add(1, Relaxed);
        }
    }

    fn set_user_harakiri(&self, secs: u64) -> Result<(), String> {
        if MULE.load(Relaxed) > 0 {
            return Err("user harakiri in a mule is not implemented in rw".into());
        }
        let Some((sb, id)) = SLOT.get() else {
            return Err("!!! unable to set user harakiri outside a worker !!!".into());
        };
        let at = match secs {
            0 => 0,
            s => crate::sys::clock::unix_secs() + s,
        };
        sb.worker(*id).user_harakiri.store(at, Relaxed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_round_trip() {
        for c in [
            Command::Raise(7),
            Command::Timer {
                sig: 1,
                secs: 3,
                iterations: None,
            },
            Command::Timer {
                sig: 255,
                secs: 1,
                iterations: Some(4),
            },
            Command::Cron {
                sig: 2,
                fields: [-1, 3, -5, 12, 0],
            },
            Command::FileMonitor {
                sig: 9,
                path: b"/tmp/x".to_vec(),
            },
        ] {
            assert_eq!(Command::decode(&c.encode()), Some(c));
        }
        assert_eq!(Command::decode(b""), None);
        assert_eq!(Command::decode(b"T\x01\x02"), None);
        assert_eq!(Command::decode(b"Z\x01"), None);
    }
}
