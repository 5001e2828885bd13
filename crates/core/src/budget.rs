//! One memory budget for a whole job: atomic reserve/release before allocating, with
//! backpressure as a status and the job's [`MemoryStats`] gathered from every pool.
//!
//! # Design
//!
//! ```text
//!   Budget (Arc, cloned into every pool)
//!   ┌──────────────────────────────────────────────┐
//!   │ limit │ reserved (atomic) │ peak (atomic)     │
//!   │ waiters + condvar   │ registered pools (Weak) │
//!   └──────────────────────────────────────────────┘
//!        ▲ try_reserve / reserve          ▲ stats()
//!        │ (before allocating)            │ asks each live pool
//!   Reservation ── drop releases ─────────┘
//! ```
//!
//! - A request larger than the limit can never succeed: it is an
//!   [`Error::LimitExceeded`], returned at once.
//! - A request that fits the limit but not what is free right now is backpressure, not
//!   an error: [`Budget::try_reserve`] answers [`Acquire::Full`], [`Budget::reserve`]
//!   waits until other reservations are released, [`Budget::reserve_timeout`] waits at
//!   most a given time.
//! - The fast path is one compare-and-swap; the lock is taken only when someone waits.
//! - Reserving and releasing never allocate; [`Budget::register`] allocates once per pool
//!   and [`Budget::stats`] allocates the returned list.
//!
//! ```
//! use transcode_core::{Acquire, Budget, Error};
//! let budget = Budget::new(1000);
//! let a = budget.try_reserve("frames", 600).unwrap().ready().unwrap();
//! // 600 + 600 > 1000: it could fit later, so it is backpressure, not an error.
//! assert!(budget.try_reserve("frames", 600).unwrap().is_full());
//! // 2000 > 1000 can never fit.
//! assert!(matches!(budget.try_reserve("frames", 2000), Err(Error::LimitExceeded { .. })));
//! drop(a);
//! assert_eq!(budget.reserved(), 0);
//! assert_eq!(budget.stats().peak_reserved, 600);
//! ```

use crate::{Error, MemoryConfig, MemoryStats, PoolFill, PoolStats, Result};
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

/// The answer of a non-blocking request to a bounded resource: either the thing asked
/// for, or word that the resource is full for now.
///
/// `Full` is backpressure, not failure: the same request succeeds once something is
/// released. Requests that can never succeed are errors instead
/// ([`Error::LimitExceeded`]).
#[must_use = "a full pool or budget must be handled, usually by waiting or draining"]
#[derive(Debug)]
pub enum Acquire<T> {
    /// The request was granted.
    Ready(T),
    /// Nothing is free right now; release something (or wait) and ask again.
    Full,
}

impl<T> Acquire<T> {
    /// The granted value, or `None` when full.
    pub fn ready(self) -> Option<T> {
        match self {
            Acquire::Ready(t) => Some(t),
            Acquire::Full => None,
        }
    }

    /// True when the request was refused for now.
    pub fn is_full(&self) -> bool {
        matches!(self, Acquire::Full)
    }

    /// Applies `f` to a granted value.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Acquire<U> {
        match self {
            Acquire::Ready(t) => Acquire::Ready(f(t)),
            Acquire::Full => Acquire::Full,
        }
    }
}

/// A source of [`PoolStats`] that registers with a [`Budget`] so that
/// [`Budget::stats`] can report it. Pools implement this on their shared state and
/// register a `Weak` pointer, so a dropped pool simply disappears from the report.
pub trait PoolStatsSource: Send + Sync {
    /// The pool's current figures.
    fn pool_stats(&self) -> PoolStats;
}

struct Inner {
    limit: u64,
    reserved: AtomicU64,
    peak: AtomicU64,
    /// Threads blocked in `reserve`; releases take the lock only when this is non-zero.
    waiters: AtomicUsize,
    lock: Mutex<()>,
    released: Condvar,
    pools: Mutex<Vec<Weak<dyn PoolStatsSource>>>,
    /// When the pools of this budget allocate ([`MemoryConfig::pool_fill`]).
    fill: PoolFill,
}

/// The shared memory budget of one job. Cheap to clone (an `Arc`); every clone is the
/// same budget.
///
/// Every pool, queue and arena reserves its bytes here *before* allocating them, and
/// releases them (by dropping the [`Reservation`]) after freeing them, so
/// [`Budget::reserved`] is an upper bound on the memory the job's buffers use.
#[derive(Clone)]
pub struct Budget {
    inner: Arc<Inner>,
}

