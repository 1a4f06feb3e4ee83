//! uWSGI's local caches (`cache2 = name=…,items=…`, the legacy `cache = N`): a fixed-size hash
//! table in one `MAP_SHARED` mapping made by the master before it forks, so every worker sees
//! the same items. One process-shared robust mutex guards each cache (a worker that dies inside
//! an operation does not leave it locked).
//!
//! Layout, as uWSGI's default (non-bitmap) cache: `items` item slots of which slot 0 is never
//! used (uWSGI reserves it, so `items = N` holds N-1 items), one `blocksize` block of value per
//! slot, `hashsize` buckets chaining slots, and a stack of free slots. An item expires at its
//! deadline: lookups treat it as gone (and free it), where uWSGI's sweeper thread frees it
//! within a second or so.

use std::io;
use std::ptr::NonNull;

use super::locks::UserLocks;

/// One cache as configured (see `config::option_values::cache2`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSpec {
    pub name: String,
    pub max_items: u64,
    pub blocksize: u64,
    pub keysize: u64,
    pub hashsize: u64,
    /// The value a number starts from when `cache_inc` & co. create it.
    pub math_initial: i64,
    /// Do not log when the cache is full.
    pub ignore_full: bool,
}

/// What the stats JSON shows of a cache.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub items: u64,
    pub hits: u64,
    pub miss: u64,
    pub full: u64,
    pub last_modified_at: u64,
}

/// How [`Cache::set`] treats an existing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetMode {
    /// `cache_set`: fails when the key exists.
    Create,
    /// `cache_update`: replaces the value (and the expiry).
    Update,
}

/// `cache_inc`/`dec`/`mul`/`div` (a division by 0 gives 0, as in uWSGI).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MathOp {
    Inc,
    Dec,
    Mul,
    Div,
}

