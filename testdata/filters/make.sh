#!/bin/sh
# Regenerates the filter fixtures and their FFmpeg 5.1 oracle tables.
# Run from this folder: sh make.sh
#
# Sources are 50 fps test patterns with motion, woven into 25 fps interlaced frames by
# tinterlace, so every frame combs where something moves. FFmpeg reads the Y4M `It`/`Ib`
# tags as per-frame interlaced/top_field_first flags, which parity=auto and
# deint=interlaced act on.
set -e
FF="ffmpeg -y -v error -threads 1 -filter_threads 1"
$FF -f lavfi -i testsrc2=size=176x144:rate=50 -vf tinterlace=mode=interleave_top -frames:v 8 -pix_fmt yuv420p tff_420.y4m
$FF -f lavfi -i mandelbrot=size=176x144:rate=50 -vf tinterlace=mode=interleave_bottom,format=yuv422p -frames:v 6 bff_422.y4m
$FF -f lavfi -i testsrc2=size=99x61:rate=50 -vf tinterlace=mode=interleave_top -frames:v 5 -pix_fmt yuv420p odd_420.y4m
$FF -f lavfi -i testsrc2=size=176x144:rate=25 -frames:v 3 -pix_fmt yuv420p prog_420.y4m

oracle() { # input output filter
  $FF -i "$1" -vf "$3" -f framemd5 "$2"
}
for src in tff_420 bff_422 odd_420; do
  for f in yadif bwdif; do
    for mode in send_frame send_field; do
      for parity in tff bff auto; do
        oracle $src.y4m $src.$f.$mode.$parity.frames "$f=mode=$mode:parity=$parity:deint=all"
      done
    done
  done
done
# yadif without the spatial interlacing check.
for mode in send_frame_nospatial send_field_nospatial; do
  oracle tff_420.y4m tff_420.yadif.$mode.auto.frames "yadif=mode=$mode:parity=auto:deint=all"
done
# deint=interlaced on a stream whose frames are progressive, interlaced, progressive:
# only the middle ones are deinterlaced; the others pass through.
for f in yadif bwdif; do
  for mode in send_frame send_field; do
    $FF -i prog_420.y4m -i tff_420.y4m -i prog_420.y4m \
      -filter_complex "[0][1][2]concat=n=3,$f=mode=$mode:parity=auto:deint=interlaced" \
      -f framemd5 mixed.$f.$mode.interlaced.frames
  done
done
