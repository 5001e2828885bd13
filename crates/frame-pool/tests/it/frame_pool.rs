//! Frame pool behaviour: the capacity bound, backpressure, waiting, sharing across
//! threads, clearing, and the budget's accounting.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;
use transcode_core::{Error, MemoryConfig};
use transcode_frame_pool::{
    Acquire, Budget, ClearOnRelease, FrameLayout, FramePool, FramePoolConfig, PixelFormat, Preallocate,
};

fn layout() -> FrameLayout {
    FrameLayout::new(PixelFormat::Yuv420p, 64, 32).unwrap()
}

fn pool(capacity: u32, budget: &Budget) -> FramePool {
    let config = FramePoolConfig { capacity, ..FramePoolConfig::new(layout(), &MemoryConfig::default()) };
    FramePool::new(config, budget).unwrap()
}

#[test]
fn try_acquire_reports_full_at_capacity_and_recovers_on_drop() {
    let budget = Budget::new(1 << 20);
    let pool = pool(3, &budget);
    let frames: Vec<_> = (0..3).map(|_| pool.try_acquire().ready().unwrap()).collect();
    assert!(pool.try_acquire().is_full());
    let s = pool.stats();
    assert_eq!((s.allocated, s.capacity, s.available, s.peak_in_use), (3, 3, 0, 3));
    assert_eq!(budget.reserved(), 3 * layout().buffer_len() as u64);
    drop(frames);
    assert_eq!(pool.stats().available, 3);
    assert!(pool.try_acquire().ready().is_some());
    // Reuse, not reallocation.
    assert_eq!(pool.stats().allocated, 3);
}

#[test]
fn acquire_waits_for_a_frame_released_on_another_thread() {
    let budget = Budget::new(1 << 20);
    let pool = pool(1, &budget);
    let held = pool.acquire().into_shared();
    let (tx, rx) = mpsc::channel();
    let p2 = pool.clone();
    let t = thread::spawn(move || {
        let f = p2.acquire();
        tx.send(f.width()).unwrap();
    });
    assert!(rx.recv_timeout(Duration::from_millis(50)).is_err(), "no frame is free yet");
    let other_thread_copy = held.clone();
    drop(held);
    assert!(rx.recv_timeout(Duration::from_millis(50)).is_err(), "a clone still holds it");
    thread::spawn(move || drop(other_thread_copy)).join().unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), 64);
    t.join().unwrap();
    assert!(matches!(pool.acquire_timeout(Duration::from_millis(1)), Acquire::Ready(_)));
}

#[test]
fn acquire_timeout_gives_up_when_nothing_comes_back() {
    let budget = Budget::new(1 << 20);
    let pool = pool(1, &budget);
    let _held = pool.acquire();
    assert!(pool.acquire_timeout(Duration::from_millis(20)).is_full());
}

#[test]
fn shared_frames_keep_their_pixels_until_the_last_handle_drops() {
    let budget = Budget::new(1 << 20);
    let pool = pool(2, &budget);
    let mut f = pool.acquire();
    f.plane_mut(0).fill(7);
    f.props_mut().pts = Some(42);
    let shared = f.into_shared();
    let clones: Vec<_> = (0..4).map(|_| shared.clone()).collect();
    assert_eq!(shared.handle_count(), 5);
    assert!(clones.iter().all(|c| c.ptr_eq(&shared)));
    let readers: Vec<_> = clones
        .into_iter()
        .map(|c| thread::spawn(move || c.plane(0).iter().all(|&b| b == 7) && c.props().pts == Some(42)))
        .collect();
    assert!(readers.into_iter().all(|r| r.join().unwrap()));
    assert_eq!(shared.handle_count(), 1);
    assert_eq!(pool.stats().available, 0, "the frame is still held");
    drop(shared);
    assert_eq!(pool.stats().available, 1);
    // Pixels are kept by default, properties are reset.
    let again = pool.try_acquire().ready().unwrap();
    assert_eq!(again.plane(0)[0], 7);
    assert_eq!(again.props().pts, None);
}

#[test]
fn clear_on_release_zeroes_returned_frames() {
    let budget = Budget::new(1 << 20);
    let config = FramePoolConfig {
        capacity: 1,
        clear: ClearOnRelease::Zero,
        ..FramePoolConfig::new(layout(), &MemoryConfig::default())
    };
    let pool = FramePool::new(config, &budget).unwrap();
    let mut f = pool.acquire();
    for p in f.planes_mut() {
        p.fill(0xAB);
    }
    let a = f.into_shared();
    let b = a.clone();
    drop(a);
    drop(b);
    let f = pool.acquire();
    assert!((0..3).all(|i| f.plane(i).iter().all(|&b| b == 0)));
}

