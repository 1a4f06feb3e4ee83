//! uWSGI 2.0's hooks (`hook-PHASE = action:args`, `exec-PHASE = command`, `call-PHASE`) read
//! into a plan of steps per phase, each with its `file:line`. Pure: the checks here are the
//! ones `rw check-config` and `rw serve` share, so both refuse the same lines; running the
//! steps is `server/hooks.rs`.

use super::diag::{Diagnostic, Origin};
use super::resolve::Config;

/// When a step runs (uWSGI 2.0's phases; the labels are the ones its log lines use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Right after the config is read, before anything else (every start, reloads too).
    Asap,
    /// Before jailing: cold start only.
    PreJail,
    /// "In the jail": at every start, before the sockets are bound.
    InJail,
    /// After jailing: never in rw, which has no jail (uWSGI skips it without one too).
    PostJail,
    /// Before privileges are dropped (only when started as root, as uWSGI).
    AsRoot,
    /// After privileges are dropped (only when started as root, as uWSGI).
    AsUser,
    /// When the master exits or re-executes itself for a reload (failures are logged only).
    AsUserAtexit,
    /// Before the app is imported (in the master, or in each worker with lazy-apps).
    PreApp,
    /// After the app is imported.
    PostApp,
    /// In each worker, right after fork.
    PostFork,
    /// In each worker once it accepts.
    Accepting,
    /// In worker 1 once it accepts.
    Accepting1,
    /// In each worker once it accepts, on its first spawn only.
    AcceptingOnce,
    /// In worker 1 once it accepts, on its first spawn only.
    Accepting1Once,
    /// In the master, once the workers are forked, before its loop.
    MasterStart,
}

/// Phases with mount and umount options (uWSGI runs them after the phase's hooks, before
/// its exec commands).
const MOUNT_PHASES: &[(Phase, &str, &str)] = &[
    (Phase::Asap, "mount-asap", "umount-asap"),
    (Phase::PreJail, "mount-pre-jail", "umount-pre-jail"),
    (Phase::InJail, "mount-in-jail", "umount-in-jail"),
    (Phase::PostJail, "mount-post-jail", "umount-post-jail"),
    (Phase::AsRoot, "mount-as-root", "umount-as-root"),
];

/// uWSGI's mount flag names (core/mount.c) that Linux has.
pub const MOUNT_FLAGS: &[&str] = &[
    "bind",
    "dirsync",
    "mandlock",
    "move",
    "noatime",
    "nodev",
    "noexec",
    "rdonly",
    "readonly",
    "ro",
    "remount",
    "nosuid",
    "sync",
    "force",
    "detach",
    "rec",
    "recursive",
    "private",
    "shared",
];

/// Every phase, with its hook, exec and call options (None: uWSGI 2.0 has no such option).
const PHASES: &[(Phase, &str, Option<&str>, Option<&str>)] = &[
    (
        Phase::Asap,
        "hook-asap",
        Some("exec-asap"),
        Some("call-asap"),
    ),
    (
        Phase::PreJail,
        "hook-pre-jail",
        Some("exec-pre-jail"),
        Some("call-pre-jail"),
    ),
    (
        Phase::InJail,
        "hook-in-jail",
        Some("exec-in-jail"),
        Some("call-in-jail"),
    ),
    (
        Phase::PostJail,
        "hook-post-jail",
        Some("exec-post-jail"),
        Some("call-post-jail"),
    ),
    (
        Phase::AsRoot,
        "hook-as-root",
        Some("exec-as-root"),
        Some("call-as-root"),
    ),
    (
        Phase::AsUser,
        "hook-as-user",
        Some("exec-as-user"),
        Some("call-as-user"),
    ),
    (
        Phase::AsUserAtexit,
        "hook-as-user-atexit",
        Some("exec-as-user-atexit"),
        Some("call-as-user-atexit"),
    ),
    (
        Phase::PreApp,
        "hook-pre-app",
        Some("exec-pre-app"),
        Some("call-pre-app"),
    ),
    (
        Phase::PostApp,
        "hook-post-app",
        Some("exec-post-app"),
        Some("call-post-app"),
    ),
    (Phase::PostFork, "hook-post-fork", None, None),
    (Phase::Accepting, "hook-accepting", None, None),
    (Phase::Accepting1, "hook-accepting1", None, None),
    (Phase::AcceptingOnce, "hook-accepting-once", None, None),
    (Phase::Accepting1Once, "hook-accepting1-once", None, None),
    (Phase::MasterStart, "hook-master-start", None, None),
];

