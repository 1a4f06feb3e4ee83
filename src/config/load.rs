//! Building uWSGI's ordered entry list: `UWSGI_*` variables, then the command line, with
//! `ini`/`include` files expanded in place and `inherit` files appended at the end.

use super::diag::{Diagnostic, Origin};
use super::ini;
use super::logic::{self, Op};
use super::magic::{self, FileFacts, HostFacts, MagicCtx};
use std::path::{Path, PathBuf};

/// One `key = value` pair in the order uWSGI would apply it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    /// Written as a bare key (a flag without value, or an ini key without `=`).
    pub bare: bool,
    /// Defined with `set-placeholder`/`set`: a name for `%(name)`, never an unknown option.
    pub placeholder: bool,
    pub origin: Origin,
}

/// Where options come from, in uWSGI's order: environment first, then the command line.
#[derive(Debug, Default, Clone)]
pub struct Sources {
    /// The process environment (only `UWSGI_*` variables are read).
    pub env: Vec<(String, String)>,
    /// Command-line options in the order given: (`ini`, `app.ini`), (`processes`, `4`), …
    pub args: Vec<(String, Option<String>)>,
}

/// ini files larger than this are refused: no real config is near it, and it bounds memory.
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// Variables uWSGI sets for itself; never options.
const INTERNAL_ENV: &[&str] = &[
    "UWSGI_RELOADS",
    "UWSGI_VASSALS_DIR",
    "UWSGI_EMPEROR_FD",
    "UWSGI_EMPEROR_FD_CONFIG",
    "UWSGI_EMPEROR_PROXY",
    "UWSGI_BROODLORD_NUM",
    "UWSGI_JAIL_PID",
    "UWSGI_ORIGINAL_PROC_NAME",
];

struct Loader<'a> {
    host: &'a HostFacts,
    entries: Vec<Entry>,
    diags: Vec<Diagnostic>,
    /// Files being read, outermost first, to refuse include loops.
    stack: Vec<(PathBuf, String)>,
    first: Option<FileFacts>,
    /// The most recently opened file: `ini = :section` reads from it.
    last_file: Option<String>,
    deferred: Vec<(String, Origin)>,
    /// The `UWSGI_*`-and-all process environment (`if-env`).
    env: &'a [(String, String)],
    /// The open `if-*`/`for*` block, if any.
    block: Option<Block>,
    /// Entries a block produces are being pushed (they bypass the block, as in uWSGI).
    running: bool,
    /// uWSGI's exported-option list, in order (see [`Export`]).
    exported: Vec<Export>,
}

/// One option as uWSGI's `add_exported_option` records it (what `uwsgi.opt` shows): every key
/// read, including `ini`/`include`, config logic and `set-placeholder`, which make no entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Export {
    /// `entries[i]`, with its value as expanded; `flag`: a command-line flag without value.
    Entry { index: usize, flag: bool },
    /// A key consumed by the loader, with its value as written.
    Consumed { key: String, value: String },
}

/// An open config-logic block.
struct Block {
    op: Op,
    key: String,
    arg: String,
    origin: Origin,
}

/// The variable `rw serve` counts exec-reloads in (`if-reload`), as uWSGI's UWSGI_RELOADS.
pub const RELOADS_ENV: &str = "RW_RELOADS";

