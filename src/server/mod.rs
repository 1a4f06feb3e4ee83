//! The pre-fork server: the master loop, workers and their requests, reloads. `cmd/serve.rs`
//! starts it (config, listeners, privileges, Python, apps, then [`master::Master`]).

pub mod apps;
pub mod body;
pub mod body_wait;
pub mod cache;
pub mod cheaper;
pub mod conn;
pub mod context;
pub mod fifo;
pub mod harakiri;
pub mod linger;
pub mod locks;
pub mod master;
pub mod pidfile;
pub mod preflight;
pub mod process;
pub mod recycle;
pub mod reload;
pub mod request;
pub mod settings;
pub mod signals;
pub mod sink;
pub mod spool_state;
pub mod spool_writer;
pub mod spooler;
pub mod spoolers;
pub mod static_files;
pub mod stop;
pub mod sync;
pub mod systemd;
pub mod uwsgi_facts;
pub mod worker;
