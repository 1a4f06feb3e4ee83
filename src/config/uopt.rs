//! The shape of one row of uWSGI's option table ([`super::vocab::VOCAB`]): a leaf both the
//! generated vocabulary and its classification (`compat`) use, so neither imports the other
//! for it.

/// How uWSGI's getopt table declares an option's argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UArg {
    None,
    Required,
    Optional,
}

/// One name of uWSGI's option table.
#[derive(Debug, Clone, Copy)]
pub struct UOpt {
    pub name: &'static str,
    pub arg: UArg,
    /// uWSGI's C setter without its `uwsgi_opt_` prefix: decides how the value is read.
    pub setter: &'static str,
    /// `core` or the plugin that declares it.
    pub plugin: &'static str,
    /// Applied the moment it is read, before any expansion (`listen`, `strict`, `ini`, …).
    pub immediate: bool,
}
