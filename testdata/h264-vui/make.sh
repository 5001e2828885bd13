#!/bin/sh
# Makes the H.264 VUI fixtures, their framemd5 tables and the Y4M header line FFmpeg
# writes for them. x264 0.164.3095, FFmpeg 5.1 (Debian). Run from this folder.
set -e
for cl in 1 2; do
    f=chromaloc$cl.264
    ffmpeg -v error -f lavfi -i testsrc2=size=64x64:rate=25 -frames:v 3 -pix_fmt yuv420p -f rawvideo - |
        x264 --quiet --input-res 64x64 --demuxer raw --fps 25 --chromaloc $cl -o $f -
    ffmpeg -v error -threads 1 -flags unaligned -f h264 -i $f -map 0:v:0 -fps_mode passthrough -f framemd5 -y $f.framemd5
    ffmpeg -v error -f h264 -i $f -frames:v 1 -f yuv4mpegpipe -y /tmp/$f.y4m
    head -n 1 /tmp/$f.y4m > $f.y4mhead && rm /tmp/$f.y4m
done
