//! Interpreter set-up (PyConfig, `home`, `pythonpath`), fork with the GIL, per-thread state, exit hooks.

use std::ffi::CString;
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use anyhow::{anyhow, bail, Context};
use nix::unistd::ForkResult;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyList;

use super::gil::pin_thread_state;
use super::pyerr::{log_raw, print_exception};
use super::{uwsgi_module, InterpreterOptions};

/// Initialise CPython once in the master (before fork). See the module docs of [`super`].
///
/// * `home` with `pyvenv.cfg` (PEP 405): `PyConfig.program_name = <home>/bin/python`, so
///   `sys.prefix` is the venv and its site-packages are on `sys.path`; log
///   `PEP 405 virtualenv detected: %s`.
/// * `home` without it: `PyConfig.home = home`; log `Set PythonHome to %s` (and
///   `!!! Python Home is not a directory: %s !!!` when it is not one, continuing like uWSGI).
/// * no `home`: `program_name = program_name_fallback` when given.
/// * Python installs no signal handlers (`install_signal_handlers = 0`): the master owns signals.
/// * `sys.path`: `"."` inserted at 0, then every `pythonpath` entry (globs expanded, sorted) at 0
///   in order, so the last given ends up first; log `added %s to pythonpath.` for each.
/// * the `uwsgi` module is put into `sys.modules`.
///
/// Inside the wheel (rw runs in an interpreter that was there first, [`super::extension`]),
/// that interpreter is adopted instead: see [`adopt_interpreter`].
///
/// Returns `sys.version` (for the `Python version: %s` banner line). Fails if the interpreter
/// was already initialised by anyone but the wheel's entry.
pub fn init_interpreter(opts: &InterpreterOptions) -> anyhow::Result<String> {
    // SAFETY: Py_IsInitialized may be called at any time.
    if unsafe { ffi::Py_IsInitialized() } != 0 {
        if super::extension::host().is_some() {
            return adopt_interpreter(opts);
        }
        bail!("the Python interpreter is already initialized");
    }

    let mut program_name: Option<CString> = None;
    let mut home: Option<CString> = None;
    if let Some(h) = &opts.home {
        if h.join("pyvenv.cfg").is_file() {
            log_raw(&format!("PEP 405 virtualenv detected: {}", h.display()));
            program_name = Some(path_cstring(&h.join("bin").join("python"))?);
        } else {
            if !h.is_dir() {
                log_raw(&format!(
                    "!!! Python Home is not a directory: {} !!!",
                    h.display()
                ));
            }
            log_raw(&format!("Set PythonHome to {}", h.display()));
            home = Some(path_cstring(h)?);
        }
    } else if let Some(p) = &opts.program_name_fallback {
        program_name = Some(path_cstring(p)?);
    }

    let saved_sigint = sigint_disposition();

    let mut config = MaybeUninit::<ffi::PyConfig>::uninit();
    // SAFETY: PyConfig_InitPythonConfig fully initialises the struct it is given.
    unsafe { ffi::PyConfig_InitPythonConfig(config.as_mut_ptr()) };
    // SAFETY: initialised just above.
    let mut config = unsafe { config.assume_init() };
    config.install_signal_handlers = 0;
    config.parse_argv = 0;
    if opts.no_site {
        config.site_import = 0;
    }

    let result = (|| -> anyhow::Result<()> {
        if let Some(p) = &program_name {
            let cfg: *mut ffi::PyConfig = &mut config;
            // SAFETY: `cfg` points to an initialised PyConfig; the field pointer belongs to it;
            // `p` is a NUL-terminated string that PyConfig copies.
            let st =
                unsafe { ffi::PyConfig_SetBytesString(cfg, &mut (*cfg).program_name, p.as_ptr()) };
            check_status(st, "PyConfig.program_name")?;
        }
        if let Some(h) = &home {
            let cfg: *mut ffi::PyConfig = &mut config;
            // SAFETY: as above, for the `home` field.
            let st = unsafe { ffi::PyConfig_SetBytesString(cfg, &mut (*cfg).home, h.as_ptr()) };
            check_status(st, "PyConfig.home")?;
        }
        // SAFETY: `config` is an initialised PyConfig; Python is not initialised yet (checked).
        let st = unsafe { ffi::Py_InitializeFromConfig(&config) };
        check_status(st, "Py_InitializeFromConfig")
    })();
    // SAFETY: `config` was initialised by PyConfig_InitPythonConfig; Clear frees its strings.
    unsafe { ffi::PyConfig_Clear(&mut config) };
    result?;

    // Py_InitializeFromConfig left this thread holding the GIL: release it so that
    // `Python::attach` works from any thread (this thread keeps its thread state).
    // SAFETY: the interpreter is initialised and this thread holds the GIL.
    unsafe { ffi::PyEval_SaveThread() };

    Python::attach(|py| finish_setup(py, opts, saved_sigint))
}

