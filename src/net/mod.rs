//! Leaf networking shared by the workers and the master (no Python, no server state): the
//! epoll wrapper, and what to do when accept(2) runs out of resources.

pub mod accept_backoff;
pub mod epoll;
