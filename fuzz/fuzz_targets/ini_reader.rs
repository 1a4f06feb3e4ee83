//! Fuzz the ini reader: no panics on any text, every line it returns belongs to the section,
//! and the same text read twice gives the same lines (no hidden state).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rw::config::ini::read_section;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for section in ["uwsgi", "", "x"] {
        let a = read_section(&text, section, |l, _| l.to_string());
        let b = read_section(&text, section, |l, _| l.to_string());
        assert_eq!(a, b);
        let lines = text.split('\n').count() as u32;
        for l in &a.lines {
            assert!(l.line >= 1 && l.line <= lines);
            assert!(!l.key.is_empty());
            assert!(!l.key.contains('\n') && !l.value.contains('\n'));
        }
        if !a.lines.is_empty() {
            assert!(a.found);
        }
    }
});