/// What both ways of starting share: signals, `sys.path`, the `uwsgi` module; `sys.version`.
fn finish_setup(
    py: Python<'_>,
    opts: &InterpreterOptions,
    saved_sigint: Option<libc::sigaction>,
) -> anyhow::Result<String> {
    keep_sigint(py, saved_sigint).map_err(|e| py_anyhow(py, e))?;
    setup_sys_path(py, &opts.pythonpath).map_err(|e| py_anyhow(py, e))?;
    uwsgi_module::install(py).map_err(|e| py_anyhow(py, e))?;
    let version: String = py
        .import("sys")
        .and_then(|s| s.getattr("version"))
        .and_then(|v| v.extract())
        .map_err(|e| py_anyhow(py, e))?;
    Ok(version)
}

/// The wheel's start: the interpreter running the `rw` script is the one rw uses. Its
/// `sys.prefix` was settled before rw read the config, so `home`:
///
/// * naming that same venv: logged as in the binary (`PEP 405 virtualenv detected: %s`);
/// * naming another venv made by a Python of the same minor version: its site-packages go
///   first on `sys.path` (with its `.pth` files), `sys.prefix`/`sys.exec_prefix` and
///   `VIRTUAL_ENV` become it, as virtualenv's `activate_this.py` does, with a warning (the
///   interpreter and its stdlib stay those of the venv rw was installed in);
/// * naming a venv of another Python (no `lib/pythonX.Y/site-packages` for this one): refused,
///   since its compiled packages cannot load here;
/// * naming a Python home (no `pyvenv.cfg`): ignored with a warning (uWSGI's pyuwsgi ignores
///   it silently).
fn adopt_interpreter(opts: &InterpreterOptions) -> anyhow::Result<String> {
    let saved_sigint = sigint_disposition();
    pin_thread_state();
    Python::attach(|py| {
        let exe: String = py
            .import("sys")
            .and_then(|s| s.getattr("executable"))
            .and_then(|v| v.extract())
            .map_err(|e| py_anyhow(py, e))?;
        log_raw(&format!(
            "Python already initialized: rw runs inside {exe} (the rw-server wheel)"
        ));
        if let Some(home) = &opts.home {
            adopt_home(py, home)?;
        }
        finish_setup(py, opts, saved_sigint)
    })
}

