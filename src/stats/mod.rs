//! Counters shared between workers and the master, and the uWSGI stats they feed.

pub mod client;
pub mod prometheus;
pub mod recycles;
pub mod schema;
pub mod scoreboard;
pub mod server;
pub mod snapshot;
