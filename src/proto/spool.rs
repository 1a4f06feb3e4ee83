//! uWSGI's spool files, as bytes: a uwsgi packet (modifier1 17) of the task's vars, then the
//! task's body; the file names uWSGI gives them; the keys its spooler reads itself (`spooler`,
//! `priority`, `at`); and the version order `spooler-ordered` runs them in. No I/O here.

use super::uwsgi::{UwsgiError, Vars};
use std::cmp::Ordering;

/// modifier1 of a spool file's header.
pub const MODIFIER1: u8 = 17;
/// Every spool file's name starts so (uWSGI ignores other names in a spooler directory).
pub const PREFIX: &str = "uwsgi_spoolfile_on_";
/// The vars block's size is a u16 of the header.
pub const MAX_ARGS: usize = 0xffff;

/// A task's vars: (key, value) pairs in file order.
pub type TaskVars = Vec<(Vec<u8>, Vec<u8>)>;

/// A task read back from a spool file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub vars: TaskVars,
    /// What follows the vars block (uWSGI's `body`), possibly empty.
    pub body: Vec<u8>,
}

/// Why a spool file cannot be run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpoolError {
    /// Not even the 4-byte header: a file still being written (uWSGI skips it, tries later).
    Incomplete,
    /// The vars block is shorter than its header says (uWSGI deletes such a file).
    Truncated { want: usize, have: usize },
    /// The vars block is not a valid sequence of uwsgi vars (uWSGI drops the task).
    BadVars(UwsgiError),
    /// Encoding: the vars do not fit the header's u16 size.
    TooLarge(usize),
}

impl std::fmt::Display for SpoolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SpoolError::Incomplete => write!(f, "shorter than the 4-byte uwsgi header"),
            SpoolError::Truncated { want, have } => {
                write!(f, "vars block of {want} bytes announced, {have} present")
            }
            SpoolError::BadVars(e) => write!(f, "bad vars block: {e:?}"),
            SpoolError::TooLarge(n) => write!(
                f,
                "args buffer is limited to 64k ({n} bytes), use the 'body' for bigger values"
            ),
        }
    }
}

/// The vars block of `vars` (each key and value with its u16 little-endian length).
pub fn encode_vars(vars: &[(Vec<u8>, Vec<u8>)]) -> Result<Vec<u8>, SpoolError> {
    let size: usize = vars.iter().map(|(k, v)| 4 + k.len() + v.len()).sum();
    if size > MAX_ARGS
        || vars
            .iter()
            .any(|(k, v)| k.len() > MAX_ARGS || v.len() > MAX_ARGS)
    {
        return Err(SpoolError::TooLarge(size));
    }
    let mut out = Vec::with_capacity(size);
    for (k, v) in vars {
        out.extend_from_slice(&(k.len() as u16).to_le_bytes());
        out.extend_from_slice(k);
        out.extend_from_slice(&(v.len() as u16).to_le_bytes());
        out.extend_from_slice(v);
    }
    Ok(out)
}

/// A whole spool file: header, the vars block `args`, then `body`.
pub fn encode_file(args: &[u8], body: &[u8]) -> Result<Vec<u8>, SpoolError> {
    let size = u16::try_from(args.len()).map_err(|_| SpoolError::TooLarge(args.len()))?;
    let mut out = Vec::with_capacity(4 + args.len() + body.len());
    out.push(MODIFIER1);
    out.extend_from_slice(&size.to_le_bytes());
    out.push(0);
    out.extend_from_slice(args);
    out.extend_from_slice(body);
    Ok(out)
}

/// Reads a spool file. As uWSGI, the header's modifiers are not checked: its size field is
/// all the spooler uses.
pub fn decode_file(file: &[u8]) -> Result<Task, SpoolError> {
    let Some(head) = file.get(..4) else {
        return Err(SpoolError::Incomplete);
    };
    let want = usize::from(u16::from_le_bytes([head[1], head[2]]));
    let rest = &file[4..];
    let Some(args) = rest.get(..want) else {
        return Err(SpoolError::Truncated {
            want,
            have: rest.len(),
        });
    };
    let vars = decode_vars(args)?;
    Ok(Task {
        vars,
        body: rest[want..].to_vec(),
    })
}

