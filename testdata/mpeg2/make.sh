#!/bin/sh
# Regenerates the MPEG-1/MPEG-2 video decoder fixtures and their FFmpeg oracle tables.
# Run from this folder: sh make.sh
# The oracle is FFmpeg 5.1 with the "simple" IDCT, one thread, native pixel format.
set -e
oracle() {
  ffmpeg -y -v error -threads 1 -flags +bitexact -idct simple -i "$1" -map 0:v:0 -fps_mode passthrough -f framemd5 "$1.frames"
}
enc() {
  out=$1; shift
  # One -flags only: a second one would replace the first, not add to it.
  ffmpeg -y -v error "$@" -threads 1 -fflags +bitexact -map_metadata -1 "$out"
  oracle "$out"
}
# Natural-looking sources: moving test pattern with noise so residuals and vectors are non-trivial.
SRC="-f lavfi -i testsrc2=size=176x144:rate=25,noise=alls=12:allf=t -frames:v 20"
SRCI="-f lavfi -i testsrc2=size=320x240:rate=25,noise=alls=10:allf=t -frames:v 16"
# Field order: -top for the encoder, setfield for the frames it gets.
SRCT="-f lavfi -i testsrc2=size=320x240:rate=25,noise=alls=10:allf=t,setfield=tff -frames:v 16"
SRCB="-f lavfi -i testsrc2=size=320x240:rate=25,noise=alls=10:allf=t,setfield=bff -frames:v 16"
M2="-c:v mpeg2video -f mpeg2video"
BE="-flags +bitexact"
IL="-flags +bitexact+ildct+ilme"
enc a_intra.m2v $SRC $M2 $BE -g 1 -q:v 4
enc b_ipb_closed.m2v $SRC $M2 -flags +bitexact+cgop -sc_threshold 1000000000 -g 12 -bf 2 -q:v 5
enc c_ipb_open.m2v $SRC $M2 $BE -g 6 -bf 2 -q:v 6
enc d_interlaced_tff.m2v $SRCT $M2 -top 1 -g 8 -bf 2 $IL -q:v 6
enc e_interlaced_bff.m2v $SRCB $M2 -top 0 -g 8 -bf 2 $IL -q:v 6
enc f_altscan.m2v $SRCI -frames:v 10 $M2 -g 8 -bf 2 $IL -alternate_scan 1 -q:v 5
enc g_intra_vlc.m2v $SRC -frames:v 12 $M2 $BE -g 6 -bf 1 -intra_vlc 1 -q:v 3
enc h_nonlinear.m2v $SRC -frames:v 10 $M2 $BE -g 6 -bf 1 -non_linear_quant 1 -qmin 1 -qmax 28 -b:v 3M
enc i_dc8.m2v $SRC -frames:v 10 $M2 $BE -g 4 -bf 1 -dc 8 -q:v 2
enc j_dc9.m2v $SRC -frames:v 10 $M2 $BE -g 4 -bf 1 -dc 9 -q:v 2
enc k_dc10.m2v $SRC -frames:v 10 $M2 $BE -g 4 -bf 1 -dc 10 -q:v 2
enc l_yuv422.m2v $SRCI -frames:v 10 -pix_fmt yuv422p $M2 -g 8 -bf 2 $IL -q:v 5
enc m_mpeg1.m1v $SRC -c:v mpeg1video $BE -f mpeg1video -g 8 -bf 2 -q:v 5
enc n_matrices.m2v $SRC $M2 $BE -g 6 -bf 2 -q:v 4 \
  -intra_matrix 8,16,19,22,26,27,29,34,16,16,22,24,27,29,34,37,19,22,26,27,29,34,34,38,22,22,26,27,29,34,37,40,22,26,27,29,32,35,40,48,26,27,29,32,35,40,48,58,26,27,29,34,38,46,56,69,27,29,35,38,46,56,69,83 \
  -inter_matrix 16,17,18,19,20,21,22,23,17,18,19,20,21,22,23,24,18,19,20,21,22,23,24,25,19,20,21,22,23,24,26,27,20,21,22,23,25,26,27,28,21,22,23,24,26,27,28,30,22,23,24,26,27,28,30,31,23,24,25,27,28,30,31,33
