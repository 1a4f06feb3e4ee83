//! The typed settings `rw serve` runs with, taken from a resolved [`Config`].

use super::static_files::StaticOptions;
use crate::config::{option_values, Config};
use crate::net::listen::Proto;
use std::path::PathBuf;
use std::time::Duration;

/// Everything the master and workers read from the config, typed once at startup.
#[derive(Debug, Clone)]
pub struct Settings {
    pub chdir: Option<PathBuf>,
    pub module: Option<String>,
    pub wsgi_file: Option<PathBuf>,
    pub callable: String,
    pub home: Option<PathBuf>,
    pub pythonpath: Vec<String>,
    pub env: Vec<(String, String)>,
    pub mounts: Vec<(String, String)>,
    pub manage_script_name: bool,
    pub lazy_apps: bool,
    pub need_app: bool,
    pub listeners: Vec<ListenSpec>,
    pub chmod_socket: Option<u32>,
    pub listen: u32,
    pub so_keepalive: bool,
    pub socket_timeout: Duration,
    pub buffer_size: usize,
    pub post_buffering: u64,
    pub limit_post: u64,
    /// rw-body-timeout (seconds, 0: none), rw-body-min-rate (bytes/s, 0: none): see
    /// server/body_wait.rs.
    pub body_timeout: u64,
    pub body_min_rate: u64,
    /// rw-stream-chunked: chunked bodies reach the app as they arrive instead of read first.
    pub stream_chunked: bool,
    pub add_headers: Vec<(String, String)>,
    pub static_map: Vec<String>,
    pub check_static: Vec<String>,
    pub processes: usize,
    pub threads: usize,
    pub harakiri: u64,
    pub harakiri_verbose: bool,
    pub harakiri_graceful_timeout: u64,
    /// `harakiri-graceful-signal`, when it is one rw sends (`config::recycle::graceful_signal`).
    pub harakiri_graceful_signal: Option<i32>,
    pub max_requests: u64,
    pub max_requests_delta: u64,
    pub reload_on_rss: u64,
    /// max/min-worker-lifetime, reload-on-as, the evil reloads (`server/recycle.rs`).
    pub recycle: super::recycle::Policy,
    pub worker_reload_mercy: Duration,
    pub reload_mercy: Duration,
    pub die_on_term: bool,
    pub touch_reload: Vec<PathBuf>,
    pub touch_chain_reload: Vec<PathBuf>,
    pub touch_workers_reload: Vec<PathBuf>,
    pub master_fifo: Vec<PathBuf>,
    pub uid: Option<String>,
    pub gid: Option<String>,
    pub procnames: ProcNames,
    pub pidfile: Option<PathBuf>,
    pub daemonize: Option<PathBuf>,
    pub logto: Option<PathBuf>,
    pub vacuum: bool,
    pub log_format: Option<String>,
    pub memory_report: bool,
    pub stats: Option<String>,
    pub stats_http: bool,
    /// Every option as uWSGI exports it to apps (`uwsgi.opt`), see [`Config::exported`].
    pub exported_options: Vec<(String, Option<String>)>,
    /// `locks`: user locks beyond lock 0.
    pub locks: usize,
    /// One entry per mule: its `mule` value (`mules = N` adds empty, bare ones).
    pub mules: Vec<String>,
    /// `farm` values, `NAME:MULE[,MULE...]`.
    pub farms: Vec<String>,
    /// `mule-msg-size` (0: the system's buffer size).
    pub mule_msg_size: usize,
    /// `cache` (legacy, first) and every `cache2`.
    pub caches: Vec<option_values::CacheDef>,
    /// `cheaper` > 0: the adaptive worker count.
    pub cheaper: Option<crate::cheaper::Params>,
    /// `cheap`: start with no worker, spawn on the first connection.
    pub cheap: bool,
    /// `idle`: seconds without a request before every worker stops (0: never).
    pub idle: u64,
    pub die_on_idle: bool,
    /// `attach-daemon*`, `smart-attach-daemon*` (issue 11; server/daemons.rs).
    pub daemons: Vec<crate::config::daemon::DaemonDef>,
    pub daemons_honour_stdin: bool,
    /// `cron`, `unique-cron`, `cron2` (server/cron.rs).
    pub crons: Vec<crate::config::cron::CronDef>,
    pub cron_harakiri: u64,
    /// `spooler` and the `spooler-*` options.
    pub spooler: super::spool_state::SpoolerSettings,
    pub compat: CompatSettings,
    pub log: LogSettings,
    /// hook-*/exec-* steps by phase (config/hooks.rs; run by server/hooks.rs).
    pub hooks: crate::config::hooks::Plan,
}