impl Phase {
    /// The phase's name in uWSGI's `running "…" (PHASE)...` lines.
    pub fn label(self) -> &'static str {
        match self {
            Phase::Asap => "asap",
            Phase::PreJail => "pre-jail",
            Phase::InJail => "in-jail",
            Phase::PostJail => "post-jail",
            Phase::AsRoot => "as root",
            Phase::AsUser => "as user",
            Phase::AsUserAtexit => "atexit",
            Phase::PreApp => "pre app",
            Phase::PostApp => "post app",
            Phase::PostFork => "post-fork",
            Phase::Accepting => "accepting",
            Phase::Accepting1 => "accepting1",
            Phase::AcceptingOnce => "accepting-once",
            Phase::Accepting1Once => "accepting1-once",
            Phase::MasterStart => "master-start",
        }
    }

    /// Whether a failing step stops the start-up (uWSGI: all but atexit).
    pub fn fatal(self) -> bool {
        self != Phase::AsUserAtexit
    }
}

/// What a unix_signal hook makes a signal do: uWSGI names one of its own C functions; rw
/// knows those the master binds to its signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalAction {
    /// `gracefully_kill_them_all`: workers finish what they accepted, then the master exits.
    GracefulStop,
    /// `kill_them_all`: what SIGINT does.
    Stop,
    /// `grace_them_all`: what SIGHUP does.
    GracefulReload,
    /// `reap_them_all`: what SIGTERM does without die-on-term.
    BrutalReload,
    /// `stats`: what SIGUSR1 does.
    Stats,
    /// `suspend_resume_them_all`: what SIGTSTP does.
    PauseResume,
}

const SIGNAL_FUNCTIONS: &[(&str, SignalAction)] = &[
    ("gracefully_kill_them_all", SignalAction::GracefulStop),
    ("kill_them_all", SignalAction::Stop),
    ("grace_them_all", SignalAction::GracefulReload),
    ("reap_them_all", SignalAction::BrutalReload),
    ("stats", SignalAction::Stats),
    ("suspend_resume_them_all", SignalAction::PauseResume),
];

/// What `wait_for_*` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitFor {
    Any,
    File,
    Dir,
    /// A directory on another device than its parent (`wait-for-mountpoint`).
    Mountpoint,
}

/// uWSGI's wait-for-fs-timeout / wait-for-socket-timeout when unset (or 0).
const WAIT_DEFAULT: u64 = 60;

/// The `wait-for-*` options: (option, what; None for a socket). uWSGI 2.0 files wait-for-file
/// and wait-for-dir under wait-for-fs (any kind of entry); rw waits for what they name.
const WAIT_OPTIONS: &[(&str, Option<WaitFor>)] = &[
    ("wait-for-fs", Some(WaitFor::Any)),
    ("wait-for-file", Some(WaitFor::File)),
    ("wait-for-dir", Some(WaitFor::Dir)),
    ("wait-for-mountpoint", Some(WaitFor::Mountpoint)),
    ("wait-for-socket", None),
];

