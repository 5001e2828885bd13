#!/bin/sh
# Regenerates the pixel-format fixtures: two frames of testsrc2 scaled to 33x17 in each
# format as packed rawvideo (F.raw) and FFmpeg's framemd5 of the same frames
# (F.framemd5). Odd sizes exercise the rounding of subsampled chroma. The semi-planar
# formats are repacked from the planar 4:2:0 files, so their samples are the same.
# Run from this folder: sh make.sh
set -e
SRC="-f lavfi -i testsrc2=size=66x34:rate=2,scale=33:17 -frames:v 2"
OUT="-fflags +bitexact -flags +bitexact -map_metadata -1"
for f in yuv420p yuv422p yuv444p yuv420p10le yuv422p10le yuv444p10le; do
  ffmpeg -y -v error $SRC $OUT -pix_fmt $f -f rawvideo $f.raw
  ffmpeg -y -v error $SRC $OUT -pix_fmt $f -f framemd5 $f.framemd5
done
for pair in yuv420p:nv12 yuv420p10le:p010le; do
  from=${pair%%:*}; to=${pair##*:}
  ffmpeg -y -v error -f rawvideo -pix_fmt $from -s 33x17 -r 2 -i $from.raw $OUT -pix_fmt $to -f rawvideo $to.raw
  ffmpeg -y -v error -f rawvideo -pix_fmt $from -s 33x17 -r 2 -i $from.raw $OUT -pix_fmt $to -f framemd5 $to.framemd5
done