impl fmt::Debug for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Budget")
            .field("limit", &self.limit())
            .field("reserved", &self.reserved())
            .field("peak", &self.peak())
            .finish()
    }
}

impl Default for Budget {
    /// A budget of [`MemoryConfig::DEFAULT_MAX_MEMORY`].
    fn default() -> Self {
        Budget::new(MemoryConfig::DEFAULT_MAX_MEMORY)
    }
}

impl Budget {
    /// A budget of `limit` bytes.
    pub fn new(limit: u64) -> Budget {
        Budget {
            inner: Arc::new(Inner {
                limit,
                reserved: AtomicU64::new(0),
                peak: AtomicU64::new(0),
                waiters: AtomicUsize::new(0),
                lock: Mutex::new(()),
                released: Condvar::new(),
                pools: Mutex::new(Vec::new()),
                fill: PoolFill::Lazy,
            }),
        }
    }

    /// A budget of [`MemoryConfig::max_memory`] bytes; the pools made against it follow [`MemoryConfig::pool_fill`].
    pub fn from_config(config: &MemoryConfig) -> Budget {
        let mut b = Budget::new(config.max_memory);
        if let Some(inner) = Arc::get_mut(&mut b.inner) {
            inner.fill = config.pool_fill;
        }
        b
    }

    /// When the pools made against this budget allocate their buffers: a pool reads it
    /// here because a job hands its one budget to every stage, including pools made
    /// inside decoders and filters.
    pub fn pool_fill(&self) -> PoolFill {
        self.inner.fill
    }

    /// The limit in bytes.
    pub fn limit(&self) -> u64 {
        self.inner.limit
    }

    /// Bytes reserved right now.
    pub fn reserved(&self) -> u64 {
        self.inner.reserved.load(Ordering::Acquire)
    }

    /// Bytes that could be reserved right now.
    pub fn available(&self) -> u64 {
        self.inner.limit.saturating_sub(self.reserved())
    }

    /// The largest number of bytes reserved at once since the budget was made.
    pub fn peak(&self) -> u64 {
        self.inner.peak.load(Ordering::Acquire)
    }

    /// True when `self` and `other` are clones of the same budget.
    pub fn same_as(&self, other: &Budget) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Reserves `bytes` if they are free now, without waiting.
    ///
    /// Returns [`Error::LimitExceeded`] (naming `what`) when `bytes` exceeds the limit,
    /// since such a request can never succeed, and [`Acquire::Full`] when it fits the
    /// limit but not what is currently free.
    pub fn try_reserve(&self, what: &'static str, bytes: u64) -> Result<Acquire<Reservation>> {
        Error::check_limit(what, bytes, self.inner.limit)?;
        Ok(if self.add(bytes) { Acquire::Ready(self.reservation(bytes)) } else { Acquire::Full })
    }

    /// Reserves `bytes`, waiting for other reservations to be released if necessary.
    ///
    /// Returns [`Error::LimitExceeded`] at once when `bytes` exceeds the limit. Waits
    /// forever otherwise: use [`Budget::reserve_timeout`] or [`Budget::try_reserve`]
    /// where nothing else is sure to release memory.
    pub fn reserve(&self, what: &'static str, bytes: u64) -> Result<Reservation> {
        Error::check_limit(what, bytes, self.inner.limit)?;
        if self.add(bytes) {
            return Ok(self.reservation(bytes));
        }
        let mut guard = self.wait_begin();
        while !self.add(bytes) {
            guard = self.inner.released.wait(guard).unwrap_or_else(|e| e.into_inner());
        }
        self.wait_end(guard);
        Ok(self.reservation(bytes))
    }

