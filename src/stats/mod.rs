//! Counters shared between workers and the master, and the uWSGI stats they feed.

pub mod scoreboard;