/// The pairs of a vars block.
pub fn decode_vars(args: &[u8]) -> Result<TaskVars, SpoolError> {
    Vars::new(args)
        .map(|r| {
            r.map(|(k, v)| (k.to_vec(), v.to_vec()))
                .map_err(SpoolError::BadVars)
        })
        .collect()
}

/// The keys uWSGI's spooler itself reads from a task's vars (the last one of a name wins).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Special {
    /// `spooler`: the directory of the spooler to write to (as configured, resolved).
    pub spooler: Option<Vec<u8>>,
    /// `priority`: a subdirectory of the spooler's directory.
    pub priority: Option<Vec<u8>>,
    /// `at`: unix time before which the task does not run (the file's mtime); 0 = now.
    pub at: u64,
}

impl Special {
    pub fn of(vars: &[(Vec<u8>, Vec<u8>)]) -> Special {
        let mut s = Special::default();
        for (k, v) in vars {
            match k.as_slice() {
                b"spooler" => s.spooler = Some(v.clone()),
                b"priority" => s.priority = Some(v.clone()),
                b"at" => s.at = leading_number(v),
                _ => {}
            }
        }
        s.spooler = s.spooler.filter(|v| !v.is_empty());
        s.priority = s.priority.filter(|v| !v.is_empty());
        s
    }
}

/// uWSGI reads `at` up to a dot (`at` may be a float) with its `uwsgi_str_num`: the leading
/// digits, 0 when there are none.
fn leading_number(v: &[u8]) -> u64 {
    v.iter()
        .take_while(|b| b.is_ascii_digit())
        .fold(0u64, |n, b| {
            n.saturating_mul(10).saturating_add(u64::from(b - b'0'))
        })
}

/// uWSGI's name of a new spool file:
/// `uwsgi_spoolfile_on_HOST_PID_COUNTER_RANDOM_SECONDS_MICROSECONDS`.
pub fn file_name(host: &str, pid: u32, counter: u64, random: u32, secs: u64, usecs: u32) -> String {
    format!("{PREFIX}{host}_{pid}_{counter}_{random}_{secs}_{usecs}")
}

/// A name `spooler-ordered` treats as a priority directory: digits only.
pub fn is_priority_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit())
}

