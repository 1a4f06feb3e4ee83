//! The corpus of realistic configs in tests/fixtures/corpus/ (conditionals, loops, inline
//! comments, placeholders, Paste sections, plugins lines, strict mode, typos, traps).
//!
//! 1. What `rw check-config --json` resolves for each file is what the real uWSGI 2.0
//!    resolves for it: uWSGI's answers (its `--show-config` list, run from the pyuwsgi
//!    wheel) are recorded in `uwsgi-resolved.json` by tools/uwsgi-corpus.py, and every
//!    option, list, placeholder and not-implemented option is compared with them, read
//!    the way uWSGI's C setters read them (atoi, its boolean words). Options rw has that
//!    uWSGI's list lacks are failures too (an `if` body applied when it should not be).
//! 2. `check-config` exits 1 exactly when `rw serve` refuses to start, file by file.
//!
//! Where rw deliberately differs from uWSGI, [`DIFFERENCES`] says so and why.

use crate::util::{children_of, fixture, free_port, rw, text};
use rw::config::compat::{self, Class};
use rw::config::options::Kind;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// Files where rw deliberately differs from uWSGI: (file, options not compared, why).
const DIFFERENCES: &[(&str, &[&str], &str)] = &[(
    "03-production-circulating.ini",
    &["strict"],
    "uWSGI's strict mode refuses the widespread misspelling `py-callos-afterfork` (it is not \
     an option) and exits; rw accepts that one name with a warning, also under strict, so the \
     circulating production config loads (issue 10). rw is compared with uWSGI's resolution \
     of the file without its strict line.",
)];

fn corpus_files() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(fixture("corpus"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".ini"))
        .collect();
    v.sort();
    v
}

/// The `; env: K=V` lines of a corpus file's header.
fn env_of(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("; env: "))
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// A command run in `dir` with the file's environment and nothing inherited that would
/// change the config (`UWSGI_*`, the reload counter).
fn command(dir: &Path, env: &[(String, String)]) -> std::process::Command {
    let mut c = rw();
    c.current_dir(dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("UWSGI_") || k == "RW_RELOADS" {
            c.env_remove(k);
        }
    }
    c.envs(env.iter().map(|(k, v)| (k, v)));
    c
}

/// C `atoi`/`strtoul`: leading blanks, a sign, digits; the rest ignored.
fn c_number(s: &str) -> i64 {
    let t = s.trim_start();
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let digits: String = t.chars().take_while(|c| c.is_ascii_digit()).collect();
    let n: i64 = digits.parse().unwrap_or(0);
    if neg {
        -n
    } else {
        n
    }
}

/// uWSGI's `uwsgi_opt_true`: false only for false/off/no (any case) and exactly `0`.
fn c_bool(s: &str) -> bool {
    !(["false", "off", "no"]
        .iter()
        .any(|w| s.eq_ignore_ascii_case(w))
        || s == "0")
}

/// What rw's JSON must hold for uWSGI's entry list, read as uWSGI's setters read it.
#[derive(Default, Debug)]
struct Expected {
    scalars: BTreeMap<&'static str, (String, Kind)>,
    lists: BTreeMap<&'static str, Vec<String>>,
    not_implemented: BTreeMap<&'static str, Vec<String>>,
    placeholders: BTreeMap<String, String>,
}

fn expected_from(entries: &[(String, String)]) -> Expected {
    let mut x = Expected::default();
    for (k, v) in entries {
        if [
            "ini",
            "include",
            "inherit",
            "set",
            "set-ph",
            "set-placeholder",
        ]
        .contains(&k.as_str())
        {
            continue;
        }
        match compat::classify(k) {
            Class::Logic => {}
            Class::Table(spec) if spec.kind == Kind::Include => {}
            Class::Table(spec) if spec.multi => {
                x.lists.entry(spec.name).or_default().push(v.clone())
            }
            Class::Table(spec) => {
                x.scalars.insert(spec.name, (v.clone(), spec.kind));
            }
            Class::NotImplemented(u) => {
                x.not_implemented.entry(u.name).or_default().push(v.clone())
            }
            Class::Placeholder => {
                x.placeholders.entry(k.clone()).or_insert(v.clone());
            }
        }
    }
    x
}

