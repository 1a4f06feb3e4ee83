//! Decides whether a request is a static file (`static-map`, `check-static`) and which one, safely.
//!
//! No socket I/O here: [`StaticMap::resolve`] returns an open file plus the metadata a response
//! needs, and the caller writes headers and body (or falls through to the app). The dangerous part
//! is path traversal (uWSGI CVE-2018-7490 was its sibling): the request path is percent-decoded
//! strictly, `..` segments are refused outright, and the canonical result must still lie inside
//! the canonical root, which also catches symlinks that point out of it.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The system MIME table uWSGI reads (its `mimefile` default).
const MIME_TYPES_FILE: &str = "/etc/mime.types";

/// The configured static mappings, with every root canonicalized once at startup.
#[derive(Debug)]
pub struct StaticMap {
    maps: Vec<Mapping>,
    checks: Vec<PathBuf>,
    opts: Compiled,
}

/// `static-index`, `static-skip-ext`, `static-safe`, `static-gzip-all` and the
/// `static-expires*` rules, as configured (compiled by [`StaticMap::with_options`]).
#[derive(Debug, Clone, Default)]
pub struct StaticOptions {
    pub index: Vec<String>,
    pub skip_ext: Vec<String>,
    pub safe: Vec<String>,
    pub gzip_all: bool,
    pub expires: Vec<ExpiresRule>,
}

/// What an `Expires` rule matches against, in the order uWSGI tries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExpiresOn {
    /// `static-expires`: the file's real path (regexp).
    Filename,
    /// `static-expires-path-info` (regexp).
    PathInfo,
    /// `static-expires-uri`: REQUEST_URI with its query (regexp).
    Uri,
    /// `static-expires-type`: the MIME type, exactly.
    Type,
}

/// One `static-expires*` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiresRule {
    pub on: ExpiresOn,
    /// A regexp, or the MIME type for [`ExpiresOn::Type`].
    pub key: String,
    pub seconds: i64,
    /// `-mtime` variants: from the file's mtime rather than now.
    pub from_mtime: bool,
}

impl StaticOptions {
    /// Reads the options from the config (values were checked when it loaded).
    pub fn from_config(c: &crate::config::Config) -> StaticOptions {
        use crate::config::option_values;
        let list =
            |n: &str| -> Vec<String> { c.list(n).map(|s| s.value.as_str().to_string()).collect() };
        let mut expires = Vec::new();
        #[rustfmt::skip]
        let families = [
            ("static-expires", ExpiresOn::Filename, false),
            ("static-expires-mtime", ExpiresOn::Filename, true),
            ("static-expires-path-info", ExpiresOn::PathInfo, false),
            ("static-expires-path-info-mtime", ExpiresOn::PathInfo, true),
            ("static-expires-uri", ExpiresOn::Uri, false),
            ("static-expires-uri-mtime", ExpiresOn::Uri, true),
            ("static-expires-type", ExpiresOn::Type, false),
            ("static-expires-type-mtime", ExpiresOn::Type, true),
        ];
        for (name, on, from_mtime) in families {
            for v in list(name) {
                let split = if on == ExpiresOn::Type {
                    v.split_once('=')
                } else {
                    option_values::split_regex_rule(&v)
                };
                if let Some((key, secs)) = split {
                    expires.push(ExpiresRule {
                        on,
                        key: key.to_string(),
                        seconds: option_values::expires_seconds(secs).0,
                        from_mtime,
                    });
                }
            }
        }
        StaticOptions {
            index: list("static-index"),
            skip_ext: list("static-skip-ext"),
            safe: list("static-safe"),
            gzip_all: c.bool("static-gzip-all"),
            expires,
        }
    }

    fn is_empty(&self) -> bool {
        self.index.is_empty()
            && self.skip_ext.is_empty()
            && self.safe.is_empty()
            && !self.gzip_all
            && self.expires.is_empty()
    }
}

#[derive(Debug, Default)]
struct Compiled {
    index: Vec<String>,
    skip_ext: Vec<Vec<u8>>,
    safe: Vec<PathBuf>,
    gzip_all: bool,
    expires: Vec<(ExpiresRule, Option<regex::bytes::Regex>)>,
}

/// The parts of a request the static options look at.
#[derive(Debug, Clone, Copy, Default)]
pub struct StaticRequest<'a> {
    pub method: &'a [u8],
    /// The path as sent, before percent-decoding (a query, if attached, is ignored).
    pub raw_path: &'a [u8],
    /// REQUEST_URI (for `static-expires-uri`).
    pub uri: &'a [u8],
    pub accept_encoding: Option<&'a [u8]>,
}

#[derive(Debug)]
struct Mapping {
    mount: Vec<u8>,
    /// Canonical target: a directory to serve below, or the one file served for the whole prefix.
    target: PathBuf,
    target_is_file: bool,
}

/// What to do with a request.
#[derive(Debug)]
pub enum Resolution {
    /// Not a static file: no mapping matches, the method is not GET/HEAD, or the file does not
    /// exist or is a directory. The request goes to the app, as in uWSGI.
    NotMine,
    /// Serve this file.
    File(StaticFile),
    /// 403: the path tries to leave the root (`..`, `%2e%2e`, `..%2f`, `%00`, bad escapes, or a
    /// symlink pointing outside).
    Forbidden,
}

/// An opened regular file and the metadata for its response headers.
#[derive(Debug)]
pub struct StaticFile {
    pub file: File,
    pub len: u64,
    pub mtime_unix: i64,
    pub content_type: &'static str,
    /// `gzip` or `br` when a precompressed variant is served (`static-gzip-all`).
    pub content_encoding: Option<&'static str>,
    /// The response varies with Accept-Encoding (`static-gzip-all` is on).
    pub vary_encoding: bool,
    /// Unix time for an `Expires` header (`static-expires*`).
    pub expires: Option<i64>,
}

/// Static-file settings that cannot be set up. `entry` names the value at fault (its option
/// and its index among that option's values), so that the caller can point at its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupError {
    pub entry: Option<(&'static str, usize)>,
    pub message: String,
}

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SetupError {}

