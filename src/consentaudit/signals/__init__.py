"""What a file and its crawl record say about the image: EXIF, XMP/IPTC, C2PA, crawl-time signals."""