#[test]
fn budget_limits_the_pool_before_its_capacity() {
    let frame = layout().buffer_len() as u64;
    let budget = Budget::new(frame * 2 + frame / 2);
    let pool = pool(8, &budget);
    let a = pool.try_acquire().ready().unwrap();
    let b = pool.try_acquire().ready().unwrap();
    assert!(pool.try_acquire().is_full(), "the budget has room for two frames only");
    assert_eq!(budget.reserved(), 2 * frame);
    drop(a);
    assert!(pool.try_acquire().ready().is_some());
    drop(b);
    let stats = budget.stats();
    assert_eq!(stats.pools.len(), 1);
    assert_eq!(stats.pools[0].allocated, 2);
    assert_eq!(stats.pools[0].bytes, 2 * frame);
    assert_eq!(stats.peak_reserved, 2 * frame);
    drop(pool);
    assert_eq!(budget.reserved(), 0, "a dropped pool releases its budget");
    assert!(budget.stats().pools.is_empty());
}

#[test]
fn a_frame_larger_than_the_budget_is_limit_exceeded() {
    let budget = Budget::new(1000);
    let config = FramePoolConfig::new(layout(), &MemoryConfig::default());
    let e = FramePool::new(config, &budget).unwrap_err();
    assert!(matches!(e, Error::LimitExceeded { what: "frame buffer", limit: 1000, .. }), "{e}");
}

#[test]
fn preallocation_reserves_everything_up_front_or_fails() {
    let frame = layout().buffer_len() as u64;
    let budget = Budget::new(frame * 4);
    let config = FramePoolConfig {
        capacity: 4,
        preallocate: Preallocate::All,
        ..FramePoolConfig::new(layout(), &MemoryConfig::default())
    };
    let pool = FramePool::new(config.clone(), &budget).unwrap();
    assert_eq!(pool.stats().allocated, 4);
    assert_eq!(pool.stats().available, 4);
    assert_eq!(budget.reserved(), 4 * frame);
    let e = FramePool::new(config.clone(), &budget).unwrap_err();
    assert!(matches!(e, Error::LimitExceeded { what: "frame pool preallocation", limit: 0, .. }), "{e}");
    drop(pool);
    let too_big = FramePoolConfig { capacity: 5, ..config };
    assert!(matches!(FramePool::new(too_big, &budget), Err(Error::LimitExceeded { .. })));
}

#[test]
fn zero_capacity_is_an_error() {
    let config = FramePoolConfig { capacity: 0, ..FramePoolConfig::new(layout(), &MemoryConfig::default()) };
    let e = FramePool::new(config, &Budget::new(1 << 20)).unwrap_err();
    assert_eq!(e.to_string(), "invalid data: invalid frame pool capacity 0 (expected at least 1)");
}

#[test]
fn threads_hammering_the_pool_never_exceed_its_capacity() {
    let budget = Budget::new(1 << 24);
    let pool = pool(4, &budget);
    let workers: Vec<_> = (0..4)
        .map(|i| {
            let pool = pool.clone();
            thread::spawn(move || {
                for n in 0..500 {
                    let mut f = pool.acquire();
                    f.plane_mut(0)[0] = (i * 7 + n) as u8;
                    let s = f.into_shared();
                    let c = s.clone();
                    let t = thread::spawn(move || c.plane(0)[0]);
                    assert_eq!(t.join().unwrap(), (i * 7 + n) as u8);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let s = pool.stats();
    assert!(s.allocated <= 4 && s.peak_in_use <= 4, "{s:?}");
    assert_eq!(s.available, s.allocated);
}

/// A budget made with `PoolFill::Upfront` preallocates every pool made against it, also
/// pools whose configuration (inside a decoder or a filter) says `Lazy`.
#[test]
fn an_upfront_budget_preallocates_lazy_pools() {
    let memory = MemoryConfig { pool_fill: transcode_core::PoolFill::Upfront, ..MemoryConfig::default() };
    let budget = Budget::from_config(&memory);
    let p = pool(3, &budget);
    let s = p.stats();
    assert_eq!((s.allocated, s.available), (3, 3));
    assert_eq!(budget.reserved(), 3 * layout().buffer_len() as u64);
    let lazy = pool(3, &Budget::new(1 << 20));
    assert_eq!(lazy.stats().allocated, 0);
}
