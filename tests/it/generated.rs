//! The committed man/, completions/ and README option table must match fresh output.
//! `RW_BLESS=1 cargo test` rewrites them.

use crate::util::{bless, root, rw, text};
use std::path::Path;

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn man_pages_and_completions_are_fresh() {
    let tmp = tempfile::tempdir().unwrap();
    let out = rw()
        .args(["generate", "--out"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let mut stale = Vec::new();
    for sub in ["man", "completions"] {
        let fresh_dir = tmp.path().join(sub);
        let committed_dir = root().join(sub);
        if bless() {
            let _ = std::fs::remove_dir_all(&committed_dir);
            std::fs::create_dir_all(&committed_dir).unwrap();
            for f in files(&fresh_dir) {
                std::fs::copy(fresh_dir.join(&f), committed_dir.join(&f)).unwrap();
            }
            continue;
        }
        if files(&fresh_dir) != files(&committed_dir) {
            stale.push(format!("{sub}/: file set differs"));
            continue;
        }
        for f in files(&fresh_dir) {
            if std::fs::read(fresh_dir.join(&f)).unwrap()
                != std::fs::read(committed_dir.join(&f)).unwrap()
            {
                stale.push(format!("{sub}/{f}"));
            }
        }
    }
    assert!(
        stale.is_empty(),
        "stale generated files {stale:?}: run `RW_BLESS=1 cargo test --test it generated` and commit"
    );
    let names = files(&root().join("man"));
    for sub in [
        "rw.1",
        "rw-serve.1",
        "rw-stop.1",
        "rw-reload.1",
        "rw-check-config.1",
        "rw-top.1",
        "rw-connect-and-read.1",
    ] {
        assert!(names.contains(&sub.to_string()), "man/{sub} missing");
    }
}

#[test]
fn completions_offer_files_for_ini_and_pidfiles() {
    let bash = std::fs::read_to_string(root().join("completions/rw.bash")).unwrap();
    assert!(bash.contains("--ini)"), "bash completion knows --ini");
    assert!(bash.contains("compgen -f"), "bash completes file names");
    let zsh = std::fs::read_to_string(root().join("completions/_rw")).unwrap();
    assert!(
        zsh.contains("--ini=[") && zsh.contains(":_files"),
        "zsh completes files for --ini"
    );
    assert!(
        zsh.contains(":pidfile -- The pidfile"),
        "zsh knows the pidfile argument"
    );
    let serve_man = std::fs::read_to_string(root().join("man/rw-serve.1")).unwrap();
    assert!(
        serve_man.contains("harakiri"),
        "the serve man page lists the uWSGI options"
    );
}

const BEGIN: &str = "<!-- options:begin (generated from src/config/options.rs; RW_BLESS=1 cargo test rewrites) -->\n";
const END: &str = "<!-- options:end -->";

#[test]
fn readme_option_table_is_fresh() {
    let path = root().join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let start = readme
        .find(BEGIN)
        .expect("README has the options:begin marker")
        + BEGIN.len();
    let end = readme.find(END).expect("README has the options:end marker");
    let fresh = rw::cli::generate::options_markdown();
    if bless() {
        let mut s = readme[..start].to_string();
        s.push_str(&fresh);
        s.push_str(&readme[end..]);
        std::fs::write(&path, s).unwrap();
        return;
    }
    assert!(
        readme[start..end] == fresh,
        "README option table is stale: run `RW_BLESS=1 cargo test --test it generated` and commit"
    );
}

#[test]
fn vocabulary_doc_is_fresh() {
    let path = root().join("docs/uwsgi-options.md");
    let fresh = rw::cli::generate::vocabulary_markdown();
    if bless() {
        std::fs::write(&path, &fresh).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "docs/uwsgi-options.md is stale: run `RW_BLESS=1 cargo test --test it generated` and commit"
    );
}