fn adopt_home(py: Python<'_>, home: &Path) -> anyhow::Result<()> {
    let pyerr = |e| py_anyhow(py, e);
    let sys = py.import("sys").map_err(pyerr)?;
    let prefix: std::path::PathBuf = sys
        .getattr("prefix")
        .and_then(|v| v.extract())
        .map_err(pyerr)?;
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    };
    if same(home, &prefix) {
        log_raw(&format!("PEP 405 virtualenv detected: {}", home.display()));
        return Ok(());
    }
    if !home.join("pyvenv.cfg").is_file() {
        log_raw(&format!(
            "!!! home = {} is not a virtualenv and rw from the wheel runs in the interpreter of {}: \
             home ignored !!!",
            home.display(),
            prefix.display()
        ));
        return Ok(());
    }
    let (major, minor): (u8, u8) = sys
        .getattr("version_info")
        .and_then(|v| Ok((v.get_item(0)?.extract()?, v.get_item(1)?.extract()?)))
        .map_err(pyerr)?;
    let site = home
        .join("lib")
        .join(format!("python{major}.{minor}"))
        .join("site-packages");
    if !site.is_dir() {
        bail!(
            "home = {}: no {} there, so that virtualenv belongs to another Python than the one \
             rw runs in (Python {major}.{minor} of {}); install rw-server into it and run its \
             bin/rw, or point home at {}",
            home.display(),
            site.display(),
            prefix.display(),
            prefix.display()
        );
    }
    log_raw(&format!(
        "!!! home = {} is another virtualenv than the one rw runs in ({}): its site-packages \
         go first on sys.path, the interpreter stays {} !!!",
        home.display(),
        prefix.display(),
        prefix.display()
    ));
    let res = (|| -> PyResult<()> {
        let path = sys.getattr("path")?.cast_into::<PyList>()?;
        let before: Vec<String> = path.extract()?;
        py.import("site")?
            .call_method1("addsitedir", (site.as_os_str(),))?;
        let after: Vec<String> = path.extract()?;
        let added: Vec<&String> = after.iter().filter(|p| !before.contains(p)).collect();
        let mut front: Vec<String> = added.iter().map(|s| (*s).clone()).collect();
        front.extend(after.iter().filter(|p| before.contains(p)).cloned());
        path.call_method1("__init__", (front,))?;
        sys.setattr("prefix", home.as_os_str())?;
        sys.setattr("exec_prefix", home.as_os_str())?;
        py.import("os")?
            .getattr("environ")?
            .set_item("VIRTUAL_ENV", home.as_os_str())?;
        Ok(())
    })();
    res.map_err(pyerr)
}

fn sigint_disposition() -> Option<libc::sigaction> {
    let mut old = MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: query-only sigaction (NULL new action) writing into our zeroed buffer.
    let rc = unsafe { libc::sigaction(libc::SIGINT, std::ptr::null(), old.as_mut_ptr()) };
    // SAFETY: on success sigaction filled the (already zero-initialised) struct.
    (rc == 0).then(|| unsafe { old.assume_init() })
}

/// Even with `install_signal_handlers = 0`, executing the `signal` module installs Python's C
/// SIGINT handler when SIGINT is at its default. Import it now (so it never runs again), make
/// Python's table say SIG_DFL, and put back the disposition SIGINT had before Python started.
fn keep_sigint(py: Python<'_>, saved: Option<libc::sigaction>) -> PyResult<()> {
    let signal = py.import("signal")?;
    signal.call_method1(
        "signal",
        (signal.getattr("SIGINT")?, signal.getattr("SIG_DFL")?),
    )?;
    if let Some(act) = saved {
        // SAFETY: re-installs a disposition previously returned by sigaction for SIGINT.
        unsafe { libc::sigaction(libc::SIGINT, &act, std::ptr::null_mut()) };
    }
    Ok(())
}

/// Address of the main interpreter state, for the banner line
/// `Python main interpreter initialized at 0x%x`. 0 before [`init_interpreter`].
pub fn interpreter_address() -> usize {
    // SAFETY: Py_IsInitialized may be called at any time.
    if unsafe { ffi::Py_IsInitialized() } == 0 {
        return 0;
    }
    // SAFETY: the interpreter is initialised; PyInterpreterState_Main only reads a global.
    unsafe { ffi::PyInterpreterState_Main() as usize }
}

fn path_cstring(p: &Path) -> anyhow::Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .with_context(|| format!("path contains a NUL byte: {}", p.display()))
}