/// One action of uWSGI 2.0's core hooks (core/hooks.c).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Chdir(String),
    Mkdir(String),
    Putenv(String, String),
    Chmod(String, u32),
    /// By user and group names.
    Chown(String, String, String),
    /// By numbers.
    Chown2(String, u32, u32),
    Sticky(String),
    /// `/bin/sh -c COMMAND`; `safe`: a failure is logged only (safeexec).
    Exec {
        command: String,
        safe: bool,
    },
    Create(String),
    /// write, writen, append, appendn.
    Write {
        path: String,
        text: String,
        newline: bool,
        append: bool,
    },
    /// Writes to a FIFO without blocking; no reader is not a failure (as uWSGI).
    WriteFifo(String, String),
    /// Waits (once a second) until the FIFO has a reader, then writes.
    SpinningFifo(String, String),
    Unlink(String),
    Hostname(String),
    /// Waits (once a second) for the path, at most the seconds given (wait-for-fs-timeout).
    WaitFs(String, WaitFor, u64),
    /// Waits for a connection to the address to succeed (wait-for-socket-timeout).
    WaitSocket(String, u64),
    UnixSignal(i32, SignalAction),
    /// `mount:FS SOURCE TARGET [FLAGS [DATA]]` (flags comma-separated, uWSGI's names).
    Mount {
        fs: String,
        source: String,
        target: String,
        flags: Vec<String>,
        data: Option<String>,
    },
    /// `umount:TARGET [FLAGS]` (`rec` unmounts what is mounted below TARGET first).
    Umount {
        target: String,
        flags: Vec<String>,
    },
    Exit(i32),
    Print(String),
}

/// One step of a phase, with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub origin: Origin,
    /// The option that holds it (`hook-pre-app`, `exec-asap`, …).
    pub option: &'static str,
    /// What uWSGI shows in its `running "…"` line: the hook's value, or the command.
    pub shown: String,
    /// `!action:`: uWSGI logs "PRIVATE HOOK" instead of the value.
    pub private: bool,
    pub action: Action,
}

/// `hook-touch = FILE action:args`: the step runs (non-fatal) when FILE's mtime changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TouchHook {
    pub path: String,
    pub step: Step,
}

/// Every step of a config, by phase, in the order uWSGI runs them (a phase's hooks, then its
/// exec commands).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    steps: Vec<(Phase, Step)>,
    pub touch: Vec<TouchHook>,
}

impl Plan {
    pub fn steps(&self, phase: Phase) -> impl Iterator<Item = &Step> {
        self.steps
            .iter()
            .filter(move |(p, _)| *p == phase)
            .map(|(_, s)| s)
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty() && self.touch.is_empty()
    }

    /// The signals unix_signal steps give a meaning, with that meaning.
    pub fn signal_actions(&self) -> impl Iterator<Item = (Phase, i32, SignalAction)> + '_ {
        self.steps.iter().filter_map(|(p, s)| match s.action {
            Action::UnixSignal(n, a) => Some((*p, n, a)),
            _ => None,
        })
    }
}

