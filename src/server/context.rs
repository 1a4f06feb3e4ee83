//! What every request of a worker needs, owned by the request side: the apps and how one is
//! picked, the worker's constants (hostname, ports, limits, static map), the scoreboard
//! accounting at the start and end of a request, the request log, and the pool of read
//! buffers. The worker builds one and hands connections to `request::serve`.

use super::settings::Settings;
use super::sink;
use super::static_files::StaticMap;
use super::stop::Stop;
use super::sync::lock;
use crate::log::request_line::{self, LogFormat, RequestRecord};
use crate::proto::http::HeadLimits;
use crate::proto::Var;
use crate::python;
use crate::stats::scoreboard::{CoreSlot, Scoreboard};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Instant;

/// Read buffers kept for reuse, and the largest kept.
const BUF_POOL_MAX: usize = 64;
const BUF_POOL_MAX_CAPACITY: usize = 64 << 10;

/// What the worker does after a request (or the requests a connection had ready).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The connection may carry another request: park it for the next one.
    Keep,
    Close,
    /// This worker's work is done: it stops taking connections. `keep`: the connection may
    /// still carry a request (answered with `Connection: close`).
    Recycle {
        keep: bool,
        why: Recycle,
    },
}

/// Why a worker retires itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recycle {
    MaxRequests,
    /// `reload-on-rss`: its resident size in bytes.
    Rss(u64),
    /// `reload-on-as`: its address space in bytes.
    As(u64),
}

impl Recycle {
    pub fn cause(self) -> crate::stats::recycles::Cause {
        use crate::stats::recycles::Cause;
        match self {
            Recycle::MaxRequests => Cause::MaxRequests,
            Recycle::Rss(_) => Cause::ReloadOnRss,
            Recycle::As(_) => Cause::ReloadOnAs,
        }
    }
}

/// The wait hook of client sockets: a wait for a slow peer lets the worker's other Python
/// threads run.
pub fn wait_for_peer(wait: &mut dyn FnMut()) {
    python::blocking(wait)
}

/// What the worker gives its request side.
pub struct ContextEnv<'a> {
    pub settings: &'a Settings,
    pub worker_id: usize,
    pub scoreboard: &'a Scoreboard,
    pub apps: Vec<&'a python::App>,
    /// SERVER_PORT of each listener, by index.
    pub listener_ports: Vec<Vec<u8>>,
    pub stop: &'a Stop,
}

/// State shared by the request threads of one worker.
pub struct Context<'a> {
    pub settings: &'a Settings,
    pub id: usize,
    pub pid: u32,
    scoreboard: &'a Scoreboard,
    apps: Vec<&'a python::App>,
    pub pyctx: python::WorkerContext,
    pub statics: StaticMap,
    pub hostname: Vec<u8>,
    pub listener_ports: Vec<Vec<u8>>,
    pub limits: HeadLimits,
    log_format: Option<LogFormat>,
    /// Read buffers of closed connections, reused by new ones: a fresh 4 KiB allocation per
    /// connection makes glibc consolidate its fastbins every time (2% of a short request).
    buf_pool: Mutex<Vec<Vec<u8>>>,
    /// Bytes asked of one read(2) of a request head: a whole `buffer-size` head fits.
    pub read_size: usize,
    max_requests: u64,
    /// Copy each request's vars into the scoreboard: only the stats server and harakiri's
    /// log read them, so without those the copy is skipped.
    pub record_vars: bool,
    /// Requests begun in this life (see [`Context::begin_request`]).
    started: AtomicU64,
    /// Unix µs of this worker's spawn (the master's `last_spawn`, whole seconds, as uWSGI
    /// counts `min-worker-lifetime` from it, app loading included).
    spawned_us: u64,
    stop: &'a Stop,
    /// Requests refused before the app: counted and logged, rate limited.
    pub rejections: super::rejections::Rejections<'a>,
    /// Debug builds only (tests): requests for this path panic before the app is called, and
    /// for this path plus `-late` after it answered. Nothing else can provoke a panic on
    /// purpose, and release builds do not read the variable.
    #[cfg(debug_assertions)]
    pub(super) panic_path: Option<Vec<u8>>,
}

