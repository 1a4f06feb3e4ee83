//! The option table: the single source for the ini reader, `check-config`, `rw serve` flags,
//! the man page, the completions and the README's compatibility table.

/// What kind of value an option takes; decides parsing, validation and the CLI value hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// uWSGI boolean: false only for `false/off/no/0`; a bare key is true.
    Bool,
    /// Non-negative integer (uWSGI's `atoi` options), digits only in rw.
    Int,
    /// Byte count (64-bit in uWSGI), digits only.
    Bytes,
    /// Byte count bounded by 65535 (`buffer-size` is a 16-bit field of the uwsgi protocol).
    Bytes16,
    /// Megabytes (`reload-on-rss`).
    Megabytes,
    /// Whole seconds.
    Seconds,
    /// Free text.
    Str,
    /// A file that must exist.
    File,
    /// A directory that must exist.
    Dir,
    /// A path to be created: its parent directory must exist.
    NewPath,
    /// A socket address: `host:port`, `:port`, `[::1]:port`, a unix path, or `@abstract`.
    Address,
    /// `mountpoint=path` (static-map: the path must exist).
    Mapping,
    /// `mountpoint=app` (mount).
    Mount,
    /// `KEY=VALUE`.
    KeyValue,
    /// Octal file mode of three digits (chmod-socket); `1` means 666.
    Mode,
    /// `Name: value` response header.
    Header,
    /// A user or group, by name or number.
    Account,
    /// Another config file to read in place (`ini`, `include`, `inherit`).
    Include,
}

impl Kind {
    /// The placeholder shown in `--help` and the man page.
    pub fn value_name(self) -> &'static str {
        match self {
            Kind::Bool => "BOOL",
            Kind::Int => "N",
            Kind::Bytes | Kind::Bytes16 => "BYTES",
            Kind::Megabytes => "MB",
            Kind::Seconds => "SECS",
            Kind::Str => "TEXT",
            Kind::File | Kind::Include => "FILE",
            Kind::Dir => "DIR",
            Kind::NewPath => "PATH",
            Kind::Address => "ADDR",
            Kind::Mapping => "MOUNT=PATH",
            Kind::Mount => "MOUNT=APP",
            Kind::KeyValue => "KEY=VALUE",
            Kind::Mode => "MODE",
            Kind::Header => "HEADER",
            Kind::Account => "NAME|ID",
        }
    }
}

/// Whether rw implements an option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Implemented.
    Yes,
    /// Accepted; rw does differently what a non-default value asks for, so such a value gets
    /// a warning saying why (the default is silent).
    Moot(&'static str),
    /// Same effect in rw whatever the value: rw already does what the option asks (silent).
    Same(&'static str),
}

/// One row of the option table.
#[derive(Debug, Clone, Copy)]
pub struct OptSpec {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub short: Option<char>,
    pub kind: Kind,
    /// Repeated keys accumulate instead of the last one winning.
    pub multi: bool,
    /// The uWSGI 2.0 default, as text (None: unset).
    pub default: Option<&'static str>,
    pub doc: &'static str,
    pub support: Support,
    /// Accepted range of a numeric option; `None`: the kind's range ([`OptSpec::limits`]).
    pub range: Option<(u64, u64)>,
}

/// The largest value of a C `int`, which uWSGI's `atoi` options are stored in.
pub const C_INT_MAX: u64 = i32::MAX as u64;

impl OptSpec {
    /// Narrows the accepted range of a numeric option (shown in errors and the docs).
    pub const fn range(mut self, min: u64, max: u64) -> Self {
        self.range = Some((min, max));
        self
    }

    /// The inclusive range a numeric value must fall in.
    pub fn limits(&self) -> (u64, u64) {
        self.range.unwrap_or(match self.kind {
            Kind::Bytes => (0, i64::MAX as u64),
            Kind::Bytes16 => (0, 65535),
            Kind::Megabytes => (0, (i64::MAX as u64) >> 20),
            _ => (0, C_INT_MAX),
        })
    }
}

#[allow(clippy::too_many_arguments)] // a table row reads best as one positional call
const fn opt(
    name: &'static str,
    aliases: &'static [&'static str],
    short: Option<char>,
    kind: Kind,
    multi: bool,
    default: Option<&'static str>,
    doc: &'static str,
    support: Support,
) -> OptSpec {
    OptSpec {
        name,
        aliases,
        short,
        kind,
        multi,
        default,
        doc,
        support,
        range: None,
    }
}

use Kind::*;
use Support::{Moot, Same, Yes};

