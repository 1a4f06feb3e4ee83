//! `rw serve`: the pre-fork server. Startup order follows uWSGI's where it matters: daemonize,
//! bind listeners, pidfile, drop privileges, chdir, Python, app, fork workers.

pub mod body;
pub mod cheaper;
pub mod harakiri;
pub mod listen;
pub mod master;
pub mod pidfile;
pub mod process;
pub mod reload;
pub mod request;
pub mod settings;
pub mod signals;
pub mod sink;
pub mod socket;
pub mod static_files;
pub mod systemd;
pub mod worker;

use crate::config::{self, magic::HostFacts, Severity, Sources};
use crate::python;
use anyhow::{bail, Context};
use settings::Settings;

/// Environment variable counting exec-reloads (0 on a cold start), as uWSGI's UWSGI_RELOADS.
pub const RELOADS_ENV: &str = "RW_RELOADS";

/// Runs the server from `rw serve` options. Returns the exit status.
pub fn serve(options: Vec<(String, Option<String>)>) -> anyhow::Result<u8> {
    // A log pipe whose reader exits must cost log lines (see log::output), not the process.
    signals::ignore_sigpipe();
    // Saved before anything can overwrite the argv area (process titles).
    // From the wheel the process argv is the interpreter's; rw's command line is sys.argv.
    let argv: Vec<std::ffi::OsString> =
        crate::python::extension::cli_argv().unwrap_or_else(|| std::env::args_os().collect());
    let reloads: u32 = std::env::var(RELOADS_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if reloads > 0 {
        reload::adopt_status();
    }
    // An image started by a reload must not exit when it cannot start: the previous
    // generation's workers are its children and would die with it.
    let mut rescue = reload::Rescue::arm(&argv, reloads);
    let r = serve_image(options, argv, reloads, &mut rescue);
    match (rescue, r) {
        (Some(rescue), Err(e)) => rescue.run(&format!("{e:#}")),
        (Some(rescue), Ok(code)) => {
            rescue.run(&format!("the new image stopped with status {code}"))
        }
        (None, r) => r,
    }
}

fn serve_image(
    options: Vec<(String, Option<String>)>,
    argv: Vec<std::ffi::OsString>,
    reloads: u32,
    rescue: &mut Option<reload::Rescue>,
) -> anyhow::Result<u8> {
    let host = HostFacts::gather();
    let sources = Sources {
        env: std::env::vars().collect(),
        args: options,
    };
    let loaded = config::load(&sources, &host);
    let mut fatal = false;
    for d in &loaded.diagnostics {
        if d.severity == Severity::Error {
            fatal = true;
        }
        eprintln!("{d}");
    }
    if fatal {
        bail!("the configuration has errors (see above); `rw check-config` shows them too");
    }
    let cwd = std::path::PathBuf::from(&host.cwd);
    let s = Settings::from_config(&loaded.config, &cwd);
    if s.listeners.is_empty() {
        bail!("nothing to listen on: set socket, http or http-socket");
    }
    if let Some(mask) = s.compat.umask {
        // uWSGI applies it while reading the config, before anything is created.
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
    }
    if reloads == 0 {
        if let Some(p) = &s.pidfile {
            pidfile::check_not_taken(p)?;
        }
        if let Some(log) = &s.daemonize {
            process::daemonize(log)?;
            if let Some(mask) = s.compat.umask {
                // daemonize sets umask 000 unless `umask` is given (uWSGI's rule too).
                nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
            }
        } else if let Some(log) = &s.logto {
            process::redirect_output(log)?;
        }
    } else if let Some(log) = s.daemonize.as_ref().or(s.logto.as_ref()) {
        // After an exec-reload stdio is already the log; reopen to be safe after rotation.
        // After a uid drop the log (opened as root, mode 0640) may not open again: keep the
        // inherited descriptors then, rather than failing the reload.
        if let Err(e) = process::redirect_output(log) {
            eprintln!("{e:#}; logging on to the log file inherited from before the reload");
        }
    }
    // Signals are caught from here on and queue in the pipe until the master loop runs, so a
    // stop or reload sent during startup is honoured rather than killing a half-started server.
    let pipe = signals::SelfPipe::install(signals::MASTER_SIGNALS)?;
    process::set_title(&s.title("master"));
    eprintln!(
        "*** Starting rw {} (uWSGI {} compatible) on [{}] ***",
        env!("CARGO_PKG_VERSION"),
        config::magic::UWSGI_VERSION,
        crate::log::request_line::ctime_now()
    );
    if loaded
        .config
        .get("master")
        .is_some_and(|m| !m.value.as_bool())
    {
        eprintln!("master = false: rw always runs a master process (it supervises the workers)");
    }
    // Written once the sockets are bound (in `start`), so that a server that cannot bind never
    // touches the pidfile; an exec-reload keeps the one it has.
    let new_pidfile = s.pidfile.clone().filter(|_| reloads == 0);
    let started = start(s, pipe, argv, reloads, cwd, new_pidfile.as_deref(), rescue);
    if started.is_err() {
        // A server that never ran must not leave a pidfile naming it (nor remove another's).
        if let Some(p) = new_pidfile {
            pidfile::remove_if_ours(&p);
        }
    }
    started
}

/// Binds, drops privileges, starts Python and the app, then runs the master loop.
fn start(
    s: Settings,
    pipe: signals::SelfPipe,
    argv: Vec<std::ffi::OsString>,
    reloads: u32,
    cwd: std::path::PathBuf,
    new_pidfile: Option<&std::path::Path>,
    rescue: &mut Option<reload::Rescue>,
) -> anyhow::Result<u8> {
    let opts = listen::BindOptions {
        backlog: s.listen,
        chmod: s.chmod_socket,
        so_keepalive: s.so_keepalive,
        // uWSGI does the same, with socket-timeout as the value.
        defer_accept: s.socket_timeout.as_secs() as u32,
        chown: match &s.compat.chown_socket {
            Some(owner) => Some(listen::chown_ids(owner)?),
            None => None,
        },
    };
    if !s.compat.honour_stdin {
        stdin_from_dev_null();
    }
    if let Some(max) = config::host::somaxconn() {
        if u64::from(s.listen) > max {
            bail!("Listen queue size is greater than the system max net.core.somaxconn ({max}).");
        }
    }
    let base = s.chdir.clone().unwrap_or_else(|| cwd.clone());
    let mut inherited = listen::take_inherited();
    let mut activated = systemd::take_activated();
    let mut listeners = Vec::new();
    for (i, spec) in s.listeners.iter().enumerate() {
        let (addr, proto) = (&spec.addr, &spec.proto);
        let mut l = listen::bind(addr, *proto, &base, &opts, &mut inherited, &mut activated)?;
        l.proxy_protocol = spec.proxy_protocol;
        l.timeout = spec.timeout;
        eprintln!(
            "{} socket {i} {} {} fd {}",
            proto.name(),
            if l.inherited { "inherited" } else { "bound to" },
            addr,
            l.raw()
        );
        listeners.push(l);
    }
    for (fd, addr) in activated {
        eprintln!("socket-activated fd {fd} ({addr:?}) matches no configured socket; closing it");
        // SAFETY: an fd systemd handed to us that no listener took.
        unsafe { libc::close(fd) };
    }
    for i in inherited {
        eprintln!("closing inherited socket {} (no longer configured)", i.name);
        // SAFETY: an fd handed over by the previous generation that nothing here uses.
        unsafe { libc::close(i.fd) };
    }
    if let Some(p) = new_pidfile {
        // Checked again: another instance may have started since.
        pidfile::check_not_taken(p)?;
        eprintln!("writing pidfile to {}", p.display());
        pidfile::write(p, std::process::id())?;
        reload::open_status(p);
    }
    if s.compat.master_as_root {
        // Workers drop right after fork (worker.rs); the master keeps root.
    } else if s.uid.is_some() || s.gid.is_some() {
        process::drop_privileges(s.uid.as_deref(), s.gid.as_deref())?;
    }
    if let Some(dir) = &s.chdir {
        std::env::set_current_dir(dir).with_context(|| format!("chdir() to {}", dir.display()))?;
        eprintln!("chdir() to {}", dir.display());
    }
    for (k, v) in &s.env {
        std::env::set_var(k, v);
    }
    check_python_readable()?;
    let py_version = python::init_interpreter(&python::InterpreterOptions {
        home: s.home.clone(),
        pythonpath: s.pythonpath.clone(),
        program_name_fallback: option_env!("RW_BUILD_PYTHON").map(Into::into),
        no_site: s.compat.no_site,
    })?;
    eprintln!("Python version: {py_version}");
    if let Err(e) = python::alias_modules(&s.compat.pymodule_alias) {
        // uWSGI exits here too.
        eprint!("{e}");
        bail!("pymodule-alias failed (see above)");
    }
    python::set_numproc(s.processes as u32);
    let apps = if s.lazy_apps {
        Vec::new()
    } else {
        load_apps(&s)
    };
    let paste_only = s.module.is_none() && s.wsgi_file.is_none() && s.compat.paste.is_some();
    if !s.lazy_apps && paste_only && !apps.iter().any(|a| a.mountpoint().is_empty()) {
        // uWSGI exits (code 22) when the paste app does not load, whatever need-app says.
        bail!("the paste app did not load (see above)");
    }
    let configured = s.module.is_some() || s.wsgi_file.is_some() || !s.mounts.is_empty();
    if rescue.is_some() && !s.lazy_apps && apps.is_empty() && configured {
        // The generation serving now has its app: one without would only answer errors.
        bail!("the app did not load (its traceback is in the log)");
    }
    if !s.lazy_apps && apps.is_empty() {
        if s.need_app {
            eprintln!("*** no app loaded. GAME OVER ***");
            return Ok(1);
        }
        eprintln!("*** no app loaded. going in full dynamic mode ***");
    }
    let master = master::Master::new(s, listeners, apps, pipe, argv, reloads, cwd)?;
    if let Some(r) = rescue.take() {
        r.disarm();
    }
    master.run()
}

/// uWSGI reads stdin from /dev/null unless `honour-stdin` (or fd 0 is a socket it inherited),
/// so an app that reads stdin sees EOF instead of blocking on a terminal.
fn stdin_from_dev_null() {
    use std::os::fd::AsRawFd;
    // SAFETY: fstat on fd 0 into a zeroed stat buffer.
    let is_socket = unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        libc::fstat(0, &mut st) == 0 && (st.st_mode & libc::S_IFMT) == libc::S_IFSOCK
    };
    if is_socket {
        return;
    }
    match std::fs::File::open("/dev/null") {
        // SAFETY: dup2 of a valid fd onto fd 0.
        Ok(null) => unsafe {
            libc::dup2(null.as_raw_fd(), 0);
        },
        Err(e) => eprintln!("WARNING: unable to remap stdin, /dev/null not available: {e}"),
    }
}

