//! The routes of a job: which input stream becomes which output stream, and how (a
//! packet copy, a decode to raw frames, or a decode → filters → encode). One
//! [`StreamMap`] decides this for every job, from one [`Routing`] policy, so that
//! remux, decode and transcode differ only in the policy they give it and in the
//! executor that runs the plan (the caller's thread for copy and raw routes, stage
//! threads when a route encodes).

use transcode_core::{CodecId, MediaType, StreamInfo};

use crate::job::copy_refusal;
use crate::output::OutputFormat;
use crate::{StreamReport, StreamSelection};

/// How an output stream is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Packets copied from the input.
    Copy,
    /// Decoded, filtered and encoded to H.264.
    Encode,
    /// Decoded to raw pictures (a Y4M output).
    Raw,
}

/// What a job does with the first video stream it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VideoRouting {
    /// Copied like every other stream.
    Copy,
    /// Decoded, filtered and encoded; later video streams are left out.
    Encode,
    /// Decoded to raw pictures; every other stream is left out (an uncompressed input
    /// stream is copied as it is).
    Raw,
}

/// The policy a [`StreamMap`] applies to each stream as it is found.
#[derive(Debug, Clone)]
pub(crate) struct Routing {
    pub format: OutputFormat,
    pub selection: StreamSelection,
    pub video: VideoRouting,
    /// Copy audio streams (a transcode's `--audio-codec none` clears it).
    pub audio: bool,
    /// Carry data streams (a transcode leaves them out).
    pub data: bool,
}

impl Routing {
    /// Stream copy of `selection` into `format`.
    pub fn copy(format: OutputFormat, selection: StreamSelection) -> Routing {
        Routing { format, selection, video: VideoRouting::Copy, audio: true, data: true }
    }

    /// The first video stream decoded to raw pictures, nothing else.
    pub fn raw(format: OutputFormat) -> Routing {
        Routing { format, selection: StreamSelection::All, video: VideoRouting::Raw, audio: false, data: false }
    }

    /// The first video stream encoded (or copied when `encode` is false), audio copied
    /// when `audio`, data left out.
    pub fn transcode(format: OutputFormat, encode: bool, audio: bool) -> Routing {
        let video = if encode { VideoRouting::Encode } else { VideoRouting::Copy };
        Routing { format, selection: StreamSelection::All, video, audio, data: false }
    }
}

/// Input streams mapped to output streams, each with its route. Grows as the demuxer
/// discovers streams.
#[derive(Debug, Clone)]
pub(crate) struct StreamMap {
    pub routing: Routing,
    /// Input stream index → output stream index (`None`: left out).
    pub map: Vec<Option<usize>>,
    /// Output stream descriptions (copied streams as the input describes them).
    pub out_streams: Vec<StreamInfo>,
    /// The route of each output stream.
    pub routes: Vec<Route>,
    pub reports: Vec<StreamReport>,
    /// Input streams left out, with the reason.
    pub skipped: Vec<(usize, CodecId, String)>,
}

impl StreamMap {
    pub fn new(routing: Routing) -> StreamMap {
        StreamMap { routing, map: Vec::new(), out_streams: Vec::new(), routes: Vec::new(), reports: Vec::new(), skipped: Vec::new() }
    }

    /// The output stream of input stream `input`, if it has one.
    pub fn output(&self, input: usize) -> Option<usize> {
        self.map.get(input).copied().flatten()
    }

    /// The output stream (and its input) whose route is not a copy, if any.
    pub fn decoded(&self) -> Option<(usize, usize, Route)> {
        let out = self.routes.iter().position(|r| *r != Route::Copy)?;
        Some((self.reports[out].input_index, out, self.routes[out]))
    }

    /// Decides for every stream of `streams` not seen yet where it goes. A stream found
    /// when `can_add` is false (the output has started) is left out, said so.
    pub fn update(&mut self, streams: &[StreamInfo], can_add: bool) {
        while self.map.len() < streams.len() {
            let s = &streams[self.map.len()];
            match self.decide(s, can_add) {
                Err(r) => {
                    self.skipped.push((s.index, s.codec, r));
                    self.map.push(None);
                }
                Ok(route) => {
                    let out = self.out_streams.len();
                    let codec = if route == Route::Raw { CodecId::RawVideo } else { s.codec };
                    self.reports.push(StreamReport { input_index: s.index, output_index: out, codec, packets: 0, bytes: 0 });
                    let mut info = s.clone();
                    info.index = out;
                    self.out_streams.push(info);
                    self.routes.push(route);
                    self.map.push(Some(out));
                }
            }
        }
    }

