//! The only users of indicatif and crossterm: progress spinners and (later) `rw top`.

pub mod progress;