impl<'a> Context<'a> {
    /// Builds the context; fails on a static map that does not resolve.
    pub fn new(env: ContextEnv<'a>) -> anyhow::Result<Context<'a>> {
        let s = env.settings;
        let statics = super::preflight::static_map(s).map_err(|e| anyhow::anyhow!("{e}"))?;
        let hostname = crate::sys::host::hostname();
        Ok(Context {
            settings: s,
            id: env.worker_id,
            pid: std::process::id(),
            scoreboard: env.scoreboard,
            apps: env.apps,
            pyctx: python::WorkerContext::new(
                s.threads > 1,
                s.processes > 1,
                env.worker_id as u32,
                hostname.clone(),
            ),
            statics,
            hostname: hostname.into_bytes(),
            listener_ports: env.listener_ports,
            limits: HeadLimits::new(s.buffer_size),
            log_format: s.log_format.as_deref().map(|f| {
                let ftime = s.log.date.as_ref().and_then(|d| d.format()).cloned();
                LogFormat::parse(f).with_ftime(ftime.filter(|_| s.log.logformat_strftime))
            }),
            buf_pool: Mutex::new(Vec::new()),
            read_size: (s.buffer_size + 1).max(4096),
            max_requests: s.max_requests_for(env.worker_id),
            record_vars: s.stats.is_some() || s.harakiri > 0,
            started: AtomicU64::new(0),
            spawned_us: env
                .scoreboard
                .worker(env.worker_id)
                .last_spawn
                .load(Relaxed)
                * 1_000_000,
            stop: env.stop,
            rejections: super::rejections::Rejections::new(
                env.scoreboard.worker(env.worker_id),
                std::process::id(),
            ),
            #[cfg(debug_assertions)]
            panic_path: std::env::var_os("RW_DEBUG_PANIC_PATH")
                .map(|p| std::os::unix::ffi::OsStrExt::as_bytes(p.as_os_str()).to_vec()),
        })
    }

    /// The worker is stopping: responses say `Connection: close`.
    pub fn stopping(&self) -> bool {
        self.stop.is_set()
    }

    pub fn core(&self, core: usize) -> &CoreSlot {
        self.scoreboard.core(self.id, core)
    }

    pub fn worker_slot(&self) -> &crate::stats::scoreboard::WorkerSlot {
        self.scoreboard.worker(self.id)
    }

    /// The default app (app 0), if one loaded.
    pub fn app(&self) -> Option<&python::App> {
        self.apps.first().copied()
    }

    /// Picks the app for a request as uWSGI does: with `manage-script-name`, the longest
    /// mountpoint that is a `/`-bounded prefix of PATH_INFO (moved into SCRIPT_NAME);
    /// otherwise the app mounted at SCRIPT_NAME; else the default app.
    pub fn select_app(&self, vars: &mut [Var<'_>]) -> Option<&python::App> {
        if self.apps.len() <= 1 && !self.settings.manage_script_name {
            return self.app();
        }
        let get = |vars: &[Var<'_>], k: &[u8]| vars.iter().position(|(key, _)| &key[..] == k);
        if self.settings.manage_script_name {
            if let Some(pi) = get(vars, b"PATH_INFO") {
                let path = vars[pi].1.clone();
                let best = self
                    .apps
                    .iter()
                    .filter(|a| !a.mountpoint().is_empty())
                    .filter(|a| {
                        let m = a.mountpoint().trim_end_matches('/').as_bytes();
                        path.starts_with(m) && (path.len() == m.len() || path[m.len()] == b'/')
                    })
                    .max_by_key(|a| a.mountpoint().trim_end_matches('/').len());
                if let Some(app) = best {
                    let m = app.mountpoint().trim_end_matches('/').as_bytes().to_vec();
                    vars[pi].1 = path[m.len()..].to_vec().into();
                    // run_app adds an empty SCRIPT_NAME first when the frontend sent none.
                    if let Some(si) = get(vars, b"SCRIPT_NAME") {
                        vars[si].1 = m.into();
                    }
                    return Some(*app);
                }
            }
        }
        let script = get(vars, b"SCRIPT_NAME")
            .map(|i| vars[i].1.to_vec())
            .unwrap_or_default();
        if !script.is_empty() {
            let script = script.strip_suffix(b"/").unwrap_or(&script);
            if let Some(app) = self
                .apps
                .iter()
                .find(|a| a.mountpoint().trim_end_matches('/').as_bytes() == script)
            {
                return Some(*app);
            }
        }
        self.apps
            .iter()
            .find(|a| a.mountpoint().is_empty())
            .or(self.apps.first())
            .copied()
    }

    /// Counts a request about to be answered. True when it is the last one before
    /// `max-requests` recycles the worker, so that its response says `Connection: close`
    /// instead of promising a connection that is about to go away.
    pub fn begin_request(&self) -> bool {
        let n = self.started.fetch_add(1, Relaxed) + 1;
        self.max_requests > 0 && n >= self.max_requests && self.may_retire()
    }

    /// `min-worker-lifetime` has passed: max-requests, reload-on-rss and reload-on-as may
    /// recycle this worker (uWSGI holds them back until then).
    fn may_retire(&self) -> bool {
        let lived = crate::sys::clock::unix_us().saturating_sub(self.spawned_us);
        self.settings
            .recycle
            .may_retire(std::time::Duration::from_micros(lived))
    }

    /// Accounts a finished request in the scoreboard, writes its log line (one write(2), so
    /// lines of concurrent workers never mix) and decides what follows: `keep` says whether
    /// the connection could carry another request.
    pub fn finish_request(&self, info: &LogInfo, tx: u64, keep: bool) -> Verdict {
        let w = self.scoreboard.worker(self.id);
        let outcome = info.outcome;
        // One clock read for the scoreboard and the log selection (`log-slow`).
        let duration_us = info.meta.start.elapsed().as_micros() as u64;
        w.on_request_done(duration_us, tx, outcome.status, outcome.exception);
        let total = self
            .scoreboard
            .header()
            .total_requests
            .fetch_add(1, Relaxed)
            + 1;
        let app_requests = if info.app_id >= 0 {
            w.app_requests.fetch_add(1, Relaxed) as i64 + 1
        } else {
            -1
        };
        // The master may have reopened or rotated the log file (also for the app's stderr).
        crate::log::file::follow();
        let log = &self.settings.log;
        // Taken even when the line is not logged: they belong to this request only.
        let logvars = python::take_logvars();
        if log.selection.wants(&info.select_outcome(duration_us)) {
            let mut record = info.record(self, app_requests, total);
            record.restyle(log.micros, log.x_forwarded_for);
            record.logvars = &logvars;
            let mut line = Vec::with_capacity(256);
            match &self.log_format {
                Some(f) => f.write(&mut line, &record),
                None => request_line::write_default(&mut line, &record),
            }
            crate::log::output::request(&line);
        }
        let recycle = |why| {
            if self.stopping() {
                None // said once; the requests still in flight finish after this one
            } else {
                Some(Verdict::Recycle { keep, why })
            }
        };
        let s = self.settings;
        let verdict = if self.max_requests > 0
            && w.delta_requests.load(Relaxed) >= self.max_requests
            && self.may_retire()
        {
            recycle(Recycle::MaxRequests)
        } else if s.reload_on_rss > 0 || s.recycle.reload_on_as > 0 || s.memory_report {
            crate::sys::proc::memory_of(self.pid as i32).and_then(|(rss, vsz)| {
                w.rss.store(rss, Relaxed);
                w.vsz.store(vsz, Relaxed);
                let why = if s.reload_on_rss > 0 && rss >= s.reload_on_rss << 20 {
                    Some(Recycle::Rss(rss))
                } else if s.recycle.reload_on_as > 0 && vsz >= s.recycle.reload_on_as {
                    Some(Recycle::As(vsz))
                } else {
                    None
                };
                why.filter(|_| self.may_retire()).and_then(recycle)
            })
        } else {
            None
        };
        verdict.unwrap_or(if keep { Verdict::Keep } else { Verdict::Close })
    }

    /// Debug builds: panics if `path` is `RW_DEBUG_PANIC_PATH` (`late`: that path + `-late`).
    #[cfg(debug_assertions)]
    pub fn debug_panic(&self, path: &[u8], late: bool) {
        if let Some(p) = &self.panic_path {
            let wanted = if late {
                path.strip_suffix(b"-late") == Some(&p[..])
            } else {
                path == &p[..]
            };
            if wanted {
                panic!("RW_DEBUG_PANIC_PATH asked for a panic");
            }
        }
    }

    #[cfg(not(debug_assertions))]
    #[inline(always)]
    pub fn debug_panic(&self, _path: &[u8], _late: bool) {}

    /// Logs a panic caught in a request thread, with the request line when it is known.
    pub fn log_panic(
        &self,
        peer: &[u8],
        request: Option<&Meta>,
        payload: &(dyn std::any::Any + Send),
        answered: bool,
    ) {
        let msg = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(no message)");
        let mut line = format!("[pid: {}|app: -1|req: -1/-1] ", self.pid).into_bytes();
        crate::log::sanitize::push_escaped(&mut line, peer);
        line.extend_from_slice(b" (");
        match request {
            Some(m) => {
                crate::log::sanitize::push_escaped(&mut line, m.method);
                line.push(b' ');
                crate::log::sanitize::push_escaped(&mut line, m.uri);
                line.push(b' ');
                crate::log::sanitize::push_escaped(&mut line, m.protocol);
            }
            None => line.extend_from_slice(b"before its request line was read"),
        }
        line.extend_from_slice(b") panicked in the request thread: ");
        crate::log::sanitize::push_escaped(&mut line, msg.as_bytes());
        line.extend_from_slice(if answered {
            b"; answered 500, the thread serves on\n"
        } else {
            b"; connection closed (the response had begun), the thread serves on\n"
        });
        crate::log::output::write(&line);
    }

    /// Counts and logs a request refused before it reached the app (framing errors).
    pub fn log_rejected(&self, peer: &[u8], status: u16, reason: &str) {
        self.rejections.http(peer, status, reason, "");
    }

    /// Drops uwsgi vars that would load code (uWSGI #2491); nginx's UWSGI_SCHEME stays.
    pub fn filter_magic_vars(&self, vars: &mut Vec<Var<'_>>) {
        const CODE_LOADING: &[&[u8]] = &[
            b"UWSGI_FILE",
            b"UWSGI_SCRIPT",
            b"UWSGI_MODULE",
            b"UWSGI_CALLABLE",
            b"UWSGI_CHDIR",
            b"UWSGI_PYHOME",
            b"UWSGI_SETENV",
            b"UWSGI_APPID",
            b"UWSGI_POSTFILE",
            b"UWSGI_TOUCH_RELOAD",
        ];
        vars.retain(|(k, _)| {
            let bad = CODE_LOADING.contains(&&k[..]);
            if bad {
                eprintln!(
                    "ignoring uwsgi var {} (code-loading vars are disabled in rw)",
                    crate::log::sanitize::escaped(k)
                );
            }
            !bad
        });
    }

    /// An empty read buffer with room for a request head.
    pub fn take_buf(&self) -> Vec<u8> {
        lock(&self.buf_pool)
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(self.read_size))
    }

    /// Keeps `buf` for [`Context::take_buf`]. Bounded: a burst of connections must not pin its
    /// buffers forever, nor a buffer that grew for one large request.
    pub fn recycle_buf(&self, mut buf: Vec<u8>) {
        if buf.capacity() < self.read_size || buf.capacity() > BUF_POOL_MAX_CAPACITY {
            return;
        }
        let mut pool = lock(&self.buf_pool);
        if pool.len() < BUF_POOL_MAX {
            buf.clear();
            pool.push(buf);
        }
    }
}

/// What a request is, as the answering side needs it (static files, the app, the log line),
/// whichever protocol it came in.
pub struct Meta<'r> {
    pub method: &'r [u8],
    /// The request target as sent.
    pub uri: &'r [u8],
    /// Its path, not yet percent-decoded (what the static map resolves).
    pub raw_path: &'r [u8],
    pub protocol: &'r [u8],
    pub peer: &'r [u8],
    pub if_modified_since: Option<&'r [u8]>,
    pub accept_encoding: Option<&'r [u8]>,
    /// How the response must be framed.
    pub framing: sink::Request<'r>,
    pub start: Instant,
    /// `start` as a Unix time in µs (scoreboard, log).
    pub start_us: u64,
}

/// What the request log line needs beyond the worker's state.
pub struct LogInfo<'a> {
    pub core: usize,
    pub app_id: i32,
    pub vars: &'a [Var<'a>],
    pub meta: &'a Meta<'a>,
    pub outcome: &'a python::CallOutcome,
    pub headers_count: usize,
    pub headers_bytes: usize,
    /// Reading the request body failed (uWSGI's `read_errors`).
    pub read_error: bool,
}