    /// Reserves `bytes`, waiting at most `timeout` for other reservations to be
    /// released. Answers [`Acquire::Full`] when the time runs out.
    pub fn reserve_timeout(&self, what: &'static str, bytes: u64, timeout: Duration) -> Result<Acquire<Reservation>> {
        Error::check_limit(what, bytes, self.inner.limit)?;
        if self.add(bytes) {
            return Ok(Acquire::Ready(self.reservation(bytes)));
        }
        let deadline = Instant::now() + timeout;
        let mut guard = self.wait_begin();
        let mut granted = false;
        loop {
            if self.add(bytes) {
                granted = true;
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            guard = self.inner.released.wait_timeout(guard, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
        self.wait_end(guard);
        Ok(if granted { Acquire::Ready(self.reservation(bytes)) } else { Acquire::Full })
    }

    /// An empty reservation, to be grown with [`Reservation::try_grow`]. Pools keep one
    /// of these for all their buffers.
    pub fn empty_reservation(&self) -> Reservation {
        self.reservation(0)
    }

    /// Adds a pool to the report of [`Budget::stats`]. The budget keeps only a weak
    /// pointer: a dropped pool leaves the report by itself.
    pub fn register(&self, pool: Weak<dyn PoolStatsSource>) {
        let mut pools = self.inner.pools.lock().unwrap_or_else(|e| e.into_inner());
        pools.retain(|p| p.strong_count() > 0);
        pools.push(pool);
    }

    /// The job's memory figures: the budget's counters and those of every live pool
    /// registered with it.
    pub fn stats(&self) -> MemoryStats {
        let pools: Vec<Arc<dyn PoolStatsSource>> = {
            let mut list = self.inner.pools.lock().unwrap_or_else(|e| e.into_inner());
            list.retain(|p| p.strong_count() > 0);
            list.iter().filter_map(Weak::upgrade).collect()
        };
        // The pools' own locks are taken outside the registry lock so that a pool
        // registering itself while holding its lock cannot deadlock with a report.
        MemoryStats {
            reserved: self.reserved(),
            peak_reserved: self.peak(),
            limit: self.limit(),
            pools: pools.iter().map(|p| p.pool_stats()).collect(),
        }
    }

    fn reservation(&self, bytes: u64) -> Reservation {
        Reservation { budget: self.clone(), bytes }
    }

    /// Adds `bytes` to the reserved total if the result stays within the limit.
    fn add(&self, bytes: u64) -> bool {
        if bytes == 0 {
            return true;
        }
        let inner = &*self.inner;
        let mut cur = inner.reserved.load(Ordering::Relaxed);
        loop {
            let Some(new) = cur.checked_add(bytes).filter(|&n| n <= inner.limit) else {
                return false;
            };
            match inner.reserved.compare_exchange_weak(cur, new, Ordering::SeqCst, Ordering::Relaxed) {
                Ok(_) => {
                    inner.peak.fetch_max(new, Ordering::AcqRel);
                    return true;
                }
                Err(actual) => cur = actual,
            }
        }
    }

    fn release(&self, bytes: u64) {
        if bytes == 0 {
            return;
        }
        let inner = &*self.inner;
        inner.reserved.fetch_sub(bytes, Ordering::SeqCst);
        // A waiter increments `waiters` before its last check of `reserved`, so either
        // it sees this release or we see it waiting and wake it.
        if inner.waiters.load(Ordering::SeqCst) > 0 {
            drop(inner.lock.lock().unwrap_or_else(|e| e.into_inner()));
            inner.released.notify_all();
        }
    }

    fn wait_begin(&self) -> MutexGuard<'_, ()> {
        let guard = self.inner.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.inner.waiters.fetch_add(1, Ordering::SeqCst);
        guard
    }

    fn wait_end(&self, guard: MutexGuard<'_, ()>) {
        self.inner.waiters.fetch_sub(1, Ordering::SeqCst);
        drop(guard);
    }
}

/// Bytes reserved against a [`Budget`]; dropping it releases them.
///
/// A reservation can grow ([`Reservation::try_grow`]) and shrink
/// ([`Reservation::shrink`]) without allocating, so a pool keeps one for all its
/// buffers and adjusts it as it allocates and frees them.
#[must_use = "dropping a reservation releases it at once"]
pub struct Reservation {
    budget: Budget,
    bytes: u64,
}

impl fmt::Debug for Reservation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reservation").field("bytes", &self.bytes).finish()
    }
}

impl Reservation {
    /// Bytes held by this reservation.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The budget this reservation belongs to.
    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// Adds `extra` bytes if they are free now: the same answers as
    /// [`Budget::try_reserve`], with the limit checked against the grown total.
    pub fn try_grow(&mut self, what: &'static str, extra: u64) -> Result<Acquire<()>> {
        let total = self.bytes.saturating_add(extra);
        Error::check_limit(what, total, self.budget.limit())?;
        if self.budget.add(extra) {
            self.bytes += extra;
            Ok(Acquire::Ready(()))
        } else {
            Ok(Acquire::Full)
        }
    }

    /// Adds `extra` bytes, waiting for them like [`Budget::reserve`].
    pub fn grow(&mut self, what: &'static str, extra: u64) -> Result<()> {
        let total = self.bytes.saturating_add(extra);
        Error::check_limit(what, total, self.budget.limit())?;
        let more = self.budget.reserve(what, extra)?;
        self.merge(more);
        Ok(())
    }

    /// Releases `bytes` (at most all of them) back to the budget.
    pub fn shrink(&mut self, bytes: u64) {
        let bytes = bytes.min(self.bytes);
        self.bytes -= bytes;
        self.budget.release(bytes);
    }

