//! The one integration-test binary (one link of libpython and every dependency, not many).

mod check_config;
mod generated;
mod util;
