#!/bin/sh
# Makes the transcode job's fixtures with FFmpeg 5.1 (Debian) and their oracle tables.
# Run from this folder: sh make.sh
set -e
# discontinuity.ts: a broadcast-style recording joined from three 0.36 s segments of
# MPEG-2 720x576i (bff, 4:3) with MP2, whose second MP2 stream starts 0.18 s into each
# segment (declared in the PMT from the start, first packet later). The second segment's
# timestamps jump 30 s forward, the third's back to the first's: both discontinuities
# a transcode must close without losing audio or A/V sync. (The lengths are chosen so that
# no PID's continuity counter repeats across a join: transcode's TS demuxer takes such
# a packet for a duplicate and drops it, which FFmpeg does not.)
seg() {
  ffmpeg -v error -y -f lavfi -i testsrc2=size=720x576:rate=25:duration=0.36 \
    -f lavfi -i sine=frequency=440:sample_rate=48000:duration=0.36 \
    -itsoffset 0.18 -f lavfi -i sine=frequency=880:sample_rate=48000:duration=0.18 \
    -map 0 -map 1 -map 2 -ac 2 -fflags +bitexact -flags:v +bitexact -flags:a +bitexact -map_metadata -1 \
    -c:v mpeg2video -threads 1 -flags +ildct+ilme -top 0 -aspect 4:3 -g 12 -bf 2 -q:v 10 \
    -c:a mp2 -b:a 192k -output_ts_offset "$1" -f mpegts "$2"
}
seg 0 seg-a.ts
seg 30 seg-b.ts
cat seg-a.ts seg-b.ts seg-a.ts > discontinuity.ts
rm seg-a.ts seg-b.ts
# The oracle: every demuxed packet (payload MD5 and timestamps), as FFmpeg reads them.
ffmpeg -hide_banner -loglevel error -copyts -i discontinuity.ts -map 0 -c copy -f framemd5 - > discontinuity.ts.demux.framemd5
# captions.m2v: 0.48 s of MPEG-2 352x288i (tff) whose every picture carries ATSC A/53
# closed captions (a GA94 user_data structure after its picture coding extension, one
# cc_data triplet per picture whose two bytes number the picture in coding order), as a
# broadcast encoder writes them. FFmpeg's mpeg2video encoder writes A/53 only from
# captions its input frames carry, and no lavfi source makes captions: the user data is
# inserted into the encoded stream instead.
ffmpeg -v error -y -f lavfi -i testsrc2=size=352x288:rate=25:duration=0.48 \
  -fflags +bitexact -flags:v +bitexact -map_metadata -1 \
  -c:v mpeg2video -threads 1 -flags +ildct+ilme -top 1 -g 6 -bf 2 -q:v 8 -f mpeg2video plain.m2v
python3 - plain.m2v captions.m2v <<'PY'
import sys
data = open(sys.argv[1], 'rb').read()
out, i, n = bytearray(), 0, 0
while i < len(data):
    # A picture coding extension (00 00 01 B5 8x): copy it, then add the user data.
    if data[i:i+4] == b'\x00\x00\x01\xb5' and i + 4 < len(data) and data[i+4] >> 4 == 8:
        nxt = data.find(b'\x00\x00\x01', i + 4)
        nxt = len(data) if nxt < 0 else nxt
        out += data[i:nxt]
        # cc_count 1, process_cc_data_flag; em_data; cc_valid + NTSC field 1; two bytes
        # with odd parity bits as CEA-608 wants; marker_bits.
        b1, b2 = [(v & 0x7f) | (0x80 if bin(v & 0x7f).count('1') % 2 == 0 else 0) for v in (0x20 + n, 0x41 + n)]
        out += b'\x00\x00\x01\xb2GA94\x03' + bytes([0x40 | 1, 0xff, 0xfc, b1, b2, 0xff])
        n += 1
        i = nxt
    else:
        out.append(data[i])
        i += 1
open(sys.argv[2], 'wb').write(out)
PY
rm plain.m2v
# The oracle: the caption triplets FFmpeg finds on each frame, in display order (lavfi's
# movie source exports them as an eia_608 stream), one frame's hex a line.
ffmpeg -v error -f lavfi -i "movie=captions.m2v[out0+subcc]" -map 0:1 -c copy -f data - \
  | xxd -p -c 3 > captions.m2v.cc.hex

# h264_1080i_mbaff_mp2.ts: a DVB-style H.264 1080i recording, MBAFF (x264 through
# FFmpeg's libx264 with interlaced coding, top field first) with MP2 audio, 1 s, for
# `cargo xtask crosscheck transcode`.
ffmpeg -v error -y -f lavfi -i "testsrc2=size=1920x1080:rate=25,format=yuv420p" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 1 \
  -c:v libx264 -preset veryfast -crf 36 -flags +ildct+ilme -top 1 -g 12 \
  -c:a mp2 -b:a 128k -f mpegts h264_1080i_mbaff_mp2.ts
# Its oracles, as `cargo xtask testdata` makes them for testdata/ts: the demuxed packets,
# and the packets of FFmpeg's own stream-copy remux to MP4, read back.
ffmpeg -v error -copyts -i h264_1080i_mbaff_mp2.ts -map 0 -c copy -f framemd5 - > h264_1080i_mbaff_mp2.ts.packets
ffmpeg -v error -y -i h264_1080i_mbaff_mp2.ts -map 0 -c copy -fflags +bitexact -f mp4 /tmp/mbaff-remux.mp4
ffmpeg -v error -copyts -i /tmp/mbaff-remux.mp4 -map 0 -c copy -f framemd5 - > h264_1080i_mbaff_mp2.ts.to-mp4.packets
rm /tmp/mbaff-remux.mp4
# The rest of the oracles every fixture with a `.packets` table has (see
# xtask/src/testdata.rs): ffprobe's view, the decoded frames, the stream-copy remux to TS.
ffprobe -v error -count_packets -show_streams -show_format -of json h264_1080i_mbaff_mp2.ts > h264_1080i_mbaff_mp2.ts.ffprobe.json
ffmpeg -v error -threads 1 -i h264_1080i_mbaff_mp2.ts -map 0:v:0 -flags unaligned -pix_fmt yuv420p -f framemd5 - > h264_1080i_mbaff_mp2.ts.frames
ffmpeg -v error -y -i h264_1080i_mbaff_mp2.ts -map 0 -c copy -fflags +bitexact -f mpegts /tmp/mbaff-remux.ts
ffmpeg -v error -copyts -i /tmp/mbaff-remux.ts -map 0 -c copy -f framemd5 - > h264_1080i_mbaff_mp2.ts.to-ts.packets
rm /tmp/mbaff-remux.ts
