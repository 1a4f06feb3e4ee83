//! The only users of indicatif and crossterm: progress spinners and `rw top`.

pub mod progress;
pub mod top;