/// The logging options of issue 11, typed.
#[derive(Debug, Clone, Default)]
pub struct LogSettings {
    /// Which requests get a line (`disable-logging` and the `log-*` conditions).
    pub selection: crate::log::select::Selection,
    pub micros: bool,
    pub x_forwarded_for: bool,
    /// `log-date`: the stamp of server lines.
    pub date: Option<crate::log::date::Stamp>,
    pub logformat_strftime: bool,
    /// `logto2`, absolute.
    pub logto2: Option<PathBuf>,
    pub maxsize: u64,
    pub backupname: Option<PathBuf>,
    pub touch_reopen: Vec<PathBuf>,
    pub touch_rotate: Vec<PathBuf>,
    /// `logfile-chmod`, when it is three octal digits (the config check refuses others).
    pub chmod: Option<u32>,
    pub chown: bool,
    /// `log-master`: workers send their lines to the master.
    pub master: bool,
    /// `log-truncate`.
    pub truncate: bool,
    /// `logger`, `req-logger`, `log-encoder`, `log-req-encoder` as given.
    pub loggers: crate::log::loggers::Config,
}

impl LogSettings {
    fn from_config(c: &Config, cwd: &std::path::Path) -> LogSettings {
        let path = |name: &str| text(c, name).map(|p| cwd.join(p));
        let paths = |name: &str| list(c, name).into_iter().map(|p| cwd.join(p)).collect();
        LogSettings {
            selection: crate::log::select::Selection {
                all: !c.bool("disable-logging"),
                zero: c.bool("log-zero"),
                slow_ms: c.uint("log-slow"),
                status_4xx: c.bool("log-4xx"),
                status_5xx: c.bool("log-5xx"),
                big: c.uint("log-big"),
                sendfile: c.bool("log-sendfile"),
                ioerror: c.bool("log-ioerror"),
            },
            micros: c.bool("log-micros"),
            x_forwarded_for: c.bool("log-x-forwarded-for"),
            date: c
                .get("log-date")
                .map(|s| crate::log::date::Stamp::from_value(s.value.as_str())),
            logformat_strftime: c.bool("logformat-strftime"),
            logto2: text(c, "logto2").map(|p| {
                if p.contains(':') {
                    PathBuf::from(p)
                } else {
                    cwd.join(p)
                }
            }),
            maxsize: c.uint("log-maxsize"),
            backupname: path("log-backupname"),
            touch_reopen: paths("touch-logreopen"),
            touch_rotate: paths("touch-logrotate"),
            chmod: c
                .text("logfile-chmod")
                .and_then(option_values::logfile_chmod),
            chown: c.bool("logfile-chown"),
            master: c.bool("log-master"),
            truncate: c.bool("log-truncate"),
            loggers: crate::log::loggers::Config {
                // `log-syslog[=IDENT]` is `logger = syslog[:IDENT]`.
                loggers: list(c, "logger")
                    .into_iter()
                    .chain(text(c, "log-syslog").map(|v| format!("syslog:{v}")))
                    .collect(),
                req_loggers: list(c, "req-logger"),
                encoders: list(c, "log-encoder"),
                req_encoders: list(c, "log-req-encoder"),
                drain: list(c, "log-drain"),
                filter: list(c, "log-filter"),
                routes: list(c, "log-route"),
            },
        }
    }
}

/// The process names of `auto-procname` and the `procname*` options, as uWSGI builds them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcNames {
    /// `auto-procname`, or any `procname*` option (uWSGI turns it on for them).
    pub auto: bool,
    pub name: Option<String>,
    pub master: Option<String>,
    /// `procname-prefix`, or `procname-prefix-spaced` with its space (the last one wins).
    pub prefix: Option<String>,
    pub append: Option<String>,
}

