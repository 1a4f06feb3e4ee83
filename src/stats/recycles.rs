//! Why a worker was recycled: the causes the stats JSON and /metrics count, named after the
//! option that asked for the recycle. The counters live in the scoreboard header, so the
//! worker that retires itself and the master that retires a worker count in the same place.

/// One recycle cause; its index is its counter's slot in the scoreboard header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Cause {
    /// The worker served `max-requests` requests (the worker decides).
    MaxRequests = 0,
    /// Its RSS passed `reload-on-rss` after a request (the worker decides).
    ReloadOnRss = 1,
    /// Its address space passed `reload-on-as` after a request (the worker decides).
    ReloadOnAs = 2,
    /// It ran longer than `max-worker-lifetime` (the master decides).
    MaxWorkerLifetime = 3,
    /// The master's memory sample passed `evil-reload-on-rss`.
    EvilReloadOnRss = 4,
    /// The master's memory sample passed `evil-reload-on-as`.
    EvilReloadOnAs = 5,
}

/// Every cause, in counter order.
pub const CAUSES: [Cause; 6] = [
    Cause::MaxRequests,
    Cause::ReloadOnRss,
    Cause::ReloadOnAs,
    Cause::MaxWorkerLifetime,
    Cause::EvilReloadOnRss,
    Cause::EvilReloadOnAs,
];

impl Cause {
    /// The option's name: the key in the stats JSON and the `cause` label in /metrics.
    pub fn name(self) -> &'static str {
        match self {
            Cause::MaxRequests => "max-requests",
            Cause::ReloadOnRss => "reload-on-rss",
            Cause::ReloadOnAs => "reload-on-as",
            Cause::MaxWorkerLifetime => "max-worker-lifetime",
            Cause::EvilReloadOnRss => "evil-reload-on-rss",
            Cause::EvilReloadOnAs => "evil-reload-on-as",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_follow_the_table() {
        for (i, c) in CAUSES.iter().enumerate() {
            assert_eq!(*c as usize, i, "{}", c.name());
        }
        let mut names: Vec<_> = CAUSES.iter().map(|c| c.name()).collect();
        names.dedup();
        assert_eq!(names.len(), CAUSES.len());
    }
}
