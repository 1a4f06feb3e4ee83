//! Where a config entry came from, and the `file:line: severity: message` lines about it.

use std::fmt;

/// The source of one entry: a file line, the command line, or an environment variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    File {
        path: String,
        line: u32,
    },
    Cli,
    Env(String),
    /// rw itself (defaults, whole-config checks).
    Builtin,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { path, line } => write!(f, "{path}:{line}"),
            Origin::Cli => f.write_str("command line"),
            Origin::Env(var) => write!(f, "${var}"),
            Origin::Builtin => f.write_str("rw"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem found in a config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub origin: Origin,
    pub message: String,
}

impl Diagnostic {
    pub fn error(origin: &Origin, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            origin: origin.clone(),
            message: message.into(),
        }
    }
    pub fn warning(origin: &Origin, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            origin: origin.clone(),
            message: message.into(),
        }
    }
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        // Config text may hold control bytes; never let them reach a terminal raw.
        write!(f, "{}: {sev}: {}", self.origin, printable(&self.message))
    }
}

/// Escapes control characters so config bytes cannot drive a terminal.
pub fn printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}
