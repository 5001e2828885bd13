//! Integration tests of transcode-filters against FFmpeg 5.1's oracle tables in
//! `testdata/filters/` (see its `make.sh`), with one module per filter.

mod deint;
mod scale;
mod fps;
mod simple;

use transcode_core::MemoryConfig;
use transcode_demux_bridge::es::Y4mDemuxer;
use transcode_demux_bridge::{Demuxer, Input};
use transcode_filters::{Filter, Pull};
use transcode_frame_pool::{Budget, FieldOrder, FrameLayout, FramePool, FramePoolConfig, PixelFormat, SharedFrame};
use transcode_testkit::{md5_hex, testdata};

/// A Y4M fixture read through the workspace's demuxer: its layout, the field order its
/// header declares (`It`, `Ib`, `Ip`) and its pictures.
#[derive(Debug)]
pub struct Y4m {
    pub layout: FrameLayout,
    pub field_order: FieldOrder,
    pub pictures: Vec<Vec<u8>>,
}

pub fn read_y4m(rel: &str) -> Y4m {
    let config = MemoryConfig::default();
    let input = Input::open(&testdata(rel), &config).unwrap();
    let mut demux = Y4mDemuxer::new(input, &config).unwrap();
    let header = String::from_utf8(demux.streams()[0].extradata.clone()).unwrap();
    let tag = |c: char| header.split(' ').find_map(|t| t.strip_prefix(c)).unwrap_or("").to_string();
    let format = match tag('C').as_str() {
        "420jpeg" | "420mpeg2" | "420paldv" | "420" => PixelFormat::Yuv420p,
        "422" => PixelFormat::Yuv422p,
        "420p10" => PixelFormat::Yuv420p10,
        "444" => PixelFormat::Yuv444p,
        other => panic!("{rel}: colourspace {other} not used by the fixtures"),
    };
    let field_order = match tag('I').as_str() {
        "t" => FieldOrder::TopFirst,
        "b" => FieldOrder::BottomFirst,
        _ => FieldOrder::Progressive,
    };
    let layout = FrameLayout::new(format, tag('W').parse().unwrap(), tag('H').parse().unwrap()).unwrap();
    let mut pictures = Vec::new();
    while let Some(p) = demux.next_packet().unwrap() {
        pictures.push(p.data.to_vec());
    }
    Y4m { layout, field_order, pictures }
}

/// Pooled input frames for `pictures`, with the given field orders and `pts` counting
/// pictures from 0. The pool holds them all, so it never waits.
pub fn frames(layout: FrameLayout, pictures: &[(&[u8], FieldOrder)], budget: &Budget) -> Vec<SharedFrame> {
    let pts: Vec<Option<i64>> = (0..pictures.len() as i64).map(Some).collect();
    timed_frames(layout, pictures, &pts, budget)
}

/// [`frames`] with the given `pts`, each frame lasting one tick.
pub fn timed_frames(layout: FrameLayout, pictures: &[(&[u8], FieldOrder)], pts: &[Option<i64>], budget: &Budget) -> Vec<SharedFrame> {
    let memory = MemoryConfig::default();
    let config = FramePoolConfig { capacity: pictures.len() as u32, name: "test input", ..FramePoolConfig::new(layout, &memory) };
    let pool = FramePool::new(config, budget).unwrap();
    pictures
        .iter()
        .enumerate()
        .map(|(i, (data, order))| {
            let mut f = pool.acquire();
            f.copy_from_packed(data).unwrap();
            let p = f.props_mut();
            p.pts = pts[i];
            p.duration = Some(1);
            p.field_order = *order;
            f.into_shared()
        })
        .collect()
}

/// Runs `filter` over `inputs` with the push/pull protocol, returning every output
/// frame's MD5 (of its packed planes, as framemd5 hashes them) and pts.
pub fn run(filter: &mut dyn Filter, inputs: Vec<SharedFrame>) -> Vec<(String, Option<i64>)> {
    let mut out = Vec::new();
    let mut packed = Vec::new();
    let mut drain = |filter: &mut dyn Filter, out: &mut Vec<(String, Option<i64>)>| loop {
        match filter.pull().unwrap() {
            Pull::Frame(f) => {
                packed.clear();
                f.write_packed(&mut packed);
                out.push((md5_hex(&packed), f.props().pts));
            }
            Pull::NeedMore | Pull::Ended => break,
            Pull::Full => panic!("outputs are dropped at once, so the pool cannot be full"),
        }
    };
    for f in inputs {
        filter.push(f).unwrap();
        drain(filter, &mut out);
    }
    filter.flush();
    drain(filter, &mut out);
    assert!(matches!(filter.pull().unwrap(), Pull::Ended));
    out
}
