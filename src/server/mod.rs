//! The pre-fork server: the master loop, workers and their requests, reloads. `cmd/serve.rs`
//! starts it (config, listeners, privileges, Python, apps, then [`master::Master`]).

pub mod activity;
pub mod apps;
pub mod body;
pub mod body_wait;
pub mod cache;
pub mod cheaper;
pub mod conn;
pub mod context;
pub mod fifo;
pub mod harakiri;
pub mod hooks;
pub mod linger;
pub mod locks;
pub mod master;
pub mod mules;
pub mod pidfile;
pub mod preflight;
pub mod process;
pub mod recycle;
pub mod reload;
pub mod request;
pub mod settings;
pub mod signal_desk;
pub mod signals;
pub mod sink;
pub mod static_files;
pub mod stop;
pub mod sync;
pub mod systemd;
pub mod user_harakiri;
pub mod uwsgi_facts;
pub mod uwsgi_signals;
pub mod worker;