/// Collects every entry; problems (missing files, loops, bad bytes) go to the diagnostics.
pub fn collect(sources: &Sources, host: &HostFacts) -> Collected {
    let mut l = Loader {
        host,
        entries: Vec::new(),
        diags: Vec::new(),
        stack: Vec::new(),
        first: None,
        last_file: None,
        deferred: Vec::new(),
        env: &sources.env,
        block: None,
        running: false,
        exported: Vec::new(),
    };
    for (name, value) in &sources.env {
        let Some(opt) = name.strip_prefix("UWSGI_") else {
            continue;
        };
        if opt.is_empty() || INTERNAL_ENV.contains(&name.as_str()) {
            continue;
        }
        let key = opt.to_ascii_lowercase().replace('_', "-");
        l.push(
            key,
            value.clone(),
            value.is_empty(),
            Origin::Env(name.clone()),
        );
    }
    for (key, value) in &sources.args {
        let bare = value.is_none();
        l.push(
            key.clone(),
            value.clone().unwrap_or_default(),
            bare,
            Origin::Cli,
        );
    }
    // `inherit` files land after everything else, so their scalars win (uWSGI 2.0, verified).
    while !l.deferred.is_empty() {
        let deferred = std::mem::take(&mut l.deferred);
        for (spec, origin) in deferred {
            l.read_file(&spec, &origin);
        }
    }
    if let Some(b) = l.block.take() {
        l.diags.push(Diagnostic::warning(
            &b.origin,
            format!(
                "`{} = {}` is never closed: uWSGI applies it to every entry after it, in this \
                 and every later file; close it with `end{}`",
                b.key,
                b.arg,
                if b.key.starts_with("for") {
                    "for"
                } else {
                    "if"
                }
            ),
        ));
    }
    Collected {
        entries: l.entries,
        diagnostics: l.diags,
        first: l.first,
        exported: l.exported,
    }
}

/// What [`collect`] read.
pub struct Collected {
    pub entries: Vec<Entry>,
    pub diagnostics: Vec<Diagnostic>,
    /// The first ini file read, if any.
    pub first: Option<FileFacts>,
    pub exported: Vec<Export>,
}

/// The exported-option list with the entries' final (expanded) values: `(key, value)`, value
/// `None` for a command-line flag given without one (uWSGI exports NULL there, an ini's bare
/// key as an empty string).
pub fn exported_options(exported: &[Export], entries: &[Entry]) -> Vec<(String, Option<String>)> {
    exported
        .iter()
        .filter_map(|x| match x {
            Export::Entry { index, flag } => entries
                .get(*index)
                .map(|e| (e.key.clone(), (!flag).then(|| e.value.clone()))),
            Export::Consumed { key, value } => Some((key.clone(), Some(value.clone()))),
        })
        .collect()
}

