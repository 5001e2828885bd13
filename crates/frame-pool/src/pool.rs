//! The frame pool: a bounded, thread-safe set of frame buffers of one layout, reserved
//! against the job's budget, handed out as [`Frame`]s that come back on drop.

use transcode_core::{Acquire, Budget, PoolFill, PoolStatsSource, Reservation};
use crate::frame::{Frame, FrameData};
use crate::layout::FrameLayout;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use transcode_core::{Error, MemoryConfig, PoolStats, Result};

/// When a pool allocates its buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Preallocate {
    /// On demand, one by one, up to the capacity. Default.
    #[default]
    Lazy,
    /// All of them when the pool is made, so the first frames of a job cost no
    /// allocation and a budget too small for the whole pool fails at once.
    All,
}

/// What happens to a frame's pixels when it returns to the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClearOnRelease {
    /// Left as they are; the next user overwrites them. Default.
    #[default]
    Keep,
    /// Zeroed, so no picture leaks from one user of the pool to the next (at the cost
    /// of one write pass over the buffer per frame).
    Zero,
}

/// Settings of a [`FramePool`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FramePoolConfig {
    /// Name shown in [`PoolStats`]. Default: `"frames"`.
    pub name: &'static str,
    /// Format, size and alignment of every frame of the pool. A change of resolution
    /// needs a new pool.
    pub layout: FrameLayout,
    /// Most frames the pool holds, in use or free.
    ///
    /// Default: [`MemoryConfig::max_pool_frames`] (`8`). More frames allow deeper
    /// pipelining between decoder and encoder, at the cost of one frame size each.
    pub capacity: u32,
    /// Default: [`Preallocate::Lazy`]. `All` moves every allocation to start-up.
    pub preallocate: Preallocate,
    /// Default: [`ClearOnRelease::Keep`]. `Zero` costs a write pass per frame.
    pub clear: ClearOnRelease,
}

impl FramePoolConfig {
    /// A configuration for frames of `layout` with the defaults above.
    pub fn new(layout: FrameLayout, memory: &MemoryConfig) -> FramePoolConfig {
        FramePoolConfig {
            name: "frames",
            layout,
            capacity: memory.max_pool_frames,
            preallocate: Preallocate::Lazy,
            clear: ClearOnRelease::Keep,
        }
    }
}

struct State {
    /// Buffers ready for use. Allocated with room for `capacity`, so pushing never
    /// reallocates.
    free: Vec<Arc<FrameData>>,
    allocated: usize,
    in_use: usize,
    peak_in_use: usize,
    /// Budget held for all allocated buffers.
    reservation: Reservation,
}

pub(crate) struct PoolShared {
    name: &'static str,
    layout: FrameLayout,
    capacity: usize,
    clear: ClearOnRelease,
    frame_bytes: u64,
    state: Mutex<State>,
    returned: Condvar,
}

enum Take {
    Free(Arc<FrameData>),
    Allocate,
    PoolFull,
    BudgetFull,
}

/// How long a waiter sleeps before asking the budget again when the pool has no frame
/// out (so none will come back to wake it) and the budget is full of other pools' data.
const BUDGET_POLL: Duration = Duration::from_millis(5);

