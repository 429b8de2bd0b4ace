"""Tie images to records and reference entries: Hamming index, perceptual rules, consent and reference indexes."""