fn check_status(st: ffi::PyStatus, what: &str) -> anyhow::Result<()> {
    // SAFETY: PyStatus_Exception only inspects the struct.
    if unsafe { ffi::PyStatus_Exception(st) } == 0 {
        return Ok(());
    }
    let msg = if st.err_msg.is_null() {
        "unknown error".to_owned()
    } else {
        // SAFETY: a non-NULL err_msg of a PyStatus is a static NUL-terminated C string.
        unsafe { std::ffi::CStr::from_ptr(st.err_msg) }
            .to_string_lossy()
            .into_owned()
    };
    let func = if st.func.is_null() {
        String::new()
    } else {
        // SAFETY: as above for `func`.
        let f = unsafe { std::ffi::CStr::from_ptr(st.func) }.to_string_lossy();
        format!(" ({f})")
    };
    Err(anyhow!(
        "{what} failed{func}: {msg} (exit code {})",
        st.exitcode
    ))
}

fn py_anyhow(py: Python<'_>, e: PyErr) -> anyhow::Error {
    anyhow!("{}", super::pyerr::format_exception(py, &e))
}

fn setup_sys_path(py: Python<'_>, pythonpath: &[String]) -> PyResult<()> {
    let sys = py.import("sys")?;
    let path = sys.getattr("path")?.cast_into::<PyList>()?;
    path.insert(0, ".")?;
    let glob = py.import("glob")?;
    for entry in pythonpath {
        let has_magic = entry.contains(['*', '?', '[']);
        let mut items: Vec<String> = Vec::new();
        if has_magic {
            let found = glob.call_method1("glob", (entry.as_str(),))?;
            let mut found: Vec<String> = found.extract()?;
            found.sort();
            items.extend(found);
        }
        if items.is_empty() {
            items.push(entry.clone());
        }
        for item in items {
            path.insert(0, item.as_str())?;
            log_raw(&format!("added {item} to pythonpath."));
        }
    }
    Ok(())
}

/// `rw-gc-freeze`: whether [`fork_with_gil`] freezes the collector's objects first.
static GC_FREEZE: AtomicBool = AtomicBool::new(false);

/// Set once at startup from the config.
pub fn set_gc_freeze(on: bool) {
    GC_FREEZE.store(on, Relaxed);
}

/// `gc.freeze()`: every object tracked now moves to the permanent generation, which no
/// collection visits. A collection writes to the header of every object it visits, and each such
/// write in a worker copies the page the object lives on, so without this the app loaded in the
/// master stops being shared, page by page, as the workers collect (what Python's `gc` docs
/// recommend before a fork). Those objects are never collected: they were alive at the fork.
fn freeze_gc(py: Python<'_>) {
    if !GC_FREEZE.load(Relaxed) {
        return;
    }
    if let Err(e) = py.import("gc").and_then(|gc| gc.call_method0("freeze")) {
        log_raw(&format!("gc.freeze() failed before fork: {e}"));
    }
}

/// `fork()` with the GIL held: `PyOS_BeforeFork`, `f` (which forks), then
/// `PyOS_AfterFork_Child` in the child (and re-seed `random` if it was imported, like uWSGI) or
/// `PyOS_AfterFork_Parent` in the parent / on failure. Returns `f`'s result.
pub fn fork_with_gil(f: impl FnOnce() -> nix::Result<ForkResult>) -> nix::Result<ForkResult> {
    // The forking thread must keep its thread state across the fork: if `attach` created a
    // temporary one, releasing it in the child leaves CPython 3.11 unable to create the next
    // one ("init_threadstate: thread state already initialized").
    pin_thread_state();
    Python::attach(|py| {
        warn_threads_before_fork(py);
        freeze_gc(py);
        // SAFETY: this thread holds the GIL (inside attach), as PyOS_BeforeFork requires.
        unsafe { ffi::PyOS_BeforeFork() };
        let r = f();
        match &r {
            Ok(ForkResult::Child) => {
                // SAFETY: we are in the freshly forked child, the forking thread holds the GIL.
                unsafe { ffi::PyOS_AfterFork_Child() };
                reseed_random(py);
            }
            _ => {
                // SAFETY: parent (or fork failed): undo PyOS_BeforeFork with the GIL held.
                unsafe { ffi::PyOS_AfterFork_Parent() };
            }
        }
        r
    })
}

