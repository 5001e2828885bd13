//! The byte pool: reusable buffers for owned packet copies, bounded by the bytes in
//! flight and handed out as `bytes::Bytes` that come back to the pool on drop.

use transcode_core::{Acquire, Budget, PoolFill, PoolStatsSource, Reservation};
use bytes::Bytes;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use transcode_core::{Error, MemoryConfig, PoolStats, Result};

/// Settings of a [`BytePool`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BytePoolConfig {
    /// Name shown in [`PoolStats`]. Default: `"packet copies"`.
    pub name: &'static str,
    /// Upper bound on the capacity of all the pool's buffers together, in use or free.
    ///
    /// Default: [`MemoryConfig::max_packet_bytes_in_flight`] (`8 MiB`). Larger values
    /// let a slow consumer fall further behind before the producer waits, at the cost
    /// of memory.
    pub max_bytes_in_flight: u64,
    /// Upper bound on one buffer; a larger request is an [`Error::LimitExceeded`].
    ///
    /// Default: the smaller of [`MemoryConfig::max_packet_size`] and
    /// `max_bytes_in_flight`.
    pub max_buffer: u64,
}

impl BytePoolConfig {
    /// The defaults above.
    pub fn new(memory: &MemoryConfig) -> BytePoolConfig {
        BytePoolConfig {
            name: "packet copies",
            max_bytes_in_flight: memory.max_packet_bytes_in_flight,
            max_buffer: memory.max_packet_size.min(memory.max_packet_bytes_in_flight),
        }
    }
}

/// Smallest buffer the pool allocates, so that tiny packets share one size class.
pub const MIN_BUFFER: u64 = 256;

/// Size of the buffers a pool is filled with when its budget asks for
/// [`PoolFill::Upfront`]: small enough that an audio packet does not take much more
/// than its own size, large enough that the free list stays short.
pub const PREFILL_BUFFER: u64 = 4096;

struct State {
    /// Returned buffers, empty (`len() == 0`) with their capacity kept.
    free: Vec<Vec<u8>>,
    free_bytes: u64,
    /// Capacity of the buffers handed out.
    out_bytes: u64,
    out_count: u64,
    peak_out_bytes: u64,
    peak_out_count: u64,
    /// Buffers alive (free or out).
    allocated: u64,
    /// Budget held for every buffer alive.
    reservation: Reservation,
}

struct Shared {
    name: &'static str,
    limit: u64,
    max_buffer: u64,
    state: Mutex<State>,
    returned: Condvar,
}

