//! Loading the WSGI callable (`module` / `wsgi-file` + `callable`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::pyerr::format_exception;
use super::{AppSource, AppSpec};

static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

/// A loaded WSGI application.
pub struct App {
    callable: Py<PyAny>,
    mountpoint: String,
    id: usize,
    name: String,
}

impl App {
    pub(crate) fn callable(&self) -> &Py<PyAny> {
        &self.callable
    }

    /// Mount point it was loaded for (`""` for the default app).
    pub fn mountpoint(&self) -> &str {
        &self.mountpoint
    }

    /// App id, in load order from 0 (uWSGI's `app 0`).
    pub fn id(&self) -> usize {
        self.id
    }

    /// Where the callable came from, e.g. `pkg.mod:application` or `uwsgi_file_app:application`.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("id", &self.id)
            .field("mountpoint", &self.mountpoint)
            .field("name", &self.name)
            .finish()
    }
}

/// Module name uWSGI gives a `wsgi-file`: `uwsgi_file_` + path with `/` and `.` turned into
/// `_`, a trailing `.py` dropped first.
pub(crate) fn file_module_name(path: &str) -> String {
    let stem = path.strip_suffix(".py").unwrap_or(path);
    let mut name = String::with_capacity(11 + stem.len());
    name.push_str("uwsgi_file_");
    name.extend(
        stem.chars()
            .map(|c| if c == '/' || c == '.' { '_' } else { c }),
    );
    name
}

/// Import the app. On failure returns the text to log: the full Python traceback, or a message
/// (`failed to open python file %s`, callable missing / not callable).
///
/// * `Module`: `importlib.import_module(mod)`, attribute `name` (after `:`) or `spec.callable`;
///   `name()` calls that factory with no arguments.
/// * `File`: the file is compiled and executed as module [`file_module_name`] (registered in
///   `sys.modules` during execution, removed on failure), `__file__` = the path, `__name__` is
///   not `__main__`.
///
/// Multi-app `applications` dicts are not supported (the callable attribute is required).
pub fn load_app(spec: &AppSpec) -> Result<App, String> {
    let start = std::time::Instant::now();
    let app = import_app(spec)?;
    LOADED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(LoadedApp {
            id: app.id,
            mountpoint: app.mountpoint.clone(),
            startup_secs: start.elapsed().as_secs(),
            callable_addr: app.callable.as_ptr() as usize,
        });
    Ok(app)
}

/// What `uwsgi.workers()` shows of an app this process loaded.
#[derive(Debug, Clone)]
pub(crate) struct LoadedApp {
    pub id: usize,
    pub mountpoint: String,
    pub startup_secs: u64,
    pub callable_addr: usize,
}

static LOADED: Mutex<Vec<LoadedApp>> = Mutex::new(Vec::new());