impl ProcNames {
    fn from_config(c: &Config) -> ProcNames {
        // Both set the same uWSGI field; a config that gives both gets the spaced one.
        let prefix = text(c, "procname-prefix-spaced")
            .map(|p| format!("{p} "))
            .or_else(|| text(c, "procname-prefix"));
        let name = text(c, "procname");
        let master = text(c, "procname-master");
        let append = text(c, "procname-append");
        let auto = c.bool("auto-procname")
            || prefix.is_some()
            || name.is_some()
            || master.is_some()
            || append.is_some();
        ProcNames {
            auto,
            name,
            master,
            prefix,
            append,
        }
    }

    /// The master's title, or None to leave rw's own (`rw master`).
    pub fn master(&self) -> Option<String> {
        let base = self
            .master
            .as_deref()
            .or(self.name.as_deref())
            .or(self.auto.then_some("uWSGI master"))?;
        Some(self.decorate(base))
    }

    /// Worker `id`'s title, or None to leave rw's own (`rw worker N`).
    pub fn worker(&self, id: usize) -> Option<String> {
        if !self.auto {
            return None;
        }
        Some(match &self.name {
            Some(n) => self.decorate(n),
            None => self.decorate(&format!("uWSGI worker {id}")),
        })
    }

    fn decorate(&self, base: &str) -> String {
        format!(
            "{}{base}{}",
            self.prefix.as_deref().unwrap_or(""),
            self.append.as_deref().unwrap_or("")
        )
    }
}

/// One configured listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenSpec {
    pub addr: String,
    pub proto: Proto,
    /// Read an optional PROXY protocol header first (`http-enable-proxy-protocol` for `http`,
    /// `enable-proxy-protocol` for the HTTP sockets, as uWSGI splits them).
    pub proxy_protocol: bool,
    /// Read/write timeout of its connections when it differs from socket-timeout (`http` with
    /// `http-timeout`: uWSGI's http router has its own timeout).
    pub timeout: Option<Duration>,
}

/// The options of issue 10 item 4 (uWSGI options real configs use), typed.
#[derive(Debug, Clone, Default)]
pub struct CompatSettings {
    /// `chown-socket`: USER[:GROUP].
    pub chown_socket: Option<String>,
    /// `umask`, as uWSGI reads it.
    pub umask: Option<u32>,
    pub honour_stdin: bool,
    pub master_as_root: bool,
    /// `chdir2`, absolute (relative to the directory after `chdir`).
    pub chdir2: Option<PathBuf>,
    /// `paste`: the URI given to `paste.deploy.loadapp`.
    pub paste: Option<String>,
    pub paste_logger: bool,
    /// `pymodule-alias` entries, `NAME=module` or `NAME=/path/file.py`.
    pub pymodule_alias: Vec<String>,
    pub no_site: bool,
    /// rw-gc-freeze: `gc.freeze()` before every fork of the master.
    pub gc_freeze: bool,
    pub statics: StaticOptions,
}

fn text(c: &Config, name: &str) -> Option<String> {
    c.get(name).map(|s| s.value.as_str().to_string())
}

fn paths(c: &Config, name: &str) -> Vec<PathBuf> {
    list(c, name).into_iter().map(PathBuf::from).collect()
}

fn list(c: &Config, name: &str) -> Vec<String> {
    c.list(name).map(|s| s.value.as_str().to_string()).collect()
}

