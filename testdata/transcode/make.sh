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