/// The apps this process loaded, in load order.
pub(crate) fn loaded_apps() -> Vec<LoadedApp> {
    LOADED.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

fn import_app(spec: &AppSpec) -> Result<App, String> {
    super::gil::pin_thread_state();
    Python::attach(|py| {
        let (module, modname, attr) = match &spec.source {
            AppSource::Module { spec: m } => {
                let (modname, attr) = match m.split_once(':') {
                    Some((a, b)) if !b.is_empty() => (a.to_owned(), b.to_owned()),
                    Some((a, _)) => (a.to_owned(), spec.callable.clone()),
                    None => (m.clone(), spec.callable.clone()),
                };
                let module = py
                    .import(modname.as_str())
                    .map_err(|e| format_exception(py, &e))?
                    .into_any();
                (module, modname, attr)
            }
            AppSource::File { path } => {
                let source = std::fs::read(path)
                    .map_err(|e| format!("failed to open python file {}: {e}", path.display()))?;
                let path_s = path.to_string_lossy().into_owned();
                let modname = file_module_name(&path_s);
                let module = exec_file(py, &source, path.as_os_str(), &modname)
                    .map_err(|e| format_exception(py, &e))?;
                (module, modname, spec.callable.clone())
            }
            AppSource::Paste { uri, logger } => {
                let app = load_paste(py, uri, *logger).map_err(|e| format_exception(py, &e))?;
                if !app.is_callable() {
                    return Err(format!("paste app from {uri} is not callable"));
                }
                return Ok(App {
                    callable: app.unbind(),
                    mountpoint: spec.mountpoint.clone(),
                    id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                    name: format!("paste:{uri}"),
                });
            }
        };
        let (attr, call_factory) = match attr.strip_suffix("()") {
            Some(a) => (a.to_owned(), true),
            None => (attr, false),
        };
        let mut callable = module.getattr(attr.as_str()).map_err(|e| {
            format!(
                "unable to find callable \"{attr}\" in {modname}\n{}",
                format_exception(py, &e)
            )
        })?;
        if call_factory {
            callable = callable.call0().map_err(|e| format_exception(py, &e))?;
        }
        if !callable.is_callable() {
            return Err(format!(
                "\"{attr}\" in {modname} is not callable (it is {})",
                callable
                    .get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ));
        }
        Ok(App {
            callable: callable.unbind(),
            mountpoint: spec.mountpoint.clone(),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            name: format!("{modname}:{attr}{}", if call_factory { "()" } else { "" }),
        })
    })
}

/// uWSGI's paste loader: log `Loading paste environment: URI`, with `paste-logger` hand the
/// file after `config:` to `logging.config.fileConfig` (uWSGI cuts 7 characters whatever the
/// scheme; so does rw), then `paste.deploy.loadapp(URI)`.
fn load_paste<'py>(py: Python<'py>, uri: &str, logger: bool) -> PyResult<Bound<'py, PyAny>> {
    super::pyerr::log_raw(&format!("Loading paste environment: {uri}"));
    if logger {
        let file = uri.get(7..).unwrap_or_default();
        let config = py.import("logging.config")?;
        if let Err(e) = config.call_method1("fileConfig", (file,)) {
            // uWSGI prints the error and goes on loading the app.
            super::pyerr::print_exception(py, &e);
        }
    }
    py.import("paste.deploy")?.call_method1("loadapp", (uri,))
}

/// `pymodule-alias`: each `NAME=module` makes `import NAME` give `module`; `NAME=/path/x.py`
/// (a value with a `/`) loads that file as module `NAME`. Entries without `=` are logged and
/// skipped, as uWSGI does. Returns the traceback of the first alias that fails to import
/// (uWSGI exits then).
pub fn alias_modules(aliases: &[String]) -> Result<(), String> {
    if aliases.is_empty() {
        return Ok(());
    }
    super::gil::pin_thread_state();
    Python::attach(|py| {
        for entry in aliases {
            let Some((name, target)) = entry.split_once('=') else {
                super::pyerr::log_raw("invalid pymodule-alias syntax");
                continue;
            };
            alias_one(py, name, target).map_err(|e| format_exception(py, &e))?;
            super::pyerr::log_raw(&format!(
                "mapped virtual pymodule \"{name}\" to real pymodule \"{target}\""
            ));
        }
        Ok(())
    })
}

fn alias_one(py: Python<'_>, name: &str, target: &str) -> PyResult<()> {
    let modules = py.import("sys")?.getattr("modules")?;
    if !target.contains('/') {
        let module = py.import(target)?;
        return modules.set_item(name, module);
    }
    let util = py.import("importlib.util")?;
    let spec = util.call_method1("spec_from_file_location", (name, target))?;
    if spec.is_none() {
        return Err(pyo3::exceptions::PyImportError::new_err(format!(
            "cannot load {target} as module {name}"
        )));
    }
    let module = util.call_method1("module_from_spec", (&spec,))?;
    modules.set_item(name, &module)?;
    if let Err(e) = spec
        .getattr("loader")?
        .call_method1("exec_module", (&module,))
    {
        let _ = modules.del_item(name);
        return Err(e);
    }
    Ok(())
}

fn exec_file<'py>(
    py: Python<'py>,
    source: &[u8],
    path: &std::ffi::OsStr,
    modname: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let builtins = py.import("builtins")?;
    let code = builtins.call_method1("compile", (source, path, "exec"))?;
    let module = py.import("types")?.call_method1("ModuleType", (modname,))?;
    module.setattr("__file__", path)?;
    let modules = py.import("sys")?.getattr("modules")?;
    modules.set_item(modname, &module)?;
    let globals = module.getattr("__dict__")?.cast_into::<PyDict>()?;
    if let Err(e) = builtins.call_method1("exec", (code, &globals)) {
        let _ = modules.del_item(modname);
        return Err(e);
    }
    Ok(module)
}
