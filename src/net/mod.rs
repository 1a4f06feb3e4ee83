//! Leaf networking shared by the workers and the master (no Python, no server state): the
//! epoll wrapper, what to do when accept(2) runs out of resources, and a client connection's
//! socket with deadlines.

pub mod accept_backoff;
pub mod epoll;
pub mod socket;