impl PoolShared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn take(&self, st: &mut State) -> Take {
        if let Some(data) = st.free.pop() {
            self.note_use(st);
            return Take::Free(data);
        }
        if st.allocated >= self.capacity {
            return Take::PoolFull;
        }
        // The pool checked at creation that one frame fits the budget's limit, so the
        // only possible answers are granted or full.
        match st.reservation.try_grow("frame pool", self.frame_bytes) {
            Ok(Acquire::Ready(())) => {
                st.allocated += 1;
                self.note_use(st);
                Take::Allocate
            }
            _ => Take::BudgetFull,
        }
    }

    fn note_use(&self, st: &mut State) {
        st.in_use += 1;
        st.peak_in_use = st.peak_in_use.max(st.in_use);
    }

    /// Turns the answer of `take` into a frame, outside the lock.
    fn finish(self: &Arc<Self>, take: Take) -> Option<Frame> {
        let mut data = match take {
            Take::Free(d) => d,
            Take::Allocate => Arc::new(FrameData::alloc(self.layout)),
            Take::PoolFull | Take::BudgetFull => return None,
        };
        // The last handle to a frame pushes it here a moment before the other handles'
        // `Arc`s are gone; wait for them so the frame is unique and writable.
        while Arc::strong_count(&data) > 1 {
            std::thread::yield_now();
        }
        if let Some(d) = Arc::get_mut(&mut data) {
            if *d.dirty.get_mut() {
                d.zero();
            }
            *d.props_mut() = Default::default();
        }
        Some(Frame::new(data, self.clone()))
    }

    /// Takes back a frame whose last handle was dropped.
    pub(crate) fn recycle(&self, mut data: Arc<FrameData>) {
        if self.clear == ClearOnRelease::Zero {
            match Arc::get_mut(&mut data) {
                Some(d) => d.zero(),
                None => data.dirty.store(true, Ordering::Release),
            }
        }
        let mut st = self.lock();
        st.in_use = st.in_use.saturating_sub(1);
        if data.layout() == &self.layout && st.free.len() < self.capacity {
            st.free.push(data);
        } else {
            // Not one of ours (cannot happen) or one too many: free it and its budget.
            st.allocated = st.allocated.saturating_sub(1);
            st.reservation.shrink(self.frame_bytes);
        }
        drop(st);
        self.returned.notify_one();
    }

    fn stats(&self) -> PoolStats {
        let st = self.lock();
        PoolStats {
            name: self.name,
            allocated: st.allocated as u64,
            capacity: self.capacity as u64,
            available: st.free.len() as u64,
            peak_in_use: st.peak_in_use as u64,
            bytes: st.allocated as u64 * self.frame_bytes,
        }
    }
}

impl PoolStatsSource for PoolShared {
    fn pool_stats(&self) -> PoolStats {
        self.stats()
    }
}

/// A bounded pool of frame buffers of one [`FrameLayout`].
///
/// ```text
///   FramePool ──Arc──► PoolShared { free: [buf, buf, ...], allocated ≤ capacity,
///                                   reservation (budget bytes of all buffers) }
///        acquire ─► Frame (unique, &mut) ─into_shared─► SharedFrame (clone = refcount)
///                     │ drop                               │ last drop
///                     └───────────── back to free ◄────────┘
/// ```
///
/// - At most `capacity` buffers exist; each is reserved against the [`Budget`] before
///   it is allocated and stays reserved while the pool lives.
/// - [`FramePool::try_acquire`] answers [`Acquire::Full`] when every buffer is in use
///   (or the budget has no room for another); [`FramePool::acquire`] waits instead.
/// - After warm-up (every buffer allocated once), acquiring, sharing and dropping frames
///   allocates nothing.
/// - Thread-safe: clone the pool (an `Arc`) into other threads; handles may be dropped
///   on any thread.
#[derive(Clone)]
pub struct FramePool {
    shared: Arc<PoolShared>,
}

impl fmt::Debug for FramePool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FramePool").field("stats", &self.stats()).finish()
    }
}

