//! Fuzz the magic-variable expander and the `$(…)`/`@(…)`/`%(…)` passes: no panics, no
//! unbounded growth, whatever the values and references (loops included).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rw::config::diag::Origin;
use rw::config::expand::{expand_all, Lookups};
use rw::config::load::Entry;
use rw::config::magic::{expand, FileFacts, HostFacts, MagicCtx};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let file = FileFacts {
        path: "/srv/app/uwsgi.ini".into(),
        given: "uwsgi.ini".into(),
        section: String::new(),
        inode: 1,
    };
    let host = HostFacts {
        cwd: "/srv/app".into(),
        hostname: "vm".into(),
        cpus: 2,
        ..HostFacts::default()
    };
    let ctx = MagicCtx {
        current: &file,
        first: &file,
        host: &host,
    };
    let mut unknown = Vec::new();
    let line = expand(&text, &ctx, &mut unknown);
    assert!(line.len() <= 64 * text.len() + 64, "magic expansion grew too much");

    // Up to 8 entries `key=value` from the input's lines, referring to each other freely.
    let mut entries: Vec<Entry> = text
        .split('\n')
        .take(8)
        .enumerate()
        .map(|(i, l)| {
            let (k, v) = l.split_once('=').unwrap_or(("k", l));
            Entry {
                key: if k.is_empty() { format!("k{i}") } else { k.to_string() },
                value: v.to_string(),
                bare: false,
                placeholder: i % 2 == 0,
                origin: Origin::File {
                    path: "uwsgi.ini".into(),
                    line: i as u32 + 1,
                },
            }
        })
        .collect();
    let env = |name: &str| (name.len() < 4).then(|| format!("env-{name}"));
    let read_file = |_: &str| Err::<String, String>("no files while fuzzing".into());
    let look = Lookups {
        env: &env,
        read_file: &read_file,
    };
    let _ = expand_all(&mut entries, &look);
    for e in &entries {
        assert!(e.value.len() <= 1 << 20, "expansion grew without bound");
    }
});
