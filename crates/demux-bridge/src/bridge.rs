//! The bridge from borrowed packet views to owned packets.
//!
//! A stage that must own its packets (a parallel stage, a queue) asks the bridge. When the
//! view's bytes lie inside the shared memory map, the owned packet is a slice of that map:
//! a reference-count increment, no copy. Otherwise (a reassembled PES, a pipe) the bytes
//! are copied; this is the first owned copy of that data.

use bytes::Bytes;
use transcode_core::{Packet, PacketView};

use crate::Input;

/// Turns views into owned packets, slicing the shared map where possible.
#[derive(Debug, Clone, Default)]
pub struct Bridge {
    map: Option<Bytes>,
}

impl Bridge {
    /// A bridge for views that come from `input`.
    pub fn new(input: &Input) -> Self {
        Bridge { map: input.shared().cloned() }
    }

    /// Whether `data` lies inside the shared map.
    pub fn is_mapped(&self, data: &[u8]) -> bool {
        match &self.map {
            Some(map) => {
                let start = map.as_ptr() as usize;
                let p = data.as_ptr() as usize;
                p >= start && p + data.len() <= start + map.len()
            }
            None => false,
        }
    }

    /// An owned packet for `view`: a slice of the map, or a copy.
    pub fn to_owned(&self, view: &PacketView<'_>) -> Packet {
        match &self.map {
            Some(map) if self.is_mapped(view.data) && !view.data.is_empty() => view.with_data(map.slice_ref(view.data)),
            _ => view.to_packet(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_views_are_not_copied() {
        let input = Input::from_bytes(vec![9u8; 64], "mem");
        let bridge = Bridge::new(&input);
        let map = input.shared().unwrap();
        let view = PacketView { stream: 0, data: &map[10..20], pts: Some(1), dts: Some(1), duration: None, keyframe: true, pos: Some(10) };
        let owned = bridge.to_owned(&view);
        assert_eq!(owned.data.as_ptr(), map[10..].as_ptr());
        let other = [1u8, 2, 3];
        let view = PacketView { data: &other, ..view };
        let owned = bridge.to_owned(&view);
        assert_ne!(owned.data.as_ptr(), other.as_ptr());
        assert_eq!(&owned.data[..], &other);
    }
}
