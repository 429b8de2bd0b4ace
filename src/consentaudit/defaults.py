"""Defaults that the command line shows in its help before anything heavy is imported. No imports."""

# Pillow's own decompression-bomb error threshold (2 x Image.MAX_IMAGE_PIXELS).
DEFAULT_MAX_PIXELS = 178_956_970
# Chosen from bench/robustness.py on the real photos (docs/matching.md): no distinct pair of real photos is
# within pHash distance 13; 9 finds 100% of resized/re-encoded/PNG/grayscale copies, 99% of 2% crops and
# ~91% of 5% crops while keeping the false-match rate of a 1M-entry reference set well under one per query.
DEFAULT_PHASH_THRESHOLD = 9
DEFAULT_BATCH = 64  # images per work unit