impl Loader<'_> {
    /// One entry as uWSGI's `add_exported_option` sees it: config logic first, then the rest.
    fn push(&mut self, key: String, value: String, bare: bool, origin: Origin) {
        if self.running {
            if logic::opener(&key).is_some() {
                let (okey, oorigin) = match &self.block {
                    Some(b) => (b.key.clone(), b.origin.to_string()),
                    None => (String::new(), String::new()),
                };
                self.diags.push(Diagnostic::error(
                    &origin,
                    format!(
                        "`{key}` inside the `{okey}` block opened at {oorigin}: uWSGI does not \
                         nest config logic and exits here (\"recursive logic in options is not \
                         supported\"); close the outer block first"
                    ),
                ));
                return;
            }
            if super::compat::LOGIC_CLOSERS.contains(&key.as_str()) {
                return;
            }
            return self.push_plain(key, value, bare, origin);
        }
        if super::compat::LOGIC_CLOSERS.contains(&key.as_str()) {
            self.export_consumed(&key, &value);
            if self.block.take().is_none() {
                self.diags.push(Diagnostic::warning(
                    &origin,
                    format!("`{key}` closes nothing: no if-*/for block is open"),
                ));
            }
            return;
        }
        if self.block.is_some() {
            return self.run_block(key, value, bare, origin);
        }
        if let Some(op) = logic::opener(&key) {
            self.export_consumed(&key, &value);
            if value.contains("%(") || value.contains("$(") || value.contains("@(") {
                self.diags.push(Diagnostic::warning(
                    &origin,
                    format!(
                        "`{key} = {value}`: uWSGI reads config logic before expanding %(…), \
                         $(…) and @(…), so the test uses this text as written"
                    ),
                ));
            }
            if matches!(op, Op::IfHostnameMatch(_)) {
                self.diags.push(Diagnostic::warning(
                    &origin,
                    format!("`{key}`: rw has no regular expressions; the test is taken as false"),
                ));
            }
            self.block = Some(Block {
                op,
                key,
                arg: value,
                origin,
            });
            return;
        }
        self.push_plain(key, value, bare, origin)
    }

    /// Passes one body line through the open block: dropped, kept, or repeated, each time with
    /// `%(_)` bound; every produced entry keeps the body line's origin.
    fn run_block(&mut self, key: String, value: String, bare: bool, origin: Origin) {
        let Some(b) = &self.block else { return };
        let (op, arg) = (b.op, b.arg.clone());
        let entries = &self.entries;
        let env = |k: &str| {
            self.env
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
        };
        let opt = |k: &str| entries.iter().find(|e| e.key == k).map(|e| e.value.clone());
        let reloading = env(RELOADS_ENV)
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n > 0);
        let read = |p: &Path| read_bounded(p, MAX_FILE_BYTES);
        let world = logic::World {
            cwd: &self.host.cwd,
            env: &env,
            opt: &opt,
            reloading,
            hostname: &self.host.hostname,
            read_file: &read,
        };
        let binds = match logic::bindings(op, &arg, &world) {
            Ok(b) => b,
            Err(msg) => {
                let o = self
                    .block
                    .as_ref()
                    .map(|b| b.origin.clone())
                    .unwrap_or(origin);
                self.diags.push(Diagnostic::error(&o, msg));
                return;
            }
        };
        if binds.is_empty() && logic::opener(&key).is_some() {
            if let Some(b) = &self.block {
                let (bkey, borigin) = (b.key.clone(), b.origin.clone());
                self.diags.push(Diagnostic::warning(
                    &origin,
                    format!(
                        "`{key}` inside the `{bkey}` block opened at {borigin}: uWSGI does not \
                         nest config logic; it drops this line with the block, and the next \
                         end/endif/endfor closes the outer block"
                    ),
                ));
            }
        }
        self.running = true;
        for bind in binds {
            let v = logic::bind(&value, bind.as_deref());
            self.push(key.clone(), v, bare, origin.clone());
        }
        self.running = false;
    }

    fn export_consumed(&mut self, key: &str, value: &str) {
        self.exported.push(Export::Consumed {
            key: key.to_string(),
            value: value.to_string(),
        });
    }

    /// Adds an entry that uWSGI exports as it is (not one the loader made up).
    fn push_exported(&mut self, entry: Entry) {
        let flag = entry.bare && entry.origin == Origin::Cli;
        self.exported.push(Export::Entry {
            index: self.entries.len(),
            flag,
        });
        self.entries.push(entry);
    }

    fn push_plain(&mut self, key: String, value: String, bare: bool, origin: Origin) {
        if matches!(
            key.as_str(),
            "ini"
                | "include"
                | "ini-paste"
                | "ini-paste-logged"
                | "inherit"
                | "set-placeholder"
                | "set-ph"
                | "set"
        ) {
            self.export_consumed(&key, &value);
        }
        match key.as_str() {
            "ini" | "include" => self.read_file(&value, &origin),
            "ini-paste" | "ini-paste-logged" => self.ini_paste(&key, &value, origin),
            "inherit" => self.deferred.push((value, origin)),
            "set-placeholder" | "set-ph" | "set" => match value.split_once('=') {
                Some((k, v)) if !k.trim().is_empty() => self.push_exported(Entry {
                    key: k.trim().to_string(),
                    value: v.trim().to_string(),
                    bare: false,
                    placeholder: key != "set" || super::options::lookup(k.trim()).is_none(),
                    origin,
                }),
                _ => self.diags.push(Diagnostic::error(
                    &origin,
                    format!("{key} needs `name=value`, got `{value}`"),
                )),
            },
            _ => self.push_exported(Entry {
                key,
                value,
                bare,
                placeholder: false,
                origin,
            }),
        }
    }

    /// uWSGI's `ini-paste`: read the file's `[uwsgi]` section, then load the app from the same
    /// file with PasteDeploy (`paste = config:ABSOLUTE`; `-logged` adds `paste-logger`).
    fn ini_paste(&mut self, key: &str, value: &str, origin: Origin) {
        self.read_file(value, &origin);
        let file = if value.starts_with('/') {
            value.to_string()
        } else {
            format!("{}/{value}", self.host.cwd)
        };
        let mut push = |key: &str, value: String| {
            self.entries.push(Entry {
                key: key.into(),
                value,
                bare: false,
                placeholder: false,
                origin: origin.clone(),
            })
        };
        push("paste", format!("config:{file}"));
        if key == "ini-paste-logged" {
            push("paste-logger", "true".into());
        }
    }

    fn read_file(&mut self, spec: &str, origin: &Origin) {
        let (file, section) = ini::split_section(spec);
        let file = if file.is_empty() {
            match &self.last_file {
                Some(f) => f.clone(),
                None => {
                    self.diags.push(Diagnostic::error(
                        origin,
                        format!("`{spec}` names a section but no ini file was read before it"),
                    ));
                    return;
                }
            }
        } else {
            file.to_string()
        };
        if file.is_empty() || spec.trim().is_empty() {
            self.diags
                .push(Diagnostic::error(origin, "include needs a file name"));
            return;
        }
        if file.contains("://") || file == "-" {
            self.diags.push(Diagnostic::error(
                origin,
                format!("`{file}`: rw reads config files from disk only (no stdin or URL schemes)"),
            ));
            return;
        }
        let abs = absolute(&self.host.cwd, &file);
        let text = match read_text(&abs) {
            Ok(t) => t,
            Err(e) => {
                self.diags
                    .push(Diagnostic::error(origin, format!("{file}: {e}")));
                return;
            }
        };
        let canonical = std::fs::canonicalize(&abs).unwrap_or_else(|_| abs.clone());
        if let Some(pos) = self
            .stack
            .iter()
            .position(|(p, s)| *p == canonical && s == section)
        {
            let mut chain: Vec<String> = self.stack[pos..]
                .iter()
                .map(|(p, s)| format!("{}:{s}", p.display()))
                .collect();
            chain.push(format!("{}:{section}", canonical.display()));
            self.diags.push(Diagnostic::error(
                origin,
                format!("include loop: {}", chain.join(" -> ")),
            ));
            return;
        }
        if self.stack.len() >= 64 {
            self.diags.push(Diagnostic::error(
                origin,
                "includes nested deeper than 64 files",
            ));
            return;
        }
        let facts = FileFacts {
            path: abs.to_string_lossy().into_owned(),
            given: file.clone(),
            section: if spec.contains(':') {
                section.to_string()
            } else {
                String::new()
            },
            inode: inode(&abs),
        };
        let first = self.first.get_or_insert_with(|| facts.clone()).clone();
        self.last_file = Some(file.clone());
        let shown = file.clone();
        let mut magic_diags = Vec::new();
        let parsed = ini::read_section(&text, section, |line, number| {
            let mut unknown = Vec::new();
            let ctx = MagicCtx {
                current: &facts,
                first: &first,
                host: self.host,
            };
            let out = magic::expand(line, &ctx, &mut unknown);
            let trimmed = line.trim_start();
            let is_comment = trimmed.starts_with(';') || trimmed.starts_with('#');
            if !unknown.is_empty() && !is_comment {
                let o = Origin::File {
                    path: shown.clone(),
                    line: number,
                };
                for c in unknown {
                    let msg = if c == '\0' {
                        "a lone `%` at the end of the line is dropped (write `%%` for a literal %)"
                            .to_string()
                    } else {
                        format!("`%{c}` is not a magic variable and expands to nothing (write `%%{c}` for a literal %{c})")
                    };
                    magic_diags.push(Diagnostic::warning(&o, msg));
                }
            }
            out
        });
        self.diags.extend(magic_diags);
        if !parsed.found {
            self.diags.push(Diagnostic::warning(
                origin,
                format!("no [{section}] section in {file}"),
            ));
        }
        self.stack.push((canonical, section.to_string()));
        for line in parsed.lines {
            let o = Origin::File {
                path: file.clone(),
                line: line.line,
            };
            self.push(line.key, line.value, line.bare, o);
        }
        self.stack.pop();
    }
}