impl StaticMap {
    /// Builds the mappings from `static-map` values (`mountpoint=path`) and `check-static`
    /// directories. Relative paths resolve against `base_dir` (the directory after `chdir`).
    /// A target that does not exist is an error, as in uWSGI.
    pub fn new(
        static_map: &[String],
        check_static: &[String],
        base_dir: &Path,
    ) -> Result<StaticMap, SetupError> {
        let at = |option: &'static str, i: usize| {
            move |message: String| SetupError {
                entry: Some((option, i)),
                message,
            }
        };
        let mut maps = Vec::with_capacity(static_map.len());
        for (i, entry) in static_map.iter().enumerate() {
            let err = at("static-map", i);
            let Some((mount, target)) = entry.split_once('=') else {
                return Err(err(format!(
                    "invalid static-map {entry:?}: syntax is mountpoint=docroot"
                )));
            };
            if target.is_empty() {
                return Err(err(format!(
                    "invalid static-map {entry:?}: empty document root"
                )));
            }
            let target = canonical_root(base_dir, target, "static-map").map_err(err)?;
            let target_is_file = target.is_file();
            maps.push(Mapping {
                mount: mount.as_bytes().to_vec(),
                target,
                target_is_file,
            });
        }
        let mut checks = Vec::with_capacity(check_static.len());
        for (i, dir) in check_static.iter().enumerate() {
            let err = at("check-static", i);
            let dir_path = canonical_root(base_dir, dir, "check-static").map_err(err)?;
            if !dir_path.is_dir() {
                return Err(err(format!("check-static {dir:?} is not a directory")));
            }
            checks.push(dir_path);
        }
        let map = StaticMap {
            maps,
            checks,
            opts: Compiled::default(),
        };
        if !map.is_empty() {
            system_mime_types();
        }
        Ok(map)
    }

    /// Adds `static-index`, `static-skip-ext`, `static-safe`, `static-gzip-all` and the
    /// `static-expires*` rules. `static-safe` paths resolve against `base_dir` and are
    /// canonicalized (uWSGI compares the configured bytes, so a safe path reached through a
    /// symlink never matched there).
    pub fn with_options(
        mut self,
        o: &StaticOptions,
        base_dir: &Path,
    ) -> Result<StaticMap, SetupError> {
        if o.is_empty() {
            return Ok(self);
        }
        let mut safe = Vec::with_capacity(o.safe.len());
        for p in &o.safe {
            match base_dir.join(p).canonicalize() {
                Ok(c) => safe.push(c),
                // A safe path that does not exist admits nothing; uWSGI starts anyway.
                Err(_) => eprintln!("static-safe {p}: no such path; it admits nothing"),
            }
        }
        let mut expires = Vec::with_capacity(o.expires.len());
        for rule in &o.expires {
            let re = if rule.on == ExpiresOn::Type {
                None
            } else {
                Some(regex::bytes::Regex::new(&rule.key).map_err(|e| SetupError {
                    // Checked at load already (config/option_values.rs): no line to add.
                    entry: None,
                    message: format!("static-expires regexp `{}`: {e}", rule.key),
                })?)
            };
            expires.push((rule.clone(), re));
        }
        // uWSGI tries the families in a fixed order (stable: `-mtime` lists follow their family).
        expires.sort_by_key(|(rule, _)| rule.on);
        self.opts = Compiled {
            index: o.index.clone(),
            skip_ext: o.skip_ext.iter().map(|e| e.as_bytes().to_vec()).collect(),
            safe,
            gzip_all: o.gzip_all,
            expires,
        };
        Ok(self)
    }

    /// True when neither `static-map` nor `check-static` is configured.
    pub fn is_empty(&self) -> bool {
        self.maps.is_empty() && self.checks.is_empty()
    }

    /// uWSGI's startup lines for the configured mappings, in its wording.
    pub fn startup_log_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if self.is_empty() {
            return lines;
        }
        if let Some(n) = system_mime_types().loaded_entries {
            lines.push(format!(
                "building mime-types dictionary from file {MIME_TYPES_FILE}...{n} entry found"
            ));
        }
        for m in &self.maps {
            lines.push(format!(
                "[uwsgi-static] added mapping for {} => {}",
                String::from_utf8_lossy(&m.mount),
                m.target.display()
            ));
        }
        for dir in &self.checks {
            lines.push(format!("[uwsgi-static] added check for {}", dir.display()));
        }
        lines
    }

    /// `raw_path` is the request path exactly as sent (before percent-decoding); a query string,
    /// if still attached, is ignored. Mappings are tried in order, then the `check-static`
    /// directories; the first existing regular file wins.
    pub fn resolve(&self, method: &[u8], raw_path: &[u8]) -> Resolution {
        self.resolve_request(&StaticRequest {
            method,
            raw_path,
            uri: raw_path,
            accept_encoding: None,
        })
    }

    /// [`Self::resolve`] with the request headers the static options need.
    pub fn resolve_request(&self, req: &StaticRequest<'_>) -> Resolution {
        let (method, raw_path) = (req.method, req.raw_path);
        if self.is_empty() || !(method == b"GET" || method == b"HEAD") {
            return Resolution::NotMine;
        }
        let end = raw_path
            .iter()
            .position(|&b| b == b'?' || b == b'#')
            .unwrap_or(raw_path.len());
        let raw = &raw_path[..end];

        let path = match percent_decode(raw) {
            Ok(path) => path,
            Err(err) => {
                // Mountpoints are compared on the decoded path, which we do not have; the raw
                // prefix is the best guess and errs towards refusing.
                let under_mount = self.maps.iter().any(|m| raw.starts_with(&m.mount));
                // With check-static every path is a candidate; a stray `%` (`/100%`) is an app
                // URL, not an attack, so only a NUL is refused there.
                let under_check = !self.checks.is_empty() && err == DecodeError::Nul;
                return if under_mount || under_check {
                    Resolution::Forbidden
                } else {
                    Resolution::NotMine
                };
            }
        };
        let dot_dot = has_dot_dot(&path);

        for m in &self.maps {
            let Some(rest) = path.strip_prefix(m.mount.as_slice()) else {
                continue;
            };
            // The rest is checked on its own too: mount `/static` plus `/static..` gives rest `..`.
            if dot_dot || has_dot_dot(rest) {
                return Resolution::Forbidden;
            }
            let candidate = if m.target_is_file {
                m.target.clone()
            } else {
                join(&m.target, rest)
            };
            match self.open_under(&candidate, &m.target, req, &path) {
                Lookup::Found(file) => return Resolution::File(file),
                Lookup::Escapes => return Resolution::Forbidden,
                Lookup::Missing => {}
            }
        }
        for dir in &self.checks {
            if dot_dot {
                return Resolution::Forbidden;
            }
            match self.open_under(&join(dir, &path), dir, req, &path) {
                Lookup::Found(file) => return Resolution::File(file),
                Lookup::Escapes => return Resolution::Forbidden,
                Lookup::Missing => {}
            }
        }
        Resolution::NotMine
    }
}

