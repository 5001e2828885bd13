#!/bin/sh
# Regenerates the x264 MBAFF fixtures of this folder and their FFmpeg oracle tables
# (the JVT conformance streams here are copied, not made: see README.md).
# Run from this folder: sh make.sh
set -e
oracle() {
  ffmpeg -y -v error -threads 1 -flags unaligned -f h264 -i "$1" -map 0:v:0 -fps_mode passthrough -f framemd5 "$1.framemd5"
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# 720x576, 8 frames of testsrc2 with temporal noise (so that every macroblock has
# residual and the encoder mixes frame and field pairs).
ffmpeg -y -v error -f lavfi -i "testsrc2=size=720x576:rate=25,noise=alls=6:allf=t" -frames:v 8 -pix_fmt yuv420p -f yuv4mpegpipe "$tmp/576.y4m"
x264 --quiet --no-progress --threads 1 --tff --preset medium --bframes 3 --weightp 2 --crf 24 --keyint 8 -o x264_576i_tff_cabac.264 "$tmp/576.y4m"
oracle x264_576i_tff_cabac.264
x264 --quiet --no-progress --threads 1 --bff --preset medium --no-cabac --bframes 2 --weightp 2 --crf 24 --keyint 8 -o x264_576i_bff_cavlc.264 "$tmp/576.y4m"
oracle x264_576i_bff_cavlc.264
# 1920x1080, 4 frames, veryfast (the broadcast case).
ffmpeg -y -v error -f lavfi -i "testsrc2=size=1920x1080:rate=25" -frames:v 4 -pix_fmt yuv420p -f yuv4mpegpipe "$tmp/1080.y4m"
x264 --quiet --no-progress --threads 1 --tff --preset veryfast --bframes 2 --crf 26 --keyint 4 -o x264_1080i_tff_veryfast.264 "$tmp/1080.y4m"
oracle x264_1080i_tff_veryfast.264
# 352x288, 10 frames: temporal direct (CABAC; CAVLC with a B-pyramid and 4
# references), 4 slices per picture, and constrained intra prediction (refused).
ffmpeg -y -v error -f lavfi -i "testsrc2=size=352x288:rate=25,noise=alls=6:allf=t" -frames:v 10 -pix_fmt yuv420p -f yuv4mpegpipe "$tmp/288.y4m"
x264 --quiet --no-progress --threads 1 --tff --bframes 3 --direct temporal --crf 24 --keyint 10 -o x264_288i_tff_temporal.264 "$tmp/288.y4m"
oracle x264_288i_tff_temporal.264
x264 --quiet --no-progress --threads 1 --tff --bframes 2 --ref 4 --b-pyramid normal --no-cabac --direct temporal --crf 30 --keyint 10 -o x264_288i_tff_temporal_cavlc.264 "$tmp/288.y4m"
oracle x264_288i_tff_temporal_cavlc.264
x264 --quiet --no-progress --threads 1 --bff --bframes 2 --slices 4 --crf 24 --keyint 10 -o x264_288i_bff_slices.264 "$tmp/288.y4m"
oracle x264_288i_bff_slices.264
x264 --quiet --no-progress --threads 1 --tff --bframes 0 --constrained-intra --crf 24 --keyint 10 -o x264_288i_tff_constrained_intra.264 "$tmp/288.y4m"
oracle x264_288i_tff_constrained_intra.264