fn absolute(cwd: &str, file: &str) -> PathBuf {
    let p = Path::new(file);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        Path::new(cwd).join(p)
    }
}

fn inode(p: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).map(|m| m.ino()).unwrap_or(0)
}

/// Reads a config file, refusing what cannot be an ini file with a reason.
fn read_text(path: &Path) -> Result<String, String> {
    read_bounded(path, MAX_FILE_BYTES).map_err(|e| {
        if e == "is a directory" {
            "is a directory, not an ini file".to_string()
        } else {
            e
        }
    })
}

/// Reads a regular file of at most `max` bytes as UTF-8 text. Anything else (a directory, a
/// FIFO that would block forever, a device such as /dev/zero that never ends) is refused
/// before it is opened, and a file that grows past `max` while being read is cut off.
pub fn read_bounded(path: &Path, max: u64) -> Result<String, String> {
    use std::io::Read;
    let meta = std::fs::metadata(path).map_err(|e| io_reason(&e))?;
    if meta.is_dir() {
        return Err("is a directory".into());
    }
    if !meta.is_file() {
        return Err(
            "is not a regular file (a FIFO, socket or device); rw reads only regular files here"
                .into(),
        );
    }
    if meta.len() > max {
        return Err(format!(
            "is {} bytes; rw reads config files up to {max} bytes",
            meta.len()
        ));
    }
    let file = std::fs::File::open(path).map_err(|e| io_reason(&e))?;
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_reason(&e))?;
    if bytes.len() as u64 > max {
        return Err(format!("grew past {max} bytes while being read"));
    }
    check_text(&bytes).map(str::to_string)
}