/// glibc's `versionsort` order (what uWSGI's `scandir` uses for `spooler-ordered`): runs of
/// digits compare by value, the rest byte by byte; a priority directory `10` comes after `9`.
pub fn version_cmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let si = i;
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let (da, db) = (trim_zeros(&a[si..i]), trim_zeros(&b[sj..j]));
            let ord = da.len().cmp(&db.len()).then_with(|| da.cmp(db));
            if ord != Ordering::Equal {
                return ord;
            }
            // Equal values: more leading zeros first, as strverscmp puts `01` before `1`.
            let ord = (j - sj).cmp(&(i - si));
            if ord != Ordering::Equal {
                return ord;
            }
        } else {
            if a[i] != b[j] {
                return a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
    }
    (a.len() - i).cmp(&(b.len() - j))
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let n = d.iter().take_while(|&&c| c == b'0').count();
    &d[n..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &[u8])]) -> Vec<(Vec<u8>, Vec<u8>)> {
        v.iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.to_vec()))
            .collect()
    }

    /// Bytes of a file the real uWSGI 2.0.30 wrote for `uwsgi.spool({b'name': b'raw-dict',
    /// b'n': b'1'})` (tests/fixtures/uwsgi-spool holds it whole).
    const UWSGI_FILE: &[u8] = b"\x11\x16\x00\x00\x04\x00name\x08\x00raw-dict\x01\x00n\x01\x001";

    #[test]
    fn encodes_as_uwsgi_does() {
        let vars = pairs(&[("name", b"raw-dict"), ("n", b"1")]);
        let args = encode_vars(&vars).unwrap();
        assert_eq!(encode_file(&args, b"").unwrap(), UWSGI_FILE);
        let t = decode_file(UWSGI_FILE).unwrap();
        assert_eq!(t.vars, vars);
        assert!(t.body.is_empty());
    }

    #[test]
    fn body_follows_the_vars() {
        let vars = pairs(&[("k", b"v")]);
        let file = encode_file(&encode_vars(&vars).unwrap(), b"BODY\0BYTES").unwrap();
        let t = decode_file(&file).unwrap();
        assert_eq!(t.body, b"BODY\0BYTES");
        assert_eq!(t.vars, vars);
    }

    #[test]
    fn short_files_are_told_apart() {
        assert_eq!(decode_file(b""), Err(SpoolError::Incomplete));
        assert_eq!(decode_file(b"\x11\x16\x00"), Err(SpoolError::Incomplete));
        assert_eq!(
            decode_file(&UWSGI_FILE[..10]),
            Err(SpoolError::Truncated { want: 22, have: 6 })
        );
        assert!(matches!(
            decode_file(b"\x11\x03\x00\x00\x05\x00a"),
            Err(SpoolError::BadVars(_))
        ));
    }

    #[test]
    fn every_prefix_and_mutation_is_handled() {
        let file = encode_file(
            &encode_vars(&pairs(&[("a", b"1"), ("bb", b"22")])).unwrap(),
            b"xyz",
        )
        .unwrap();
        for n in 0..=file.len() {
            let _ = decode_file(&file[..n]);
        }
        for i in 0..file.len() {
            for bit in 0..8 {
                let mut m = file.clone();
                m[i] ^= 1 << bit;
                let _ = decode_file(&m);
            }
        }
    }

    #[test]
    fn args_are_limited_to_64k() {
        let big = pairs(&[("k", &[b'x'; 70000])]);
        assert!(matches!(encode_vars(&big), Err(SpoolError::TooLarge(_))));
        let exact = pairs(&[("k", &vec![b'x'; MAX_ARGS - 5])]);
        assert_eq!(encode_vars(&exact).unwrap().len(), MAX_ARGS);
    }

    #[test]
    fn special_keys_as_uwsgi_reads_them() {
        let s = Special::of(&pairs(&[
            ("priority", b"3"),
            ("at", b"1999999999.5"),
            ("spooler", b"/var/spool/a"),
        ]));
        assert_eq!(s.priority.as_deref(), Some(&b"3"[..]));
        assert_eq!(s.at, 1999999999);
        assert_eq!(s.spooler.as_deref(), Some(&b"/var/spool/a"[..]));
        assert_eq!(Special::of(&pairs(&[("at", b"soon")])).at, 0);
        assert_eq!(Special::of(&pairs(&[("priority", b"")])).priority, None);
    }

    #[test]
    fn names_as_uwsgi_makes_them() {
        assert_eq!(
            file_name("vm", 7544, 1, 1588269599, 1796227978, 292882),
            "uwsgi_spoolfile_on_vm_7544_1_1588269599_1796227978_292882"
        );
        assert!(is_priority_name("10"));
        assert!(!is_priority_name("1a"));
        assert!(!is_priority_name(""));
    }

    #[test]
    fn version_order_as_glibc_versionsort() {
        let mut names = vec![
            "uwsgi_spoolfile_on_vm_7_10_1_1_1",
            "10",
            "uwsgi_spoolfile_on_vm_7_9_1_1_1",
            "9",
            "2",
            "uwsgi_spoolfile_on_vm_7_2_1_1_1",
        ];
        names.sort_by(|a, b| version_cmp(a, b));
        assert_eq!(
            names,
            [
                "2",
                "9",
                "10",
                "uwsgi_spoolfile_on_vm_7_2_1_1_1",
                "uwsgi_spoolfile_on_vm_7_9_1_1_1",
                "uwsgi_spoolfile_on_vm_7_10_1_1_1",
            ]
        );
        assert_eq!(version_cmp("a", "a"), Ordering::Equal);
        assert_eq!(version_cmp("a", "ab"), Ordering::Less);
    }
}