fn has_dot_dot(path: &[u8]) -> bool {
    path.split(|&b| b == b'/').any(|seg| seg == b"..")
}

fn canonical_root(base_dir: &Path, path: &str, option: &str) -> Result<PathBuf, String> {
    let full = base_dir.join(path);
    full.canonicalize()
        .map_err(|e| format!("{option}: unable to resolve {}: {e}", full.display()))
}

/// `root + "/" + rest`, as uWSGI builds it. Not `Path::join`, which would drop `root` when `rest`
/// starts with `/`.
fn join(root: &Path, rest: &[u8]) -> PathBuf {
    let mut bytes = root.as_os_str().as_bytes().to_vec();
    bytes.push(b'/');
    bytes.extend_from_slice(rest);
    PathBuf::from(OsStr::from_bytes(&bytes))
}

enum Lookup {
    Found(StaticFile),
    Missing,
    Escapes,
}

impl StaticMap {
    /// uWSGI's `uwsgi_file_serve` for one candidate: resolve it, refuse what lies outside the
    /// root (unless under a `static-safe` path), try the `static-index` files for a directory,
    /// skip `static-skip-ext`, pick a precompressed variant, and compute `Expires`.
    fn open_under(
        &self,
        candidate: &Path,
        root: &Path,
        req: &StaticRequest<'_>,
        path_info: &[u8],
    ) -> Lookup {
        let o = &self.opts;
        let Ok(mut real) = candidate.canonicalize() else {
            return Lookup::Missing;
        };
        // Component-wise, so root `/srv/static` does not admit `/srv/static2` (uWSGI compares
        // bytes).
        let inside = |p: &Path| p.starts_with(root) || o.safe.iter().any(|s| p.starts_with(s));
        if !inside(&real) {
            return Lookup::Escapes;
        }
        // Check before opening: opening a FIFO would block the worker.
        let Ok(meta) = std::fs::metadata(&real) else {
            return Lookup::Missing;
        };
        if meta.is_dir() {
            // The index file is held to the same root as the directory (uWSGI does not check
            // it again, so a symlinked index.html could point anywhere).
            let found = o.index.iter().find_map(|name| {
                let c = real.join(name).canonicalize().ok()?;
                (c.is_file() && inside(&c)).then_some(c)
            });
            match found {
                Some(c) => real = c,
                None => return Lookup::Missing,
            }
        } else if !meta.is_file() {
            return Lookup::Missing;
        }
        let real_bytes = real.as_os_str().as_bytes();
        if o.skip_ext.iter().any(|e| real_bytes.ends_with(e)) {
            return Lookup::Missing;
        }
        let content_type = content_type(&real);
        let mut encoding = None;
        let mut opened = None;
        if o.gzip_all {
            // uWSGI looks for the substrings, so `gzip;q=0` still counts.
            let accepts = |what: &[u8]| {
                req.accept_encoding
                    .is_some_and(|a| a.windows(what.len()).any(|w| w == what))
            };
            for (token, ext) in [("br", ".br"), ("gzip", ".gz")] {
                if !accepts(token.as_bytes()) {
                    continue;
                }
                let mut variant = real.clone().into_os_string();
                variant.push(ext);
                if let Some(f) = open_regular(Path::new(&variant)) {
                    opened = Some(f);
                    encoding = Some(token);
                    break;
                }
            }
        }
        let Some((file, meta)) = opened.or_else(|| open_regular(&real)) else {
            return Lookup::Missing;
        };
        let expires = self.expires(&real, path_info, req.uri, content_type, meta.mtime());
        Lookup::Found(StaticFile {
            file,
            len: meta.len(),
            mtime_unix: meta.mtime(),
            content_type,
            content_encoding: encoding,
            vary_encoding: o.gzip_all,
            expires,
        })
    }

    /// The first matching `static-expires*` rule, in uWSGI's order (filename, PATH_INFO,
    /// REQUEST_URI, MIME type). uWSGI adds one `Expires` per matching family, so a file can
    /// get several; rw sends the first only. The filename rules see the file's own name, not
    /// the `.gz` variant's (uWSGI matches the variant, so `\.css$` stops matching once a
    /// `.css.gz` exists).
    fn expires(
        &self,
        file: &Path,
        path_info: &[u8],
        uri: &[u8],
        content_type: &'static str,
        mtime: i64,
    ) -> Option<i64> {
        if self.opts.expires.is_empty() {
            return None;
        }
        let bare = |t: &'static str| t.split(';').next().unwrap_or(t).trim();
        let mime = bare(content_type);
        // uWSGI knows types from /etc/mime.types only; a rule naming the system's type for the
        // extension (`application/javascript` on older systems) matches too.
        let system = file
            .extension()
            .and_then(OsStr::to_str)
            .and_then(|e| {
                system_mime_types()
                    .by_ext
                    .get(&e.to_ascii_lowercase())
                    .copied()
            })
            .map(bare);
        let filename = file.as_os_str().as_bytes();
        let rule = self
            .opts
            .expires
            .iter()
            .find(|(rule, re)| match (rule.on, re) {
                (ExpiresOn::Type, _) => rule.key == mime || Some(rule.key.as_str()) == system,
                (ExpiresOn::Filename, Some(re)) => re.is_match(filename),
                (ExpiresOn::PathInfo, Some(re)) => re.is_match(path_info),
                (ExpiresOn::Uri, Some(re)) => re.is_match(uri),
                _ => false,
            })?;
        let base = if rule.0.from_mtime {
            mtime
        } else {
            crate::sys::clock::unix_secs() as i64
        };
        Some(base.saturating_add(rule.0.seconds))
    }
}

