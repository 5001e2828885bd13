#!/bin/sh
# Regenerates the H.264 decoder fixtures and their FFmpeg oracle tables.
# Run from this folder: sh make.sh
set -e
enc() {
  out=$1; shift
  ffmpeg -y -v error "$@" -fflags +bitexact -flags:v +bitexact -map_metadata -1 -f h264 "$out"
  ffmpeg -y -v error -threads 1 -flags unaligned -i "$out" -pix_fmt yuv420p -f framemd5 "$out.frames"
}
SRC="-f lavfi -i testsrc2=size=176x144:rate=25:duration=0.4"
X="-c:v libx264 -threads 1 -pix_fmt yuv420p"
enc a_intra_cavlc_nodeblock.h264 $SRC $X -profile:v baseline -x264-params keyint=1:no-deblock=1:cabac=0
enc b_intra_cavlc_deblock.h264 $SRC $X -profile:v baseline -x264-params keyint=1:cabac=0
enc c_baseline_p.h264 $SRC $X -profile:v baseline -x264-params keyint=10:cabac=0
enc d_main_cabac_p.h264 $SRC $X -profile:v main -x264-params keyint=10:bframes=0
enc e_main_bframes.h264 $SRC $X -profile:v main -x264-params keyint=10:bframes=2:b-pyramid=none:weightb=0:8x8dct=0
enc f_high_8x8.h264 $SRC $X -profile:v high -x264-params keyint=10:bframes=0:8x8dct=1
enc g_weighted.h264 -f lavfi -i "testsrc2=size=176x144:rate=25:duration=0.4,fade=in:0:10" $X -profile:v high -x264-params keyint=10:bframes=2:weightp=2:weightb=1
enc h_bpyramid.h264 $SRC $X -profile:v high -x264-params keyint=10:bframes=3:b-pyramid=normal
enc i_multiref.h264 $SRC $X -profile:v high -x264-params keyint=10:bframes=2:ref=4
enc j_slices.h264 $SRC $X -profile:v high -x264-params keyint=10:bframes=2:slices=4
enc k_cqm_jvt.h264 $SRC $X -profile:v high -x264-params keyint=10:bframes=2:cqm=jvt
enc l_deblock_offsets.h264 $SRC $X -profile:v high -x264-params keyint=10:bframes=2:deblock=-2,3
enc m_crop_100x60.h264 -f lavfi -i testsrc2=size=100x60:rate=25:duration=0.4 $X -profile:v high -x264-params keyint=10:bframes=2
enc n_temporal_direct.h264 $SRC $X -profile:v high -x264-params keyint=10:bframes=2:direct=temporal
enc o_mandelbrot_high.h264 -f lavfi -i mandelbrot=size=176x144:rate=25 -frames:v 10 $X -profile:v high -x264-params keyint=10:bframes=2
enc p_interlaced.h264 $SRC $X -profile:v high -x264-params keyint=10:bframes=0:interlaced=1
enc q_high_cavlc_8x8.h264 $SRC $X -profile:v high -x264-params keyint=10:bframes=2:cabac=0:8x8dct=1
enc r_constrained_intra.h264 $SRC $X -profile:v main -x264-params keyint=30:bframes=0:constrained-intra=1:intra-refresh=1
enc s_qcif_long.h264 -f lavfi -i testsrc2=size=176x144:rate=25:duration=1.2 $X -profile:v high -x264-params keyint=12:bframes=3:ref=3:b-pyramid=strict:weightp=1
enc t_yuv422.h264 $SRC -c:v libx264 -threads 1 -pix_fmt yuv422p -x264-params keyint=10
enc u_high10.h264 $SRC -c:v libx264 -threads 1 -pix_fmt yuv420p10le -x264-params keyint=10
enc v_1080p.h264 -f lavfi -i testsrc2=size=1920x1080:rate=25:duration=0.4 $X -preset fast -bf 3