enc o_slices.m2v $SRCI $M2 $BE -g 8 -bf 2 -slices 24 -q:v 6
enc p_mandelbrot.m2v -f lavfi -i mandelbrot=size=176x144:rate=25 -frames:v 20 $M2 $BE -g 10 -bf 2 -b:v 1M
enc q_dc11.m2v $SRC -frames:v 10 $M2 $BE -g 4 -bf 1 -dc 11 -q:v 2 || true
# A stream cut mid-GOP: starts at a P picture, and one that starts at a B picture.
# The byte offsets of the picture start codes come from the closed-GOP stream above.
cut() {
  src=$1; out=$2; type=$3
  # The second picture of that type after the first I picture: find its picture start
  # code, then go back to the header data that precedes it (none: the cut is raw).
  off=$(python3 - "$src" "$type" <<'PY'
import sys
d = open(sys.argv[1], 'rb').read(); want = int(sys.argv[2]); seen = 0; i = 0
while True:
    i = d.find(b'\x00\x00\x01\x00', i)
    if i < 0: sys.exit(1)
    t = (d[i + 5] >> 3) & 7
    if t == want:
        seen += 1
        if seen == 2: print(i); break
    i += 4
PY
)
  tail -c +$((off + 1)) "$src" > "$out"
  oracle "$out"
}
cut c_ipb_open.m2v r_cut_at_p.m2v 2
cut c_ipb_open.m2v s_cut_at_b.m2v 3
# mjpegtools: its own quantiser matrices, slices and rate control. 3:2 pulldown
# (repeat_first_field) needs a height that splits into whole field macroblock rows.
ffmpeg -y -v error -f lavfi -i testsrc2=size=352x480:rate=24000/1001,noise=alls=10:allf=t -frames:v 8 -f yuv4mpegpipe -pix_fmt yuv420p - \
  | mpeg2enc -v 0 -f 8 -a 2 -F 1 -I 0 -p -g 6 -G 6 -b 2000 -o t_mpeg2enc_pulldown.m2v
oracle t_mpeg2enc_pulldown.m2v
# Interlaced frame pictures (field DCT/field motion), top field first; the y4m header
# is marked interlaced so mpeg2enc codes it as such.
ffmpeg -y -v error -f lavfi -i testsrc2=size=352x288:rate=25,noise=alls=10:allf=t -frames:v 10 -f yuv4mpegpipe -pix_fmt yuv420p - \
  | sed '1s/ Ip / It /' | mpeg2enc -v 0 -f 8 -a 2 -F 3 -I 1 -g 6 -G 6 -b 3000 -o u_mpeg2enc_interlaced.m2v
oracle u_mpeg2enc_interlaced.m2v
# Dual-prime motion in frame pictures (P pictures only, so no B pictures).
# (mpeg2enc 2.1 crashes on per-field encoding, -I 2, so field pictures come from
# testdata/mpeg2-synth/ instead.)
ffmpeg -y -v error -f lavfi -i testsrc2=size=352x288:rate=25,noise=alls=10:allf=t -frames:v 8 -f yuv4mpegpipe -pix_fmt yuv420p - \
  | sed '1s/ Ip / It /' | mpeg2enc -v 0 -f 8 -a 2 -F 3 -I 1 --dualprime-mpeg2 -R 0 -g 8 -G 8 -b 3000 -o w_mpeg2enc_dualprime.m2v
oracle w_mpeg2enc_dualprime.m2v
# Skipped macroblocks in a B frame picture after a field-predicted macroblock: the first
# three pictures (I P B) of an interlaced stream where that happens in the B picture.
ffmpeg -y -v error -f lavfi -i mandelbrot=size=720x576:rate=25 -frames:v 30 -c:v mpeg2video -b:v 2M -g 15 -bf 2 -flags +ildct+ilme -top 1 -f mpeg2video /tmp/x576.m2v
python3 - /tmp/x576.m2v x_bskip_after_field.m2v <<'PY'
import sys
d = open(sys.argv[1], 'rb').read(); starts = []; i = 0
while len(starts) < 4:
    i = d.find(b'\x00\x00\x01\x00', i); starts.append(i); i += 4
open(sys.argv[2], 'wb').write(d[:starts[3]])
PY
oracle x_bskip_after_field.m2v
# The same in a bottom-field-first 576i stream (the lead's report: one B frame wrong).
enc y_bskip_576i_bff.m2v -f lavfi -i testsrc2=size=720x576:rate=25:duration=0.8 $M2 $IL -top 0 -aspect 4:3 -g 12 -bf 2 -q:v 10
# More than 2800 lines: slices carry slice_vertical_position_extension.
enc z_tall_2880.m2v -f lavfi -i testsrc2=size=128x2880:rate=25 -frames:v 3 $M2 $BE -g 2 -bf 0 -q:v 5 -strict -1
# The heap test's stream: 1440x1080 interlaced at a high bitrate, a few frames.
enc v_1440x1080i.m2v -f lavfi -i smptehdbars=size=1440x1080:rate=25,noise=alls=8:allf=t,rotate=0.02*t*PI,setfield=tff -frames:v 6 $M2 -top 1 -g 6 -bf 2 $IL -b:v 15M -maxrate 15M -bufsize 9M
