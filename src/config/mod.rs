//! uWSGI-compatible configuration: ini files, `UWSGI_*` variables and command-line options
//! resolved into one [`Config`], with a `file:line` for every value. Pure data: nothing here
//! knows about Python, sockets or processes.
//!
//! Precedence (as uWSGI 2.0): `UWSGI_*` environment variables first, then the command line
//! left to right, with each `--ini` file expanded where it appears. For scalar options the
//! last value applied wins; list options accumulate. `inherit`ed files are applied last.

pub mod cheaper;
pub mod check;
pub mod compat;
pub mod cron;
pub mod daemon;
pub mod diag;
pub mod expand;
pub mod hooks;
pub mod ini;
pub mod kvlist;
pub mod load;
pub mod logic;
pub mod magic;
pub mod option_values;
pub mod options;
pub mod recycle;
pub mod resolve;
pub mod uopt;
pub mod value;
pub mod vocab;

pub use diag::{Diagnostic, Origin, Severity};
pub use load::Sources;
pub use resolve::Config;

/// A loaded configuration and everything worth telling the user about it.
pub struct Loaded {
    pub config: Config,
    pub diagnostics: Vec<Diagnostic>,
    /// Where whole-config remarks point: the first file read, line 1.
    pub anchor: Origin,
}

/// Reads every source, expands variables and applies the option table.
pub fn load(sources: &Sources, host: &magic::HostFacts) -> Loaded {
    let load::Collected {
        mut entries,
        mut diagnostics,
        first,
        exported,
    } = load::collect(sources, host);
    let referenced = resolve::referenced_names(&entries);
    let env = |k: &str| {
        sources
            .env
            .iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.clone())
    };
    let cwd = std::path::PathBuf::from(&host.cwd);
    let read_file = |p: &str| load::read_bounded(&cwd.join(p), load::MAX_FILE_BYTES);
    diagnostics.extend(expand::expand_all(
        &mut entries,
        &expand::Lookups {
            env: &env,
            read_file: &read_file,
        },
    ));
    let (mut config, applied) = resolve::apply(&entries, &referenced);
    config.exported = load::exported_options(&exported, &entries);
    diagnostics.extend(applied);
    diagnostics.extend(option_values::check(&config));
    diagnostics.extend(cheaper::check(&config));
    diagnostics.extend(recycle::check(&config));
    diagnostics.extend(hooks::check(&config));
    let anchor = match first {
        Some(f) => Origin::File {
            path: f.given,
            line: 1,
        },
        None => Origin::Cli,
    };
    Loaded {
        config,
        diagnostics,
        anchor,
    }
}

/// Test configs: `key = value` lines of `t.ini`, resolved as a file would be.
#[cfg(test)]
pub(crate) mod testutil {
    use super::diag::Origin;
    use super::load::Entry;
    use super::resolve::{apply, referenced_names, Config};

    /// A config given as `key = value` lines of `t.ini` (line numbers from 1).
    pub fn config_of(lines: &[(&str, &str)]) -> Config {
        let es: Vec<Entry> = lines
            .iter()
            .enumerate()
            .map(|(i, (k, v))| Entry {
                key: (*k).into(),
                value: (*v).into(),
                bare: false,
                placeholder: false,
                origin: Origin::File {
                    path: "t.ini".into(),
                    line: i as u32 + 1,
                },
            })
            .collect();
        apply(&es, &referenced_names(&es)).0
    }
}