/// After a uid drop the embedded Python's stdlib must still be readable; say so plainly
/// instead of letting CPython fail with "Could not find platform independent libraries".
fn check_python_readable() -> anyhow::Result<()> {
    let Some(lib) = python::extension::stdlib_parent() else {
        return Ok(());
    };
    let flags = nix::unistd::AccessFlags::R_OK | nix::unistd::AccessFlags::X_OK;
    if nix::unistd::access(&lib, flags) == Err(nix::errno::Errno::EACCES) {
        bail!(
            "uid {} cannot read {}, where the Python rw embeds keeps its standard library; \
             install Python where that user can read it, or run without uid/gid",
            nix::unistd::geteuid(),
            lib.display()
        );
    }
    Ok(())
}

/// Loads the configured apps (module wins over wsgi-file, then mounts), logging failures with
/// their traceback. Returns what loaded.
pub fn load_apps(s: &Settings) -> Vec<python::App> {
    let mut specs = Vec::new();
    if let Some(m) = &s.module {
        specs.push(python::AppSpec {
            source: python::AppSource::Module { spec: m.clone() },
            callable: s.callable.clone(),
            mountpoint: String::new(),
        });
        if s.wsgi_file.is_some() {
            eprintln!("mountpoint  already configured. skip. (wsgi-file ignored: module is set)");
        }
    } else if let Some(f) = &s.wsgi_file {
        specs.push(python::AppSpec {
            source: python::AppSource::File { path: f.clone() },
            callable: s.callable.clone(),
            mountpoint: String::new(),
        });
    } else if let Some(uri) = &s.compat.paste {
        specs.push(python::AppSpec {
            source: python::AppSource::Paste {
                uri: uri.clone(),
                logger: s.compat.paste_logger,
            },
            callable: s.callable.clone(),
            mountpoint: String::new(),
        });
    }
    for (mount, target) in &s.mounts {
        let source = if target.ends_with(".py") || target.ends_with(".wsgi") {
            python::AppSource::File {
                path: target.into(),
            }
        } else {
            python::AppSource::Module {
                spec: target.clone(),
            }
        };
        specs.push(python::AppSpec {
            source,
            callable: s.callable.clone(),
            mountpoint: mount.clone(),
        });
    }
    let mut apps = Vec::new();
    for spec in specs {
        let start = std::time::Instant::now();
        match python::load_app(&spec) {
            Ok(app) => {
                eprintln!(
                    "WSGI app {} (mountpoint='{}') ready in {} seconds on interpreter {:#x} pid: {} (default app)",
                    app.id(),
                    app.mountpoint(),
                    start.elapsed().as_secs(),
                    python::interpreter_address(),
                    std::process::id()
                );
                apps.push(app);
            }
            Err(tb) => {
                eprint!("{tb}");
                eprintln!(
                    "unable to load app (mountpoint='{}') (callable not found or import error)",
                    spec.mountpoint
                );
            }
        }
    }
    apps
}

/// Pids whose parent is `pid` (the workers of a master), from /proc.
pub fn process_children(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next();
        if state != Some("Z") && fields.next().and_then(|x| x.parse::<i32>().ok()) == Some(pid) {
            out.push(p);
        }
    }
    out
}