/// Options rw understands, in the order the docs list them.
#[rustfmt::skip]
pub static OPTIONS: &[OptSpec] = &[
    // -- config files and placeholders
    opt("ini", &[], None, Include, true, None, "Read another ini file (FILE[:section]) at this point", Yes),
    opt("include", &[], None, Include, true, None, "Read another config file at this point", Yes),
    opt("inherit", &[], None, Include, true, None, "Read a template file after everything else; its values win", Yes),
    opt("set-placeholder", &["set-ph"], None, KeyValue, true, None, "Define a placeholder usable as %(name)", Yes),
    opt("set", &[], Some('S'), KeyValue, true, None, "Set an option, or a placeholder if no option has that name", Yes),
    opt("strict", &[], None, Bool, false, Some("false"), "Refuse unknown options instead of keeping them as placeholders", Yes),
    // -- the application
    opt("chdir", &[], None, Dir, false, None, "Change to this directory before loading the app", Yes),
    opt("module", &["wsgi"], Some('w'), Str, false, None, "WSGI app as pkg.mod[:callable] (callable may be factory())", Yes),
    opt("wsgi-file", &["file"], None, File, false, None, "Python file that defines the WSGI callable", Yes),
    opt("callable", &[], None, Str, false, Some("application"), "Name of the WSGI callable in the module or file", Yes),
    opt("home", &["virtualenv", "venv", "pyhome"], Some('H'), Dir, false, None, "Python virtualenv (PEP 405) or Python home", Yes),
    opt("pythonpath", &["python-path", "pp"], None, Str, true, None, "Add a directory (glob allowed) to sys.path", Yes),
    opt("env", &[], None, KeyValue, true, None, "Set an environment variable before loading the app", Yes),
    opt("mount", &[], None, Mount, true, None, "Mount another app at a URL prefix", Yes),
    opt("manage-script-name", &[], None, Bool, false, Some("false"), "Move the mountpoint from PATH_INFO to SCRIPT_NAME", Yes),
    opt("lazy-apps", &[], None, Bool, false, Some("false"), "Load the app in each worker instead of the master", Yes),
    opt("need-app", &[], None, Bool, false, Some("false"), "Exit if the app cannot be loaded", Yes),
    opt("single-interpreter", &[], Some('i'), Bool, false, Some("false"), "Run every app in the main interpreter", Same("rw always runs every app in the main interpreter")),
    opt("enable-threads", &[], Some('T'), Bool, false, Some("true"), "Allow Python threads", Same("Python threads are always enabled in rw")),
    // -- listeners
    opt("socket", &["uwsgi-socket"], Some('s'), Address, true, None, "Listen on ADDR speaking the uwsgi protocol (nginx uwsgi_pass)", Yes),
    opt("http-socket", &[], None, Address, true, None, "Listen on ADDR speaking HTTP/1.1, served by the workers", Yes),
    opt("http", &[], None, Address, true, None, "Listen on ADDR speaking HTTP/1.1 (served by the workers, no router process)", Yes),
    opt("http-keepalive", &[], None, Int, false, Some("0"), "Keep HTTP connections alive", Same("rw keeps HTTP/1.1 connections alive on every HTTP listener")),
    opt("chmod-socket", &[], Some('C'), Mode, false, None, "Mode of unix sockets (e.g. 660); 1 means 666", Yes),
    opt("listen", &[], Some('l'), Int, false, Some("100"), "Listen backlog of every socket", Yes),
    opt("so-keepalive", &[], None, Bool, false, Some("false"), "Enable SO_KEEPALIVE on TCP sockets", Yes),
    opt("socket-timeout", &[], Some('z'), Seconds, false, Some("4"), "Timeout for reading requests and writing responses", Yes).range(0, 86400),
    opt("buffer-size", &[], Some('b'), Bytes16, false, Some("4096"), "Largest request head (HTTP) or vars block (uwsgi)", Yes),
    opt("post-buffering", &[], None, Bytes, false, Some("0"), "Read whole bodies before calling the app; larger ones spool to disk", Yes),
    opt("limit-post", &[], None, Bytes, false, Some("0"), "Refuse request bodies larger than this (413)", Yes),
    // -- rw-only (no uWSGI equivalent; see RW_ONLY): request body limits (issue 17)
    opt("rw-body-timeout", &[], None, Seconds, false, Some("60"), "rw only: a request body must arrive within this (408); 0: no limit", Yes).range(0, 86400),
    opt("rw-body-min-rate", &[], None, Bytes, false, Some("1024"), "rw only: bytes/s a request body must average after a grace of socket-timeout (408); 0: no limit", Yes),
    opt("rw-stream-chunked", &[], None, Bool, false, Some("false"), "rw only: pass chunked request bodies to the app as they arrive (wsgi.input_terminated, no CONTENT_LENGTH) instead of reading them first", Yes),
    // -- rw-only: memory shared with the master (issue 18)
    opt("rw-gc-freeze", &[], None, Bool, false, Some("true"), "rw only: gc.freeze() in the master before each fork, so that the workers' garbage collections do not write to (and so copy) the pages of the objects loaded before it", Yes),
    opt("add-header", &[], None, Header, true, None, "Add a header to every response", Yes),
    opt("static-map", &[], None, Mapping, true, None, "Serve files under PATH at URL prefix MOUNT without entering Python", Yes),
    opt("check-static", &[], None, Dir, true, None, "Serve DIR + PATH_INFO as a static file when it exists", Yes),
    opt("offload-threads", &[], None, Int, false, Some("0"), "Threads that send static files", Same("rw workers send files with sendfile() without offload threads")),
    // -- issue 10 item 4 (helper i10b): options real configs use, implemented. One block so the
    //    table rewrite of i10a merges around it.
    opt("http11-socket", &[], None, Address, true, None, "Listen on ADDR speaking HTTP/1.1 with keep-alive (same as http-socket in rw)", Yes),
    opt("protocol", &["socket-protocol"], None, Str, false, None, "Protocol of `socket` listeners: uwsgi (default), http or http11", Yes),
    opt("plugins", &["plugin"], None, Str, true, None, "Load uWSGI plugins: python variants are built in; rw has no other plugins", Yes),
    opt("paste", &[], None, Str, false, None, "Load the app with PasteDeploy's loadapp (e.g. config:/srv/app/production.ini)", Yes),
    opt("paste-logger", &[], None, Bool, false, Some("false"), "Configure logging from the paste ini file (logging.config.fileConfig)", Yes),
    opt("ini-paste", &[], None, Include, true, None, "Read FILE's [uwsgi] section, then load the app from FILE with PasteDeploy", Yes),
    opt("ini-paste-logged", &[], None, Include, true, None, "ini-paste, plus paste-logger", Yes),
    opt("pymodule-alias", &[], None, Str, true, None, "Make `import NAME` give another module or a file: NAME=module or NAME=/path/file.py", Yes),
    opt("honour-stdin", &[], None, Bool, false, Some("false"), "Keep stdin instead of reading /dev/null (for pdb and friends)", Yes),
    opt("no-site", &[], None, Bool, false, Some("false"), "Do not import the site module (a virtualenv's packages are then not on sys.path)", Yes),
    opt("no-orphans", &[], None, Bool, false, Some("false"), "Kill workers when the master dies (rw always does)", Yes),
    opt("master-as-root", &[], None, Bool, false, Some("false"), "Keep the master as root; only workers switch to uid/gid, after fork", Yes),
    opt("py-call-osafterfork", &[], None, Bool, false, Some("false"), "Let workers trap OS signals in Python (rw always calls PyOS_AfterFork_Child)", Yes),
    opt("chdir2", &[], None, Dir, false, None, "Change to this directory after loading the app", Yes),
    opt("umask", &[], None, Str, false, None, "Set the process umask (three octal digits, e.g. 022)", Yes),
    opt("chown-socket", &[], None, Str, false, None, "chown unix sockets to USER[:GROUP] after binding", Yes),
    opt("http-timeout", &[], None, Seconds, false, Some("60"), "Timeout of connections on `http` listeners (socket-timeout when unset)", Yes),
    opt("http-auto-chunked", &[], None, Bool, false, Some("false"), "Send bodies without a length chunked on HTTP/1.1 (rw always does)", Yes),
    opt("http-enable-proxy-protocol", &[], None, Bool, false, Some("false"), "Read a PROXY protocol (v1 or v2) header on `http` listeners: REMOTE_ADDR is the client", Yes),
    opt("enable-proxy-protocol", &[], None, Bool, false, Some("false"), "Read a PROXY protocol (v1 or v2) header on http-socket listeners", Yes),
    opt("static-index", &[], None, Str, true, None, "File to serve when a static path is a directory (e.g. index.html)", Yes),
    opt("static-skip-ext", &[], None, Str, true, None, "Never serve static files ending with this (they go to the app)", Yes),
    opt("static-safe", &[], None, Str, true, None, "Serve static files under this path even when a symlink leads there from outside the root", Yes),
    opt("static-gzip-all", &[], None, Bool, false, Some("false"), "Serve FILE.br or FILE.gz instead of FILE when the client accepts it", Yes),
    opt("static-expires-type", &[], None, KeyValue, true, None, "Expires = now + SECS for static files of a MIME type: TYPE=SECS", Yes),
    opt("static-expires-type-mtime", &[], None, KeyValue, true, None, "Expires = mtime + SECS for static files of a MIME type: TYPE=SECS", Yes),
    opt("static-expires", &[], None, Str, true, None, "Expires = now + SECS for static files whose path matches: REGEXP SECS", Yes),
    opt("static-expires-mtime", &[], None, Str, true, None, "Expires = mtime + SECS for static files whose path matches: REGEXP SECS", Yes),
    opt("static-expires-uri", &[], None, Str, true, None, "Expires = now + SECS for static files whose REQUEST_URI matches: REGEXP SECS", Yes),
    opt("static-expires-uri-mtime", &[], None, Str, true, None, "Expires = mtime + SECS for static files whose REQUEST_URI matches: REGEXP SECS", Yes),
    opt("static-expires-path-info", &[], None, Str, true, None, "Expires = now + SECS for static files whose PATH_INFO matches: REGEXP SECS", Yes),
    opt("static-expires-path-info-mtime", &[], None, Str, true, None, "Expires = mtime + SECS for static files whose PATH_INFO matches: REGEXP SECS", Yes),
    // -- end of the i10b block
    // -- processes
    opt("master", &[], Some('M'), Bool, false, Some("false"), "Run the master process (rw always supervises its workers)", Yes),
    opt("processes", &["workers"], Some('p'), Int, false, Some("1"), "Number of worker processes", Yes).range(0, 4096),
    opt("threads", &[], None, Int, false, Some("1"), "Threads per worker", Yes).range(0, 4096),
    opt("thunder-lock", &[], None, Bool, false, Some("false"), "Serialise accept() across workers", Same("workers wait in epoll and accept non-blocking: no thundering herd to serialise")),
    opt("harakiri", &[], Some('t'), Seconds, false, Some("0"), "Interrupt a request running longer than this (504), then kill its worker if it does not return", Yes),
    opt("harakiri-verbose", &[], None, Bool, false, Some("false"), "Log the stuck thread's Python stack, syscall and wait channel on harakiri", Yes),
    opt("harakiri-graceful-timeout", &[], None, Seconds, false, Some("0"), "Seconds an interrupted request has to return before its worker is killed (at least 1)", Yes),
    opt("harakiri-graceful-signal", &[], None, Int, false, Some("15"), "Signal sent to the worker with the graceful harakiri attempt, for the app's handler (15, the default: none)", Yes),
    opt("max-requests", &[], Some('R'), Int, false, Some("0"), "Recycle a worker after this many requests", Yes),
    opt("max-requests-delta", &[], None, Int, false, Some("0"), "Add (worker id - 1) x this to max-requests", Yes),
    opt("reload-on-rss", &[], None, Megabytes, false, Some("0"), "Recycle a worker when its RSS exceeds this", Yes),
    // -- recycling (issue 11)
    opt("reload-on-as", &[], None, Megabytes, false, Some("0"), "Recycle a worker when its address space exceeds this after a request", Yes),
    opt("evil-reload-on-rss", &[], None, Megabytes, false, Some("0"), "The master recycles a worker whose RSS exceeds this, even in a request (killed after worker-reload-mercy)", Yes),
    opt("evil-reload-on-as", &[], None, Megabytes, false, Some("0"), "The master recycles a worker whose address space exceeds this, even in a request", Yes),
    opt("mem-collector-freq", &[], None, Seconds, false, Some("3"), "Seconds between the master's memory samples for the evil reloads (0 acts as 3)", Yes).range(0, 86400),
    opt("max-worker-lifetime", &[], None, Seconds, false, Some("0"), "Recycle a worker after it ran this many seconds (0: never)", Yes),
    opt("max-worker-lifetime-delta", &[], None, Seconds, false, Some("0"), "Add (worker id - 1) x this to max-worker-lifetime", Yes),
    opt("min-worker-lifetime", &[], None, Seconds, false, Some("10"), "Seconds a worker runs before max-requests, reload-on-rss or reload-on-as may recycle it", Yes),
    opt("worker-reload-mercy", &[], None, Seconds, false, Some("60"), "How long a worker may take to stop before SIGKILL", Yes).range(0, 86400),
    opt("reload-mercy", &[], None, Seconds, false, Some("0"), "How long a stop may take in all before SIGKILL", Yes).range(0, 86400),
    // -- the cheaper subsystem (adaptive worker count; issue 12)
    opt("cheaper", &[], None, Int, false, Some("0"), "Adaptive worker count: keep at least N workers, up to processes (0: off)", Yes),
    opt("cheaper-initial", &[], None, Int, false, None, "Workers started with cheaper on (default: cheaper; kept within cheaper..processes)", Yes),
    opt("cheaper-step", &[], None, Int, false, Some("1"), "Workers spawned at a time when the load grows (0 acts as 1)", Yes),
    opt("cheaper-overload", &[], None, Int, false, Some("3"), "Cycles (spare), listen-queue length (backlog) or seconds per cycle (busyness)", Yes),
    opt("cheaper-algo", &[], None, Str, false, Some("spare"), "Cheaper algorithm: spare, spare2, backlog, busyness or manual", Yes),
    opt("cheaper-idle", &[], None, Int, false, Some("10"), "spare2: idle cycles before a worker is stopped (uWSGI 2.1; 2.0 lacks it)", Yes),
    opt("cheaper-rss-limit-soft", &[], None, Bytes, false, Some("0"), "Spawn no worker that would take the workers' total RSS above this (needs memory-report)", Yes),
    opt("cheaper-rss-limit-hard", &[], None, Bytes, false, Some("0"), "Stop a worker while the workers' total RSS is above this (needs cheaper-rss-limit-soft)", Yes),
    opt("cheaper-busyness-max", &[], None, Int, false, Some("50"), "busyness: spawn above this percentage of busy time", Yes),
    opt("cheaper-busyness-min", &[], None, Int, false, Some("25"), "busyness: stop a worker below this percentage of busy time", Yes),
    opt("cheaper-busyness-multiplier", &[], None, Int, false, Some("10"), "busyness: cycles a worker must be idle before it is stopped", Yes),
    opt("cheaper-busyness-penalty", &[], None, Int, false, Some("2"), "busyness: added to the multiplier when a stopped worker is spawned back too soon", Yes),
    opt("cheaper-busyness-verbose", &[], None, Bool, false, Some("false"), "busyness: log every cycle's figures", Yes),
    opt("cheaper-busyness-backlog-alert", &[], None, Int, false, Some("33"), "busyness: spawn emergency workers when the listen queue is longer than this", Yes),
    opt("cheaper-busyness-backlog-multiplier", &[], None, Int, false, Some("3"), "busyness: the multiplier for stopping emergency workers", Yes),
    opt("cheaper-busyness-backlog-step", &[], None, Int, false, Some("1"), "busyness: emergency workers spawned at a time", Yes),
    opt("cheaper-busyness-backlog-nonzero", &[], None, Seconds, false, Some("60"), "busyness: spawn emergency workers when the listen queue stays non-empty this long", Yes),
    opt("cheap", &[], None, Bool, false, Some("false"), "Cheap mode: start no worker until the first connection arrives", Yes),
    opt("idle", &[], None, Seconds, false, Some("0"), "After this many seconds without a request, stop every worker until the next connection (cheap mode)", Yes),
    opt("die-on-idle", &[], None, Bool, false, Some("false"), "With idle: shut down instead of going cheap", Yes),
    opt("die-on-term", &[], None, Bool, false, Some("false"), "SIGTERM stops the server instead of reloading it", Yes),
    opt("touch-reload", &[], None, NewPath, true, None, "Gracefully reload when this file changes", Yes),
    opt("touch-chain-reload", &[], None, NewPath, true, None, "Chain-reload the workers (one at a time) when this file changes", Yes),
    opt("touch-workers-reload", &[], None, NewPath, true, None, "Gracefully replace every worker (no master reload) when this file changes", Yes),
    opt("master-fifo", &[], None, NewPath, true, None, "Create this FIFO and obey the one-byte commands written to it (several: switch with 0-9)", Yes),
    opt("uid", &[], None, Account, false, None, "Drop to this user after binding sockets", Yes),
    opt("gid", &[], None, Account, false, None, "Drop to this group after binding sockets", Yes),
    // -- hooks (issue 11, helper hooks11): uWSGI 2.0's phases; actions in config/hooks.rs
    opt("hook-asap", &[], None, Str, true, None, "Run a hook (action:args) as soon as the config is read", Yes),
    opt("hook-pre-jail", &[], None, Str, true, None, "Run a hook before jailing (cold start only; rw has no jail)", Yes),
    opt("hook-in-jail", &[], None, Str, true, None, "Run a hook at each start, before the sockets are bound (rw has no jail)", Yes),
    opt("hook-post-jail", &[], None, Str, true, None, "Run a hook after jailing", Moot("post-jail steps run only in a jail (uWSGI skips them without one); rw has none")),
    opt("hook-as-root", &[], None, Str, true, None, "Run a hook before privileges are dropped (when started as root)", Yes),
    opt("hook-as-user", &[], None, Str, true, None, "Run a hook after privileges are dropped (when started as root)", Yes),
    opt("hook-as-user-atexit", &[], None, Str, true, None, "Run a hook when the master exits or reloads (failures are only logged)", Yes),
    opt("hook-pre-app", &[], None, Str, true, None, "Run a hook before the app is loaded", Yes),
    opt("hook-post-app", &[], None, Str, true, None, "Run a hook after the app is loaded", Yes),
    opt("hook-post-fork", &[], None, Str, true, None, "Run a hook in each worker right after fork", Yes),
    opt("hook-accepting", &[], None, Str, true, None, "Run a hook in each worker once it accepts", Yes),
    opt("hook-accepting1", &[], None, Str, true, None, "Run a hook in worker 1 once it accepts", Yes),
    opt("hook-accepting-once", &[], None, Str, true, None, "Run a hook in each worker once it accepts, on its first spawn only", Yes),
    opt("hook-accepting1-once", &[], None, Str, true, None, "Run a hook in worker 1 once it accepts, on its first spawn only", Yes),
    opt("hook-master-start", &[], None, Str, true, None, "Run a hook in the master once the workers are forked (unix_signal:N FUNC goes here)", Yes),
    opt("hook-touch", &[], None, Str, true, None, "Run a hook when a file is touched: FILE action:args", Yes),
    opt("exec-asap", &[], None, Str, true, None, "Run a shell command as soon as the config is read", Yes),
    opt("exec-pre-jail", &[], None, Str, true, None, "Run a shell command before jailing (cold start only; rw has no jail)", Yes),
    opt("exec-in-jail", &[], None, Str, true, None, "Run a shell command at each start, before the sockets are bound", Yes),
    opt("exec-post-jail", &[], None, Str, true, None, "Run a shell command after jailing", Moot("post-jail steps run only in a jail (uWSGI skips them without one); rw has none")),
    opt("exec-as-root", &[], None, Str, true, None, "Run a shell command before privileges are dropped (when started as root)", Yes),
    opt("exec-as-user", &[], None, Str, true, None, "Run a shell command after privileges are dropped (when started as root)", Yes),
    opt("exec-as-user-atexit", &[], None, Str, true, None, "Run a shell command when the master exits or reloads", Yes),
    opt("exec-pre-app", &[], None, Str, true, None, "Run a shell command before the app is loaded", Yes),
    opt("exec-post-app", &[], None, Str, true, None, "Run a shell command after the app is loaded", Yes),
    opt("wait-for-fs", &[], None, Str, true, None, "Wait for this path to exist before the as-root steps (when started as root)", Yes),
    opt("wait-for-file", &[], None, Str, true, None, "Wait for this file before the as-root steps (when started as root; uWSGI 2.0 takes any kind of entry)", Yes),
    opt("wait-for-dir", &[], None, Str, true, None, "Wait for this directory before the as-root steps (when started as root; uWSGI 2.0 takes any kind of entry)", Yes),
    opt("wait-for-mountpoint", &[], None, Str, true, None, "Wait for a filesystem to be mounted on this directory before the as-root steps (when started as root)", Yes),
    opt("wait-for-fs-timeout", &[], None, Seconds, false, Some("0"), "Longest wait of wait-for-fs/file/dir/mountpoint and the wait_for_* hooks (0: 60)", Yes),
    opt("wait-for-socket", &[], None, Str, true, None, "Wait until a connection to this address succeeds, before the sockets are bound", Yes),
    opt("wait-for-socket-timeout", &[], None, Seconds, false, Some("0"), "Longest wait of wait-for-socket and wait_for_socket hooks (0: 60)", Yes),
    opt("mount-asap", &[], None, Str, true, None, "Mount a filesystem as soon as the config is read: FS SOURCE TARGET [FLAGS [DATA]]", Yes),
    opt("mount-pre-jail", &[], None, Str, true, None, "Mount a filesystem before jailing (cold start only)", Yes),
    opt("mount-in-jail", &[], None, Str, true, None, "Mount a filesystem at each start, before the sockets are bound", Yes),
    opt("mount-post-jail", &[], None, Str, true, None, "Mount a filesystem after jailing", Moot("post-jail steps run only in a jail (uWSGI skips them without one); rw has none")),
    opt("mount-as-root", &[], None, Str, true, None, "Mount a filesystem before privileges are dropped (when started as root)", Yes),
    opt("umount-asap", &[], None, Str, true, None, "Unmount a filesystem as soon as the config is read: TARGET [FLAGS]", Yes),
    opt("umount-pre-jail", &[], None, Str, true, None, "Unmount a filesystem before jailing (cold start only)", Yes),
    opt("umount-in-jail", &[], None, Str, true, None, "Unmount a filesystem at each start, before the sockets are bound", Yes),
    opt("umount-post-jail", &[], None, Str, true, None, "Unmount a filesystem after jailing", Moot("post-jail steps run only in a jail (uWSGI skips them without one); rw has none")),
    opt("umount-as-root", &[], None, Str, true, None, "Unmount a filesystem before privileges are dropped (when started as root)", Yes),
    // -- process names (issue 11, helper log11)
    opt("auto-procname", &[], None, Bool, false, Some("false"), "Name processes `uWSGI master`, `uWSGI worker N` in ps", Yes),
    opt("procname", &[], None, Str, false, None, "Name every process TEXT in ps (turns auto-procname on)", Yes),
    opt("procname-master", &[], None, Str, false, None, "Name the master TEXT in ps (turns auto-procname on)", Yes),
    opt("procname-prefix", &[], None, Str, false, None, "Put TEXT before every process name (turns auto-procname on)", Yes),
    opt("procname-prefix-spaced", &[], None, Str, false, None, "Put TEXT and a space before every process name (turns auto-procname on)", Yes),
    opt("procname-append", &[], None, Str, false, None, "Put TEXT after every process name (turns auto-procname on)", Yes),
    opt("pidfile", &[], None, NewPath, false, None, "Write the master pid to this file", Yes),
    opt("daemonize", &[], Some('d'), NewPath, false, None, "Detach and log to this file", Yes),
    opt("vacuum", &[], None, Bool, false, Some("false"), "Remove unix sockets and the pidfile at exit", Yes),
    // -- logging and stats
    opt("logto", &[], None, NewPath, false, None, "Log to this file", Yes),
    opt("disable-logging", &[], Some('L'), Bool, false, Some("false"), "Do not log requests", Yes),
    opt("log-format", &["logformat"], None, Str, false, None, "Request log line format with %(var) variables", Yes),
    opt("memory-report", &[], Some('m'), Bool, false, Some("false"), "Sample and log worker memory after each request", Yes),
    // -- request-log selection and format, log files (issue 11, helper log11)
    opt("log-4xx", &[], None, Bool, false, Some("false"), "With disable-logging, still log requests answered 4xx", Yes),
    opt("log-5xx", &[], None, Bool, false, Some("false"), "With disable-logging, still log requests answered 5xx", Yes),
    opt("log-slow", &[], None, Int, false, Some("0"), "With disable-logging, still log requests taking at least N milliseconds", Yes),
    opt("log-big", &[], None, Bytes, false, Some("0"), "With disable-logging, still log responses of at least BYTES of body", Yes),
    opt("log-zero", &[], None, Bool, false, Some("false"), "With disable-logging, still log responses without a body", Yes),
    opt("log-sendfile", &[], None, Bool, false, Some("false"), "With disable-logging, still log responses sent with sendfile", Yes),
    opt("log-ioerror", &[], None, Bool, false, Some("false"), "With disable-logging, still log requests that had both a read and a write error (as uWSGI 2.0)", Yes),
    opt("log-micros", &[], None, Bool, false, Some("false"), "Request lines give the response time in micros instead of msecs", Yes),
    opt("log-x-forwarded-for", &[], None, Bool, false, Some("false"), "Request lines show the X-Forwarded-For header instead of the peer address", Yes),
    opt("log-date", &["logdate", "log-prefix"], None, Str, false, None, "Stamp server log lines with the date, or with strftime(TEXT) when TEXT is given", Yes),
    opt("logformat-strftime", &["log-format-strftime"], None, Bool, false, Some("false"), "%(ftime) in log-format uses the log-date strftime format", Yes),
    opt("logto2", &[], None, NewPath, false, None, "Log to this file, opened after privileges are dropped", Yes),
    opt("log-reopen", &[], None, Bool, false, Some("false"), "Reopen the log file after a reload", Same("rw reopens the log file after every reload")),
    opt("touch-logreopen", &[], None, NewPath, true, None, "Reopen the log file (every process) when this file changes (logrotate without copytruncate)", Yes),
    opt("touch-logrotate", &[], None, NewPath, true, None, "Rotate the log file when this file changes", Yes),
    opt("log-maxsize", &[], None, Bytes, false, Some("0"), "Rotate the log file when it grows past BYTES", Yes),
    opt("log-backupname", &[], None, NewPath, false, None, "Name of the rotated log file (default: the log file's name + .UNIXTIME)", Yes),
    opt("logfile-chmod", &[], None, Str, false, None, "Mode of the log file, three octal digits (e.g. 640)", Yes),
    opt("logfile-chown", &[], None, Bool, false, Some("false"), "Give the log file to uid/gid before dropping privileges", Yes),
    opt("log-master", &[], None, Bool, false, Some("false"), "Workers hand their log lines to the master, the only writer of the log (no line mixes with another)", Yes),
    opt("log-truncate", &[], None, Bool, false, Some("false"), "Empty the log file when rw starts (not on reloads)", Yes),
    opt("log-syslog", &[], None, Str, false, None, "Send server lines to syslog with ident TEXT (default uwsgi): logger = syslog:TEXT", Yes),
    opt("threaded-logger", &[], None, Bool, false, Some("false"), "Write log-master lines from a thread of the master", Same("the master writes log-master lines in bounded batches from its loop; no thread is needed")),
    opt("log-master-bufsize", &[], None, Bytes, false, Some("8192"), "Largest log-master line", Moot("rw passes log-master lines of up to 256 KiB whole; uWSGI cuts them at this size")),
    opt("log-master-stream", &[], None, Bool, false, Some("false"), "Make the log-master pipe a stream", Moot("rw's log-master pipe keeps each line one message, so lines cannot mix")),
    opt("log-master-req-stream", &[], None, Bool, false, Some("false"), "Make the log-master request pipe a stream", Moot("rw's log-master pipe keeps each line one message, so lines cannot mix")),
    opt("log-drain", &[], None, Str, true, None, "Drop log lines (server lines, and request lines without req-logger) matching this regexp", Yes),
    opt("log-filter", &[], None, Str, true, None, "Keep only the log lines matching one of these regexps", Yes),
    opt("log-route", &[], None, Str, true, None, "Send server lines matching REGEXP to the named logger ID instead: ID REGEXP", Yes),
    opt("logger", &[], None, Str, true, None, "Send server lines to a logger: file:PATH, fd:N, stdio, syslog[:IDENT[,FACILITY]]", Yes),
    opt("req-logger", &["logger-req"], None, Str, true, None, "Send request lines to a logger (same backends as logger)", Yes),
    opt("log-encoder", &[], None, Str, true, None, "Rewrite server lines (and request lines without req-logger): prefix, suffix, nl, format, json", Yes),
    opt("log-req-encoder", &[], None, Str, true, None, "Rewrite req-logger lines: prefix, suffix, nl, format, json", Yes),
    opt("stats", &["stats-server"], None, Address, false, None, "Serve uWSGI-compatible stats JSON on ADDR", Yes),
    opt("stats-http", &[], None, Bool, false, Some("false"), "Serve the stats over HTTP (and /metrics)", Yes),
    // -- the uwsgi Python API
    opt("cache2", &[], None, Str, true, None, "Create a shared cache: name=NAME,items=N[,blocksize=BYTES,keysize=BYTES,hashsize=N,math_initial=N,ignore_full=1]", Yes),
    opt("cache", &[], None, Int, false, Some("0"), "Create the legacy cache `default` with N item slots", Yes),
    opt("cache-blocksize", &[], None, Bytes, false, Some("0"), "Block (largest value) size of the legacy cache; 0 means 65536", Yes),
    opt("locks", &[], None, Int, false, Some("0"), "Create N more user locks for uwsgi.lock(n) (lock 0 always exists), shared by every worker", Yes).range(0, 65536),
    opt("mule", &[], None, Str, true, None, "Add a mule: a .py script run as __main__, a module:callable, or (any other value) a bare mule running the mule loop", Yes),
    opt("mules", &[], None, Int, false, Some("0"), "Add N bare mules (after the `mule` ones)", Yes).range(0, 256),
    opt("farm", &[], None, Str, true, None, "Group mules in a farm for farm_msg: NAME:MULE[,MULE...]", Yes),
    opt("mule-msg-size", &[], None, Bytes, false, Some("0"), "Socket buffer size of the mule message queues (0: the system's)", Yes),
    // -- attached daemons and cron (issue 11, helper daemons11)
    opt("attach-daemon", &[], None, Str, true, None, "Run this command (sh -c) beside the workers; respawn it when it dies, stop it with the instance", Yes),
    opt("attach-control-daemon", &[], None, Str, true, None, "As attach-daemon, and stop the instance when the command dies", Yes),
    opt("smart-attach-daemon", &[], None, Str, true, None, "Run a daemonizing command, watched through its pidfile: PIDFILE[,FREQ] COMMAND", Yes),
    opt("smart-attach-daemon2", &[], None, Str, true, None, "Run a foreground command as a daemon whose pidfile rw writes: PIDFILE[,FREQ] COMMAND", Yes),
    opt("attach-daemon2", &[], None, Str, true, None, "Attached daemon by keys: cmd=…,pidfile=…,daemonize=1,control=1,touch=F;G,stopsignal=N,reloadsignal=N,stdin=1,uid=…,gid=…,chdir=…,freq=N,max_throttle=N,notifypid=1", Yes),
    opt("daemons-honour-stdin", &[], None, Bool, false, Some("false"), "Attached daemons keep the master's stdin instead of /dev/null", Yes),
    opt("cron", &[], None, Str, true, None, "Run COMMAND on the minute: MIN HOUR DAY MONTH WEEK COMMAND (-1: every, -N: every Nth)", Yes),
    opt("unique-cron", &[], None, Str, true, None, "As cron, never starting a run while the previous one is still going", Yes),
    opt("cron2", &[], None, Str, true, None, "Cron by keys: minute=…,hour=…,day=…,month=…,week=…,unique=1,harakiri=SECS COMMAND (absent fields: every)", Yes),
    opt("cron-harakiri", &[], None, Seconds, false, Some("0"), "Kill a cron command still running after this many seconds (0: never)", Yes),
    opt("spooler", &[], Some('Q'), NewPath, true, None, "Run a spooler on this directory (created if missing; repeatable): uwsgi.spool() jobs run in its own process", Yes),
    opt("spooler-external", &[], None, NewPath, true, None, "Write uwsgi.spool() jobs to this directory too (select it with the `spooler` key): another instance runs them", Yes),
    opt("spooler-processes", &[], None, Int, false, Some("0"), "Spooler processes per spooler directory (0 means 1)", Yes).range(0, 256),
    opt("spooler-frequency", &["spooler-freq"], None, Seconds, false, Some("30"), "Seconds a spooler sleeps between two scans of its directory (a new job wakes it at once)", Yes),
    opt("spooler-import", &["spooler-pyimport", "spooler-py-import", "spooler-python-import"], None, Str, true, None, "Import this Python module (or .py file) in each spooler process", Yes),
    opt("spooler-max-tasks", &[], None, Int, false, Some("0"), "Recycle a spooler process after N tasks (0: never)", Yes),
    opt("spooler-harakiri", &[], None, Seconds, false, Some("0"), "Kill a spooler process whose task runs longer than SECS (it is respawned; the task runs again)", Yes),
    opt("spooler-ordered", &[], None, Bool, false, Some("false"), "Run tasks in version order, priority directories first (without it priority directories are not run, as in uWSGI)", Yes),
    opt("spooler-chdir", &[], None, Str, false, None, "chdir() to this directory before each spooler task", Yes),
    opt("touch-spoolers-reload", &[], None, Str, true, None, "Restart the spoolers (SIGKILL, then respawn) when this file is touched", Yes),
    opt("spooler-quiet", &[], None, Bool, false, Some("false"), "Do not log each spooler task", Yes),
];

