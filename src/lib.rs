//! rw: a uWSGI-compatible, pre-fork Python WSGI application server.
//!
//! The binary (`src/main.rs`) only parses the command line and dispatches to [`cmd`].

pub mod cli;
pub mod cmd;
pub mod config;
pub mod log;
pub mod net;
pub mod proto;
pub mod python;
pub mod server;
pub mod stats;
pub mod ui;
