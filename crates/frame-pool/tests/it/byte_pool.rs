//! Byte pool behaviour: the bytes-in-flight bound, backpressure, buffers returning when
//! the last `Bytes` drops, waiting, and reuse.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;
use transcode_core::{Error, MemoryConfig};
use transcode_frame_pool::{Budget, BytePool, BytePoolConfig, MIN_BUFFER};
use transcode_testkit::{read_framemd5, testdata};

fn pool(in_flight: u64, budget: &Budget) -> BytePool {
    let config = BytePoolConfig { max_bytes_in_flight: in_flight, max_buffer: in_flight, name: "test" };
    BytePool::new(config, budget).unwrap()
}

#[test]
fn bytes_return_their_buffer_when_the_last_clone_drops() {
    let budget = Budget::new(1 << 20);
    let pool = pool(4096, &budget);
    let b = pool.copy(b"hello world").unwrap();
    assert_eq!(&b[..], b"hello world");
    let part = b.slice(6..);
    drop(b);
    assert_eq!(pool.bytes_in_flight(), MIN_BUFFER, "a slice keeps the buffer");
    assert_eq!(&part[..], b"world");
    drop(part);
    assert_eq!(pool.bytes_in_flight(), 0);
    let s = pool.stats();
    assert_eq!((s.allocated, s.available, s.bytes), (1, 1, MIN_BUFFER));
    // The next copy reuses it.
    let _c = pool.copy(&[1; 200]).unwrap();
    assert_eq!(pool.stats().allocated, 1);
}

#[test]
fn full_is_backpressure_and_oversize_is_an_error() {
    let budget = Budget::new(1 << 20);
    let pool = pool(4096, &budget);
    let a = pool.try_copy(&[0; 3000]).unwrap().ready().unwrap();
    assert!(pool.try_copy(&[0; 1500]).unwrap().is_full());
    let e = pool.try_get(5000).unwrap_err();
    assert!(matches!(e, Error::LimitExceeded { what: "pooled buffer", requested: 5000, limit: 4096 }));
    drop(a);
    assert!(pool.try_copy(&[0; 1500]).unwrap().ready().is_some());
    assert!(pool.peak_bytes_in_flight() <= 4096);
}

#[test]
fn get_waits_for_bytes_dropped_on_another_thread() {
    let budget = Budget::new(1 << 20);
    let pool = pool(1024, &budget);
    let held = pool.copy(&[9; 1000]).unwrap();
    let (tx, rx) = mpsc::channel();
    let p2 = pool.clone();
    let t = thread::spawn(move || tx.send(p2.copy(&[1; 600]).unwrap().len()).unwrap());
    assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());
    thread::spawn(move || drop(held)).join().unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), 600);
    t.join().unwrap();
    assert!(pool.get_timeout(2000, Duration::from_millis(1)).is_err());
}

#[test]
fn idle_buffers_make_room_for_larger_ones_within_the_bound() {
    let budget = Budget::new(1 << 20);
    let pool = pool(8192, &budget);
    let small: Vec<_> = (0..8).map(|_| pool.copy(&[0; 1000]).unwrap()).collect();
    assert_eq!(pool.stats().bytes, 8192);
    drop(small);
    let big = pool.copy(&[0; 6000]).unwrap();
    let s = pool.stats();
    assert!(s.bytes <= 8192, "{s:?}");
    assert_eq!(pool.bytes_in_flight(), 8192, "6000 rounds up to the 8 KiB class");
    drop(big);
    assert!(budget.reserved() <= 8192);
}

#[test]
fn pooled_buffers_never_grow_past_their_capacity() {
    let budget = Budget::new(1 << 20);
    let pool = pool(4096, &budget);
    let mut b = pool.get(300).unwrap();
    assert_eq!(b.capacity(), 512);
    b.resize(500).unwrap();
    assert!(matches!(b.extend_from_slice(&[0; 13]), Err(Error::LimitExceeded { requested: 513, limit: 512, .. })));
    assert!(b.resize(513).is_err());
    b.truncate(2);
    b.as_mut_slice().copy_from_slice(b"ok");
    assert_eq!(&b.freeze()[..], b"ok");
}

#[test]
fn a_bound_larger_than_the_budget_is_limit_exceeded() {
    let budget = Budget::new(1000);
    let config = BytePoolConfig::new(&MemoryConfig::default());
    assert!(matches!(BytePool::new(config, &budget), Err(Error::LimitExceeded { what: "byte pool", .. })));
}

#[test]
fn copying_a_real_packet_stream_stays_within_the_bound() {
    // Packet sizes of a real stream in decode order; a consumer keeps the last 16.
    let oracle = read_framemd5(&testdata("ts/h264_aac.ts.packets"));
    let budget = Budget::new(1 << 20);
    let pool = pool(64 << 10, &budget);
    let mut window = std::collections::VecDeque::new();
    for e in &oracle.entries {
        let data = vec![e.stream as u8; e.size];
        let b = loop {
            match pool.try_copy(&data).unwrap().ready() {
                Some(b) => break b,
                None => drop(window.pop_front().expect("an empty pool always has room")),
            }
        };
        assert_eq!(b.len(), e.size);
        window.push_back(b);
        if window.len() > 16 {
            window.pop_front();
        }
        assert!(pool.stats().bytes <= 64 << 10);
    }
    let s = budget.stats();
    assert!(s.peak_reserved <= 64 << 10, "{s:?}");
    assert!(s.pools[0].allocated < 40, "buffers are reused: {s:?}");
}

/// `PoolFill::Upfront` (a memory-profile gate's setting): the pool holds its whole bound
/// from the start, in small buffers that larger packets evict, so its bytes never go
/// past the bound and never depend on the order packets come in.
#[test]
fn an_upfront_pool_holds_its_bound_from_the_start_and_never_more() {
    use transcode_core::PoolFill;
    use transcode_frame_pool::PREFILL_BUFFER;
    let memory = MemoryConfig { pool_fill: PoolFill::Upfront, ..MemoryConfig::default() };
    let budget = Budget::from_config(&memory);
    let bound = 64 * PREFILL_BUFFER;
    let pool = pool(bound, &budget);
    let s = pool.stats();
    assert_eq!((s.allocated, s.available, s.bytes), (64, 64, bound));
    assert_eq!(budget.reserved(), bound, "the whole bound is reserved when the pool is made");
    // A small packet takes one of the prefilled buffers: nothing new is allocated.
    let small = pool.copy(&[1u8; 500]).unwrap();
    assert_eq!(pool.stats().allocated, 64);
    assert_eq!(pool.bytes_in_flight(), PREFILL_BUFFER);
    // A large one evicts free small buffers to make room, and the pool stays at its bound.
    let large = pool.copy(&vec![2u8; 100_000]).unwrap();
    let s = pool.stats();
    assert_eq!(s.bytes, bound, "{s:?}");
    assert_eq!(budget.reserved(), bound);
    assert_eq!(pool.bytes_in_flight(), PREFILL_BUFFER + (128 << 10));
    drop((small, large));
    assert!(pool.stats().bytes <= bound);
    // A lazy pool of the same bound holds nothing until asked.
    let lazy = Budget::new(1 << 20);
    let p = self::pool(bound, &lazy);
    assert_eq!(p.stats().bytes, 0);
}
