"""The edits a dataset copy of a photo goes through, as used by the robustness bench and the fixture
generator. Each takes and returns a Pillow image (RGB) or, for re-encodings, the encoded bytes."""

from __future__ import annotations

import io
from collections.abc import Callable

from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps


def _encode(im: Image.Image, fmt: str, **kw: object) -> Image.Image:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    buf.seek(0)
    out = Image.open(buf)
    out.load()
    return out


def resize(f: float) -> Callable[[Image.Image], Image.Image]:
    return lambda im: im.resize((max(1, round(im.width * f)), max(1, round(im.height * f))), Image.LANCZOS)


def jpeg(q: int) -> Callable[[Image.Image], Image.Image]:
    return lambda im: _encode(im.convert("RGB"), "JPEG", quality=q)


def crop(keep: float) -> Callable[[Image.Image], Image.Image]:
    """Centre crop keeping `keep` of each side."""

    def run(im: Image.Image) -> Image.Image:
        w, h = im.size
        dw, dh = round(w * (1 - keep) / 2), round(h * (1 - keep) / 2)
        return im.crop((dw, dh, w - dw, h - dh))

    return run


def crop_corner(keep: float) -> Callable[[Image.Image], Image.Image]:
    """Crop from one corner (the bottom-right part is cut)."""
    return lambda im: im.crop((0, 0, round(im.width * keep), round(im.height * keep)))


def brightness(f: float) -> Callable[[Image.Image], Image.Image]:
    return lambda im: ImageEnhance.Brightness(im.convert("RGB")).enhance(f)


def grayscale(im: Image.Image) -> Image.Image:
    return ImageOps.grayscale(im)


def flip(im: Image.Image) -> Image.Image:
    return ImageOps.mirror(im)


def watermark(im: Image.Image) -> Image.Image:
    """A small stock-photo mark: semi-transparent white text with a dark outline, 4% of the height tall,
    in the bottom-right corner (about 20% of the width)."""
    base = im.convert("RGBA")
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    w, h = base.size
    font = ImageFont.load_default(size=max(8, round(h * 0.04)))
    text = "(c) stockphoto"
    left, top, right, bottom = d.textbbox((0, 0), text, font=font)
    x, y = round(w * 0.97) - (right - left), round(h * 0.97) - (bottom - top)
    d.text((x, y), text, font=font, fill=(255, 255, 255, 150), stroke_width=1, stroke_fill=(0, 0, 0, 110))
    return Image.alpha_composite(base, layer).convert("RGB")


def watermark_label(im: Image.Image) -> Image.Image:
    """A stock-photo label: a semi-transparent white box (12% x 4%) with text, bottom-right corner."""
    base = im.convert("RGBA")
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    w, h = base.size
    box = (round(w * 0.86), round(h * 0.94), round(w * 0.98), round(h * 0.98))
    d.rectangle(box, fill=(255, 255, 255, 140))
    d.text((box[0] + 2, box[1]), "(c) stock", fill=(0, 0, 0, 200))
    return Image.alpha_composite(base, layer).convert("RGB")


def watermark_large(im: Image.Image) -> Image.Image:
    """An opaque white banner over 25% x 7% of the bottom-right corner."""
    out = im.convert("RGB").copy()
    d = ImageDraw.Draw(out)
    w, h = out.size
    box = (round(w * 0.72), round(h * 0.9), round(w * 0.97), round(h * 0.97))
    d.rectangle(box, fill=(255, 255, 255))
    d.text((box[0] + 4, box[1] + 2), "(c) stock", fill=(0, 0, 0))
    return out


def rotate(deg: float) -> Callable[[Image.Image], Image.Image]:
    return lambda im: im.convert("RGB").rotate(deg, resample=Image.BICUBIC, expand=False)


def border(f: float) -> Callable[[Image.Image], Image.Image]:
    return lambda im: ImageOps.expand(im.convert("RGB"), border=round(max(im.size) * f), fill=(0, 0, 0))


def png_screenshot(im: Image.Image) -> Image.Image:
    """A screenshot-like copy: scaled to 80%, quantised to 256 colours, saved as PNG."""
    small = resize(0.8)(im.convert("RGB")).quantize(256)
    return _encode(small, "PNG").convert("RGB")


TRANSFORMS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "resize-50": resize(0.5),
    "resize-25": resize(0.25),
    "jpeg-q50": jpeg(50),
    "jpeg-q30": jpeg(30),
    "png": lambda im: _encode(im, "PNG"),
    "crop-98": crop(0.98),
    "crop-95": crop(0.95),
    "crop-90": crop(0.90),
    "crop-85": crop(0.85),
    "crop-80": crop(0.80),
    "crop-corner-95": crop_corner(0.95),
    "crop-corner-90": crop_corner(0.90),
    "flip": flip,
    "bright+20": brightness(1.2),
    "bright-20": brightness(0.8),
    "grayscale": grayscale,
    "watermark": watermark,
    "watermark-label": watermark_label,
    "watermark-large": watermark_large,
    "rotate-5": rotate(5),
    "rotate-3 (other way)": rotate(-3),
    "rotate-8": rotate(8),
    "border-10": border(0.10),
    "png-screenshot": png_screenshot,
}