/// Opens a regular file without following a last-component symlink and without blocking.
fn open_regular(real: &Path) -> Option<(File, std::fs::Metadata)> {
    // Check before opening: opening a FIFO would block the worker.
    if !std::fs::symlink_metadata(real).is_ok_and(|m| m.is_file()) {
        return None;
    }
    // `real` has no symlinks left (the variants are checked above), so O_NOFOLLOW only trips
    // if the last component was swapped for a symlink meanwhile; O_NONBLOCK keeps a FIFO
    // swapped in at that moment from blocking (it changes nothing for regular files).
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(real)
        .ok()?;
    let meta = file.metadata().ok().filter(|m| m.is_file())?;
    Some((file, meta))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DecodeError {
    /// `%00` or a raw NUL: C-string truncation tricks.
    Nul,
    /// `%` not followed by two hex digits.
    Invalid,
}

fn percent_decode(raw: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        let decoded = if b == b'%' {
            let hi = raw.get(i + 1).and_then(|&c| hex_value(c));
            let lo = raw.get(i + 2).and_then(|&c| hex_value(c));
            let (Some(hi), Some(lo)) = (hi, lo) else {
                return Err(DecodeError::Invalid);
            };
            i += 3;
            hi << 4 | lo
        } else {
            i += 1;
            b
        };
        if decoded == 0 {
            return Err(DecodeError::Nul);
        }
        out.push(decoded);
    }
    Ok(out)
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

const OCTET_STREAM: &str = "application/octet-stream";

/// The built-in table wins over /etc/mime.types so common types do not depend on the host.
fn builtin_type(ext: &str) -> Option<&'static str> {
    Some(match ext {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/vnd.microsoft.icon",
        "txt" => "text/plain; charset=utf-8",
        "xml" => "application/xml",
        "pdf" => "application/pdf",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        "wasm" => "application/wasm",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mp3" => "audio/mpeg",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "csv" => "text/csv; charset=utf-8",
        _ => return None,
    })
}

fn content_type(path: &Path) -> &'static str {
    let Some(ext) = path.extension().and_then(OsStr::to_str) else {
        return OCTET_STREAM;
    };
    let ext = ext.to_ascii_lowercase();
    builtin_type(&ext)
        .or_else(|| system_mime_types().by_ext.get(&ext).copied())
        .unwrap_or(OCTET_STREAM)
}

struct MimeTable {
    by_ext: HashMap<String, &'static str>,
    /// Entries read from the file, or `None` when it could not be read.
    loaded_entries: Option<usize>,
}

/// Read once per process: the file is small and does not change while we run. The type strings
/// are leaked so lookups can hand out `&'static str`; that happens once, a few KiB at most.
fn system_mime_types() -> &'static MimeTable {
    static TABLE: OnceLock<MimeTable> = OnceLock::new();
    TABLE.get_or_init(|| match std::fs::read_to_string(MIME_TYPES_FILE) {
        Ok(text) => parse_mime_types(&text),
        Err(_) => MimeTable {
            by_ext: HashMap::new(),
            loaded_entries: None,
        },
    })
}

fn parse_mime_types(text: &str) -> MimeTable {
    let mut interned: HashMap<&str, &'static str> = HashMap::new();
    let mut by_ext = HashMap::new();
    let mut entries = 0;
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut fields = line.split_whitespace();
        let Some(mime) = fields.next() else {
            continue;
        };
        let mut exts = fields.peekable();
        if exts.peek().is_none() {
            continue;
        }
        let value = *interned.entry(mime).or_insert_with(|| {
            let full = if mime.starts_with("text/") {
                format!("{mime}; charset=utf-8")
            } else {
                mime.to_owned()
            };
            Box::leak(full.into_boxed_str())
        });
        for ext in exts {
            entries += 1;
            by_ext.entry(ext.to_ascii_lowercase()).or_insert(value);
        }
    }
    MimeTable {
        by_ext,
        loaded_entries: Some(entries),
    }
}