    /// Moves `bytes` (at most all of them) into a new reservation of the same budget.
    pub fn split(&mut self, bytes: u64) -> Reservation {
        let bytes = bytes.min(self.bytes);
        self.bytes -= bytes;
        self.budget.reservation(bytes)
    }

    /// Takes over the bytes of `other`. Reservations of different budgets are not
    /// merged: `other` is then dropped (released) and `self` is unchanged.
    pub fn merge(&mut self, mut other: Reservation) {
        if self.budget.same_as(&other.budget) {
            self.bytes += other.bytes;
            other.bytes = 0;
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.release(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    #[test]
    fn never_fitting_request_is_an_error_and_later_fitting_is_full() {
        let b = Budget::new(100);
        let e = b.try_reserve("packet copies", 101).unwrap_err();
        assert_eq!(e.to_string(), "packet copies needs 101 but the limit is 100");
        let r = b.try_reserve("x", 70).unwrap().ready().unwrap();
        assert!(b.try_reserve("x", 31).unwrap().is_full());
        assert!(b.try_reserve("x", 30).unwrap().ready().is_some_and(|r| r.bytes() == 30));
        assert_eq!(b.reserved(), 70);
        drop(r);
        assert_eq!((b.reserved(), b.peak()), (0, 100));
        assert!(matches!(b.reserve("x", 101), Err(Error::LimitExceeded { requested: 101, limit: 100, .. })));
    }

    #[test]
    fn reserve_waits_for_a_release_on_another_thread() {
        let b = Budget::new(100);
        let r = b.reserve("x", 80).unwrap();
        let b2 = b.clone();
        let t = thread::spawn(move || b2.reserve("x", 50).unwrap().bytes());
        thread::sleep(Duration::from_millis(50));
        assert_eq!(b.reserved(), 80, "the waiter must not have reserved yet");
        drop(r);
        assert_eq!(t.join().unwrap(), 50);
        assert_eq!(b.reserved(), 0);
        assert_eq!(b.peak(), 80);
    }

    #[test]
    fn reserve_timeout_gives_up_with_full() {
        let b = Budget::new(10);
        let _r = b.reserve("x", 10).unwrap();
        let t0 = Instant::now();
        assert!(b.reserve_timeout("x", 1, Duration::from_millis(30)).unwrap().is_full());
        assert!(t0.elapsed() >= Duration::from_millis(30));
    }

    #[test]
    fn grow_shrink_split_merge_keep_the_total_exact() {
        let b = Budget::new(100);
        let mut r = b.empty_reservation();
        assert!(r.try_grow("x", 60).unwrap().ready().is_some());
        let held = b.reserve("x", 30).unwrap();
        assert!(r.try_grow("x", 30).unwrap().is_full(), "fits the limit, not what is free");
        drop(held);
        assert!(r.try_grow("x", 41).is_err(), "60 + 41 can never fit in 100");
        let part = r.split(20);
        assert_eq!((r.bytes(), part.bytes(), b.reserved()), (40, 20, 60));
        r.merge(part);
        r.shrink(100);
        assert_eq!((r.bytes(), b.reserved()), (0, 0));
        let other = Budget::new(5);
        let foreign = other.reserve("x", 5).unwrap();
        r.merge(foreign);
        assert_eq!((r.bytes(), other.reserved()), (0, 0));
    }

    #[test]
    fn many_threads_never_exceed_the_limit() {
        let b = Budget::new(1000);
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let b = b.clone();
                thread::spawn(move || {
                    for n in 0..2000u64 {
                        let r = b.reserve("x", 100 + (n + i) % 300).unwrap();
                        assert!(b.reserved() <= 1000);
                        drop(r);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(b.reserved(), 0);
        assert!(b.peak() <= 1000);
    }

    struct Fixed(u64);
    impl PoolStatsSource for Fixed {
        fn pool_stats(&self) -> PoolStats {
            PoolStats { name: "fixed", capacity: self.0, ..PoolStats::default() }
        }
    }

    #[test]
    fn stats_report_live_pools_only() {
        let b = Budget::new(10);
        let a: Arc<dyn PoolStatsSource> = Arc::new(Fixed(3));
        let gone: Arc<dyn PoolStatsSource> = Arc::new(Fixed(4));
        b.register(Arc::downgrade(&a));
        b.register(Arc::downgrade(&gone));
        drop(gone);
        let s = b.stats();
        assert_eq!(s.limit, 10);
        assert_eq!(s.pools.len(), 1);
        assert_eq!(s.pools[0].capacity, 3);
    }
}