/// The names of the Python threads alive besides the calling one (`threading.enumerate()`),
/// daemon threads marked. Empty when `threading` was never imported (no thread was started
/// through it).
fn other_python_threads(py: Python<'_>) -> PyResult<Vec<String>> {
    let modules = py.import("sys")?.getattr("modules")?;
    let threading = modules.call_method1("get", ("threading",))?;
    if threading.is_none() {
        return Ok(Vec::new());
    }
    let me = threading.call_method0("current_thread")?;
    let mut names = Vec::new();
    for t in threading.call_method0("enumerate")?.try_iter()? {
        let t = t?;
        if t.is(&me) || !t.call_method0("is_alive")?.is_truthy()? {
            continue;
        }
        let name: String = t.getattr("name")?.extract()?;
        let daemon = t.getattr("daemon")?.is_truthy()?;
        names.push(if daemon {
            format!("'{name}' (daemon)")
        } else {
            format!("'{name}'")
        });
    }
    Ok(names)
}

/// fork() copies only the forking thread: a thread the app started at import time does not run
/// in the workers, and a lock it held at that moment stays locked there forever. uWSGI says
/// nothing; rw warns (once per set of threads) with their names and the fix.
fn warn_threads_before_fork(py: Python<'_>) {
    static WARNED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let names = match other_python_threads(py) {
        Ok(n) => n,
        Err(e) => {
            print_exception(py, &e);
            return;
        }
    };
    let mut warned = WARNED.lock().unwrap_or_else(|e| e.into_inner());
    if names.is_empty() || *warned == names {
        return;
    }
    log_raw(&format!(
        "!!! WARNING: {} Python thread(s) running in the master before fork: {}. fork() copies \
         only the calling thread, so they do not run in the workers, and a lock one of them \
         holds stays locked there (requests can deadlock). Start threads from \
         uwsgi.post_fork_hook, or set `lazy-apps = true` to load the app in each worker. !!!",
        names.len(),
        names.join(", ")
    ));
    *warned = names;
}

/// `fork()` from code that runs before Python exists in the binary but after it in the wheel
/// (daemonize): with the GIL and the fork hooks when there is an interpreter, plainly otherwise.
pub fn fork_maybe_with_gil(f: impl FnOnce() -> nix::Result<ForkResult>) -> nix::Result<ForkResult> {
    // SAFETY: Py_IsInitialized may be called at any time.
    if unsafe { ffi::Py_IsInitialized() } == 0 {
        return f();
    }
    fork_with_gil(f)
}

fn reseed_random(py: Python<'_>) {
    let res = (|| -> PyResult<()> {
        let modules = py.import("sys")?.getattr("modules")?;
        let random = modules.call_method1("get", ("random",))?;
        if !random.is_none() {
            random.call_method0("seed")?;
        }
        Ok(())
    })();
    if let Err(e) = res {
        print_exception(py, &e);
    }
}

/// Run exit hooks: `uwsgi.atexit` (if set) then Python's `atexit` handlers, and flush
/// `sys.stdout`/`sys.stderr`. Safe to call when Python was never initialised (no-op) and more
/// than once (atexit handlers run once).
pub fn run_exit_hooks() {
    // SAFETY: Py_IsInitialized may be called at any time.
    if unsafe { ffi::Py_IsInitialized() } == 0 {
        return;
    }
    pin_thread_state();
    let _ = Python::try_attach(|py| {
        uwsgi_module::call_hook(py, "atexit");
        let res = py
            .import("atexit")
            .and_then(|m| m.call_method0("_run_exitfuncs"));
        if let Err(e) = res {
            print_exception(py, &e);
        }
        if let Ok(sys) = py.import("sys") {
            for name in ["stdout", "stderr"] {
                if let Ok(f) = sys.getattr(name) {
                    let _ = f.call_method0("flush");
                }
            }
        }
    });
}