/// How long a waiter sleeps before asking the budget again when it has nothing of its
/// own out that could come back and wake it.
const BUDGET_POLL: Duration = Duration::from_millis(5);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A buffer of capacity at least `len` if the bounds allow one now. `Err(())` means
    /// full. On `Ok(None)` the caller allocates `cap` bytes outside the lock.
    fn take(&self, st: &mut State, len: u64) -> std::result::Result<TakeBuf, ()> {
        // Best fit among the free buffers: the smallest that is large enough.
        let best = st
            .free
            .iter()
            .enumerate()
            .filter(|(_, b)| b.capacity() as u64 >= len)
            .min_by_key(|(_, b)| b.capacity())
            .map(|(i, _)| i);
        if let Some(i) = best {
            let buf = st.free.swap_remove(i);
            let cap = buf.capacity() as u64;
            st.free_bytes -= cap;
            self.note_out(st, cap);
            return Ok(TakeBuf::Reuse(buf));
        }
        // Allocate in power-of-two classes so that packets of similar size reuse each
        // other's buffers; fall back to the exact length near the limit.
        let mut cap = len.max(MIN_BUFFER).checked_next_power_of_two().unwrap_or(len);
        if st.out_bytes + cap > self.limit {
            cap = len;
        }
        if st.out_bytes + cap > self.limit {
            return Err(());
        }
        // Free buffers too small for this request make room for it, smallest first.
        while st.out_bytes + st.free_bytes + cap > self.limit && !st.free.is_empty() {
            self.evict_smallest(st);
        }
        loop {
            match st.reservation.try_grow("byte pool", cap) {
                Ok(Acquire::Ready(())) => break,
                // The budget is shared with other pools: give back our idle buffers
                // before reporting full.
                _ if !st.free.is_empty() => self.evict_smallest(st),
                _ => return Err(()),
            }
        }
        st.allocated += 1;
        self.note_out(st, cap);
        Ok(TakeBuf::Allocate(cap as usize))
    }

    /// Fills the pool to its bound with `count` free buffers of [`PREFILL_BUFFER`]
    /// bytes ([`PoolFill::Upfront`]). Small buffers are the ones `take` evicts first to
    /// make room for a larger one, so the pool's heap stays at its bound from here on
    /// instead of following the packet mix, and small packets (audio) still find as
    /// many buffers as they would have had.
    fn prefill(&self, count: usize, budget: &Budget) -> Result<()> {
        let total = count as u64 * PREFILL_BUFFER;
        let mut st = self.lock();
        match st.reservation.try_grow("byte pool prefill", total)? {
            Acquire::Ready(()) => {}
            Acquire::Full => return Err(Error::LimitExceeded { what: "byte pool prefill", requested: total, limit: budget.available() }),
        }
        for _ in 0..count {
            st.free.push(Vec::with_capacity(PREFILL_BUFFER as usize));
        }
        st.free_bytes += total;
        st.allocated += count as u64;
        Ok(())
    }

    fn evict_smallest(&self, st: &mut State) {
        let Some(i) = st.free.iter().enumerate().min_by_key(|(_, b)| b.capacity()).map(|(i, _)| i) else {
            return;
        };
        let buf = st.free.swap_remove(i);
        let cap = buf.capacity() as u64;
        st.free_bytes -= cap;
        st.allocated -= 1;
        st.reservation.shrink(cap);
    }

    fn note_out(&self, st: &mut State, cap: u64) {
        st.out_bytes += cap;
        st.out_count += 1;
        st.peak_out_bytes = st.peak_out_bytes.max(st.out_bytes);
        st.peak_out_count = st.peak_out_count.max(st.out_count);
    }

    fn give_back(&self, mut buf: Vec<u8>) {
        buf.clear();
        let cap = buf.capacity() as u64;
        let mut st = self.lock();
        st.out_bytes -= cap;
        st.out_count -= 1;
        st.free.push(buf);
        st.free_bytes += cap;
        drop(st);
        // Waiters may need different sizes: wake them all to look.
        self.returned.notify_all();
    }

    fn stats(&self) -> PoolStats {
        let st = self.lock();
        PoolStats {
            name: self.name,
            allocated: st.allocated,
            capacity: self.limit / MIN_BUFFER,
            available: st.free.len() as u64,
            peak_in_use: st.peak_out_count,
            bytes: st.out_bytes + st.free_bytes,
        }
    }
}

enum TakeBuf {
    Reuse(Vec<u8>),
    Allocate(usize),
}

impl PoolStatsSource for Shared {
    fn pool_stats(&self) -> PoolStats {
        self.stats()
    }
}

/// A bounded pool of byte buffers for owned packet copies.
///
/// ```text
///   BytePool ──Arc──► Shared { free: [Vec, Vec, ...], out + free ≤ max_bytes_in_flight }
///       try_get(len) ─► PooledBuf (write) ─freeze─► Bytes ─clone─► Bytes ...
///                          │ drop                      │ last drop
///                          └────── back to free ◄──────┘
/// ```
///
/// - The capacities of all buffers, handed out or free, never exceed
///   `max_bytes_in_flight`, and are reserved against the [`Budget`] before allocation.
/// - [`BytePool::try_get`] answers [`Acquire::Full`] when a buffer of the requested
///   length would go over the bound; [`BytePool::get`] waits for buffers to come back.
///   A length over `max_buffer` can never be served: [`Error::LimitExceeded`].
/// - Buffers are reused best-fit; new ones are allocated in power-of-two sizes (at
///   least [`MIN_BUFFER`]), and idle buffers are freed when room is needed for a larger
///   one. Once the mix of packet sizes has been seen, getting, filling and dropping a
///   [`PooledBuf`] allocates nothing.
/// - [`PooledBuf::freeze`] makes a `Bytes` with `Bytes::from_owner`, which allocates
///   one small fixed-size header per call inside the `bytes` crate (the packet bytes
///   themselves are not copied or allocated).
#[derive(Clone)]
pub struct BytePool {
    shared: Arc<Shared>,
}

