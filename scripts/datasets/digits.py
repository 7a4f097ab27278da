#!/usr/bin/env python3
"""The UCI handwritten digits that ship inside scikit-learn (1,797 images of 8x8, 10 classes,
real data nobody here made), written as an image-folder dataset:

    OUT/train/<digit>/NNNN.png, OUT/test/<digit>/NNNN.png

Images are upscaled to --size (bilinear, from the 17 grey levels 0..16 to 0..255) and split
75/25, stratified, with a fixed seed, so every run writes the same files. scikit-learn is needed
only here, not by the crate:

    python3 -m venv .venv-datasets && .venv-datasets/bin/pip install scikit-learn
    .venv-datasets/bin/python scripts/datasets/digits.py --out data/digits --size 32

`spikestream simulate --from-images data/digits --out data/n-digits` then films them as
event recordings ("N-Digits", made as N-MNIST was from MNIST).
"""
import argparse, os, shutil, struct, tempfile, zlib

import numpy as np


def png_gray(path, img):
    """A minimal 8-bit greyscale PNG (no PIL needed)."""
    h, w = img.shape
    raw = b"".join(b"\x00" + img[y].astype(np.uint8).tobytes() for y in range(h))
    chunk = lambda tag, data: struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def upscale(img, size):
    """Bilinear resize of an 8x8 image to size x size (pixel centres aligned, edges clamped)."""
    n = img.shape[0]
    c = (np.arange(size) + 0.5) * n / size - 0.5
    c = np.clip(c, 0, n - 1)
    i0 = np.floor(c).astype(int)
    i1 = np.minimum(i0 + 1, n - 1)
    f = c - i0
    rows = img[i0] * (1 - f)[:, None] + img[i1] * f[:, None]
    return rows[:, i0] * (1 - f)[None, :] + rows[:, i1] * f[None, :]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--size", type=int, default=32, help="side of the written images (8 = original)")
    ap.add_argument("--test-fraction", type=float, default=0.25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--force", action="store_true", help="replace an existing OUT")
    a = ap.parse_args()
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    idx = np.arange(len(digits.target))
    train, test = train_test_split(idx, test_size=a.test_fraction, random_state=a.seed, stratify=digits.target)
    if os.path.exists(a.out) and not a.force:
        raise SystemExit(f"{a.out} exists; pass --force to replace it")
    parent = os.path.dirname(os.path.abspath(a.out))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".digits.", dir=parent)  # renamed into place when complete
    for split, ids in (("train", train), ("test", test)):
        for i in sorted(ids):
            label = int(digits.target[i])
            d = os.path.join(tmp, split, str(label))
            os.makedirs(d, exist_ok=True)
            img = digits.images[i] * (255.0 / 16.0)
            if a.size != 8:
                img = upscale(img, a.size)
            png_gray(os.path.join(d, f"{i:04d}.png"), np.clip(np.round(img), 0, 255))
    if os.path.exists(a.out):
        shutil.rmtree(a.out)
    os.rename(tmp, a.out)
    print(f"wrote {len(train)} train and {len(test)} test images of {a.size}x{a.size} to {a.out}")


if __name__ == "__main__":
    main()