/// Rows that are options of later uWSGI versions, not of 2.0 (which reads them as placeholders).
pub const LATER_UWSGI: &[&str] = &["cheaper-idle"];

/// Rows of rw's own, which no uWSGI has (`rw-` prefixed; uWSGI reads them as placeholders).
pub const RW_ONLY: &[&str] = &[
    "rw-body-timeout",
    "rw-body-min-rate",
    "rw-stream-chunked",
    "rw-gc-freeze",
];

/// Looks an option up by its name or one of its aliases.
pub fn lookup(key: &str) -> Option<&'static OptSpec> {
    OPTIONS
        .iter()
        .find(|o| o.name == key || o.aliases.contains(&key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_and_aliases_are_unique() {
        let mut seen = HashSet::new();
        for o in OPTIONS {
            for n in std::iter::once(o.name).chain(o.aliases.iter().copied()) {
                assert!(seen.insert(n), "{n} listed twice");
            }
        }
        let mut shorts = HashSet::new();
        for o in OPTIONS.iter().filter_map(|o| o.short) {
            assert!(shorts.insert(o), "short -{o} listed twice");
            assert!(o != 'h' && o != 'V', "-{o} belongs to clap");
        }
    }

    #[test]
    fn issue_options_are_all_known() {
        let required = "chdir module home static-map threads http master vacuum thunder-lock uid gid \
            harakiri post-buffering socket stats pidfile daemonize processes buffer-size listen \
            max-requests procname-prefix-spaced wsgi-file http-socket chmod-socket enable-threads \
            lazy-apps callable env logto disable-logging log-format max-requests-delta reload-on-rss \
            worker-reload-mercy reload-mercy need-app die-on-term touch-reload pythonpath \
            socket-timeout limit-post add-header stats-http strict workers wsgi memory-report \
            so-keepalive http-keepalive single-interpreter mount manage-script-name check-static \
            offload-threads";
        for name in required.split_whitespace() {
            assert!(
                lookup(name).is_some(),
                "{name} missing from the option table"
            );
        }
    }

    #[test]
    fn defaults_parse_as_their_kind() {
        for o in OPTIONS {
            if let Some(d) = o.default {
                crate::config::value::parse(o.kind, d, false)
                    .unwrap_or_else(|e| panic!("default of {}: {e}", o.name));
            }
        }
    }
}
