//! Leaf networking shared by the workers, the master and the stats server (no Python, no
//! server state): addresses, binding and adopting listeners, the epoll wrapper, and what to do
//! when accept(2) runs out of resources.

pub mod accept_backoff;
pub mod addr;
pub mod epoll;
pub mod listen;
pub mod socket;
