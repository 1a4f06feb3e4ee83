//! Leaf networking facts and policies shared by the workers and the master (no Python, no
//! server state): what to do when accept(2) runs out of resources.

pub mod accept_backoff;