/// Reads `action:args` as uWSGI's hook runner does (split at the first `:`, `!` for private).
pub fn parse_action(value: &str) -> Result<(Action, bool), String> {
    let Some((name, arg)) = value.split_once(':') else {
        return Err(format!(
            "invalid hook syntax `{value}`, must be action:args (e.g. exec:touch /tmp/ready)"
        ));
    };
    let (name, private) = match name.strip_prefix('!') {
        Some(n) => (n, true),
        None => (name, false),
    };
    let path = |what: &str| -> Result<String, String> {
        if arg.is_empty() {
            Err(format!("{what}: needs a path"))
        } else {
            Ok(arg.to_string())
        }
    };
    // `<file> <string>`, split at the first space as uWSGI does.
    let file_text = |what: &str, text_optional: bool| -> Result<(String, String), String> {
        match arg.split_once(' ') {
            Some((f, t)) if !f.is_empty() => Ok((f.to_string(), t.to_string())),
            None if text_optional && !arg.is_empty() => Ok((arg.to_string(), String::new())),
            _ => Err(format!(
                "invalid {what} syntax, must be: {what}:<file> <string>"
            )),
        }
    };
    let action = match name {
        "cd" | "chdir" => Action::Chdir(path(name)?),
        "mkdir" => Action::Mkdir(path(name)?),
        "putenv" => match arg.split_once('=') {
            Some((k, v)) if !k.is_empty() => Action::Putenv(k.to_string(), v.to_string()),
            _ => return Err("putenv: must be putenv:NAME=VALUE".into()),
        },
        "chmod" => {
            let (f, m) = file_text("chmod", false)?;
            let mode = u32::from_str_radix(m.trim(), 8)
                .ok()
                .filter(|m| *m <= 0o7777)
                .ok_or_else(|| format!("invalid hook chmod mask: {m} (octal, e.g. 0644)"))?;
            Action::Chmod(f, mode)
        }
        "chown" | "chown2" => {
            let parts: Vec<&str> = arg.splitn(3, ' ').collect();
            let [f, u, g] = parts[..] else {
                return Err(format!(
                    "invalid hook {name} syntax, must be: {name}:<file> <uid> <gid>"
                ));
            };
            if name == "chown" {
                Action::Chown(f.into(), u.into(), g.into())
            } else {
                match (u.parse(), g.parse()) {
                    (Ok(u), Ok(g)) => Action::Chown2(f.into(), u, g),
                    _ => {
                        return Err("invalid hook chown2 syntax, uid and gid must be numbers".into())
                    }
                }
            }
        }
        "sticky" => Action::Sticky(path(name)?),
        "exec" | "safeexec" => Action::Exec {
            command: arg.to_string(),
            safe: name == "safeexec",
        },
        "create" | "creat" => Action::Create(path(name)?),
        "write" | "writen" | "append" | "appendn" => {
            let (path, text) = file_text(name, name == "appendn")?;
            Action::Write {
                path,
                text,
                newline: name.ends_with('n'),
                append: name.starts_with("append"),
            }
        }
        "writefifo" => {
            let (f, t) = file_text(name, false)?;
            Action::WriteFifo(f, t)
        }
        "spinningfifo" => {
            let (f, t) = file_text(name, false)?;
            Action::SpinningFifo(f, t)
        }
        "unlink" => Action::Unlink(path(name)?),
        "hostname" => Action::Hostname(path(name)?),
        "wait_for_fs" => Action::WaitFs(path(name)?, WaitFor::Any, WAIT_DEFAULT),
        "wait_for_file" => Action::WaitFs(path(name)?, WaitFor::File, WAIT_DEFAULT),
        "wait_for_dir" => Action::WaitFs(path(name)?, WaitFor::Dir, WAIT_DEFAULT),
        "wait_for_socket" => Action::WaitSocket(path(name)?, WAIT_DEFAULT),
        "unix_signal" => {
            let Some((n, func)) = arg.split_once(' ') else {
                return Err(
                    "invalid unix_signal syntax, must be unix_signal:<signum> <func>".into(),
                );
            };
            let signum = n
                .trim()
                .parse::<i32>()
                .ok()
                .filter(|n| (1..=31).contains(n))
                .ok_or_else(|| format!("unix_signal: `{n}` is not a signal number (1-31)"))?;
            // SIGKILL, SIGSTOP cannot be caught; rw reaps its workers on SIGCHLD.
            if matches!(signum, 9 | 19 | 17) {
                return Err(format!(
                    "unix_signal: signal {signum} cannot be given a handler"
                ));
            }
            let func = func.trim();
            let Some(&(_, a)) = SIGNAL_FUNCTIONS.iter().find(|(f, _)| *f == func) else {
                return Err(format!(
                    "unix_signal: unable to find function \"{func}\": rw has no C symbols to \
                     call; it knows {}",
                    SIGNAL_FUNCTIONS
                        .iter()
                        .map(|(f, _)| *f)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            };
            Action::UnixSignal(signum, a)
        }
        "exit" => Action::Exit(super::value::atoi(arg).0.clamp(0, 255) as i32),
        "print" | "log" => Action::Print(arg.to_string()),
        "call" | "callret" | "callint" | "callintret" => {
            return Err(format!(
                "{name}: rw cannot call the C function `{}` (uWSGI dlsym()s it in its own \
                 binary and plugins); run a command instead (exec:...)",
                arg.split(' ').next().unwrap_or("")
            ))
        }
        "mount" => parse_mount(arg)?,
        "umount" => parse_umount(arg)?,
        "alarm" | "rpc" | "retryrpc" => {
            return Err(format!("{name}: rw has no uWSGI alarms or RPC to trigger"))
        }
        _ => return Err(format!("hook action not found: {name}")),
    };
    Ok((action, private))
}

fn mount_flags(text: Option<&str>) -> Result<Vec<String>, String> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    text.split(',')
        .filter(|f| !f.is_empty())
        .map(|f| {
            if MOUNT_FLAGS.contains(&f) {
                Ok(f.to_string())
            } else {
                Err(format!(
                    "unknown mount flag \"{f}\" (known: {})",
                    MOUNT_FLAGS.join(", ")
                ))
            }
        })
        .collect()
}

/// uWSGI's `uwsgi_mount_hook` syntax: `FS SOURCE TARGET [FLAGS [DATA]]`.
pub fn parse_mount(arg: &str) -> Result<Action, String> {
    let bad = || "invalid mount syntax, must be: <fs> <source> <target> [flags [data]]".to_string();
    let mut parts = arg.splitn(5, ' ');
    let (Some(fs), Some(source), Some(target)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    if fs.is_empty() || target.is_empty() {
        return Err(bad());
    }
    Ok(Action::Mount {
        fs: fs.into(),
        source: source.into(),
        target: target.into(),
        flags: mount_flags(parts.next())?,
        data: parts.next().map(Into::into),
    })
}

/// uWSGI's `uwsgi_umount_hook` syntax: `TARGET [FLAGS]`.
pub fn parse_umount(arg: &str) -> Result<Action, String> {
    let (target, flags) = match arg.split_once(' ') {
        Some((t, f)) => (t, Some(f)),
        None => (arg, None),
    };
    if target.is_empty() {
        return Err("invalid umount syntax, must be: <target> [flags]".into());
    }
    Ok(Action::Umount {
        target: target.into(),
        flags: mount_flags(flags)?,
    })
}

/// Reads every hook, exec and call option into a plan; errors are lines serve refuses.
/// `lazy_apps`: the app phases then run in the workers.
pub fn plan(cfg: &Config) -> (Plan, Vec<Diagnostic>) {
    let mut plan = Plan::default();
    let mut d = Vec::new();
    let lazy = cfg.get("lazy-apps").is_some_and(|s| s.value.as_bool());
    let timeout = |name: &str| {
        Some(cfg.uint(name))
            .filter(|n| *n > 0)
            .unwrap_or(WAIT_DEFAULT)
    };
    let (fs_timeout, socket_timeout) = (
        timeout("wait-for-fs-timeout"),
        timeout("wait-for-socket-timeout"),
    );
    // uWSGI: the filesystem waits come first in the as-root phase (root only), the socket
    // waits after it, before the sockets are bound (in rw: at the end of in-jail).
    let waits = |phase: Phase| {
        WAIT_OPTIONS.iter().filter(move |(_, w)| match phase {
            Phase::AsRoot => w.is_some(),
            Phase::InJail => w.is_none(),
            _ => false,
        })
    };
    for &(phase, hook, exec, call) in PHASES {
        for &(option, what) in waits(phase).filter(|_| phase == Phase::AsRoot) {
            for s in cfg.list(option) {
                plan.steps.push((
                    phase,
                    Step {
                        origin: s.origin.clone(),
                        option,
                        shown: s.value.as_str().to_string(),
                        private: false,
                        action: Action::WaitFs(
                            s.value.as_str().to_string(),
                            what.unwrap_or(WaitFor::Any),
                            fs_timeout,
                        ),
                    },
                ));
            }
        }
        for s in cfg.list(hook) {
            let value = s.value.as_str();
            match parse_action(value) {
                Ok((action, private)) => {
                    if let Action::UnixSignal(n, _) = action {
                        if let Err(e) = signal_phase_ok(phase, lazy, n) {
                            d.push(e.diagnostic(&s.origin, hook, value));
                            continue;
                        }
                    }
                    plan.steps.push((
                        phase,
                        Step {
                            origin: s.origin.clone(),
                            option: hook,
                            shown: value.to_string(),
                            private,
                            action,
                        },
                    ))
                }
                Err(e) => d.push(Diagnostic::error(
                    &s.origin,
                    format!("{hook} = {value}: {e}"),
                )),
            }
        }
        for &(_, mount, umount) in MOUNT_PHASES.iter().filter(|(p, _, _)| *p == phase) {
            for (option, parse) in [
                (mount, parse_mount as fn(&str) -> Result<Action, String>),
                (umount, parse_umount),
            ] {
                for s in cfg.list(option) {
                    match parse(s.value.as_str()) {
                        Ok(action) => plan.steps.push((
                            phase,
                            Step {
                                origin: s.origin.clone(),
                                option,
                                shown: s.value.as_str().to_string(),
                                private: false,
                                action,
                            },
                        )),
                        Err(e) => d.push(Diagnostic::error(
                            &s.origin,
                            format!("{option} = {}: {e}", s.value.as_str()),
                        )),
                    }
                }
            }
        }
        for s in exec
            .into_iter()
            .flat_map(|e| cfg.list(e).map(move |s| (e, s)))
        {
            let (option, s) = s;
            plan.steps.push((
                phase,
                Step {
                    origin: s.origin.clone(),
                    option,
                    shown: s.value.as_str().to_string(),
                    private: false,
                    action: Action::Exec {
                        command: s.value.as_str().to_string(),
                        safe: false,
                    },
                },
            ));
        }
        for &(option, _) in waits(phase).filter(|_| phase == Phase::InJail) {
            for s in cfg.list(option) {
                plan.steps.push((
                    phase,
                    Step {
                        origin: s.origin.clone(),
                        option,
                        shown: s.value.as_str().to_string(),
                        private: false,
                        action: Action::WaitSocket(s.value.as_str().to_string(), socket_timeout),
                    },
                ));
            }
        }
        for (value, origin) in call.into_iter().flat_map(|c| cfg.ignored.get(c)).flatten() {
            let option = call.unwrap_or_default();
            d.push(Diagnostic::error(
                origin,
                format!(
                    "{option} = {value}: rw cannot call C functions (uWSGI dlsym()s the symbol \
                     in its own binary and plugins); use exec-{} with a command instead",
                    option.trim_start_matches("call-")
                ),
            ));
        }
    }
    for s in cfg.list("hook-touch") {
        let value = s.value.as_str();
        let Some((path, action)) = value.split_once(' ').filter(|(p, _)| !p.is_empty()) else {
            d.push(Diagnostic::error(
                &s.origin,
                format!("hook-touch = {value}: must be <file> <action>:<args>"),
            ));
            continue;
        };
        match parse_action(action) {
            Ok((Action::UnixSignal(..), _)) => d.push(Diagnostic::error(
                &s.origin,
                format!("hook-touch = {value}: unix_signal belongs in hook-master-start"),
            )),
            Ok((a, private)) => plan.touch.push(TouchHook {
                path: path.to_string(),
                step: Step {
                    origin: s.origin.clone(),
                    option: "hook-touch",
                    shown: action.to_string(),
                    private,
                    action: a,
                },
            }),
            Err(e) => d.push(Diagnostic::error(
                &s.origin,
                format!("hook-touch = {value}: {e}"),
            )),
        }
    }
    // The timeouts hold for the wait_for_* hook actions too (uWSGI: the same globals).
    let steps = plan.steps.iter_mut().map(|(_, s)| s);
    for step in steps.chain(plan.touch.iter_mut().map(|t| &mut t.step)) {
        match &mut step.action {
            Action::WaitFs(_, _, t) => *t = fs_timeout,
            Action::WaitSocket(_, t) => *t = socket_timeout,
            _ => {}
        }
    }
    (plan, d)
}

enum SignalPhase {
    Worker,
    Replaced(i32),
}

impl SignalPhase {
    fn diagnostic(&self, origin: &Origin, hook: &str, value: &str) -> Diagnostic {
        match self {
            SignalPhase::Worker => Diagnostic::error(
                origin,
                format!(
                    "{hook} = {value}: this phase runs in the workers, and rw gives signals \
                     meanings in the master only; use hook-master-start"
                ),
            ),
            SignalPhase::Replaced(n) => Diagnostic::warning(
                origin,
                format!(
                    "{hook} = {value}: the master sets its own handler of signal {n} when it \
                     starts, after this phase (uWSGI too), so this has no effect; use \
                     hook-master-start"
                ),
            ),
        }
    }
}

/// Signals the master handles itself (HUP, INT, QUIT, USR1, TERM, TSTP): a handler set
/// before the master starts is replaced, as in uWSGI's master_loop.
const MASTER_OWNED: &[i32] = &[1, 2, 3, 10, 15, 20];

fn signal_phase_ok(phase: Phase, lazy: bool, signum: i32) -> Result<(), SignalPhase> {
    let in_worker = matches!(
        phase,
        Phase::PostFork
            | Phase::Accepting
            | Phase::Accepting1
            | Phase::AcceptingOnce
            | Phase::Accepting1Once
    ) || (lazy && matches!(phase, Phase::PreApp | Phase::PostApp));
    if in_worker {
        return Err(SignalPhase::Worker);
    }
    if phase != Phase::MasterStart && MASTER_OWNED.contains(&signum) {
        return Err(SignalPhase::Replaced(signum));
    }
    Ok(())
}

/// The machine-dependent remark: as-root/as-user steps run only when rw starts as root.
pub fn check_system(cfg: &Config, euid: u32) -> Vec<Diagnostic> {
    if euid == 0 {
        return Vec::new();
    }
    let plan = plan(cfg).0;
    [Phase::AsRoot, Phase::AsUser]
        .into_iter()
        .flat_map(|p| {
            plan.steps(p)
                .map(|s| (s.origin.clone(), s.option))
                .collect::<Vec<_>>()
        })
        .map(|(origin, option)| {
            Diagnostic::warning(
                &origin,
                format!(
                    "{option}: runs only when rw is started as root, around the uid/gid drop \
                     (as uWSGI); started as uid {euid}, it is skipped"
                ),
            )
        })
        .collect()
}

/// The config checks of every hook line (what `plan` reports).
pub fn check(cfg: &Config) -> Vec<Diagnostic> {
    plan(cfg).1
}

#[cfg(test)]
mod tests {
    use super::super::testutil::config_of as config;
    use super::*;

    #[test]
    fn plan_keeps_uwsgi_order_and_lines() {
        let c = config(&[
            ("exec-pre-app", "echo second"),
            ("hook-pre-app", "print:first"),
            (
                "hook-master-start",
                "unix_signal:15 gracefully_kill_them_all",
            ),
            ("hook-asap", "unix_signal:15 stats"),
            ("hook-touch", "/tmp/t print:touched"),
            ("call-as-user", "init"),
        ]);
        let (plan, d) = super::plan(&c);
        let pre: Vec<_> = plan
            .steps(Phase::PreApp)
            .map(|s| s.shown.as_str())
            .collect();
        assert_eq!(pre, ["print:first", "echo second"], "hooks before execs");
        assert_eq!(
            plan.steps(Phase::PreApp).next().unwrap().origin.to_string(),
            "t.ini:2"
        );
        // The asap handler of SIGTERM would be replaced by the master's: warned, left out.
        let sigs: Vec<_> = plan.signal_actions().collect();
        assert_eq!(sigs, [(Phase::MasterStart, 15, SignalAction::GracefulStop)]);
        assert_eq!(plan.touch[0].path, "/tmp/t");
        let d: Vec<String> = d.iter().map(ToString::to_string).collect();
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(
            d[0].starts_with("t.ini:4: warning: hook-asap = unix_signal:15 stats: the master sets"),
            "{d:?}"
        );
        assert!(
            d[1].starts_with("t.ini:6: error: call-as-user = init: rw cannot call C functions"),
            "{d:?}"
        );
        assert!(d[1].contains("use exec-as-user"), "{d:?}");
        // Not root: the as-root/as-user steps are said to be skipped.
        let c = config(&[("exec-as-user", "true"), ("hook-as-root", "print:x")]);
        assert_eq!(check_system(&c, 0), vec![]);
        let w = check_system(&c, 1000);
        assert_eq!(w.len(), 2);
        assert!(w
            .iter()
            .all(|d| !d.is_error() && d.message.contains("started as uid 1000")));
    }

    #[test]
    fn actions_as_uwsgi_splits_them() {
        assert_eq!(
            parse_action("exec:touch /tmp/a b").unwrap(),
            (
                Action::Exec {
                    command: "touch /tmp/a b".into(),
                    safe: false
                },
                false
            )
        );
        assert_eq!(
            parse_action("!write:/tmp/f hello world").unwrap(),
            (
                Action::Write {
                    path: "/tmp/f".into(),
                    text: "hello world".into(),
                    newline: false,
                    append: false
                },
                true
            )
        );
        assert_eq!(
            parse_action("appendn:/tmp/f").unwrap().0,
            Action::Write {
                path: "/tmp/f".into(),
                text: String::new(),
                newline: true,
                append: true
            }
        );
        assert!(parse_action("write:/tmp/f").is_err());
        assert_eq!(
            parse_action("unix_signal:15 gracefully_kill_them_all")
                .unwrap()
                .0,
            Action::UnixSignal(15, SignalAction::GracefulStop)
        );
        assert_eq!(
            parse_action("chmod:/x 640").unwrap().0,
            Action::Chmod("/x".into(), 0o640)
        );
        assert_eq!(
            parse_action("putenv:A=b=c").unwrap().0,
            Action::Putenv("A".into(), "b=c".into())
        );
        assert_eq!(parse_action("exit:3").unwrap().0, Action::Exit(3));
        assert_eq!(
            parse_action("log:hi there").unwrap().0,
            Action::Print("hi there".into())
        );
    }

    #[test]
    fn bad_actions_say_what_is_wrong() {
        for (bad, says) in [
            ("touch /tmp/x", "must be action:args"),
            ("frobnicate:x", "hook action not found: frobnicate"),
            ("call:my_init", "cannot call the C function `my_init`"),
            ("unix_signal:15", "unix_signal:<signum> <func>"),
            (
                "unix_signal:15 end_me",
                "unable to find function \"end_me\"",
            ),
            ("unix_signal:9 stats", "cannot be given a handler"),
            ("unix_signal:x stats", "not a signal number"),
            ("chmod:/x rw", "invalid hook chmod mask"),
            ("chown2:/x a b", "must be numbers"),
            ("mkdir:", "needs a path"),
            ("mount:proc /proc", "invalid mount syntax"),
            (
                "mount:tmpfs none /mnt nosuid,bogus",
                "unknown mount flag \"bogus\"",
            ),
        ] {
            let e = parse_action(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn every_phase_option_is_a_uwsgi_option() {
        for &(_, hook, exec, call) in PHASES {
            for n in std::iter::once(hook).chain(exec).chain(call) {
                assert!(super::super::compat::uwsgi_option(n).is_some(), "{n}");
            }
        }
        for &(_, mount, umount) in MOUNT_PHASES {
            for n in [mount, umount] {
                assert!(super::super::compat::uwsgi_option(n).is_some(), "{n}");
                assert!(super::super::options::lookup(n).is_some(), "{n}");
            }
        }
    }

    #[test]
    fn mounts_as_uwsgi_splits_them() {
        assert_eq!(
            parse_action("mount:tmpfs none /srv/tmp nosuid,nodev size=16m")
                .unwrap()
                .0,
            Action::Mount {
                fs: "tmpfs".into(),
                source: "none".into(),
                target: "/srv/tmp".into(),
                flags: vec!["nosuid".into(), "nodev".into()],
                data: Some("size=16m".into()),
            }
        );
        assert_eq!(
            parse_action("umount:/srv/tmp rec,detach").unwrap().0,
            Action::Umount {
                target: "/srv/tmp".into(),
                flags: vec!["rec".into(), "detach".into()],
            }
        );
        assert!(parse_umount("").is_err());
    }

    #[test]
    fn signals_belong_in_the_master() {
        assert!(signal_phase_ok(Phase::MasterStart, false, 15).is_ok());
        assert!(matches!(
            signal_phase_ok(Phase::Accepting, false, 15),
            Err(SignalPhase::Worker)
        ));
        assert!(matches!(
            signal_phase_ok(Phase::PreApp, true, 12),
            Err(SignalPhase::Worker)
        ));
        assert!(matches!(
            signal_phase_ok(Phase::Asap, false, 15),
            Err(SignalPhase::Replaced(15))
        ));
        assert!(signal_phase_ok(Phase::Asap, false, 12).is_ok());
    }
}
