//! The pre-fork server: the master loop, workers and their requests, reloads. `cmd/serve.rs`
//! starts it (config, listeners, privileges, Python, apps, then [`master::Master`]).

pub mod apps;
pub mod body;
pub mod cache;
pub mod cheaper;
pub mod conn;
pub mod context;
pub mod fifo;
pub mod harakiri;
pub mod locks;
pub mod master;
pub mod pidfile;
pub mod preflight;
pub mod process;
pub mod rejections;
pub mod reload;
pub mod request;
pub mod settings;
pub mod signals;
pub mod sink;
pub mod static_files;
pub mod stop;
pub mod sync;
pub mod systemd;
pub mod uwsgi_facts;
pub mod worker;