    fn decide(&self, s: &StreamInfo, can_add: bool) -> Result<Route, String> {
        let r = &self.routing;
        let media = s.media_type();
        let wanted = match &r.selection {
            StreamSelection::All => true,
            StreamSelection::Video => media == MediaType::Video,
            StreamSelection::Audio => media == MediaType::Audio,
            StreamSelection::Indices(ix) => ix.contains(&s.index),
        };
        let taken = self.out_streams.iter().any(|o| o.media_type() == MediaType::Video);
        let route = if !wanted {
            return Err("not selected".into());
        } else if media == MediaType::Video && r.video != VideoRouting::Copy {
            match (r.video, taken) {
                (VideoRouting::Encode, false) => Route::Encode,
                (VideoRouting::Encode, true) => return Err("only the first video stream is transcoded".into()),
                // An uncompressed stream is already what a raw output holds.
                (_, false) if s.codec == CodecId::RawVideo => Route::Copy,
                (_, false) => Route::Raw,
                (_, true) => return Err("only the first video stream is decoded".into()),
            }
        } else if r.video == VideoRouting::Raw {
            return Err("not a video stream".into());
        } else if media == MediaType::Audio && !r.audio {
            return Err("audio not selected".into());
        } else if media == MediaType::Data && !r.data {
            return Err("data streams are not carried by a transcode".into());
        } else {
            // An encoded stream is h264 whatever its input was: the job checked that
            // the output holds it.
            if let Some(reason) = copy_refusal(r.format, s.codec, self.out_streams.len()) {
                return Err(reason);
            }
            Route::Copy
        };
        if !can_add {
            return Err("appeared after the output was started".into());
        }
        Ok(route)
    }

    /// Re-reads the description of every output stream from `streams` (a description
    /// completes after the stream's first packets), keeping the output numbering.
    pub fn refresh(&mut self, streams: &[StreamInfo]) {
        for (info, r) in self.out_streams.iter_mut().zip(&self.reports) {
            if let Some(s) = streams.get(r.input_index) {
                *info = StreamInfo { index: r.output_index, ..s.clone() };
            }
        }
    }

    /// Leaves out the output streams `empty` (by output index, ascending), renumbering
    /// the rest.
    pub fn leave_out(&mut self, empty: &[usize]) {
        let reports = std::mem::take(&mut self.reports);
        let routes = std::mem::take(&mut self.routes);
        let infos = std::mem::take(&mut self.out_streams);
        for (k, ((mut r, route), mut info)) in reports.into_iter().zip(routes).zip(infos).enumerate() {
            if empty.contains(&k) {
                self.skipped.push((r.input_index, r.codec, "no whole packet".into()));
                self.map[r.input_index] = None;
            } else {
                r.output_index = self.reports.len();
                info.index = r.output_index;
                self.map[r.input_index] = Some(r.output_index);
                self.reports.push(r);
                self.routes.push(route);
                self.out_streams.push(info);
            }
        }
    }

    /// The reason of [`JobError::NoStreams`](crate::JobError::NoStreams): every stream
    /// left out, with why.
    pub fn no_streams_reason(&self) -> String {
        if self.routing.video == VideoRouting::Raw {
            return "no video stream".into();
        }
        if self.skipped.is_empty() {
            "no streams found".to_string()
        } else {
            self.skipped.iter().map(|(i, c, r)| format!("stream {i} ({}): {r}", c.name())).collect::<Vec<_>>().join("; ")
        }
    }
}

