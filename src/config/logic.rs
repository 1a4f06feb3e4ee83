//! uWSGI's config logic: `if-*` / `for*` blocks closed by `end`, `endif`, `endfor` (and the
//! `end-if`/`end-for` spellings). As in uWSGI the opener is read the moment it appears (its
//! argument is not `%(…)`/`$(…)`-expanded), every following entry up to the closer is passed
//! through it (kept, dropped, or repeated with `%(_)` bound), and blocks do not nest: an opener
//! inside a block that keeps its lines is refused, the first closer ends every block.

use std::path::Path;

/// Which test or loop an opener runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    IfEnv(bool),
    IfOpt(bool),
    IfExists(bool),
    IfFile(bool),
    IfDir(bool),
    IfReload(bool),
    IfHostname(bool),
    IfPlugin(bool),
    /// `if-hostname-match`: needs a regexp engine rw does not carry; taken as false.
    IfHostnameMatch(bool),
    For,
    ForGlob,
    ForTimes,
    ForReadline,
}

/// The opener named `key`, if it is one.
pub fn opener(key: &str) -> Option<Op> {
    Some(match key {
        "if-env" | "ifenv" => Op::IfEnv(true),
        "if-not-env" => Op::IfEnv(false),
        "if-opt" => Op::IfOpt(true),
        "if-not-opt" => Op::IfOpt(false),
        "if-exists" | "ifexists" => Op::IfExists(true),
        "if-not-exists" => Op::IfExists(false),
        "if-file" => Op::IfFile(true),
        "if-not-file" => Op::IfFile(false),
        "if-dir" | "ifdir" | "if-directory" => Op::IfDir(true),
        "if-not-dir" => Op::IfDir(false),
        "if-reload" => Op::IfReload(true),
        "if-not-reload" => Op::IfReload(false),
        "if-hostname" => Op::IfHostname(true),
        "if-not-hostname" => Op::IfHostname(false),
        "if-plugin" | "ifplugin" => Op::IfPlugin(true),
        "if-not-plugin" => Op::IfPlugin(false),
        "if-hostname-match" => Op::IfHostnameMatch(true),
        "if-not-hostname-match" => Op::IfHostnameMatch(false),
        "for" => Op::For,
        "for-glob" => Op::ForGlob,
        "for-times" => Op::ForTimes,
        "for-readline" => Op::ForReadline,
        _ => return None,
    })
}

/// The most entries one loop may produce per body line: bounds memory on `for-times = 1e9`.
pub const MAX_ITERATIONS: usize = 10_000;

/// What a block's test may look at (gathered by the loader; only file reads beyond it).
pub struct World<'a> {
    pub cwd: &'a str,
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// The value of the first entry so far with this key (`if-opt`).
    pub opt: &'a dyn Fn(&str) -> Option<String>,
    pub reloading: bool,
    pub hostname: &'a str,
    pub read_file: &'a dyn Fn(&Path) -> Result<String, String>,
}

/// The values `(op, arg)` binds to `%(_)` for each entry of its body: empty when the block
/// is false, one value per iteration for loops. `None` inside means "no binding" (`%(_)`
/// stays as written, as uWSGI does when there is nothing to bind). Errors are for loops that
/// cannot run (an unreadable `for-readline` file, too many iterations).
pub fn bindings(op: Op, arg: &str, w: &World) -> Result<Vec<Option<String>>, String> {
    let one = |keep: bool, bind: Option<String>| if keep { vec![bind] } else { vec![] };
    let path = |p: &str| {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            Path::new(w.cwd).join(p)
        }
    };
    Ok(match op {
        Op::IfEnv(want) | Op::IfOpt(want) => {
            let (name, expect) = match arg.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (arg, None),
            };
            let got = if matches!(op, Op::IfEnv(_)) {
                (w.env)(name)
            } else {
                (w.opt)(name)
            };
            let matched = match (&got, expect) {
                (Some(g), Some(e)) => g == e,
                (Some(_), None) => true,
                (None, _) => false,
            };
            one(matched == want, got)
        }
        Op::IfExists(want) => one(path(arg).exists() == want, Some(arg.to_string())),
        Op::IfFile(want) => one(path(arg).is_file() == want, Some(arg.to_string())),
        Op::IfDir(want) => one(path(arg).is_dir() == want, Some(arg.to_string())),
        Op::IfReload(want) => one(w.reloading == want, None),
        Op::IfHostname(want) => one((w.hostname == arg) == want, Some(arg.to_string())),
        Op::IfPlugin(want) => one(plugin_built_in(arg) == want, Some(arg.to_string())),
        Op::IfHostnameMatch(want) => one(!want, Some(arg.to_string())),
        Op::For => arg
            .split(' ')
            .filter(|t| !t.is_empty())
            .map(|t| Some(t.to_string()))
            .collect(),
        Op::ForTimes => {
            let (n, _) = super::value::atoi(arg);
            if n > MAX_ITERATIONS as i128 {
                return Err(format!(
                    "for-times = {arg} repeats each line more than {MAX_ITERATIONS} times"
                ));
            }
            (1..=n.max(0)).map(|i| Some(i.to_string())).collect()
        }
        Op::ForGlob => {
            let mut found = glob(&path(arg), arg)?;
            if found.is_empty() {
                // GLOB_NOCHECK: no match gives the pattern itself.
                found.push(arg.to_string());
            }
            found.into_iter().map(Some).collect()
        }
        Op::ForReadline => {
            let text =
                (w.read_file)(&path(arg)).map_err(|e| format!("for-readline: {arg}: {e}"))?;
            let mut out = Vec::new();
            for line in text.split_inclusive('\n') {
                // fgets with a 1024-byte buffer: longer lines come in 1023-byte pieces.
                let mut rest = line;
                while !rest.is_empty() {
                    let mut cut = rest.len().min(1023);
                    while !rest.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    let (piece, tail) = rest.split_at(cut.max(1));
                    out.push(Some(piece.trim_end_matches(['\r', '\n']).to_string()));
                    rest = tail;
                }
            }
            if out.len() > MAX_ITERATIONS {
                return Err(format!(
                    "for-readline: {arg} has more than {MAX_ITERATIONS} lines"
                ));
            }
            out
        }
    })
}