/// Accepts UTF-8 text without NUL bytes; says where the first bad byte is otherwise.
pub fn check_text(bytes: &[u8]) -> Result<&str, String> {
    if let Some(pos) = bytes.iter().position(|&b| b == 0) {
        let line = bytes[..pos].iter().filter(|&&b| b == b'\n').count() + 1;
        return Err(format!(
            "looks like a binary file (NUL byte on line {line}), not an ini file"
        ));
    }
    std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        format!("line {line} is not valid UTF-8; save the file as UTF-8")
    })
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect_file(text: &str, env: &[(&str, &str)]) -> (Vec<Entry>, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.ini");
        std::fs::write(&p, text).unwrap();
        let sources = Sources {
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            args: vec![("ini".into(), Some(p.display().to_string()))],
        };
        let host = HostFacts {
            cwd: dir.path().display().to_string(),
            ..Default::default()
        };
        let Collected {
            entries: e,
            diagnostics: d,
            ..
        } = collect(&sources, &host);
        (e, d.iter().map(|d| d.to_string()).collect())
    }

    #[test]
    fn logic_blocks_keep_drop_and_repeat_with_their_lines() {
        let (e, d) = collect_file(
            "[uwsgi]\nif-env = NOPE\nprocesses = 7\nendif =\nif-env = MODE\nenv = M=%(_)\nend\n\
             for = a b\nsocket = /%(_).sock\nendfor\nfor-times = 2\nx = %(_)\n",
            &[("MODE", "prod")],
        );
        let got: Vec<(String, String, String)> = e
            .iter()
            .map(|e| (e.key.clone(), e.value.clone(), e.origin.to_string()))
            .collect();
        let at = |l: u32| {
            format!(
                "{}:{l}",
                e[0].origin.to_string().rsplit_once(':').unwrap().0
            )
        };
        assert_eq!(
            got,
            vec![
                ("env".into(), "M=prod".into(), at(6)),
                ("socket".into(), "/a.sock".into(), at(9)),
                ("socket".into(), "/b.sock".into(), at(9)),
                ("x".into(), "1".into(), at(12)),
                ("x".into(), "2".into(), at(12)),
            ]
        );
        assert!(d.iter().any(|m| m.contains("never closed")), "{d:?}");
    }

    #[test]
    fn special_files_are_refused_before_they_are_opened() {
        let e = read_bounded(Path::new("/dev/zero"), MAX_FILE_BYTES).unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let e = read_bounded(&fifo, MAX_FILE_BYTES).unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'a'; 100]).unwrap();
        assert!(read_bounded(&big, 10)
            .unwrap_err()
            .contains("up to 10 bytes"));
    }

    #[test]
    fn text_checks() {
        assert!(check_text(b"[uwsgi]\n").is_ok());
        assert!(check_text(b"[uwsgi]\n\0").unwrap_err().contains("line 2"));
        assert!(check_text(b"a\nb\n\xff").unwrap_err().contains("line 3"));
    }
}