impl FramePool {
    /// Makes a pool, registers it with `budget` for [`Budget::stats`], and with
    /// [`Preallocate::All`] (or a budget whose [`Budget::pool_fill`] is
    /// [`PoolFill::Upfront`]) allocates every buffer.
    ///
    /// Errors: a capacity of 0; [`Error::LimitExceeded`] when one frame is larger than
    /// the budget's limit, or when preallocation needs more than is free.
    pub fn new(config: FramePoolConfig, budget: &Budget) -> Result<FramePool> {
        if config.capacity == 0 {
            return Err(Error::invalid("invalid frame pool capacity 0 (expected at least 1)"));
        }
        let frame_bytes = config.layout.buffer_len() as u64;
        Error::check_limit("frame buffer", frame_bytes, budget.limit())?;
        let capacity = config.capacity as usize;
        let mut state = State {
            free: Vec::with_capacity(capacity),
            allocated: 0,
            in_use: 0,
            peak_in_use: 0,
            reservation: budget.empty_reservation(),
        };
        // A job that fills its pools up front says so on its budget, which reaches the
        // pools that decoders and filters make for themselves.
        if config.preallocate == Preallocate::All || budget.pool_fill() == PoolFill::Upfront {
            let total = frame_bytes.saturating_mul(capacity as u64);
            match state.reservation.try_grow("frame pool preallocation", total)? {
                Acquire::Ready(()) => {}
                Acquire::Full => {
                    return Err(Error::LimitExceeded {
                        what: "frame pool preallocation",
                        requested: total,
                        limit: budget.available(),
                    })
                }
            }
            for _ in 0..capacity {
                state.free.push(Arc::new(FrameData::alloc(config.layout)));
            }
            state.allocated = capacity;
        }
        let shared = Arc::new(PoolShared {
            name: config.name,
            layout: config.layout,
            capacity,
            clear: config.clear,
            frame_bytes,
            state: Mutex::new(state),
            returned: Condvar::new(),
        });
        let weak: std::sync::Weak<PoolShared> = Arc::downgrade(&shared);
        budget.register(weak);
        Ok(FramePool { shared })
    }

    /// The layout of every frame of this pool.
    pub fn layout(&self) -> &FrameLayout {
        &self.shared.layout
    }

    /// Most frames the pool holds.
    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }

    /// A frame if one is free or may be allocated now; [`Acquire::Full`] otherwise.
    /// Never waits. The frame's pixels are those of its previous use unless the pool
    /// clears on release; its [`crate::FrameProps`] are reset.
    pub fn try_acquire(&self) -> Acquire<Frame> {
        let take = self.shared.take(&mut self.shared.lock());
        match self.shared.finish(take) {
            Some(f) => Acquire::Ready(f),
            None => Acquire::Full,
        }
    }

    /// A frame, waiting for one to be returned (or for budget to be freed) if needed.
    ///
    /// Waits forever if every frame is held by the calling thread: use
    /// [`FramePool::try_acquire`] where that can happen.
    pub fn acquire(&self) -> Frame {
        loop {
            if let Acquire::Ready(f) = self.acquire_until(None) {
                return f;
            }
        }
    }

    /// A frame, waiting at most `timeout`; [`Acquire::Full`] if none came.
    pub fn acquire_timeout(&self, timeout: Duration) -> Acquire<Frame> {
        self.acquire_until(Some(Instant::now() + timeout))
    }

    fn acquire_until(&self, deadline: Option<Instant>) -> Acquire<Frame> {
        let shared = &self.shared;
        let mut st = shared.lock();
        loop {
            let take = shared.take(&mut st);
            let wait = match take {
                Take::Free(_) | Take::Allocate => {
                    drop(st);
                    return shared.finish(take).map_or(Acquire::Full, Acquire::Ready);
                }
                // A frame in use will come back and wake us.
                Take::PoolFull => None,
                // Our own frames coming back wake us; other pools releasing budget do
                // not, so look again after a short sleep.
                Take::BudgetFull => Some(BUDGET_POLL),
            };
            let now = Instant::now();
            let limit = match (deadline, wait) {
                (Some(d), _) if now >= d => return Acquire::Full,
                (Some(d), Some(w)) => Some((d - now).min(w)),
                (Some(d), None) => Some(d - now),
                (None, w) => w,
            };
            st = match limit {
                Some(t) => shared.returned.wait_timeout(st, t).unwrap_or_else(|e| e.into_inner()).0,
                None => shared.returned.wait(st).unwrap_or_else(|e| e.into_inner()),
            };
        }
    }

    /// The pool's figures.
    pub fn stats(&self) -> PoolStats {
        self.shared.stats()
    }
}
