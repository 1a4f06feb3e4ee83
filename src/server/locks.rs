//! uWSGI's user locks (`locks = N`; `uwsgi.lock(n)`, `unlock`, `is_locked`): process-shared
//! robust mutexes in a shared mapping made by the master before it forks, so one lock excludes
//! every thread of every worker, and a lock whose holder died is taken over by the next locker
//! instead of staying locked forever.
//!
//! The mutexes are error-checking: a thread that locks a lock it already holds gets an error
//! (uWSGI's plain mutex deadlocks that thread for good).

use std::io;
use std::ptr::NonNull;

/// `count` mutexes in one `MAP_SHARED` mapping, never unmapped (handles are plain copies).
#[derive(Clone)]
pub struct UserLocks {
    base: NonNull<libc::pthread_mutex_t>,
    count: usize,
}

// SAFETY: the mutexes are process-shared pthread mutexes, made to be used from any thread; the
// mapping lives for the life of the process.
unsafe impl Send for UserLocks {}
// SAFETY: as above.
unsafe impl Sync for UserLocks {}

/// Why a lock call failed.
#[derive(Debug, PartialEq, Eq)]
pub enum LockError {
    /// The calling thread already holds it.
    AlreadyHeld,
    /// The calling thread does not hold it (unlock).
    NotHeld,
    Os(i32),
}

impl UserLocks {
    /// Maps and initialises `count` locks (uWSGI makes `locks + 1`: lock 0 always exists).
    pub fn new(count: usize) -> io::Result<UserLocks> {
        let len = count.max(1) * size_of::<libc::pthread_mutex_t>();
        let base = crate::sys::shm::map_shared(len, false)?.cast::<libc::pthread_mutex_t>();
        let locks = UserLocks { base, count };
        // SAFETY: a zeroed attribute object initialised before use and destroyed after; each
        // mutex lies inside the fresh mapping, suitably aligned (page-aligned base, array of
        // pthread_mutex_t), and is initialised once, before any process can use it.
        unsafe {
            let mut attr: libc::pthread_mutexattr_t = std::mem::zeroed();
            check(libc::pthread_mutexattr_init(&mut attr))?;
            let set = check(libc::pthread_mutexattr_setpshared(
                &mut attr,
                libc::PTHREAD_PROCESS_SHARED,
            ))
            .and_then(|_| {
                check(libc::pthread_mutexattr_setrobust(
                    &mut attr,
                    libc::PTHREAD_MUTEX_ROBUST,
                ))
            })
            .and_then(|_| {
                check(libc::pthread_mutexattr_settype(
                    &mut attr,
                    libc::PTHREAD_MUTEX_ERRORCHECK,
                ))
            })
            .and_then(|_| {
                (0..count).try_for_each(|i| check(libc::pthread_mutex_init(locks.mutex(i), &attr)))
            });
            libc::pthread_mutexattr_destroy(&mut attr);
            set?;
        }
        Ok(locks)
    }

    /// Number of locks (valid numbers are `0..count`).
    pub fn count(&self) -> usize {
        self.count
    }

    fn mutex(&self, n: usize) -> *mut libc::pthread_mutex_t {
        assert!(n < self.count, "lock {n} out of range");
        // SAFETY: in bounds of the mapping (checked above).
        unsafe { self.base.as_ptr().add(n) }
    }

    /// Blocks until lock `n` is ours. A holder that died leaves it to us (logged).
    pub fn lock(&self, n: usize) -> Result<(), LockError> {
        // SAFETY: an initialised process-shared mutex inside the mapping.
        let rc = unsafe { libc::pthread_mutex_lock(self.mutex(n)) };
        self.after_acquire(n, rc)
    }

    /// Releases lock `n`.
    pub fn unlock(&self, n: usize) -> Result<(), LockError> {
        // SAFETY: as for `lock`; an error-checking mutex refuses a thread that does not hold it.
        match unsafe { libc::pthread_mutex_unlock(self.mutex(n)) } {
            0 => Ok(()),
            libc::EPERM => Err(LockError::NotHeld),
            e => Err(LockError::Os(e)),
        }
    }

    /// Whether someone (this thread included) holds lock `n` now.
    pub fn is_locked(&self, n: usize) -> bool {
        // SAFETY: as for `lock`.
        let rc = unsafe { libc::pthread_mutex_trylock(self.mutex(n)) };
        match rc {
            libc::EBUSY | libc::EDEADLK => true,
            _ => {
                if self.after_acquire(n, rc).is_ok() {
                    let _ = self.unlock(n);
                }
                false
            }
        }
    }

    fn after_acquire(&self, n: usize, rc: i32) -> Result<(), LockError> {
        match rc {
            0 => Ok(()),
            libc::EOWNERDEAD => {
                eprintln!("user lock {n}: the process holding it died; recovered it");
                // SAFETY: we hold the mutex (EOWNERDEAD hands it over) and mark it usable again.
                unsafe { libc::pthread_mutex_consistent(self.mutex(n)) };
                Ok(())
            }
            libc::EDEADLK => Err(LockError::AlreadyHeld),
            e => Err(LockError::Os(e)),
        }
    }
}

fn check(rc: i32) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(rc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_unlock_and_errors_in_one_process() {
        let l = UserLocks::new(2).unwrap();
        assert!(!l.is_locked(0));
        l.lock(0).unwrap();
        assert!(l.is_locked(0));
        assert!(!l.is_locked(1));
        assert_eq!(l.lock(0), Err(LockError::AlreadyHeld));
        let other = l.clone();
        std::thread::spawn(move || {
            assert!(other.is_locked(0));
            assert_eq!(other.unlock(0), Err(LockError::NotHeld));
        })
        .join()
        .unwrap();
        l.unlock(0).unwrap();
        assert!(!l.is_locked(0));
        assert_eq!(l.unlock(0), Err(LockError::NotHeld));
    }

    #[test]
    fn a_lock_whose_holder_thread_died_is_recovered() {
        let l = UserLocks::new(1).unwrap();
        let holder = l.clone();
        // A robust mutex held by a thread that exits behaves as one whose process died.
        std::thread::spawn(move || holder.lock(0).unwrap())
            .join()
            .unwrap();
        l.lock(0).unwrap();
        l.unlock(0).unwrap();
        assert!(!l.is_locked(0));
    }
}