#[repr(C)]
struct Header {
    n_items: u64,
    hits: u64,
    miss: u64,
    full: u64,
    last_modified_at: u64,
    /// Free slots on the stack (`free[1..=free_top]`).
    free_top: u64,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct Item {
    hash: u32,
    keysize: u32,
    valsize: u64,
    /// Unix seconds; 0 = never.
    expires: u64,
    /// Chain of the bucket (slot numbers; 0 = none).
    prev: u64,
    next: u64,
}

/// A handle on one cache's shared mapping (never unmapped; copies share it).
#[derive(Clone)]
pub struct Cache {
    spec: CacheSpec,
    base: NonNull<u8>,
    lock: UserLocks,
    off_hash: usize,
    off_free: usize,
    off_items: usize,
    off_keys: usize,
    off_data: usize,
}

// SAFETY: every access to the mapping happens with the cache's process-shared mutex held; the
// mapping lives for the life of the process.
unsafe impl Send for Cache {}
// SAFETY: as above.
unsafe impl Sync for Cache {}

fn align8(n: usize) -> usize {
    n.next_multiple_of(8)
}

/// uWSGI's default key hash (djb33x).
fn djb33x(key: &[u8]) -> u32 {
    key.iter()
        .fold(5381u32, |h, &b| (h << 5).wrapping_add(h) ^ u32::from(b))
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Cache {
    /// Maps a zeroed cache for `spec` (in the master, before fork).
    pub fn new(spec: CacheSpec) -> io::Result<Cache> {
        let too_big = || io::Error::other(format!("cache \"{}\" is too large to map", spec.name));
        let n = usize::try_from(spec.max_items).map_err(|_| too_big())?;
        let hashsize = usize::try_from(spec.hashsize).map_err(|_| too_big())?;
        let keysize = usize::try_from(spec.keysize).map_err(|_| too_big())?;
        let blocksize = usize::try_from(spec.blocksize).map_err(|_| too_big())?;
        let off_hash = align8(size_of::<Header>());
        let off_free = off_hash + 8 * hashsize;
        let off_items = off_free + 8 * n;
        let off_keys = align8(off_items + size_of::<Item>() * n);
        let off_data = align8(
            keysize
                .checked_mul(n)
                .and_then(|k| k.checked_add(off_keys))
                .ok_or_else(too_big)?,
        );
        let len = blocksize
            .checked_mul(n)
            .and_then(|d| d.checked_add(off_data))
            .ok_or_else(too_big)?;
        let base = crate::sys::shm::map_shared(len, true).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("mapping {len} bytes for cache \"{}\": {e}", spec.name),
            )
        })?;
        let cache = Cache {
            base,
            lock: UserLocks::new(1)?,
            spec,
            off_hash,
            off_free,
            off_items,
            off_keys,
            off_data,
        };
        cache.locked(|c| c.reset());
        Ok(cache)
    }

    pub fn spec(&self) -> &CacheSpec {
        &self.spec
    }

    /// Runs `f` with the cache's mutex held (the only way into the mapping).
    fn locked<T>(&self, f: impl FnOnce(&mut Locked<'_>) -> T) -> T {
        // Only a thread re-entering (impossible here: `f` never calls back) could fail.
        let _ = self.lock.lock(0);
        let mut l = Locked { c: self };
        let r = f(&mut l);
        let _ = self.lock.unlock(0);
        r
    }

    /// `cache_get`: a copy of the value, `None` when missing or expired.
    pub fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.locked(|l| match l.find(key) {
            Some(slot) => {
                l.header().hits += 1;
                let item = *l.item(slot);
                Some(l.block(slot)[..item.valsize as usize].to_vec())
            }
            None => {
                l.header().miss += 1;
                None
            }
        })
    }

    /// `cache_exists`.
    pub fn exists(&self, key: &[u8]) -> bool {
        self.locked(|l| l.find(key).is_some())
    }

    /// `cache_set` / `cache_update`: false when the key is empty or too long, the value empty
    /// or larger than a block, the key exists (Create), or the cache is full.
    pub fn set(&self, key: &[u8], value: &[u8], expires: u64, mode: SetMode) -> bool {
        if !self.fits(key, value.len()) {
            return false;
        }
        self.locked(|l| {
            let deadline = l.deadline(expires);
            let slot = match (l.find(key), mode) {
                (Some(_), SetMode::Create) => return false,
                (Some(slot), SetMode::Update) => slot,
                (None, _) => match l.insert(key) {
                    Some(slot) => slot,
                    None => return false,
                },
            };
            l.item(slot).expires = deadline;
            l.write_value(slot, value);
            true
        })
    }

    /// `cache_inc` & co.: the key's 8-byte native-endian number, created as `math_initial`
    /// combined with `delta` when missing; an existing value of another size is refused.
    /// The expiry is set only when the item is created (uWSGI's FIXEXPIRE).
    pub fn math(&self, key: &[u8], op: MathOp, delta: i64, expires: u64) -> bool {
        if !self.fits(key, 8) {
            return false;
        }
        self.locked(|l| {
            let (slot, start) = match l.find(key) {
                Some(slot) => {
                    if l.item(slot).valsize != 8 {
                        return false;
                    }
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&l.block(slot)[..8]);
                    (slot, i64::from_ne_bytes(b))
                }
                None => {
                    let deadline = l.deadline(expires);
                    let Some(slot) = l.insert(key) else {
                        return false;
                    };
                    l.item(slot).expires = deadline;
                    (slot, l.c.spec.math_initial)
                }
            };
            let n = match op {
                MathOp::Inc => start.wrapping_add(delta),
                MathOp::Dec => start.wrapping_sub(delta),
                MathOp::Mul => start.wrapping_mul(delta),
                MathOp::Div => start.checked_div(delta).unwrap_or(0),
            };
            l.write_value(slot, &n.to_ne_bytes());
            true
        })
    }

    /// `cache_del`: false when the key was not there.
    pub fn del(&self, key: &[u8]) -> bool {
        self.locked(|l| match l.find(key) {
            Some(slot) => {
                l.remove(slot);
                true
            }
            None => false,
        })
    }

    /// `cache_clear`.
    pub fn clear(&self) {
        self.locked(|l| {
            l.reset();
            l.header().last_modified_at = now();
        })
    }

    /// `cache_keys`: every live key, in slot order.
    pub fn keys(&self) -> Vec<Vec<u8>> {
        self.locked(|l| {
            let now = now();
            let mut keys = Vec::new();
            for s in 1..l.c.spec.max_items {
                let it = *l.item(s);
                if it.keysize > 0 && (it.expires == 0 || it.expires > now) {
                    keys.push(l.key(s).to_vec());
                }
            }
            keys
        })
    }

    pub fn stats(&self) -> CacheStats {
        self.locked(|l| {
            let h = l.header();
            CacheStats {
                items: h.n_items,
                hits: h.hits,
                miss: h.miss,
                full: h.full,
                last_modified_at: h.last_modified_at,
            }
        })
    }

    fn fits(&self, key: &[u8], vallen: usize) -> bool {
        !key.is_empty()
            && key.len() as u64 <= self.spec.keysize
            && vallen > 0
            && vallen as u64 <= self.spec.blocksize
    }
}

