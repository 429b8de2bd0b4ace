#!/usr/bin/env bash
# Assemble the real-image pools the matching benches ran on (docs/matching.md) from Debian packages, so
# the figures can be reproduced on any Debian 12 machine:
#   OUT/photos  - real photographs (queries): wallpaper and puzzle photos, scikit-image's photographs
#   OUT/others  - everything else (filler sources): Tux Paint stamps, OpenCV documentation figures and
#                 sample images, abstract wallpapers, scikit-image's scientific images
# Usage: bash bench/debian_photos.sh OUT [SKIMAGE_DATA_DIR]
# then:  python bench/robustness.py OUT/photos ../shared/corpus
#        python bench/false_matches.py --queries OUT/photos ../shared/corpus --fillers-from OUT/others
# Licences: each package's /usr/share/doc/*/copyright (kept under OUT/copyright/). Nothing is committed.
set -euo pipefail
out=${1:?usage: debian_photos.sh OUT [SKIMAGE_DATA_DIR]}
skimage=${2:-}
pkgs=(tuxpaint-stamps-default opencv-doc ukui-wallpapers mate-backgrounds lomiri-wallpapers-20.04
      palapeli-data gnome-backgrounds plasma-workspace-wallpapers)
work=$(mktemp -d)
mkdir -p "$out/photos" "$out/others" "$out/copyright"
(cd "$work" && apt-get download "${pkgs[@]}" >/dev/null)
for deb in "$work"/*.deb; do
  name=$(basename "$deb"); name=${name%%_*}
  mkdir -p "$work/x/$name" && dpkg-deb -x "$deb" "$work/x/$name"
  cp "$work/x/$name/usr/share/doc/$name/copyright" "$out/copyright/$name" 2>/dev/null || true
done
x=$work/x
photo() { cp "$1" "$out/photos/$2_$(basename "$1")"; }
other() { cp "$1" "$out/others/$2_$(basename "$1")"; }

for f in "$x"/mate-backgrounds/usr/share/backgrounds/mate/nature/*.jpg \
         "$x"/mate-backgrounds/usr/share/backgrounds/mate/abstract/Elephants.jpg; do photo "$f" mate; done
for f in "$x"/palapeli-data/usr/share/palapeli/collection/*.jpg; do photo "$f" pal; done
photo "$x/lomiri-wallpapers-20.04/usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg" wall
# Plasma wallpapers: the photographs (the others are renders), largest size of each
plasma_photos=" BytheWater ColdRipple ColorfulCups DarkestHour EveningGlow FallenLeaf Grey Kite OneStandsOut Path summer_1am Volna "
for d in "$x"/plasma-workspace-wallpapers/usr/share/wallpapers/*/contents/images; do
  name=$(basename "$(dirname "$(dirname "$d")")")
  best=$(ls -S "$d"/* | head -1)
  if [[ $plasma_photos == *" $name "* ]]; then cp "$best" "$out/photos/plasma_$name.${best##*.}";
  else cp "$best" "$out/others/plasma_$name.${best##*.}"; fi
done
for f in "$x"/lomiri-wallpapers-20.04/usr/share/backgrounds/*.jpg "$x"/ukui-wallpapers/usr/share/backgrounds/*; do
  [[ $(basename "$f") == Kleiber_by_Lukas_Baubkus.jpg ]] || other "$f" wall
done
# (palapeli's backgrounds/ are tiled textures: left out of both pools)
for f in $(find "$x/tuxpaint-stamps-default" -name '*.png'); do other "$f" tux; done
for f in $(find "$x/opencv-doc/usr/share/doc/opencv-doc/opencv4/html" -name '*.jpg' -o -name '*.png'); do other "$f" cvh; done
for n in aero1 apple baboon building butterfly fruits home leuvenA messi5 orange squirrel_cls starry_night stuff \
         HappyFish graf1 ela_original board basketball1 rubberwhale1 aloeL box_in_scene smarties \
         licenseplate_motion pca_test1; do
  for f in "$x"/opencv-doc/usr/share/doc/opencv-doc/examples/data/"$n".*; do other "$f" ocv; done
done
for f in "$x"/gnome-backgrounds/usr/share/backgrounds/gnome/*; do other "$f" gn; done
if [[ -n $skimage ]]; then  # scikit-image's data/ folder (from its wheel)
  for n in astronaut brick camera chelsea clock_motion coffee coins grass gravel motorcycle_left rocket; do
    for f in "$skimage/$n".*; do photo "$f" ski; done
  done
  for n in text page cell ihc retina color moon hubble_deep_field; do
    for f in "$skimage/$n".*; do other "$f" ski; done
  done
fi
rm -rf "$work"
echo "$(ls "$out/photos" | wc -l) photos, $(ls "$out/others" | wc -l) other images in $out"
