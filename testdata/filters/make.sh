#!/bin/sh
# Regenerates the filter fixtures and their FFmpeg 5.1 oracle tables.
# Run from this folder: sh make.sh
#
# Sources are 50 fps test patterns with motion, woven into 25 fps interlaced frames by
# tinterlace, so every frame combs where something moves. FFmpeg reads the Y4M `It`/`Ib`
# tags as per-frame interlaced/top_field_first flags, which parity=auto and
# deint=interlaced act on.
#
# Oracle tables are named .framemd5, not .frames: the workspace's .frames tables are
# yuv420p decodes (frame-pool's tests walk them), and these include 4:2:2 outputs.
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
        oracle $src.y4m $src.$f.$mode.$parity.framemd5 "$f=mode=$mode:parity=$parity:deint=all"
      done
    done
  done
done
# yadif without the spatial interlacing check.
for mode in send_frame_nospatial send_field_nospatial; do
  oracle tff_420.y4m tff_420.yadif.$mode.auto.framemd5 "yadif=mode=$mode:parity=auto:deint=all"
done
# deint=interlaced on a stream whose frames are progressive, interlaced, progressive:
# only the middle ones are deinterlaced; the others pass through.
for f in yadif bwdif; do
  for mode in send_frame send_field; do
    $FF -i prog_420.y4m -i tff_420.y4m -i prog_420.y4m \
      -filter_complex "[0][1][2]concat=n=3,$f=mode=$mode:parity=auto:deint=interlaced" \
      -f framemd5 mixed.$f.$mode.interlaced.framemd5
  done
done

# Scaling. Natural content: coffee.png from scikit-image 0.26 (CC0, Rachel Michetti,
# courtesy of Pikolo Espresso Bar), taken out of the wheel and not committed:
#   pip download --no-deps scikit-image==0.26.0 && unzip -j scikit_image-0.26.0-*.whl skimage/data/coffee.png
if [ -f coffee.png ]; then
  $FF -i coffee.png -pix_fmt yuv420p coffee_420.y4m
fi
scale() { # output filter
  $FF -i coffee_420.y4m -vf "$2" -f rawvideo -pix_fmt yuv420p "$1"
}
F=accurate_rnd+full_chroma_int
# FFmpeg 5.1's scale puts 4:2:0 chroma between luma samples unless told (in_h_chr_pos).
scale coffee.lanczos.360x240.center.yuv "scale=-2:240:flags=lanczos+$F"
scale coffee.bicubic.360x240.center.yuv "scale=-2:240:flags=bicubic+$F"
scale coffee.bilinear.360x240.center.yuv "scale=-2:240:flags=bilinear+$F"
scale coffee.lanczos.720x480.center.yuv "scale=720:-2:flags=lanczos+$F"
scale coffee.lanczos.352x288.left.yuv "scale=352:288:flags=lanczos+$F:in_h_chr_pos=0:out_h_chr_pos=0:in_v_chr_pos=128:out_v_chr_pos=128"
# Chroma siting pattern: one-sample-wide Cb lines every 8 chroma columns and Cr lines
# every 8 chroma rows on flat luma, halved horizontally, sited left and centred.
$FF -f lavfi -i "color=gray:s=128x64:d=1:r=1,format=yuv420p,geq=lum=128:cb='if(eq(mod(X,8),3),235,16)':cr='if(eq(mod(Y,8),3),235,16)'" -frames:v 1 siting.y4m
for pos in 0 128; do
  $FF -i siting.y4m -vf "scale=64:64:flags=lanczos+$F:in_h_chr_pos=$pos:out_h_chr_pos=$pos:in_v_chr_pos=128:out_v_chr_pos=128" -f rawvideo -pix_fmt yuv420p siting.64x64.h$pos.yuv
done

# Crop and pad: position and size are rounded down to whole chroma samples.
oracle tff_420.y4m tff_420.crop.framemd5 "crop=101:81:13:9"
oracle bff_422.y4m bff_422.crop.framemd5 "crop=99:51:7:5"
oracle tff_420.y4m tff_420.pad.framemd5 "pad=201:161:11:7:color=black"
oracle bff_422.y4m bff_422.pad.framemd5 "pad=180:150:3:3:color=black"
# Pixel formats: full to limited range, 10 to 8 bits (swscale's ordered dither), and
# 4:2:2 to 4:2:0 (chroma resampled; compared by PSNR on the first frame).
$FF -f lavfi -i testsrc2=size=176x144:rate=25 -frames:v 3 -pix_fmt yuvj420p full_420.y4m
oracle full_420.y4m full_420.limited.framemd5 "scale=out_range=tv"
$FF -f lavfi -i "testsrc2=size=176x144:rate=25,format=yuv420p10le,noise=alls=20:allf=t" -frames:v 2 -strict -1 -pix_fmt yuv420p10le ten_420.y4m
oracle ten_420.y4m ten_420.eight.framemd5 "format=yuv420p"
$FF -i bff_422.y4m -frames:v 1 -vf format=yuv420p -f rawvideo bff_422.to420.bicubic.yuv
$FF -i bff_422.y4m -frames:v 1 -vf scale=flags=lanczos+accurate_rnd,format=yuv420p -f rawvideo bff_422.to420.lanczos.yuv
# Frame rate by dropping and repeating frames (25 fps in).
for r in 30 15 10 24000/1001; do
  oracle tff_420.y4m "tff_420.fps.$(echo $r | tr / _).framemd5" "fps=$r"
done