impl fmt::Debug for BytePool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BytePool").field("stats", &self.stats()).finish()
    }
}

impl BytePool {
    /// Makes a pool and registers it with `budget` for [`Budget::stats`]. Nothing is
    /// allocated until the first request.
    ///
    /// Errors: a zero bound, or [`Error::LimitExceeded`] when `max_bytes_in_flight`
    /// exceeds the budget's limit.
    pub fn new(config: BytePoolConfig, budget: &Budget) -> Result<BytePool> {
        if config.max_bytes_in_flight == 0 || config.max_buffer == 0 {
            return Err(Error::invalid("invalid byte pool bound 0 (expected at least 1 byte)"));
        }
        Error::check_limit("byte pool", config.max_bytes_in_flight, budget.limit())?;
        let upfront = budget.pool_fill() == PoolFill::Upfront;
        let prefill = if upfront { (config.max_bytes_in_flight / PREFILL_BUFFER) as usize } else { 0 };
        let shared = Arc::new(Shared {
            name: config.name,
            limit: config.max_bytes_in_flight,
            max_buffer: config.max_buffer.min(config.max_bytes_in_flight),
            state: Mutex::new(State {
                free: Vec::with_capacity(prefill.max(64)),
                free_bytes: 0,
                out_bytes: 0,
                out_count: 0,
                peak_out_bytes: 0,
                peak_out_count: 0,
                allocated: 0,
                reservation: budget.empty_reservation(),
            }),
            returned: Condvar::new(),
        });
        if prefill > 0 {
            shared.prefill(prefill, budget)?;
        }
        let weak: std::sync::Weak<Shared> = Arc::downgrade(&shared);
        budget.register(weak);
        Ok(BytePool { shared })
    }

    fn check_len(&self, len: usize) -> Result<u64> {
        let len = len as u64;
        Error::check_limit("pooled buffer", len, self.shared.max_buffer)?;
        Ok(len)
    }

    fn finish(&self, take: TakeBuf) -> PooledBuf {
        let buf = match take {
            TakeBuf::Reuse(b) => b,
            TakeBuf::Allocate(cap) => Vec::with_capacity(cap),
        };
        PooledBuf { buf, pool: self.shared.clone() }
    }

    /// An empty buffer with room for at least `len` bytes, or [`Acquire::Full`] when
    /// that would exceed the bytes in flight (or the budget). Never waits.
    pub fn try_get(&self, len: usize) -> Result<Acquire<PooledBuf>> {
        let len = self.check_len(len)?;
        let take = self.shared.take(&mut self.shared.lock(), len);
        Ok(match take {
            Ok(t) => Acquire::Ready(self.finish(t)),
            Err(()) => Acquire::Full,
        })
    }

    /// An empty buffer with room for at least `len` bytes, waiting for buffers to come
    /// back if needed. Waits forever if the caller itself holds what would have to be
    /// returned: use [`BytePool::try_get`] where that can happen.
    pub fn get(&self, len: usize) -> Result<PooledBuf> {
        loop {
            if let Acquire::Ready(b) = self.get_until(len, None)? {
                return Ok(b);
            }
        }
    }

    /// Like [`BytePool::get`], waiting at most `timeout`.
    pub fn get_timeout(&self, len: usize, timeout: Duration) -> Result<Acquire<PooledBuf>> {
        self.get_until(len, Some(Instant::now() + timeout))
    }