const DAY_NAMES: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const LONG_DAY_NAMES: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTH_NAMES: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Proleptic Gregorian (year, month 1-12, day) for days since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// IMF-fixdate for `Last-Modified` / `Date`: `Sun, 29 Nov 2026 06:38:27 GMT`.
pub fn http_date(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    // 1970-01-01 was a Thursday.
    let wday = (days + 4).rem_euclid(7) as usize;
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAY_NAMES[wday],
        day,
        MONTH_NAMES[month as usize - 1],
        year,
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Parses an HTTP date: IMF-fixdate, plus the obsolete RFC 850 and asctime forms that RFC 9110
/// still asks recipients to accept. The weekday is not checked against the date.
pub fn parse_http_date(s: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(s).ok()?.trim();
    let tokens: Vec<&str> = s.split(' ').filter(|t| !t.is_empty()).collect();
    let (year, month, day, time) = match tokens.as_slice() {
        // Sun, 06 Nov 1994 08:49:37 GMT
        [wday, day, month, year, time, "GMT"] if wday.len() == 4 && wday.ends_with(',') => {
            check_day_name(&wday[..3], &DAY_NAMES)?;
            (
                parse_num(year, 4)?,
                month_number(month)?,
                parse_num(day, 2)?,
                *time,
            )
        }
        // Sunday, 06-Nov-94 08:49:37 GMT
        [wday, date, time, "GMT"] if wday.ends_with(',') => {
            check_day_name(&wday[..wday.len() - 1], &LONG_DAY_NAMES)?;
            let mut parts = date.split('-');
            let (day, month, yy) = (parts.next()?, parts.next()?, parts.next()?);
            if parts.next().is_some() {
                return None;
            }
            let yy = parse_num(yy, 2)?;
            // Two-digit years: pick the century that is not far in the future (RFC 9110 §5.6.7).
            let year = if yy < 70 { 2000 + yy } else { 1900 + yy };
            (year, month_number(month)?, parse_num(day, 2)?, *time)
        }
        // Sun Nov  6 08:49:37 1994
        [wday, month, day, time, year] => {
            check_day_name(wday, &DAY_NAMES)?;
            if day.is_empty() || day.len() > 2 {
                return None;
            }
            (
                parse_num(year, 4)?,
                month_number(month)?,
                parse_num(day, day.len())?,
                *time,
            )
        }
        _ => return None,
    };
    let mut hms = time.split(':');
    let (h, m, sec) = (hms.next()?, hms.next()?, hms.next()?);
    if hms.next().is_some() {
        return None;
    }
    let (h, m, sec) = (parse_num(h, 2)?, parse_num(m, 2)?, parse_num(sec, 2)?);
    // 60 allows a leap second.
    if !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day as u32);
    Some(days * 86_400 + h * 3600 + m * 60 + sec)
}

fn check_day_name(name: &str, names: &[&str]) -> Option<()> {
    names.contains(&name).then_some(())
}

fn month_number(name: &str) -> Option<u32> {
    MONTH_NAMES
        .iter()
        .position(|m| *m == name)
        .map(|i| i as u32 + 1)
}

