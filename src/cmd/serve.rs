//! `rw serve`: the glue that starts the pre-fork server. Startup order follows uWSGI's where
//! it matters: config, daemonize, bind listeners, pidfile, drop privileges, chdir, Python, app,
//! then the master loop (server/master.rs) forks the workers.

use crate::config::hooks::Phase;
use crate::config::{self, load::RELOADS_ENV, Severity, Sources};
use crate::net::listen;
use crate::python;
use crate::server::settings::Settings;
use crate::server::{apps, hooks, master, pidfile, preflight, process, reload, signals, systemd};
use anyhow::{bail, Context};

/// Runs the server from `rw serve` options. Returns the exit status.
pub fn run(options: Vec<(String, Option<String>)>) -> anyhow::Result<u8> {
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
    let host = crate::sys::host::facts();
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
    // uWSGI: asap right after the config is read (each start), before the log is set up.
    hooks::run(&s.hooks, Phase::Asap)?;
    crate::log::file::set_chmod(s.log.chmod);
    // uWSGI empties the log at each start it opens it; rw's reloads keep it.
    crate::log::file::set_truncate(s.log.truncate && reloads == 0);
    if let Some(stamp) = &s.log.date {
        crate::log::date::set_stamp(stamp.clone());
    }
    if s.listeners.is_empty() {
        bail!("nothing to listen on: set socket, http or http-socket");
    }
    // Opened once, here: every process inherits the logger files (`stdio` is whatever stderr
    // becomes after daemonize or logto).
    for note in crate::log::loggers::setup(&s.log.loggers) {
        eprintln!("{note}");
    }
    // What would fail in every worker after fork fails here, once, with its line.
    let setup = preflight::worker_setup(&loaded.config, &s, &loaded.anchor);
    for d in &setup {
        eprintln!("{d}");
    }
    if !setup.is_empty() {
        bail!("no worker could start with this configuration (see above); `rw check-config` shows it too");
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
    // Once the log is set up, as uWSGI: pre-jail on a cold start only, in-jail at each start.
    if reloads == 0 {
        hooks::run(&s.hooks, Phase::PreJail)?;
    }
    hooks::run(&s.hooks, Phase::InJail)?;
    // Signals are caught from here on and queue in the pipe until the master loop runs, so a
    // stop or reload sent during startup is honoured rather than killing a half-started server.
    let pipe = signals::SelfPipe::install(signals::MASTER_SIGNALS)?;
    process::set_title(&s.master_title());
    eprintln!(
        "*** Starting rw {} (uWSGI {} compatible) on [{}] ***",
        env!("CARGO_PKG_VERSION"),
        config::magic::UWSGI_VERSION,
        crate::log::date::ctime_now()
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
            Some(owner) => Some(process::chown_ids(owner)?),
            None => None,
        },
    };
    if !s.compat.honour_stdin {
        stdin_from_dev_null();
    }
    if let Some(max) = crate::sys::host::somaxconn() {
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
    listen::close_unused(inherited);
    if let Some(p) = new_pidfile {
        // Checked again: another instance may have started since.
        pidfile::check_not_taken(p)?;
        eprintln!("writing pidfile to {}", p.display());
        pidfile::write(p, std::process::id())?;
        reload::open_status(p);
    }
    if s.log.chown && crate::log::file::path().is_some() {
        let (uid, gid) = process::accounts(s.uid.as_deref(), s.gid.as_deref())?;
        crate::log::file::chown(uid.map(|u| u.as_raw()), gid.map(|g| g.as_raw()))
            .context("logfile-chown: fchown() of the log file")?;
    }
    // As uWSGI: only a start as root runs them, around the drop (with master-as-root, in each
    // worker around its own drop).
    let as_root = nix::unistd::getuid().is_root();
    if !s.compat.master_as_root {
        hooks::run_as_root_phase(&s.hooks, Phase::AsRoot)?;
    }
    if s.compat.master_as_root {
        // Workers drop right after fork (worker.rs); the master keeps root.
    } else if s.uid.is_some() || s.gid.is_some() {
        process::drop_privileges(s.uid.as_deref(), s.gid.as_deref())?;
    }
    if s.compat.master_as_root {
    } else if as_root {
        hooks::run(&s.hooks, Phase::AsUser)?;
    } else {
        hooks::run_as_root_phase(&s.hooks, Phase::AsUser)?;
    }
    if let Some(log) = &s.log.logto2 {
        // As the account the processes run as, so it creates and owns the file.
        process::redirect_output(log)?;
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
    python::set_gc_freeze(s.compat.gc_freeze);
    if let Err(e) = python::alias_modules(&s.compat.pymodule_alias) {
        // uWSGI exits here too.
        eprint!("{e}");
        bail!("pymodule-alias failed (see above)");
    }
    python::set_module_facts(&python::ModuleFacts {
        options: s.exported_options.clone(),
        numproc: s.processes as u32,
        cores: s.threads as u32,
        buffer_size: s.buffer_size as u64,
        is_a_reload: reloads > 0,
        sockets: listeners.iter().map(|l| l.raw()).collect(),
        hostname: crate::sys::host::hostname(),
    });
    crate::server::uwsgi_facts::install(&s)?;
    crate::server::uwsgi_signals::install(&s)?;
    crate::server::spoolers::install(&s.spooler, crate::sys::host::hostname())?;
    let apps = if s.lazy_apps {
        Vec::new()
    } else {
        hooks::run(&s.hooks, Phase::PreApp)?;
        apps::load_apps(&s)
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
    if !s.lazy_apps {
        hooks::run(&s.hooks, Phase::PostApp)?;
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
