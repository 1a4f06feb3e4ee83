//! `rw serve`: the pre-fork server. Startup order follows uWSGI's where it matters: daemonize,
//! pidfile, bind listeners, drop privileges, chdir, Python, app, fork workers.

pub mod body;
pub mod listen;
pub mod master;
pub mod pidfile;
pub mod process;
pub mod request;
pub mod settings;
pub mod signals;
pub mod sink;
pub mod socket;
pub mod static_files;
pub mod worker;

use crate::config::{self, magic::HostFacts, Severity, Sources};
use crate::python;
use anyhow::{bail, Context};
use settings::Settings;

/// Environment variable counting exec-reloads (0 on a cold start), as uWSGI's UWSGI_RELOADS.
pub const RELOADS_ENV: &str = "RW_RELOADS";

/// Runs the server from `rw serve` options. Returns the exit status.
pub fn serve(options: Vec<(String, Option<String>)>) -> anyhow::Result<u8> {
    // Saved before anything can overwrite the argv area (process titles).
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let reloads: u32 = std::env::var(RELOADS_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
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
    if reloads == 0 {
        if let Some(log) = &s.daemonize {
            process::daemonize(log)?;
        } else if let Some(log) = &s.logto {
            process::redirect_output(log)?;
        }
    } else if let Some(log) = s.daemonize.as_ref().or(s.logto.as_ref()) {
        // After an exec-reload stdio is already the log; reopen to be safe after rotation.
        process::redirect_output(log)?;
    }
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
    if let Some(p) = &s.pidfile {
        if reloads == 0 {
            eprintln!("writing pidfile to {}", p.display());
            pidfile::write(p, std::process::id())?;
        }
    }
    let opts = listen::BindOptions {
        backlog: s.listen,
        chmod: s.chmod_socket,
        so_keepalive: s.so_keepalive,
    };
    if let Some(max) = config::host::somaxconn() {
        if u64::from(s.listen) > max {
            bail!("Listen queue size is greater than the system max net.core.somaxconn ({max}).");
        }
    }
    let base = s.chdir.clone().unwrap_or_else(|| cwd.clone());
    let mut inherited = listen::take_inherited();
    let mut listeners = Vec::new();
    for (i, (addr, proto)) in s.listeners.iter().enumerate() {
        let l = listen::bind(addr, *proto, &base, &opts, &mut inherited)?;
        eprintln!(
            "{} socket {i} {} {} fd {}",
            proto.name(),
            if l.inherited { "inherited" } else { "bound to" },
            addr,
            l.raw()
        );
        listeners.push(l);
    }
    for (fd, name) in inherited {
        eprintln!("closing inherited socket {name} (no longer configured)");
        // SAFETY: an fd handed over by the previous generation that nothing here uses.
        unsafe { libc::close(fd) };
    }
    if s.uid.is_some() || s.gid.is_some() {
        process::drop_privileges(s.uid.as_deref(), s.gid.as_deref())?;
    }
    if let Some(dir) = &s.chdir {
        std::env::set_current_dir(dir).with_context(|| format!("chdir() to {}", dir.display()))?;
        eprintln!("chdir() to {}", dir.display());
    }
    for (k, v) in &s.env {
        std::env::set_var(k, v);
    }
    let py_version = python::init_interpreter(&python::InterpreterOptions {
        home: s.home.clone(),
        pythonpath: s.pythonpath.clone(),
        program_name_fallback: option_env!("RW_BUILD_PYTHON").map(Into::into),
    })?;
    eprintln!("Python version: {py_version}");
    python::set_numproc(s.processes as u32);
    let apps = if s.lazy_apps {
        Vec::new()
    } else {
        load_apps(&s)
    };
    if !s.lazy_apps && apps.is_empty() {
        if s.need_app {
            eprintln!("*** no app loaded. GAME OVER ***");
            return Ok(1);
        }
        eprintln!("*** no app loaded. going in full dynamic mode ***");
    }
    master::Master::new(s, listeners, apps, argv, reloads, cwd)?.run()
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