/// A decimal of exactly `digits` ASCII digits.
fn parse_num(s: &str, digits: usize) -> Option<i64> {
    if s.len() != digits || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Whether a conditional GET may be answered 304: the file is not newer than `If-Modified-Since`.
/// An absent or unparsable header never matches (RFC 9110 §13.1.3: ignore invalid dates).
pub fn not_modified(file_mtime: i64, if_modified_since: Option<&[u8]>) -> bool {
    if_modified_since
        .and_then(parse_http_date)
        .is_some_and(|since| file_mtime <= since)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::fs::symlink;

    /// A docroot `www/` with files, plus a `secret.txt` next to it that must never be served.
    struct Fixture {
        dir: tempfile::TempDir,
    }

    impl Fixture {
        fn new() -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            let www = dir.path().join("www");
            std::fs::create_dir_all(www.join("sub")).unwrap();
            std::fs::write(www.join("app.css"), "body{}").unwrap();
            std::fs::write(www.join("sub/page.html"), "<p>hi</p>").unwrap();
            std::fs::write(www.join("a b.txt"), "space").unwrap();
            std::fs::write(www.join("data.unknownext"), "?").unwrap();
            std::fs::write(dir.path().join("secret.txt"), "secret").unwrap();
            std::fs::write(dir.path().join("icon.ico"), "ico").unwrap();
            Fixture { dir }
        }

        fn www(&self) -> PathBuf {
            self.dir.path().join("www")
        }

        fn map(&self, maps: &[&str], checks: &[&str]) -> StaticMap {
            let maps: Vec<String> = maps.iter().map(|s| s.to_string()).collect();
            let checks: Vec<String> = checks.iter().map(|s| s.to_string()).collect();
            StaticMap::new(&maps, &checks, self.dir.path()).unwrap()
        }
    }

    fn body(res: Resolution) -> String {
        match res {
            Resolution::File(mut f) => {
                let mut s = String::new();
                f.file.read_to_string(&mut s).unwrap();
                assert_eq!(f.len, s.len() as u64);
                s
            }
            other => panic!("expected a file, got {other:?}"),
        }
    }

    fn is_not_mine(res: &Resolution) -> bool {
        matches!(res, Resolution::NotMine)
    }

    fn is_forbidden(res: &Resolution) -> bool {
        matches!(res, Resolution::Forbidden)
    }

    #[test]
    fn plain_prefix_matching() {
        let fx = Fixture::new();
        let m = fx.map(&["/static=www"], &[]);
        assert_eq!(body(m.resolve(b"GET", b"/static/app.css")), "body{}");
        assert_eq!(
            body(m.resolve(b"HEAD", b"/static/sub/page.html")),
            "<p>hi</p>"
        );
        // uWSGI compares a plain prefix: `/staticapp.css` is `www` + "/" + `app.css`.
        assert_eq!(body(m.resolve(b"GET", b"/staticapp.css")), "body{}");
        assert_eq!(body(m.resolve(b"GET", b"/static/app.css?v=3")), "body{}");
        assert_eq!(body(m.resolve(b"GET", b"/static//app.css")), "body{}");
        assert_eq!(body(m.resolve(b"GET", b"/static/a%20b.txt")), "space");
        assert_eq!(body(m.resolve(b"GET", b"/st%61tic/app.css")), "body{}");
        assert!(is_not_mine(&m.resolve(b"GET", b"/other/app.css")));
        assert!(is_not_mine(&m.resolve(b"GET", b"/")));
    }

    #[test]
    fn file_target_serves_the_file_for_the_prefix() {
        let fx = Fixture::new();
        let m = fx.map(&["/favicon.ico=icon.ico"], &[]);
        let Resolution::File(f) = m.resolve(b"GET", b"/favicon.ico") else {
            panic!("expected file");
        };
        assert_eq!(f.content_type, "image/vnd.microsoft.icon");
        assert_eq!(f.len, 3);
        assert_eq!(body(m.resolve(b"GET", b"/favicon.ico?x=1")), "ico");
    }

    #[test]
    fn missing_files_and_directories_fall_through() {
        let fx = Fixture::new();
        let m = fx.map(&["/static=www"], &[]);
        assert!(is_not_mine(&m.resolve(b"GET", b"/static/missing.css")));
        assert!(is_not_mine(&m.resolve(b"GET", b"/static/sub")));
        assert!(is_not_mine(&m.resolve(b"GET", b"/static/")));
        assert!(is_not_mine(&m.resolve(b"GET", b"/static/app.css/x")));
    }

    #[test]
    fn later_mapping_is_tried_when_the_first_has_no_file() {
        let fx = Fixture::new();
        std::fs::create_dir(fx.dir.path().join("other")).unwrap();
        std::fs::write(fx.dir.path().join("other/only.txt"), "other").unwrap();
        let m = fx.map(&["/s=www", "/s=other"], &[]);
        assert_eq!(body(m.resolve(b"GET", b"/s/app.css")), "body{}");
        assert_eq!(body(m.resolve(b"GET", b"/s/only.txt")), "other");
    }

    #[test]
    fn only_get_and_head() {
        let fx = Fixture::new();
        let m = fx.map(&["/static=www"], &[]);
        for method in [&b"POST"[..], b"PUT", b"DELETE", b"OPTIONS", b"get"] {
            assert!(is_not_mine(&m.resolve(method, b"/static/app.css")));
        }
    }

    #[test]
    fn traversal_is_forbidden() {
        let fx = Fixture::new();
        let m = fx.map(&["/static=www", "/s/=www"], &[]);
        for path in [
            &b"/static/../secret.txt"[..],
            b"/static/sub/../../secret.txt",
            b"/static/%2e%2e/secret.txt",
            b"/static/%2E%2E/secret.txt",
            b"/static/..%2fsecret.txt",
            b"/static/..%2Fsecret.txt",
            b"/static/.%2e/secret.txt",
            b"/static..",
            b"/static/sub/..",
            b"/s/../secret.txt",
            b"/s/..%2f..%2f..%2fetc/passwd",
            // Even when the target exists inside the root: `..` is refused, not normalized.
            b"/static/sub/../app.css",
        ] {
            assert!(
                is_forbidden(&m.resolve(b"GET", path)),
                "{}",
                String::from_utf8_lossy(path)
            );
        }
        // `..` on a path no mapping claims is the app's business.
        assert!(is_not_mine(&m.resolve(b"GET", b"/app/../x")));
        // Names that merely contain dots are fine.
        std::fs::write(fx.www().join("..hidden"), "dots").unwrap();
        assert_eq!(body(m.resolve(b"GET", b"/static/..hidden")), "dots");
    }

    #[test]
    fn nul_and_bad_escapes_are_forbidden_under_a_mount() {
        let fx = Fixture::new();
        let m = fx.map(&["/static=www"], &[]);
        for path in [
            &b"/static/app.css%00.png"[..],
            b"/static/app.css\0",
            b"/static/%zz",
            b"/static/%2",
            b"/static/app.css%",
        ] {
            assert!(
                is_forbidden(&m.resolve(b"GET", path)),
                "{}",
                String::from_utf8_lossy(path)
            );
        }
        assert!(is_not_mine(&m.resolve(b"GET", b"/search/100%")));
        assert!(is_not_mine(&m.resolve(b"GET", b"/app/%00")));
    }

    #[test]
    fn symlinks_out_are_forbidden_and_in_are_fine() {
        let fx = Fixture::new();
        symlink(fx.dir.path().join("secret.txt"), fx.www().join("leak.txt")).unwrap();
        symlink("/etc", fx.www().join("etc")).unwrap();
        symlink("app.css", fx.www().join("alias.css")).unwrap();
        symlink("sub", fx.www().join("subdir")).unwrap();
        let m = fx.map(&["/static=www"], &["www"]);
        assert!(is_forbidden(&m.resolve(b"GET", b"/static/leak.txt")));
        assert!(is_forbidden(&m.resolve(b"GET", b"/static/etc/hostname")));
        assert!(is_forbidden(&m.resolve(b"GET", b"/leak.txt")));
        assert_eq!(body(m.resolve(b"GET", b"/static/alias.css")), "body{}");
        assert_eq!(
            body(m.resolve(b"GET", b"/static/subdir/page.html")),
            "<p>hi</p>"
        );
    }

    #[test]
    fn root_reached_through_a_symlink_still_works() {
        let fx = Fixture::new();
        symlink(fx.www(), fx.dir.path().join("public")).unwrap();
        let m = fx.map(&["/p=public"], &[]);
        assert_eq!(body(m.resolve(b"GET", b"/p/app.css")), "body{}");
    }

    #[test]
    fn sibling_directory_with_the_root_as_byte_prefix_is_outside() {
        let fx = Fixture::new();
        std::fs::create_dir(fx.dir.path().join("www2")).unwrap();
        std::fs::write(fx.dir.path().join("www2/x.txt"), "x").unwrap();
        symlink(fx.dir.path().join("www2/x.txt"), fx.www().join("x.txt")).unwrap();
        let m = fx.map(&["/static=www"], &[]);
        assert!(is_forbidden(&m.resolve(b"GET", b"/static/x.txt")));
    }

    #[test]
    fn check_static_uses_the_whole_path() {
        let fx = Fixture::new();
        let m = fx.map(&[], &["www"]);
        assert_eq!(body(m.resolve(b"GET", b"/app.css")), "body{}");
        assert_eq!(body(m.resolve(b"GET", b"/sub/page.html")), "<p>hi</p>");
        assert!(is_not_mine(&m.resolve(b"GET", b"/")));
        assert!(is_not_mine(&m.resolve(b"GET", b"/api/users")));
        assert!(is_not_mine(&m.resolve(b"POST", b"/app.css")));
        assert!(is_not_mine(&m.resolve(b"GET", b"/search/100%")));
        assert!(is_forbidden(&m.resolve(b"GET", b"/../secret.txt")));
        assert!(is_forbidden(&m.resolve(b"GET", b"/%2e%2e/secret.txt")));
        assert!(is_forbidden(&m.resolve(b"GET", b"/app.css%00")));
    }

    #[test]
    fn empty_map_claims_nothing() {
        let m = StaticMap::new(&[], &[], Path::new("/")).unwrap();
        assert!(m.is_empty());
        assert!(m.startup_log_lines().is_empty());
        assert!(is_not_mine(&m.resolve(b"GET", b"/etc/passwd")));
    }

    #[test]
    fn bad_configuration_is_an_error() {
        let fx = Fixture::new();
        let base = fx.dir.path();
        assert!(StaticMap::new(&["/static".into()], &[], base).is_err());
        assert!(StaticMap::new(&["/static=".into()], &[], base).is_err());
        assert!(StaticMap::new(&["/static=nope".into()], &[], base).is_err());
        assert!(StaticMap::new(&[], &["nope".into()], base).is_err());
        assert!(StaticMap::new(&[], &["secret.txt".into()], base).is_err());
        let abs = format!("/s={}", fx.www().display());
        let m = StaticMap::new(&[abs], &[], Path::new("/")).unwrap();
        assert!(!m.is_empty());
        let lines = m.startup_log_lines();
        let expected = format!(
            "[uwsgi-static] added mapping for /s => {}",
            fx.www().canonicalize().unwrap().display()
        );
        assert!(lines.contains(&expected), "{lines:?}");
    }

    #[test]
    fn response_metadata() {
        let fx = Fixture::new();
        let m = fx.map(&["/static=www"], &[]);
        let Resolution::File(f) = m.resolve(b"GET", b"/static/app.css") else {
            panic!("expected file");
        };
        assert_eq!(f.content_type, "text/css; charset=utf-8");
        assert_eq!(f.len, 6);
        let mtime = std::fs::metadata(fx.www().join("app.css")).unwrap().mtime();
        assert_eq!(f.mtime_unix, mtime);
        let Resolution::File(f) = m.resolve(b"GET", b"/static/data.unknownext") else {
            panic!("expected file");
        };
        assert_eq!(f.content_type, OCTET_STREAM);
    }

    fn with(fx: &Fixture, maps: &[&str], o: StaticOptions) -> StaticMap {
        fx.map(maps, &[]).with_options(&o, fx.dir.path()).unwrap()
    }

    fn get<'a>(path: &'a [u8], accept_encoding: Option<&'a [u8]>) -> StaticRequest<'a> {
        StaticRequest {
            method: b"GET",
            raw_path: path,
            uri: path,
            accept_encoding,
        }
    }

    #[test]
    fn static_index_serves_a_directory_file_in_order() {
        let fx = Fixture::new();
        std::fs::write(fx.www().join("sub/index.htm"), "htm").unwrap();
        let o = StaticOptions {
            index: vec!["index.html".into(), "index.htm".into()],
            ..Default::default()
        };
        let m = with(&fx, &["/s=www"], o.clone());
        assert_eq!(body(m.resolve(b"GET", b"/s/sub")), "htm");
        assert_eq!(body(m.resolve(b"GET", b"/s/sub/")), "htm");
        std::fs::write(fx.www().join("sub/index.html"), "html").unwrap();
        let m = with(&fx, &["/s=www"], o);
        assert_eq!(body(m.resolve(b"GET", b"/s/sub/")), "html");
        // No index in the root: the directory goes to the app, as without static-index.
        assert!(is_not_mine(&m.resolve(b"GET", b"/s/")));
        // An index symlinked out of the root is refused like any other escape.
        std::fs::remove_file(fx.www().join("sub/index.html")).unwrap();
        std::fs::remove_file(fx.www().join("sub/index.htm")).unwrap();
        symlink(
            fx.dir.path().join("secret.txt"),
            fx.www().join("sub/index.html"),
        )
        .unwrap();
        let m = with(
            &fx,
            &["/s=www"],
            StaticOptions {
                index: vec!["index.html".into()],
                ..Default::default()
            },
        );
        assert!(is_not_mine(&m.resolve(b"GET", b"/s/sub/")));
    }

    #[test]
    fn static_skip_ext_goes_to_the_app() {
        let fx = Fixture::new();
        let o = StaticOptions {
            skip_ext: vec![".css".into()],
            ..Default::default()
        };
        let m = with(&fx, &["/s=www"], o);
        assert!(is_not_mine(&m.resolve(b"GET", b"/s/app.css")));
        assert_eq!(body(m.resolve(b"GET", b"/s/sub/page.html")), "<p>hi</p>");
    }

    #[test]
    fn static_safe_admits_a_symlink_target_outside_the_root() {
        let fx = Fixture::new();
        let shared = fx.dir.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::write(shared.join("logo.txt"), "logo").unwrap();
        symlink(&shared, fx.www().join("shared")).unwrap();
        let m = fx.map(&["/s=www"], &[]);
        assert!(is_forbidden(&m.resolve(b"GET", b"/s/shared/logo.txt")));
        let o = StaticOptions {
            safe: vec!["shared".into()],
            ..Default::default()
        };
        let m = with(&fx, &["/s=www"], o);
        assert_eq!(body(m.resolve(b"GET", b"/s/shared/logo.txt")), "logo");
        // Still nothing outside both: the secret next to the root stays refused.
        symlink(fx.dir.path().join("secret.txt"), fx.www().join("leak.txt")).unwrap();
        assert!(is_forbidden(&m.resolve(b"GET", b"/s/leak.txt")));
    }

    #[test]
    fn static_gzip_all_prefers_br_then_gzip_when_accepted() {
        let fx = Fixture::new();
        std::fs::write(fx.www().join("app.css.gz"), "GZ").unwrap();
        let o = StaticOptions {
            gzip_all: true,
            ..Default::default()
        };
        let m = with(&fx, &["/s=www"], o);
        let pick = |ae: Option<&[u8]>| match m.resolve_request(&get(b"/s/app.css", ae)) {
            Resolution::File(f) => (f.content_encoding, f.len, f.content_type, f.vary_encoding),
            other => panic!("{other:?}"),
        };
        let css = "text/css; charset=utf-8";
        assert_eq!(pick(None), (None, 6, css, true));
        assert_eq!(pick(Some(b"gzip, deflate")), (Some("gzip"), 2, css, true));
        assert_eq!(pick(Some(b"br")), (None, 6, css, true), "no .br file");
        std::fs::write(fx.www().join("app.css.br"), "B").unwrap();
        assert_eq!(pick(Some(b"gzip, br")), (Some("br"), 1, css, true));
        assert_eq!(pick(Some(b"gzip")), (Some("gzip"), 2, css, true));
    }

    #[test]
    fn static_expires_rules_in_uwsgi_order() {
        let fx = Fixture::new();
        let now = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64
        };
        let rule = |on, key: &str, seconds, from_mtime| ExpiresRule {
            on,
            key: key.into(),
            seconds,
            from_mtime,
        };
        let o = StaticOptions {
            expires: vec![
                rule(ExpiresOn::Type, "text/css", 100, false),
                rule(ExpiresOn::Uri, r"\?v=\d+$", 1000, false),
                rule(ExpiresOn::Type, "text/html", 50, true),
            ],
            ..Default::default()
        };
        let m = with(&fx, &["/s=www"], o);
        let expires = |path: &[u8]| match m.resolve_request(&get(path, None)) {
            Resolution::File(f) => f.expires.map(|e| (e, f.mtime_unix)),
            other => panic!("{other:?}"),
        };
        let before = now();
        let (e, _) = expires(b"/s/app.css").unwrap();
        assert!((before + 100..=now() + 100).contains(&e), "{e}");
        // REQUEST_URI rules come before type rules.
        let (e, _) = expires(b"/s/app.css?v=3").unwrap();
        assert!((before + 1000..=now() + 1000).contains(&e), "{e}");
        let (e, mtime) = expires(b"/s/sub/page.html").unwrap();
        assert_eq!(e, mtime + 50);
        assert_eq!(expires(b"/s/a%20b.txt"), None);
        let bad = StaticOptions {
            expires: vec![rule(ExpiresOn::Uri, "(", 1, false)],
            ..Default::default()
        };
        assert!(fx
            .map(&["/s=www"], &[])
            .with_options(&bad, fx.dir.path())
            .is_err());
    }

    #[test]
    fn content_types() {
        assert_eq!(
            content_type(Path::new("/x/a.HTML")),
            "text/html; charset=utf-8"
        );
        assert_eq!(
            content_type(Path::new("/x/a.mjs")),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("/x/a.woff2")), "font/woff2");
        assert_eq!(content_type(Path::new("/x/a.tar.gz")), "application/gzip");
        assert_eq!(content_type(Path::new("/x/README")), OCTET_STREAM);
        assert_eq!(content_type(Path::new("/x/.bashrc")), OCTET_STREAM);
    }

    #[test]
    fn mime_types_file_parsing() {
        let t = parse_mime_types(
            "# comment\n\
             text/x-foo\t\tfoo fooo\n\
             application/x-bar bar # trailing comment\n\
             application/x-none\n\
             application/x-baz BAZ\n\
             text/x-dup foo\n",
        );
        assert_eq!(t.loaded_entries, Some(5));
        assert_eq!(t.by_ext["foo"], "text/x-foo; charset=utf-8");
        assert_eq!(t.by_ext["fooo"], "text/x-foo; charset=utf-8");
        assert_eq!(t.by_ext["bar"], "application/x-bar");
        assert_eq!(t.by_ext["baz"], "application/x-baz");
        assert!(!t.by_ext.contains_key("none"));
    }

    #[test]
    fn http_dates() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(1_795_934_307), "Sun, 29 Nov 2026 06:38:27 GMT");
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(http_date(-1), "Wed, 31 Dec 1969 23:59:59 GMT");
        for t in [
            0,
            1,
            784_111_777,
            951_782_400,
            1_795_934_307,
            4_102_444_800,
            -86_401,
        ] {
            assert_eq!(parse_http_date(http_date(t).as_bytes()), Some(t), "{t}");
        }
        // Every day for a few years, to cover month and leap-year boundaries.
        for day in 10_950..12_500 {
            let t = day * 86_400 + 12_345;
            assert_eq!(parse_http_date(http_date(t).as_bytes()), Some(t));
        }
    }

    #[test]
    fn obsolete_date_forms() {
        let t = Some(784_111_777);
        assert_eq!(parse_http_date(b"Sun, 06 Nov 1994 08:49:37 GMT"), t);
        assert_eq!(parse_http_date(b"Sunday, 06-Nov-94 08:49:37 GMT"), t);
        assert_eq!(parse_http_date(b"Sun Nov  6 08:49:37 1994"), t);
        assert_eq!(parse_http_date(b" Sun, 06 Nov 1994 08:49:37 GMT "), t);
        assert_eq!(
            parse_http_date(b"Monday, 01-Jan-24 00:00:00 GMT"),
            Some(1_704_067_200)
        );
        for bad in [
            &b""[..],
            b"yesterday",
            b"Sun, 06 Nov 1994 08:49:37 UTC",
            b"Sun, 06 Nov 1994 08:49 GMT",
            b"Sun, 6 Nov 1994 08:49:37 GMT",
            b"Sun, 06 Foo 1994 08:49:37 GMT",
            b"Sun, 32 Nov 1994 08:49:37 GMT",
            b"Sun, 06 Nov 1994 24:00:00 GMT",
            b"Sun, 06 Nov +994 08:49:37 GMT",
            b"Xyz, 06 Nov 1994 08:49:37 GMT",
            b"\xff\xfe",
        ] {
            assert_eq!(
                parse_http_date(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn if_modified_since() {
        let mtime = 1_795_934_307;
        let same = http_date(mtime);
        let older = http_date(mtime - 1);
        let newer = http_date(mtime + 3600);
        assert!(not_modified(mtime, Some(same.as_bytes())));
        assert!(!not_modified(mtime, Some(older.as_bytes())));
        assert!(not_modified(mtime, Some(newer.as_bytes())));
        assert!(!not_modified(mtime, None));
        assert!(!not_modified(mtime, Some(b"garbage")));
    }
}