/// Plugins the usual uWSGI build has compiled in (what `if-plugin` sees there).
fn plugin_built_in(name: &str) -> bool {
    name.starts_with("python")
        || [
            "http",
            "corerouter",
            "gevent",
            "cheaper_busyness",
            "logfile",
            "syslog",
            "rsyslog",
            "logsocket",
            "router_static",
            "router_rewrite",
            "router_redirect",
            "router_uwsgi",
            "router_http",
            "router_cache",
            "router_basicauth",
            "router_hash",
            "router_expires",
            "router_metrics",
            "cache",
            "ping",
            "rpc",
            "signal",
            "spooler",
            "symcall",
            "ugreen",
            "zergpool",
            "rawrouter",
            "fastrouter",
            "sslrouter",
            "carbon",
            "nagios",
            "rrdtool",
        ]
        .contains(&name)
}

/// `%(_)` replaced by `bind` in `value` (uWSGI substitutes the raw text, before expansion).
pub fn bind(value: &str, bind: Option<&str>) -> String {
    match bind {
        Some(b) => value.replace("%(_)", b),
        None => value.to_string(),
    }
}

/// glob(3) with GLOB_MARK over `abs` (the pattern made absolute); results are given relative
/// when `given` was, sorted, directories with a trailing `/`.
fn glob(abs: &Path, given: &str) -> Result<Vec<String>, String> {
    let prefix_len = abs.to_string_lossy().len() - given.len();
    let mut current = vec![String::from(if abs.is_absolute() { "/" } else { "" })];
    let comps: Vec<String> = abs
        .components()
        .filter(|c| !matches!(c, std::path::Component::RootDir))
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    for (i, comp) in comps.iter().enumerate() {
        let last = i + 1 == comps.len();
        let mut next = Vec::new();
        for base in &current {
            if !has_wildcard(comp) {
                let p = format!("{base}{comp}");
                if Path::new(&p).exists() || (!last && Path::new(&p).is_dir()) {
                    next.push(if last { p } else { format!("{p}/") });
                }
                continue;
            }
            let dir = if base.is_empty() { "." } else { base.as_str() };
            let Ok(rd) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut names: Vec<String> = rd
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| (!n.starts_with('.') || comp.starts_with('.')) && fnmatch(comp, n))
                .collect();
            names.sort();
            for n in names {
                let p = format!("{base}{n}");
                if last {
                    next.push(p);
                } else if Path::new(&p).is_dir() {
                    next.push(format!("{p}/"));
                }
            }
            if next.len() > MAX_ITERATIONS {
                return Err(format!(
                    "for-glob: {given} matches more than {MAX_ITERATIONS} paths"
                ));
            }
        }
        current = next;
    }
    Ok(current
        .into_iter()
        .map(|p| {
            let marked = if Path::new(&p).is_dir() && !p.ends_with('/') {
                format!("{p}/")
            } else {
                p
            };
            marked.get(prefix_len..).unwrap_or(&marked).to_string()
        })
        .collect())
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Shell-style match of `*`, `?` and `[…]` (with `!`/`^` negation and ranges).
fn fnmatch(pat: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pat.chars().collect(), name.chars().collect());
    fn go(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len()).any(|i| go(&p[1..], &n[i..])),
            Some('?') => !n.is_empty() && go(&p[1..], &n[1..]),
            Some('[') => {
                let Some(close) = p.iter().skip(2).position(|&c| c == ']').map(|i| i + 2) else {
                    return n.first() == Some(&'[') && go(&p[1..], &n[1..]);
                };
                let Some(&c) = n.first() else { return false };
                let mut set = &p[1..close];
                let negate = matches!(set.first(), Some('!') | Some('^'));
                if negate {
                    set = &set[1..];
                }
                let mut hit = false;
                let mut i = 0;
                while i < set.len() {
                    if i + 2 < set.len() && set[i + 1] == '-' {
                        hit |= set[i] <= c && c <= set[i + 2];
                        i += 3;
                    } else {
                        hit |= set[i] == c;
                        i += 1;
                    }
                }
                hit != negate && go(&p[close + 1..], &n[1..])
            }
            Some(&c) => n.first() == Some(&c) && go(&p[1..], &n[1..]),
        }
    }
    go(&p, &n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world<'a>(
        cwd: &'a str,
        env: &'a dyn Fn(&str) -> Option<String>,
        opt: &'a dyn Fn(&str) -> Option<String>,
        read: &'a dyn Fn(&Path) -> Result<String, String>,
    ) -> World<'a> {
        World {
            cwd,
            env,
            opt,
            reloading: false,
            hostname: "web1",
            read_file: read,
        }
    }

    #[test]
    fn conditions_bind_as_uwsgi() {
        let env = |k: &str| (k == "DEPLOY").then(|| "prod".to_string());
        let opt = |k: &str| (k == "processes").then(|| "4".to_string());
        let read = |_: &Path| Ok("a\nb\r\n\nc".to_string());
        let w = world("/", &env, &opt, &read);
        assert_eq!(
            bindings(Op::IfEnv(true), "DEPLOY", &w).unwrap(),
            vec![Some("prod".into())]
        );
        assert_eq!(
            bindings(Op::IfEnv(true), "DEPLOY=prod", &w).unwrap().len(),
            1
        );
        assert!(bindings(Op::IfEnv(true), "DEPLOY=dev", &w)
            .unwrap()
            .is_empty());
        assert!(bindings(Op::IfEnv(true), "NOPE", &w).unwrap().is_empty());
        assert_eq!(bindings(Op::IfEnv(false), "NOPE", &w).unwrap(), vec![None]);
        assert!(bindings(Op::IfEnv(false), "DEPLOY", &w).unwrap().is_empty());
        assert_eq!(
            bindings(Op::IfEnv(false), "DEPLOY=dev", &w).unwrap(),
            vec![Some("prod".into())]
        );
        assert_eq!(
            bindings(Op::IfOpt(true), "processes=4", &w).unwrap().len(),
            1
        );
        assert_eq!(
            bindings(Op::IfDir(true), "/", &w).unwrap(),
            vec![Some("/".into())]
        );
        assert!(bindings(Op::IfFile(true), "/", &w).unwrap().is_empty());
        assert_eq!(bindings(Op::IfReload(false), "", &w).unwrap(), vec![None]);
        assert_eq!(
            bindings(Op::For, " a  b ", &w).unwrap(),
            vec![Some("a".into()), Some("b".into())]
        );
        assert_eq!(bindings(Op::ForTimes, "3", &w).unwrap().len(), 3);
        assert!(bindings(Op::ForTimes, "0", &w).unwrap().is_empty());
        assert!(bindings(Op::ForTimes, "99999999", &w).is_err());
        let lines = bindings(Op::ForReadline, "x", &w).unwrap();
        assert_eq!(
            lines,
            vec![
                Some("a".into()),
                Some("b".into()),
                Some("".into()),
                Some("c".into())
            ]
        );
    }

    #[test]
    fn glob_marks_dirs_and_falls_back_to_the_pattern() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("a.ini"), "").unwrap();
        std::fs::write(dir.path().join("b.ini"), "").unwrap();
        std::fs::write(dir.path().join(".h.ini"), "").unwrap();
        let cwd = dir.path().to_str().unwrap();
        let env = |_: &str| None;
        let read = |_: &Path| Err(String::new());
        let w = world(cwd, &env, &env, &read);
        assert_eq!(
            bindings(Op::ForGlob, "*.ini", &w).unwrap(),
            vec![Some("a.ini".into()), Some("b.ini".into())]
        );
        assert_eq!(
            bindings(Op::ForGlob, "s*", &w).unwrap(),
            vec![Some("sub/".into())]
        );
        let abs = format!("{cwd}/[ab].ini");
        assert_eq!(bindings(Op::ForGlob, &abs, &w).unwrap().len(), 2);
        assert_eq!(
            bindings(Op::ForGlob, "*.none", &w).unwrap(),
            vec![Some("*.none".into())]
        );
    }

    #[test]
    fn fnmatch_basics() {
        assert!(fnmatch("*.ini", "a.ini"));
        assert!(!fnmatch("*.ini", "a.conf"));
        assert!(fnmatch("a?c", "abc"));
        assert!(fnmatch("[!x]b", "ab"));
        assert!(!fnmatch("[!a]b", "ab"));
        assert!(fnmatch("[a-c]", "b"));
    }
}
