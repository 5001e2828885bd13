#!/bin/sh
# Makes the monochrome (4:0:0) H.264 fixtures and their FFmpeg framemd5 tables.
# x264 0.164.3095, FFmpeg 5.1 (Debian). Run from this folder.
set -e
src() { ffmpeg -v error -f lavfi -i "$1" -frames:v 10 -pix_fmt gray -f rawvideo -; }
enc() { x264 --quiet --input-res 176x144 --input-csp i400 --output-csp i400 --demuxer raw --fps 25 --bframes 2 --keyint 8 "$@"; }
src testsrc2=size=176x144:rate=25 | enc -o mono-cabac.264 -
src testsrc2=size=176x144:rate=25 | enc --no-cabac -o mono-cavlc.264 -
src "testsrc2=size=176x144:rate=25,fade=in:0:10" | enc --weightp 2 --weightb -o mono-weightp.264 -
for f in mono-*.264; do
    ffmpeg -v error -threads 1 -flags unaligned -f h264 -i "$f" -map 0:v:0 -fps_mode passthrough -f framemd5 -y "$f.framemd5"
done
# The first line of FFmpeg's Y4M output (its C tag names the chroma siting).
ffmpeg -v error -f h264 -i mono-cabac.264 -frames:v 1 -f yuv4mpegpipe -y /tmp/mono-cabac.y4m
head -n 1 /tmp/mono-cabac.y4m > mono-cabac.264.y4mhead && rm /tmp/mono-cabac.y4m