impl LogInfo<'_> {
    /// What the request-log selection looks at.
    pub fn select_outcome(&self, duration_us: u64) -> crate::log::select::Outcome {
        crate::log::select::Outcome {
            status: self.outcome.status,
            body_bytes: self.outcome.body_bytes,
            duration_us,
            via_sendfile: self.outcome.via_sendfile,
            read_error: self.read_error,
            write_error: self.outcome.io_error,
        }
    }

    /// The log formatter's record.
    pub fn record(&self, w: &Context, app_requests: i64, total: u64) -> RequestRecord<'_> {
        let vars_bytes = self.vars.iter().map(|(k, v)| 4 + k.len() + v.len()).sum();
        let user = self
            .vars
            .iter()
            .find(|(k, _)| &k[..] == b"REMOTE_USER")
            .map(|(_, v)| &v[..])
            .unwrap_or(b"");
        let (rss, vsz) = if w.settings.memory_report {
            crate::sys::proc::memory_of(w.pid as i32).unwrap_or((0, 0))
        } else {
            (0, 0)
        };
        let m = self.meta;
        RequestRecord {
            pid: w.pid,
            worker_id: w.id as u32,
            core: self.core as u32,
            app_id: self.app_id,
            app_requests,
            total_requests: total,
            remote_addr: m.peer,
            remote_user: user,
            vars_count: self.vars.len(),
            vars_bytes,
            start_unix_us: m.start_us,
            duration_us: m.start.elapsed().as_micros() as u64,
            method: m.method,
            uri: m.uri,
            protocol: if m.protocol.is_empty() {
                b"HTTP/1.0"
            } else {
                m.protocol
            },
            status: self.outcome.status,
            body_bytes: self.outcome.body_bytes,
            headers_count: self.headers_count,
            headers_bytes: self.headers_bytes,
            switches: self.outcome.switches,
            via: self.outcome.via_sendfile.then_some("sendfile"),
            vars: self.vars,
            rss,
            vsz,
            memory_report: w.settings.memory_report,
            micros: false,
            logvars: &[],
        }
    }
}
