//! The encoder lookahead: a bounded queue of frames waiting to be analysed and encoded.

use std::collections::VecDeque;
use transcode_core::{Error, Result};

/// The answer of [`Lookahead::push`]: accepted, or handed back because the queue is full
/// (backpressure: pop or encode one, then push it again).
#[must_use = "a frame handed back must be pushed again or dropped deliberately"]
#[derive(Debug)]
pub enum Push<T> {
    Accepted,
    Full(T),
}

/// A bounded FIFO of frames (usually [`transcode_frame_pool::SharedFrame`]) that an
/// encoder looks ahead into for rate control and frame-type decisions.
///
/// Its storage is allocated once at its bound; pushing and popping never allocate. The
/// bound should be at most the frame pool's capacity minus the frames the rest of the
/// pipeline holds, or the decoder will wait for frames the lookahead keeps.
#[derive(Debug)]
pub struct Lookahead<T> {
    queue: VecDeque<T>,
    depth: usize,
}

impl<T> Lookahead<T> {
    /// A lookahead of `depth` frames (at least 1).
    pub fn new(depth: usize) -> Result<Lookahead<T>> {
        if depth == 0 {
            return Err(Error::invalid("invalid lookahead depth 0 (expected at least 1)"));
        }
        Ok(Lookahead { queue: VecDeque::with_capacity(depth), depth })
    }

    /// Appends `frame`, or hands it back when `depth` frames are queued.
    pub fn push(&mut self, frame: T) -> Push<T> {
        if self.queue.len() >= self.depth {
            return Push::Full(frame);
        }
        self.queue.push_back(frame);
        Push::Accepted
    }

    /// The oldest frame, to be encoded.
    pub fn pop(&mut self) -> Option<T> {
        self.queue.pop_front()
    }

    /// The frame `index` places after the oldest, for analysis.
    pub fn peek(&self, index: usize) -> Option<&T> {
        self.queue.get(index)
    }

    /// Queued frames, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.queue.iter()
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// True when a push would be refused.
    pub fn is_full(&self) -> bool {
        self.queue.len() >= self.depth
    }

    pub fn depth(&self) -> usize {
        self.depth
    }
}