/// Whether a stream's description is complete enough to start a muxer.
pub(crate) fn described(s: &StreamInfo) -> bool {
    match s.codec {
        CodecId::H264 | CodecId::H265 | CodecId::Aac => !s.extradata.is_empty(),
        CodecId::Mpeg1Video | CodecId::Mpeg2Video | CodecId::RawVideo => s.video.is_some(),
        CodecId::Ac3 => s.audio.is_some(),
        CodecId::Mp2 | CodecId::Mp3 => s.audio.is_some(),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use transcode_core::{BitstreamFormat, TimeBase};

    fn streams(codecs: &[CodecId]) -> Vec<StreamInfo> {
        codecs.iter().enumerate().map(|(i, &c)| StreamInfo::new(i, 0x100 + i as u32, c, BitstreamFormat::Raw, TimeBase::new(1, 90000))).collect()
    }

    fn routed(routing: Routing, codecs: &[CodecId]) -> StreamMap {
        let mut m = StreamMap::new(routing);
        m.update(&streams(codecs), true);
        m
    }

    fn reasons(m: &StreamMap) -> Vec<(usize, &str)> {
        m.skipped.iter().map(|(i, _, r)| (*i, r.as_str())).collect()
    }

    const TS: [CodecId; 5] = [CodecId::Mpeg2Video, CodecId::Aac, CodecId::Unknown(6), CodecId::H264, CodecId::Ac3];

    #[test]
    fn a_remux_copies_every_stream_the_output_holds() {
        let m = routed(Routing::copy(OutputFormat::MpegTs, StreamSelection::All), &TS);
        assert_eq!(m.routes, vec![Route::Copy; 5]);
        assert_eq!(m.map, vec![Some(0), Some(1), Some(2), Some(3), Some(4)]);
        let m = routed(Routing::copy(OutputFormat::Mp4 { fragmented: false }, StreamSelection::Audio), &TS);
        assert_eq!(m.map, vec![None, Some(0), None, None, None]);
        assert_eq!(reasons(&m), vec![(0, "not selected"), (2, "not selected"), (3, "not selected"), (4, "mp4 cannot hold ac3")]);
        // An elementary stream holds one.
        let m = routed(Routing::copy(OutputFormat::H264, StreamSelection::All), &[CodecId::H264, CodecId::H264]);
        assert_eq!(reasons(&m), vec![(1, "h264 holds one stream")]);
    }

    #[test]
    fn a_decode_routes_the_first_video_stream_raw_and_nothing_else() {
        let m = routed(Routing::raw(OutputFormat::Y4m), &TS);
        assert_eq!(m.routes, vec![Route::Raw]);
        assert_eq!(m.decoded(), Some((0, 0, Route::Raw)));
        assert_eq!(m.reports[0].codec, CodecId::RawVideo);
        assert_eq!(
            reasons(&m),
            vec![(1, "not a video stream"), (2, "not a video stream"), (3, "only the first video stream is decoded"), (4, "not a video stream")]
        );
        // Pictures already raw (a Y4M input) are copied.
        let m = routed(Routing::raw(OutputFormat::Y4m), &[CodecId::RawVideo]);
        assert_eq!((m.routes.clone(), m.decoded()), (vec![Route::Copy], None));
        let m = routed(Routing::raw(OutputFormat::Y4m), &[CodecId::Aac]);
        assert_eq!(m.no_streams_reason(), "no video stream");
    }

    #[test]
    fn a_transcode_encodes_the_first_video_copies_audio_and_drops_data() {
        let m = routed(Routing::transcode(OutputFormat::Mp4 { fragmented: false }, true, true), &TS);
        assert_eq!(m.routes, vec![Route::Encode, Route::Copy]);
        assert_eq!(m.decoded(), Some((0, 0, Route::Encode)));
        assert_eq!(
            reasons(&m),
            vec![(2, "data streams are not carried by a transcode"), (3, "only the first video stream is transcoded"), (4, "mp4 cannot hold ac3")]
        );
        let m = routed(Routing::transcode(OutputFormat::MpegTs, true, false), &TS);
        assert_eq!(m.routes, vec![Route::Encode]);
        assert_eq!(m.skipped[0], (1, CodecId::Aac, "audio not selected".to_string()));
        // Copying the video instead: every video and audio stream is copied.
        let m = routed(Routing::transcode(OutputFormat::MpegTs, false, true), &TS);
        assert_eq!(m.routes, vec![Route::Copy; 4]);
    }

    #[test]
    fn streams_found_after_the_start_are_left_out_and_empty_ones_renumbered() {
        let all = streams(&TS);
        let mut m = StreamMap::new(Routing::copy(OutputFormat::MpegTs, StreamSelection::All));
        m.update(&all[..3], true);
        m.update(&all, false);
        assert_eq!(m.map, vec![Some(0), Some(1), Some(2), None, None]);
        assert_eq!(reasons(&m), vec![(3, "appeared after the output was started"), (4, "appeared after the output was started")]);
        m.leave_out(&[1]);
        assert_eq!(m.map, vec![Some(0), None, Some(1), None, None]);
        assert_eq!(m.out_streams.iter().map(|s| (s.index, s.codec)).collect::<Vec<_>>(), vec![(0, CodecId::Mpeg2Video), (1, CodecId::Unknown(6))]);
        assert_eq!(m.reports.iter().map(|r| (r.input_index, r.output_index)).collect::<Vec<_>>(), vec![(0, 0), (2, 1)]);
        assert_eq!(m.skipped.last().map(|s| s.2.as_str()), Some("no whole packet"));
    }
}
