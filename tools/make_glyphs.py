"""Builds pyfrozen/datasets/data/glyphs.npz: distorted letters and digits rendered from fonts.

Not a run-time dependency of pyfrozen: this script needs matplotlib (for its bundled fonts)
and Pillow (which matplotlib requires). pyfrozen ships only its output. Run from the
repository root, with matplotlib installed:

    python tools/make_glyphs.py            # rewrites pyfrozen/datasets/data/glyphs.npz

Each image is one character drawn with one of 16 bundled fonts (DejaVu Sans, Sans Mono and
Serif, and STIX General, each regular, bold, italic/oblique, bold italic), then distorted:
random stroke width, rotation, shear, scale, translation, a few random scratch strokes and
blur, and reduced to SIDE x SIDE grey levels (uint8, ink bright on dark). The random
generator is seeded, so the file is reproducible for a given Pillow/FreeType version.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

SIDE = 24
CANVAS = 96  # drawn large, distorted, then reduced: smooth grey edges
CLASSES = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
FONTS = [f"DejaVu{family}{style}.ttf" for family in ("Sans", "SansMono", "Serif")
         for style in ("", "-Bold", "-Oblique" if family != "Serif" else "-Italic",
                       "-BoldOblique" if family != "Serif" else "-BoldItalic")]
FONTS += ["STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf",
          "STIXGeneralBolIta.ttf"]
PER_CLASS = 400
OUT = Path(__file__).resolve().parents[1] / "pyfrozen" / "datasets" / "data" / "glyphs.npz"


def font_paths() -> list[Path]:
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    paths = [folder / name for name in FONTS]
    missing = [p.name for p in paths if not p.exists()]
    if missing:
        raise SystemExit(f"matplotlib {matplotlib.__version__} lacks the fonts {missing}")
    return paths


def draw(char: str, font: ImageFont.FreeTypeFont, rng: np.random.Generator) -> np.ndarray:
    """One distorted SIDE x SIDE image of ``char``."""
    img = Image.new("L", (CANVAS, CANVAS), 0)
    pen = ImageDraw.Draw(img)
    left, top, right, bottom = pen.textbbox((0, 0), char, font=font)
    pen.text(((CANVAS - (right - left)) / 2 - left, (CANVAS - (bottom - top)) / 2 - top), char,
             fill=255, font=font)
    width = int(rng.choice([-1, 0, 1, 1, 2, 3]))  # stroke: thinner (MinFilter) or thicker
    if width > 0:
        img = img.filter(ImageFilter.MaxFilter(2 * width + 1))
    elif width < 0:
        img = img.filter(ImageFilter.MinFilter(3))
    img = img.transform((CANVAS, CANVAS), Image.Transform.AFFINE, _affine(rng),
                        resample=Image.Resampling.BILINEAR)
    _scratch(ImageDraw.Draw(img), rng)
    img = img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.0, 2.0))))
    return np.asarray(img.resize((SIDE, SIDE), Image.Resampling.BOX), dtype=np.uint8)


def _affine(rng: np.random.Generator) -> tuple[float, ...]:
    """Output-to-input affine map about the canvas centre: rotation, shear, scale, shift."""
    angle = math.radians(rng.uniform(-15, 15))
    shear = rng.uniform(-0.25, 0.25)
    scale = rng.uniform(0.85, 1.25)  # > 1 samples a wider area: a smaller glyph
    aspect = rng.uniform(0.85, 1.15)
    c, s = math.cos(angle), math.sin(angle)
    a, b = scale * aspect * c, scale * (s + shear * c)
    d, e = -scale / aspect * s, scale / aspect * (c - shear * s)
    half = CANVAS / 2
    dx, dy = rng.uniform(-0.12, 0.12, size=2) * CANVAS
    return (a, b, half - a * half - b * half + dx, d, e, half - d * half - e * half + dy)


def _scratch(pen: ImageDraw.ImageDraw, rng: np.random.Generator) -> None:
    """0-2 random thin strokes: clutter that a raw-pixel classifier cannot tell from ink."""
    for _ in range(int(rng.integers(0, 3))):
        x0, y0, x1, y1 = rng.uniform(0, CANVAS, size=4)
        pen.line((x0, y0, x1, y1), fill=int(rng.integers(100, 256)),
                 width=int(rng.integers(2, 6)))


def build(per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images (n, SIDE, SIDE) uint8, labels (n,) int64, font index (n,) int64)."""
    rng = np.random.default_rng(seed)
    paths = font_paths()
    images, labels, fonts = [], [], []
    for k, char in enumerate(CLASSES):
        for _ in range(per_class):
            f = int(rng.integers(len(paths)))
            font = ImageFont.truetype(str(paths[f]), size=int(rng.integers(52, 68)))
            images.append(draw(char, font, rng))
            labels.append(k)
            fonts.append(f)
    return np.stack(images), np.array(labels, np.int64), np.array(fonts, np.int64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=PER_CLASS)
    parser.add_argument("--seed", type=int, default=20261207)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    images, labels, fonts = build(args.per_class, args.seed)
    np.savez_compressed(args.out, images=images, labels=labels, fonts=fonts,
                        classes=np.array(list(CLASSES)), font_names=np.array(FONTS))
    print(f"wrote {args.out}: {images.shape} images, {args.out.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