fn pairs(c: &Config, name: &str, sep: char) -> Vec<(String, String)> {
    c.list(name)
        .filter_map(|s| {
            let (k, v) = s.value.as_str().split_once(sep)?;
            Some((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

/// The cheaper options as uWSGI 2.0 settles them at startup: off unless 0 < cheaper <
/// processes (the config check refuses cheaper >= processes), cheaper-initial clamped.
fn cheaper_params(c: &Config) -> Option<crate::cheaper::Params> {
    use crate::cheaper::{Algo, BusynessParams, Params};
    let min = c.uint("cheaper") as usize;
    let max = c.uint("processes").max(1) as usize;
    if min == 0 || min >= max {
        return None;
    }
    let initial = match c.uint("cheaper-initial") as usize {
        0 => min,
        n => n.clamp(min, max),
    };
    Some(Params {
        min,
        max,
        initial,
        step: c.uint("cheaper-step") as usize,
        overload: c.uint("cheaper-overload"),
        algo: c
            .text("cheaper-algo")
            .and_then(Algo::parse)
            .unwrap_or(Algo::Spare),
        idle: c.uint("cheaper-idle"),
        rss_soft: c.uint("cheaper-rss-limit-soft"),
        rss_hard: c.uint("cheaper-rss-limit-hard"),
        busyness: BusynessParams {
            max: c.uint("cheaper-busyness-max"),
            min: c.uint("cheaper-busyness-min"),
            multiplier: c.uint("cheaper-busyness-multiplier"),
            penalty: c.uint("cheaper-busyness-penalty"),
            verbose: c.bool("cheaper-busyness-verbose"),
            backlog_alert: c.uint("cheaper-busyness-backlog-alert"),
            backlog_multiplier: c.uint("cheaper-busyness-backlog-multiplier"),
            backlog_step: c.uint("cheaper-busyness-backlog-step") as usize,
            backlog_nonzero: c.uint("cheaper-busyness-backlog-nonzero"),
        },
    })
}

impl Settings {
    /// Types the config. `cwd` absolutises the paths used before `chdir` happens.
    pub fn from_config(c: &Config, cwd: &std::path::Path) -> Settings {
        // A value with a `:` is a UDP address for the log options (as uWSGI): not a path.
        let before_chdir = |name: &str| {
            text(c, name).map(|p| {
                if matches!(name, "logto" | "daemonize") && p.contains(':') {
                    PathBuf::from(p)
                } else {
                    cwd.join(p)
                }
            })
        };
        let socket_proto = match c.text("protocol").map(option_values::socket_protocol) {
            Some(Ok(option_values::SocketProtocol::Http)) => Proto::Http,
            _ => Proto::Uwsgi,
        };
        let http_timeout = c
            .get("http-timeout")
            .map(|s| Duration::from_secs(s.value.as_u64().max(1)));
        let mut listeners: Vec<ListenSpec> = Vec::new();
        for (name, proto) in [
            ("socket", socket_proto),
            ("http-socket", Proto::Http),
            ("http11-socket", Proto::Http),
            ("http", Proto::Http),
        ] {
            let router = name == "http";
            let proxy = if router {
                c.bool("http-enable-proxy-protocol") || c.bool("enable-proxy-protocol")
            } else {
                proto == Proto::Http && c.bool("enable-proxy-protocol")
            };
            for s in c.list(name) {
                listeners.push(ListenSpec {
                    addr: s.value.as_str().to_string(),
                    proto,
                    proxy_protocol: proxy,
                    timeout: if router { http_timeout } else { None },
                });
            }
        }
        let chdir = before_chdir("chdir");
        let after_chdir =
            |name: &str| text(c, name).map(|p| chdir.as_deref().unwrap_or(cwd).join(p));
        let compat = CompatSettings {
            chown_socket: text(c, "chown-socket"),
            umask: text(c, "umask").map(|v| option_values::umask(&v).0),
            honour_stdin: c.bool("honour-stdin"),
            master_as_root: c.bool("master-as-root"),
            chdir2: after_chdir("chdir2"),
            paste: text(c, "paste"),
            paste_logger: c.bool("paste-logger"),
            pymodule_alias: list(c, "pymodule-alias"),
            no_site: c.bool("no-site"),
            gc_freeze: c.bool("rw-gc-freeze"),
            statics: StaticOptions::from_config(c),
        };
        Settings {
            hooks: crate::config::hooks::plan(c).0,
            chdir,
            module: text(c, "module"),
            wsgi_file: text(c, "wsgi-file").map(PathBuf::from),
            callable: c.text("callable").unwrap_or("application").to_string(),
            home: text(c, "home").map(PathBuf::from),
            pythonpath: list(c, "pythonpath"),
            env: pairs(c, "env", '='),
            mounts: pairs(c, "mount", '='),
            manage_script_name: c.bool("manage-script-name"),
            lazy_apps: c.bool("lazy-apps"),
            need_app: c.bool("need-app"),
            listeners,
            chmod_socket: c.get("chmod-socket").map(|s| s.value.as_u64() as u32),
            listen: c.uint("listen").min(u64::from(u32::MAX)) as u32,
            so_keepalive: c.bool("so-keepalive"),
            socket_timeout: Duration::from_secs(c.uint("socket-timeout").max(1)),
            buffer_size: c.uint("buffer-size") as usize,
            post_buffering: c.uint("post-buffering"),
            limit_post: c.uint("limit-post"),
            body_timeout: c.uint("rw-body-timeout"),
            body_min_rate: c.uint("rw-body-min-rate"),
            stream_chunked: c.bool("rw-stream-chunked"),
            add_headers: pairs(c, "add-header", ':'),
            static_map: list(c, "static-map"),
            check_static: list(c, "check-static"),
            processes: c.uint("processes").max(1) as usize,
            threads: c.uint("threads").max(1) as usize,
            harakiri: c.uint("harakiri"),
            harakiri_verbose: c.bool("harakiri-verbose"),
            harakiri_graceful_timeout: c.uint("harakiri-graceful-timeout"),
            harakiri_graceful_signal: match crate::config::recycle::graceful_signal(c) {
                crate::config::recycle::GracefulSignal::Send(n) => Some(n),
                _ => None,
            },
            max_requests: c.uint("max-requests"),
            max_requests_delta: c.uint("max-requests-delta"),
            reload_on_rss: c.uint("reload-on-rss"),
            recycle: super::recycle::Policy::from_config(c),
            worker_reload_mercy: Duration::from_secs(c.uint("worker-reload-mercy")),
            reload_mercy: Duration::from_secs(c.uint("reload-mercy")),
            die_on_term: c.bool("die-on-term"),
            touch_reload: paths(c, "touch-reload"),
            touch_chain_reload: paths(c, "touch-chain-reload"),
            touch_workers_reload: paths(c, "touch-workers-reload"),
            master_fifo: paths(c, "master-fifo"),
            uid: text(c, "uid"),
            gid: text(c, "gid"),
            procnames: ProcNames::from_config(c),
            pidfile: before_chdir("pidfile"),
            daemonize: before_chdir("daemonize"),
            logto: before_chdir("logto"),
            vacuum: c.bool("vacuum"),
            log_format: text(c, "log-format"),
            memory_report: c.bool("memory-report"),
            stats: text(c, "stats"),
            stats_http: c.bool("stats-http"),
            exported_options: c.exported.clone(),
            locks: c.uint("locks") as usize,
            mules: list(c, "mule")
                .into_iter()
                .chain((0..c.uint("mules")).map(|_| String::new()))
                .collect(),
            farms: list(c, "farm"),
            mule_msg_size: c.uint("mule-msg-size") as usize,
            // A bad definition was refused by `config::load` (an error) before this runs.
            caches: option_values::caches(c).unwrap_or_default(),
            cheaper: cheaper_params(c),
            cheap: c.bool("cheap"),
            idle: c.uint("idle"),
            die_on_idle: c.bool("die-on-idle"),
            // Bad values were refused by `config::load` (an error) before this runs.
            daemons: crate::config::daemon::daemons(c).unwrap_or_default(),
            daemons_honour_stdin: c.bool("daemons-honour-stdin"),
            crons: crate::config::cron::crons(c).unwrap_or_default(),
            cron_harakiri: c.uint("cron-harakiri"),
            spooler: super::spool_state::SpoolerSettings::from_config(c, cwd),
            compat,
            log: LogSettings::from_config(c, cwd),
        }
    }

    /// The request count after which worker `id` recycles (0 = never).
    pub fn max_requests_for(&self, id: usize) -> u64 {
        if self.max_requests == 0 {
            0
        } else {
            self.max_requests + (id as u64 - 1) * self.max_requests_delta
        }
    }

    /// How long a stop may take before the master SIGKILLs what is left.
    pub fn stop_mercy(&self) -> Duration {
        if self.reload_mercy.is_zero() {
            self.worker_reload_mercy
        } else {
            self.reload_mercy
        }
    }

    /// The master's process title: uWSGI's when a procname option asks, else `rw master`.
    pub fn master_title(&self) -> String {
        self.procnames
            .master()
            .unwrap_or_else(|| "rw master".to_string())
    }

    /// Worker `id`'s process title: uWSGI's when a procname option asks, else `rw worker N`.
    pub fn worker_title(&self, id: usize) -> String {
        self.procnames
            .worker(id)
            .unwrap_or_else(|| format!("rw worker {id}"))
    }
}
