//! Locking that survives a panic: a request thread that panicked while holding a worker lock
//! (caught per request, see `request.rs`) must not turn every later `lock()` into a panic of
//! its own. The data behind these locks (queues, pools, parked connections) stays consistent
//! between statements, so the guard is taken back from the poison.

use std::sync::{Mutex, MutexGuard, PoisonError};

pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_poisoned_lock_is_taken_back() {
        let m = std::sync::Mutex::new(1);
        let _ = std::panic::catch_unwind(|| {
            let _g = m.lock().unwrap();
            panic!("poison it");
        });
        assert!(m.is_poisoned());
        *super::lock(&m) += 1;
        assert_eq!(*super::lock(&m), 2);
    }
}
