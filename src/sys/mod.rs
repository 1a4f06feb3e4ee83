//! Facts the operating system knows, each read in exactly one place: clocks and local time,
//! this machine (hostname, somaxconn, the facts magic variables expand to), processes (memory,
//! children, state, the argv area), accounts (users and groups by number or name) and the
//! kernel's listen queues, and anonymous shared memory for what workers share. A leaf: no server state, no
//! Python; it uses only `config`'s fact types.

pub mod clock;
pub mod host;
pub mod listen_queue;
pub mod proc;
pub mod shm;
pub mod users;