/// The cache with its mutex held.
struct Locked<'a> {
    c: &'a Cache,
}

impl Locked<'_> {
    fn at<T>(&self, off: usize) -> *mut T {
        // SAFETY: callers pass offsets inside the mapping computed in `Cache::new`.
        unsafe { self.c.base.as_ptr().add(off).cast() }
    }

    fn header(&mut self) -> &mut Header {
        // SAFETY: offset 0 holds the header; the mutex makes this access exclusive.
        unsafe { &mut *self.at::<Header>(0) }
    }

    fn bucket(&mut self, b: u64) -> &mut u64 {
        debug_assert!(b < self.c.spec.hashsize);
        // SAFETY: `b < hashsize` (taken modulo), inside the bucket array; exclusive (mutex).
        unsafe { &mut *self.at::<u64>(self.c.off_hash).add(b as usize) }
    }

    fn free(&mut self, i: u64) -> &mut u64 {
        assert!(i < self.c.spec.max_items);
        // SAFETY: in bounds (checked), exclusive (mutex).
        unsafe { &mut *self.at::<u64>(self.c.off_free).add(i as usize) }
    }

    fn item(&mut self, slot: u64) -> &mut Item {
        assert!(slot < self.c.spec.max_items);
        // SAFETY: in bounds (checked), 8-aligned, exclusive (mutex); zeroed bytes are a valid Item.
        unsafe { &mut *self.at::<Item>(self.c.off_items).add(slot as usize) }
    }

    fn key_area(&mut self, slot: u64) -> &mut [u8] {
        assert!(slot < self.c.spec.max_items);
        let k = self.c.spec.keysize as usize;
        // SAFETY: slot `slot`'s key bytes lie inside the key area; exclusive (mutex).
        unsafe {
            std::slice::from_raw_parts_mut(self.at::<u8>(self.c.off_keys + slot as usize * k), k)
        }
    }

    fn key(&mut self, slot: u64) -> &[u8] {
        let n = self.item(slot).keysize as usize;
        &self.key_area(slot)[..n]
    }

    fn block(&mut self, slot: u64) -> &mut [u8] {
        assert!(slot < self.c.spec.max_items);
        let b = self.c.spec.blocksize as usize;
        // SAFETY: slot `slot`'s block lies inside the data area; exclusive (mutex).
        unsafe {
            std::slice::from_raw_parts_mut(self.at::<u8>(self.c.off_data + slot as usize * b), b)
        }
    }

    /// Every slot free, every bucket empty.
    fn reset(&mut self) {
        for b in 0..self.c.spec.hashsize {
            *self.bucket(b) = 0;
        }
        let n = self.c.spec.max_items;
        for s in 0..n {
            *self.item(s) = Item {
                hash: 0,
                keysize: 0,
                valsize: 0,
                expires: 0,
                prev: 0,
                next: 0,
            };
        }
        // Slot 0 is never used (0 means "none" in the chains), as in uWSGI.
        for (i, s) in (1..n).enumerate() {
            *self.free(i as u64 + 1) = s;
        }
        let h = self.header();
        h.free_top = n.saturating_sub(1);
        h.n_items = 0;
    }

    fn deadline(&self, expires: u64) -> u64 {
        if expires == 0 {
            0
        } else {
            now().saturating_add(expires)
        }
    }

    /// The live slot holding `key`; an expired one is freed on the way.
    fn find(&mut self, key: &[u8]) -> Option<u64> {
        let hash = djb33x(key);
        let mut slot = *self.bucket(u64::from(hash) % self.c.spec.hashsize);
        while slot != 0 {
            let it = *self.item(slot);
            if it.hash == hash && self.key(slot) == key {
                if it.expires != 0 && it.expires <= now() {
                    self.remove(slot);
                    return None;
                }
                return Some(slot);
            }
            slot = it.next;
        }
        None
    }

    /// Takes a free slot for `key` and links it into its bucket; `None` when full (counted,
    /// and logged unless `ignore_full`), after freeing expired items once.
    fn insert(&mut self, key: &[u8]) -> Option<u64> {
        if self.header().free_top == 0 {
            self.sweep_expired();
        }
        if self.header().free_top == 0 {
            self.header().full += 1;
            if !self.c.spec.ignore_full {
                eprintln!("*** DANGER cache \"{}\" is FULL !!! ***", self.c.spec.name);
            }
            return None;
        }
        let top = self.header().free_top;
        let slot = *self.free(top);
        self.header().free_top = top - 1;
        let hash = djb33x(key);
        let b = u64::from(hash) % self.c.spec.hashsize;
        let head = *self.bucket(b);
        *self.item(slot) = Item {
            hash,
            keysize: key.len() as u32,
            valsize: 0,
            expires: 0,
            prev: 0,
            next: head,
        };
        self.key_area(slot)[..key.len()].copy_from_slice(key);
        if head != 0 {
            self.item(head).prev = slot;
        }
        *self.bucket(b) = slot;
        self.header().n_items += 1;
        Some(slot)
    }

    fn write_value(&mut self, slot: u64, value: &[u8]) {
        self.block(slot)[..value.len()].copy_from_slice(value);
        self.item(slot).valsize = value.len() as u64;
        self.header().last_modified_at = now();
    }

    fn remove(&mut self, slot: u64) {
        let it = *self.item(slot);
        if it.prev != 0 {
            self.item(it.prev).next = it.next;
        } else {
            *self.bucket(u64::from(it.hash) % self.c.spec.hashsize) = it.next;
        }
        if it.next != 0 {
            self.item(it.next).prev = it.prev;
        }
        self.item(slot).keysize = 0;
        let top = self.header().free_top + 1;
        *self.free(top) = slot;
        let h = self.header();
        h.free_top = top;
        h.n_items = h.n_items.saturating_sub(1);
        h.last_modified_at = now();
    }

    fn sweep_expired(&mut self) {
        let now = now();
        for s in 1..self.c.spec.max_items {
            let it = *self.item(s);
            if it.keysize > 0 && it.expires != 0 && it.expires <= now {
                self.remove(s);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(items: u64, blocksize: u64) -> Cache {
        Cache::new(CacheSpec {
            name: "t".into(),
            max_items: items,
            blocksize,
            keysize: 16,
            hashsize: 4,
            math_initial: 0,
            ignore_full: true,
        })
        .unwrap()
    }

    #[test]
    fn set_get_update_del_and_limits() {
        let c = cache(4, 8);
        assert!(c.set(b"a", b"1", 0, SetMode::Create));
        assert!(
            !c.set(b"a", b"2", 0, SetMode::Create),
            "set never overwrites"
        );
        assert_eq!(c.get(b"a").as_deref(), Some(&b"1"[..]));
        assert!(c.set(b"a", b"22", 0, SetMode::Update));
        assert_eq!(c.get(b"a").as_deref(), Some(&b"22"[..]));
        assert!(c.set(b"new", b"x", 0, SetMode::Update), "update creates");
        assert!(!c.set(b"", b"x", 0, SetMode::Create));
        assert!(
            !c.set(b"e", b"", 0, SetMode::Create),
            "empty values are refused, as in uWSGI"
        );
        assert!(
            !c.set(b"big", b"123456789", 0, SetMode::Create),
            "larger than a block"
        );
        assert!(
            !c.set(&[b'k'; 17], b"x", 0, SetMode::Create),
            "key longer than keysize"
        );
        // 4 items hold 3 (slot 0 is reserved, as in uWSGI).
        assert!(c.set(b"c", b"3", 0, SetMode::Create));
        assert!(!c.set(b"d", b"4", 0, SetMode::Create));
        assert_eq!(c.stats().full, 1);
        assert_eq!(c.stats().items, 3);
        let mut keys = c.keys();
        keys.sort();
        assert_eq!(keys, [b"a".to_vec(), b"c".to_vec(), b"new".to_vec()]);
        assert!(c.del(b"a"));
        assert!(!c.del(b"a"));
        assert!(!c.exists(b"a"));
        assert!(
            c.set(b"d", b"4", 0, SetMode::Create),
            "a freed slot is reused"
        );
        c.clear();
        assert_eq!(c.stats().items, 0);
        assert!(c.keys().is_empty());
        assert!(c.get(b"d").is_none());
        let s = c.stats();
        // Hits and misses count get()s only (exists() does not), and survive a clear.
        assert_eq!((s.hits, s.miss), (2, 1), "{s:?}");
    }

    #[test]
    fn many_keys_in_few_buckets_stay_reachable() {
        let c = cache(64, 8);
        for i in 0..63u32 {
            assert!(c.set(
                format!("k{i}").as_bytes(),
                &i.to_ne_bytes(),
                0,
                SetMode::Create
            ));
        }
        for i in (0..63u32).step_by(2) {
            assert!(c.del(format!("k{i}").as_bytes()));
        }
        for i in 0..63u32 {
            let got = c.get(format!("k{i}").as_bytes());
            assert_eq!(got.is_some(), i % 2 == 1, "k{i}");
        }
    }

    #[test]
    fn math_creates_from_the_initial_value_and_refuses_other_sizes() {
        let c = cache(8, 16);
        assert!(c.math(b"n", MathOp::Inc, 5, 0));
        assert!(c.math(b"n", MathOp::Mul, 3, 0));
        assert!(c.math(b"n", MathOp::Dec, 1, 0));
        assert_eq!(c.get(b"n").unwrap(), 14i64.to_ne_bytes());
        assert!(c.math(b"n", MathOp::Div, 0, 0));
        assert_eq!(c.get(b"n").unwrap(), 0i64.to_ne_bytes());
        assert!(c.set(b"s", b"text", 0, SetMode::Create));
        assert!(!c.math(b"s", MathOp::Inc, 1, 0));
    }

    #[test]
    fn expired_items_are_gone() {
        let c = cache(3, 8);
        assert!(c.set(b"old", b"x", 0, SetMode::Create));
        // Age the item by hand: its deadline is in the past.
        c.locked(|l| {
            let s = l.find(b"old").unwrap();
            l.item(s).expires = 1;
        });
        assert!(c.get(b"old").is_none());
        assert!(c.keys().is_empty());
        assert!(c.set(b"a", b"1", 0, SetMode::Create));
        assert!(c.set(b"b", b"1", 100, SetMode::Create));
        assert!(c.exists(b"b"));
    }
}
