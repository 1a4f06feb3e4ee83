//! The one integration-test binary (one link of libpython and every dependency, not many).

mod apps;
mod cheaper;
mod check_config;
mod compat_options;
mod corpus;
mod faults;
mod faults_requests;
mod generated;
mod hostile;
mod http_conformance;
mod lifecycle;
mod nginx;
mod robustness;
mod serve_basic;
mod serve_options;
mod stats;
mod util;
mod wheel;
