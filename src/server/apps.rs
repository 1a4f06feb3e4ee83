//! Loading the configured WSGI apps: at startup in the master, or in each worker with
//! `lazy-apps`.

use super::settings::Settings;
use crate::python;

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