    fn get_until(&self, len: usize, deadline: Option<Instant>) -> Result<Acquire<PooledBuf>> {
        let len = self.check_len(len)?;
        let shared = &self.shared;
        let mut st = shared.lock();
        loop {
            if let Ok(t) = shared.take(&mut st, len) {
                drop(st);
                return Ok(Acquire::Ready(self.finish(t)));
            }
            // With buffers out, their return wakes us; with none, only the budget can
            // have been the obstacle, and it does not wake us: look again shortly.
            let poll = (st.out_count == 0).then_some(BUDGET_POLL);
            let now = Instant::now();
            let wait = match (deadline, poll) {
                (Some(d), _) if now >= d => return Ok(Acquire::Full),
                (Some(d), Some(p)) => Some((d - now).min(p)),
                (Some(d), None) => Some(d - now),
                (None, p) => p,
            };
            st = match wait {
                Some(t) => shared.returned.wait_timeout(st, t).unwrap_or_else(|e| e.into_inner()).0,
                None => shared.returned.wait(st).unwrap_or_else(|e| e.into_inner()),
            };
        }
    }

    /// A pooled copy of `data` as `Bytes`, or [`Acquire::Full`]. Never waits.
    pub fn try_copy(&self, data: &[u8]) -> Result<Acquire<Bytes>> {
        Ok(self.try_get(data.len())?.map(|mut b| {
            b.buf.extend_from_slice(data);
            b.freeze()
        }))
    }

    /// A pooled copy of `data` as `Bytes`, waiting for room if needed.
    pub fn copy(&self, data: &[u8]) -> Result<Bytes> {
        let mut b = self.get(data.len())?;
        b.buf.extend_from_slice(data);
        Ok(b.freeze())
    }

    /// Capacity of the buffers handed out and not yet returned.
    pub fn bytes_in_flight(&self) -> u64 {
        self.shared.lock().out_bytes
    }

    /// The largest [`BytePool::bytes_in_flight`] seen.
    pub fn peak_bytes_in_flight(&self) -> u64 {
        self.shared.lock().peak_out_bytes
    }

    /// The bound on all buffers' capacity.
    pub fn max_bytes_in_flight(&self) -> u64 {
        self.shared.limit
    }

    /// The pool's figures. `capacity` is the most buffers the bound allows (the bound
    /// divided by [`MIN_BUFFER`]); `bytes` counts every buffer alive, in use or free.
    pub fn stats(&self) -> PoolStats {
        self.shared.stats()
    }
}

/// A buffer from a [`BytePool`], to be filled and then frozen into `Bytes` (or used
/// and dropped). Returns to the pool on drop.
///
/// It never grows past the capacity it was handed out with: writes that would are
/// errors, so the pool's accounting stays exact.
pub struct PooledBuf {
    buf: Vec<u8>,
    pool: Arc<Shared>,
}

impl fmt::Debug for PooledBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PooledBuf").field("len", &self.buf.len()).field("capacity", &self.buf.capacity()).finish()
    }
}

impl PooledBuf {
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Bytes the buffer can hold.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Bytes that can still be appended.
    pub fn remaining(&self) -> usize {
        self.buf.capacity() - self.buf.len()
    }

    /// Appends `data`, or fails with [`Error::LimitExceeded`] if it does not fit.
    pub fn extend_from_slice(&mut self, data: &[u8]) -> Result<()> {
        let need = self.buf.len() as u64 + data.len() as u64;
        Error::check_limit("pooled buffer", need, self.buf.capacity() as u64)?;
        self.buf.extend_from_slice(data);
        Ok(())
    }

    /// Sets the length to `len`, zero-filling new bytes, or fails with
    /// [`Error::LimitExceeded`] past the capacity. Use before writing through
    /// [`PooledBuf::as_mut_slice`] (for example a `read_exact`).
    pub fn resize(&mut self, len: usize) -> Result<()> {
        Error::check_limit("pooled buffer", len as u64, self.buf.capacity() as u64)?;
        self.buf.resize(len, 0);
        Ok(())
    }

    pub fn truncate(&mut self, len: usize) {
        self.buf.truncate(len);
    }

    pub fn clear(&mut self) {
        self.buf.clear();
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    /// Turns the buffer into `Bytes` without copying. The buffer returns to the pool
    /// when the last clone of the `Bytes` (or of any slice of it) is dropped.
    pub fn freeze(self) -> Bytes {
        Bytes::from_owner(self)
    }
}

impl AsRef<[u8]> for PooledBuf {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for PooledBuf {
    fn drop(&mut self) {
        self.pool.give_back(std::mem::take(&mut self.buf));
    }
}