/// The value rw must report for uWSGI's raw text `raw` of an option of `kind`.
fn typed(name: &str, raw: &str, kind: Kind) -> Value {
    match kind {
        Kind::Bool => Value::from(c_bool(raw)),
        Kind::Mode if raw == "1" => Value::from(0o666),
        Kind::Mode => Value::from(i64::from_str_radix(raw, 8).unwrap_or(-1)),
        Kind::Int | Kind::Seconds | Kind::Bytes | Kind::Megabytes => Value::from(c_number(raw)),
        Kind::Bytes16 => Value::from(c_number(raw).min(65535)),
        _ => {
            let _ = name;
            Value::from(raw)
        }
    }
}

/// Replaces the copy's path by `{dir}` in every string of rw's JSON, as the recording does.
fn normalise(v: &mut Value, dir: &str) {
    match v {
        Value::String(s) => *s = s.replace(dir, "{dir}"),
        Value::Array(a) => a.iter_mut().for_each(|x| normalise(x, dir)),
        Value::Object(o) => o.values_mut().for_each(|x| normalise(x, dir)),
        _ => {}
    }
}

fn compare(name: &str, x: &Expected, got: &Value) -> Vec<String> {
    let mut bad = Vec::new();
    let opts = got["options"].as_object().cloned().unwrap_or_default();
    for (opt, (raw, kind)) in &x.scalars {
        let want = typed(opt, raw, *kind);
        if opts.get(*opt) != Some(&want) {
            bad.push(format!(
                "{opt}: uWSGI {want} (from `{raw}`), rw {:?}",
                opts.get(*opt)
            ));
        }
    }
    for (opt, raws) in &x.lists {
        let want = Value::from(raws.clone());
        if opts.get(*opt) != Some(&want) {
            bad.push(format!("{opt}: uWSGI {want}, rw {:?}", opts.get(*opt)));
        }
    }
    for k in opts.keys() {
        if !x.scalars.contains_key(k.as_str()) && !x.lists.contains_key(k.as_str()) {
            bad.push(format!("{k}: set by rw ({}) but not by uWSGI", opts[k]));
        }
    }
    let ni = got["not_implemented"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let want_ni: serde_json::Map<String, Value> = x
        .not_implemented
        .iter()
        .map(|(k, v)| (k.to_string(), Value::from(v.clone())))
        .collect();
    if ni != want_ni {
        bad.push(format!("not implemented: uWSGI {want_ni:?}, rw {ni:?}"));
    }
    let ph = got["placeholders"].as_object().cloned().unwrap_or_default();
    let want_ph: serde_json::Map<String, Value> = x
        .placeholders
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
        .collect();
    if ph != want_ph {
        bad.push(format!("placeholders: uWSGI {want_ph:?}, rw {ph:?}"));
    }
    bad.into_iter().map(|b| format!("{name}: {b}")).collect()
}

fn recorded() -> Value {
    let text = std::fs::read_to_string(fixture("corpus/uwsgi-resolved.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn entries(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e[0].as_str().unwrap().to_string(),
                e[1].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn corpus_resolves_as_uwsgi_does() {
    let files = corpus_files();
    assert!(files.len() >= 30, "only {} corpus files", files.len());
    let rec = recorded();
    let tmp = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut agree = 0;
    for name in &files {
        let dir = tmp.path().join(name.trim_end_matches(".ini"));
        copy_dir(&fixture("corpus"), &dir);
        let body = std::fs::read_to_string(dir.join(name)).unwrap();
        let r = &rec[name.as_str()];
        assert!(
            r.is_object(),
            "{name} has no recording: run tools/uwsgi-corpus.py"
        );
        let out = command(&dir, &env_of(&body))
            .args(["check-config", "--json", name])
            .output()
            .unwrap();
        let code = out.status.code();
        let refused = r["refused"].as_bool().unwrap();
        let uwsgi_entries = if refused {
            if DIFFERENCES.iter().any(|(f, _, _)| f == name) {
                assert_eq!(code, Some(0), "{name} must load:\n{}", text(&out));
                Some(entries(&r["entries_without_strict"]))
            } else {
                if code != Some(1) {
                    failures.push(format!(
                        "{name}: uWSGI refuses it ({}), rw check-config exits {code:?}",
                        r["message"]
                    ));
                }
                None
            }
        } else {
            Some(entries(&r["entries"]))
        };
        let Some(uw) = uwsgi_entries else {
            agree += 1;
            continue;
        };
        let mut got: Value = match serde_json::from_slice(&out.stdout) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{name}: no JSON ({e}):\n{}", text(&out)));
                continue;
            }
        };
        normalise(&mut got, &dir.display().to_string());
        if let Some((_, skip, _)) = DIFFERENCES.iter().find(|(f, _, _)| f == name) {
            for k in *skip {
                got["options"].as_object_mut().map(|o| o.remove(*k));
            }
        }
        let bad = compare(name, &expected_from(&uw), &got);
        if bad.is_empty() {
            agree += 1;
        }
        failures.extend(bad);
    }
    assert!(
        failures.is_empty(),
        "{agree}/{} corpus files resolve as uWSGI does; differences:\n{}",
        files.len(),
        failures.join("\n")
    );
}

/// Spot checks that name the values, so a reader sees what the recording says.
#[test]
fn corpus_spot_values() {
    let tmp = tempfile::tempdir().unwrap();
    let json = |name: &str| -> Value {
        let dir = tmp.path().join(name);
        copy_dir(&fixture("corpus"), &dir);
        let body = std::fs::read_to_string(dir.join(name)).unwrap();
        let out = command(&dir, &env_of(&body))
            .args(["check-config", "--json", name])
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{name}: {e}\n{}", text(&out)))
    };
    let v = json("05-if-env-false.ini");
    assert_eq!(
        v["options"]["processes"], 2,
        "a false if-env body must not apply"
    );
    assert!(v["options"].get("harakiri").is_none());
    let v = json("06-if-env-true.ini");
    assert_eq!(v["options"]["processes"], 4);
    assert_eq!(
        v["options"]["env"],
        serde_json::json!(["APP_ENV=production"])
    );
    let v = json("04-inline-comments.ini");
    assert_eq!(v["options"]["harakiri"], 30);
    assert_eq!(v["options"]["processes"], 3);
    let v = json("11-math.ini");
    assert_eq!(v["options"]["processes"], 4);
    assert_eq!(
        v["options"]["listen"], 0,
        "listen is immediate in uWSGI: no expansion"
    );
    assert_eq!(
        v["options"]["max-requests"], 200,
        "`%(cores 00)` concatenates"
    );
    let v = json("25-post-buffering.ini");
    assert_eq!(v["options"]["post-buffering"], 0, "uWSGI reads `true` as 0");
    let v = json("26-sizes-with-suffix.ini");
    assert_eq!(v["options"]["buffer-size"], 32, "uWSGI reads `32k` as 32");
    let v = json("29-nested-false-block.ini");
    assert_eq!(v["options"]["threads"], 5);
    assert!(v["options"].get("processes").is_none());
}

/// The two outcomes of `rw serve` on a config: refused (exited non-zero) or running.
fn serve_refuses(dir: &Path, name: &str, env: &[(String, String)]) -> (bool, String) {
    let log = dir.join("serve.log");
    let out = std::fs::File::create(&log).unwrap();
    let mut child = command(dir, env)
        .args(["serve", "--ini", name])
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let refused = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break !st.success();
        }
        let t = std::fs::read_to_string(&log).unwrap_or_default();
        if t.contains("spawned rw worker") {
            break false;
        }
        if Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let workers = children_of(child.id() as i32);
    // SAFETY: signalling the rw we started; SIGINT is its graceful stop.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let stop = Instant::now() + Duration::from_secs(15);
    while child.try_wait().unwrap().is_none() && Instant::now() < stop {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    for w in workers {
        // SAFETY: a worker of the master we started.
        unsafe { libc::kill(w, libc::SIGKILL) };
    }
    (refused, std::fs::read_to_string(&log).unwrap_or_default())
}

#[test]
fn check_config_fails_exactly_when_serve_refuses() {
    let tmp = tempfile::tempdir().unwrap();
    let mut mismatches = Vec::new();
    for name in corpus_files() {
        let dir = tmp.path().join(name.trim_end_matches(".ini"));
        copy_dir(&fixture("corpus"), &dir);
        // Each server gets its own port.
        let port = free_port().to_string();
        let body = std::fs::read_to_string(dir.join(&name))
            .unwrap()
            .replace("8000", &port);
        std::fs::write(dir.join(&name), &body).unwrap();
        let env: Vec<(String, String)> = env_of(&body);
        let check = command(&dir, &env)
            .args(["check-config", &name])
            .output()
            .unwrap();
        let (refused, log) = serve_refuses(&dir, &name, &env);
        let check_fails = check.status.code() == Some(1);
        if check_fails != refused {
            mismatches.push(format!(
                "{name}: check-config exits {:?}, serve {}\n--- check-config:\n{}--- serve:\n{log}",
                check.status.code(),
                if refused { "refuses" } else { "starts" },
                text(&check)
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
