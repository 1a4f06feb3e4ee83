//! `rw check-config` against good and bad fixtures, the reference config, and hostile files.

use crate::util::{fixture, run, text};
use std::path::Path;

/// Each bad fixture states its expected diagnostic on its first line: `# expect: LINE: rest`.
#[test]
fn every_bad_fixture_reports_its_line_and_fails() {
    let dir = fixture("check/bad");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("ini") {
            continue;
        }
        let body = std::fs::read_to_string(&path).unwrap();
        let expect = body
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} has no `# expect:` line", path.display()));
        let (line, rest) = expect.split_once(": ").unwrap();
        let want = format!("{}:{line}: {rest}", path.display());
        let out = run(&["check-config", path.to_str().unwrap()]);
        let all = text(&out);
        assert_eq!(out.status.code(), Some(1), "{}:\n{all}", path.display());
        assert!(all.contains(&want), "want `{want}` in:\n{all}");
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} bad fixtures found");
}

#[test]
fn good_fixtures_pass_even_with_strict() {
    for name in ["minimal.ini", "sections.ini"] {
        let path = fixture("check/good").join(name);
        let out = run(&["check-config", "--strict", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{name}:\n{}", text(&out));
    }
}

#[test]
fn sections_includes_and_placeholders_resolve() {
    let path = fixture("check/good/sections.ini");
    let out = run(&["check-config", "--json", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let dir = format!("{}/", path.parent().unwrap().display());
    let o = &v["options"];
    assert_eq!(o["socket"], serde_json::json!([format!("{dir}demo.sock")]));
    assert_eq!(o["module"], "demo.wsgi");
    assert_eq!(o["processes"], 3);
    assert_eq!(o["http-socket"], serde_json::json!(["127.0.0.1:9000"]));
    assert_eq!(
        o["env"],
        serde_json::json!(["DJANGO_SETTINGS_MODULE=demo.settings", "LANG=C.UTF-8"])
    );
    assert_eq!(v["placeholders"]["project"], "demo");
}

#[test]
fn other_section_is_selected_with_colon() {
    let dir = tempfile::tempdir().unwrap();
    let ini = dir.path().join("app.ini");
    std::fs::write(
        &ini,
        "[uwsgi]\nhttp = :1\nprocesses = 2\n[prod]\nhttp = :2\nprocesses = 8\n",
    )
    .unwrap();
    let spec = format!("{}:prod", ini.display());
    let out = run(&["check-config", "--json", &spec]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["options"]["processes"], 8, "{}", text(&out));
}

/// Copies the reference config into `dir`, pointing /srv/app there and creating what it names.
fn make_reference(dir: &Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(fixture("reference/uwsgi.ini")).unwrap();
    let root = dir.display().to_string();
    for sub in ["uwsgi", "static", ".venv"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::write(dir.join("app.py"), "def application(e, s):\n    pass\n").unwrap();
    let ini = dir.join("uwsgi.ini");
    std::fs::write(&ini, text.replace("/srv/app", &root)).unwrap();
    ini
}

#[test]
fn reference_config_checks_clean_and_resolves_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let ini = make_reference(dir.path());
    let out = run(&["check-config", "--json", ini.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let want = format!("{}/uwsgi/uwsgi.sock", dir.path().display());
    assert_eq!(v["options"]["socket"], serde_json::json!([want]));
    assert_eq!(v["options"]["processes"], 4);
    assert_eq!(v["options"]["master"], true);
    assert_eq!(v["options"]["buffer-size"], 32768);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("error:"), "{stderr}");
}

#[test]
fn hostile_files_get_a_clear_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "binary.ini",
            b"[uwsgi]\nhttp = :1\n\x00\x01\x02".to_vec(),
            "looks like a binary file (NUL byte on line 3)",
        ),
        (
            "latin1.ini",
            b"[uwsgi]\nhttp = :1\nname = caf\xe9\n".to_vec(),
            "line 3 is not valid UTF-8",
        ),
        (
            "huge.ini",
            {
                let mut v = b"[uwsgi]\n".to_vec();
                v.resize(10 << 20, b'#');
                v
            },
            "rw reads config files up to",
        ),
        (
            "deep.ini",
            format!(
                "[uwsgi]\nhttp = :1\nx = {}{}\n",
                "%(".repeat(5000),
                ")".repeat(5000)
            )
            .into_bytes(),
            "error:",
        ),
        (
            "longpath.ini",
            format!("[uwsgi]\nhttp = :1\nchdir = /{}\n", "a/".repeat(4000)).into_bytes(),
            "does not exist",
        ),
    ];
    for (name, bytes, want) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = run(&["check-config", path.to_str().unwrap()]);
        let all = text(&out);
        assert_eq!(out.status.code(), Some(1), "{name}: {all}");
        assert!(all.contains(want), "{name}: want `{want}` in {all}");
        assert!(!all.contains("panicked"), "{name}: {all}");
    }
}

#[test]
fn missing_file_and_usage_errors() {
    let out = run(&["check-config", "/nonexistent/uwsgi.ini"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("command line: error: /nonexistent/uwsgi.ini: no such file"),
        "{}",
        text(&out)
    );
    let out = run(&["check-config"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["check-config", "a.ini", "--bogus"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn warnings_fail_only_with_strict() {
    let dir = tempfile::tempdir().unwrap();
    let ini = dir.path().join("w.ini");
    std::fs::write(&ini, "[uwsgi]\nhttp = :8000\nmodule = app\nlonely = 1\n").unwrap();
    let p = ini.to_str().unwrap();
    let out = run(&["check-config", p]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("{p}:4: warning: `lonely` is not a uWSGI option")),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains(&format!("{p}:1: warning: SIGTERM will reload")),
        "{}",
        text(&out)
    );
    let out = run(&["check-config", "--strict", p]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn environment_and_command_line_precedence() {
    let dir = tempfile::tempdir().unwrap();
    let ini = dir.path().join("q.ini");
    std::fs::write(
        &ini,
        "[uwsgi]\nhttp = :8000\nprocesses = 4\nhome = $(RW_TEST_HOME)/venv\n",
    )
    .unwrap();
    let out = crate::util::rw()
        .args(["check-config", "--json", ini.to_str().unwrap()])
        .env("UWSGI_PROCESSES", "3")
        .env("UWSGI_HARAKIRI", "9")
        .env("RW_TEST_HOME", dir.path())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The file comes after the environment, so its scalar wins; the env still sets the rest.
    assert_eq!(v["options"]["processes"], 4, "{}", text(&out));
    assert_eq!(v["options"]["harakiri"], 9);
    assert_eq!(
        v["options"]["home"],
        format!("{}/venv", dir.path().display())
    );
}

/// Runs `rw args…` and kills it after `secs` (a read that blocks forever must not hang).
fn run_bounded(args: &[&str], secs: u64) -> (Option<i32>, String) {
    let mut child = crate::util::rw()
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("rw {args:?} still running after {secs} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (out.status.code(), text(&out))
}

#[test]
fn file_expansion_refuses_devices_and_fifos_with_file_line() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("secret.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    for target in ["/dev/zero".to_string(), fifo.display().to_string()] {
        let ini = dir.path().join("at.ini");
        std::fs::write(&ini, format!("[uwsgi]\nhttp = :8000\npw = @({target})\n")).unwrap();
        let p = ini.to_str().unwrap();
        let (code, all) = run_bounded(&["check-config", p], 20);
        assert_eq!(code, Some(1), "{all}");
        assert!(
            all.contains(&format!("{p}:3: error: @({target}): is not a regular file")),
            "{all}"
        );
        // serve refuses the same way, without blocking or growing.
        let (code, all) = run_bounded(&["serve", "--ini", p], 20);
        assert_eq!(code, Some(1), "{all}");
        assert!(all.contains("is not a regular file"), "{all}");
    }
}

#[test]
fn absurd_numbers_fail_with_the_range_before_serving() {
    let dir = tempfile::tempdir().unwrap();
    let ini = dir.path().join("t.ini");
    std::fs::write(&ini, "[uwsgi]\nhttp = 127.0.0.1:1\nthreads = 4294967296\n").unwrap();
    let p = ini.to_str().unwrap();
    let want =
        format!("{p}:3: error: threads: 4294967296 is out of range: write a number from 0 to 4096");
    let (code, all) = run_bounded(&["check-config", p], 20);
    assert_eq!(code, Some(1), "{all}");
    assert!(all.contains(&want), "{all}");
    let (code, all) = run_bounded(&["serve", "--ini", p], 20);
    assert_eq!(code, Some(1), "{all}");
    assert!(all.contains(&want), "{all}");
    assert!(!all.contains("Cannot allocate memory"), "{all}");
}
