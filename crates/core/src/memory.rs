//! Memory configuration and statistics.

/// The memory bounds of one job. Every queue, pool and cache in transcode takes its
/// bound from here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryConfig {
    /// Upper bound on the heap a job may use for buffers, pools and tables.
    ///
    /// Default: `256 MiB`. Larger values allow longer sample tables and deeper queues; a
    /// job that cannot fit fails before it starts rather than growing past it.
    pub max_memory: u64,
    /// Upper bound on one reassembled packet (a PES, an access unit, an MP4 sample).
    ///
    /// Default: `16 MiB`. Enough for a 4K intra frame at broadcast bit rates; a larger
    /// length read from a file is reported as an error instead of allocated.
    pub max_packet_size: u64,
    /// Upper bound on the bytes of owned packet copies in flight between stages
    /// (the parallel stage, queues between demuxer and muxer).
    ///
    /// Default: `8 MiB`. Larger values let a slow stage fall further behind before the
    /// producer waits, at the cost of memory.
    pub max_packet_bytes_in_flight: u64,
    /// Upper bound on decoded frames held by one frame pool.
    ///
    /// Default: `8`. More frames allow deeper pipelining between decoder and encoder, at
    /// the cost of one frame size each.
    pub max_pool_frames: u32,
    /// Upper bound on the decoded picture buffer, in frames. The decoder uses the
    /// smaller of this and what the stream's level requires.
    ///
    /// Default: `16` (the H.264 maximum). Smaller values save memory but reject streams
    /// that need more reference frames.
    pub max_dpb_frames: u32,
    /// Upper bound on entries in one container index table (MP4 `stsz`, `stco`, `stts`
    /// and friends), checked before the table is read.
    ///
    /// Default: `16 Mi` entries. A 24-hour 60 fps track has about 5 Mi samples.
    pub max_table_entries: u64,
    /// Size of the read buffer used when the input cannot be memory-mapped (pipes).
    ///
    /// Default: `1 MiB`. Larger values mean fewer `read` calls; it also bounds how far a
    /// demuxer may look ahead in a pipe.
    pub read_buffer_size: usize,
    /// When the job's pools allocate their buffers.
    ///
    /// Default: [`PoolFill::Lazy`]. [`PoolFill::Upfront`] allocates every frame pool
    /// and byte pool to its bound when it is made, so the job's peak heap no longer
    /// depends on how its threads happen to be scheduled (what a heap-profile gate
    /// needs), at the cost of holding the whole bound from the start.
    pub pool_fill: PoolFill,
}

/// When pools allocate their buffers: [`MemoryConfig::pool_fill`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PoolFill {
    /// On demand, up to each pool's bound. Default.
    #[default]
    Lazy,
    /// Every buffer when the pool is made.
    Upfront,
}

impl MemoryConfig {
    pub const DEFAULT_MAX_MEMORY: u64 = 256 << 20;

    /// Fixed needs of any job besides its packets: the output write buffer (1 MiB), the
    /// pipe read buffer, and room for sample tables and stream descriptions.
    pub const JOB_OVERHEAD: u64 = 4 << 20;

    /// A configuration whose bounds fit in `max_memory` bytes: the per-packet and
    /// in-flight bounds shrink with small budgets (a quarter and an eighth of it, at most
    /// their defaults), so that `--max-memory 32M` still remuxes broadcast streams.
    pub fn with_max_memory(max_memory: u64) -> Self {
        let d = MemoryConfig::default();
        MemoryConfig {
            max_memory,
            max_packet_size: d.max_packet_size.min(max_memory / 4),
            max_packet_bytes_in_flight: d.max_packet_bytes_in_flight.min(max_memory / 8),
            read_buffer_size: d.read_buffer_size.min((max_memory / 16) as usize).max(64 << 10),
            ..d
        }
    }

    /// The least memory a job with this configuration can run in: the fixed overhead,
    /// one packet being reassembled and the packets in flight.
    pub fn minimum_job_bytes(&self) -> u64 {
        Self::JOB_OVERHEAD + self.read_buffer_size as u64 + self.max_packet_size.min(1 << 20) + (256 << 10)
    }

    /// Checks that a job fits in `max_memory`, before anything is allocated for it.
    pub fn check_fits(&self) -> crate::Result<()> {
        crate::Error::check_limit("the smallest job", self.minimum_job_bytes(), self.max_memory)
    }
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            max_memory: Self::DEFAULT_MAX_MEMORY,
            max_packet_size: 16 << 20,
            max_packet_bytes_in_flight: 8 << 20,
            max_pool_frames: 8,
            max_dpb_frames: 16,
            max_table_entries: 16 << 20,
            read_buffer_size: 1 << 20,
            pool_fill: PoolFill::Lazy,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_budgets_shrink_bounds_and_tiny_ones_fail() {
        let c = MemoryConfig::with_max_memory(32 << 20);
        assert_eq!(c.max_packet_size, 8 << 20);
        assert_eq!(c.max_packet_bytes_in_flight, 4 << 20);
        assert!(c.check_fits().is_ok());
        let tiny = MemoryConfig::with_max_memory(1 << 20);
        assert!(matches!(tiny.check_fits(), Err(crate::Error::LimitExceeded { .. })));
        assert!(MemoryConfig::default().check_fits().is_ok());
    }
}

/// Figures for one pool.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolStats {
    pub name: &'static str,
    /// Buffers the pool has allocated in total.
    pub allocated: u64,
    /// Buffers the pool may hold at most.
    pub capacity: u64,
    /// Buffers currently free in the pool.
    pub available: u64,
    /// Largest number of buffers in use at once.
    pub peak_in_use: u64,
    /// Bytes held by the pool's buffers.
    pub bytes: u64,
}

/// Memory figures of a job, for `--stats` and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryStats {
    /// Bytes currently reserved against the budget.
    pub reserved: u64,
    /// Largest number of bytes reserved at once.
    pub peak_reserved: u64,
    /// The budget's limit.
    pub limit: u64,
    pub pools: Vec<PoolStats>,
}
