//! The one integration-test binary (one link of libpython and every dependency, not many).

mod apps;
mod cheaper;
mod check_config;
mod compat_options;
mod corpus;
mod faults;
mod faults_requests;
mod fifo;
mod generated;
mod hostile;
mod http_conformance;
mod lifecycle;
mod logging;
mod nginx;
mod rejections;
mod robustness;
mod serve_basic;
mod serve_options;
mod startup_refusals;
mod stats;
mod tidy;
mod util;
mod uwsgi_api;
mod wheel;
mod worker_faults;
