#!/usr/bin/env python3
"""Writes assets/colormaps/crameri.bin: Fabio Crameri's Scientific Colour Maps under the names
faery 0.7.1 uses for them (`faery.colormaps.*`), for `spikestream render --colormap NAME`.

The tables come from the `cmcrameri` wheel on PyPI (MIT licence, kept beside the asset as
LICENSE-cmcrameri.txt); the wheel is only downloaded and unzipped, nothing is installed. Run:

    python3 scripts/assets/colormaps.py

Format (little endian): b"SSCM", u8 count, then per map: u8 name length, the name (ASCII), u8 kind
(0 sequential, 1 diverging, 2 cyclic, as faery classifies it), 256 × RGB u8 (the 256-entry table
rounded to 8 bits).
"""
import os, subprocess, sys, tempfile, zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "assets", "colormaps")

# faery's name: (cmcrameri file, kind). faery 0.7.1 also has `starry_night` (its own map, LGPL,
# not copied here), `gray` and `navia_white`, which are not in cmcrameri.
MAPS = {
    "acton": ("acton", 0), "bam": ("bam", 1), "bam_o": ("bamO", 2), "bamako": ("bamako", 0),
    "batlow": ("batlow", 0), "batlow_k": ("batlowK", 0), "batlow_w": ("batlowW", 0),
    "berlin": ("berlin", 1), "bilbao": ("bilbao", 0), "broc": ("broc", 1), "broc_o": ("brocO", 2),
    "buda": ("buda", 0), "cork": ("cork", 1), "cork_o": ("corkO", 2), "davos": ("davos", 0),
    "devon": ("devon", 0), "glasgow": ("glasgow", 0), "hawaii": ("hawaii", 0), "imola": ("imola", 0),
    "lajolla": ("lajolla", 0), "lapaz": ("lapaz", 0), "lipari": ("lipari", 0), "lisbon": ("lisbon", 1),
    "managua": ("managua", 1), "navia": ("navia", 0), "nuuk": ("nuuk", 0), "oslo": ("oslo", 0),
    "roma": ("roma", 1), "roma_o": ("romaO", 2), "tofino": ("tofino", 1), "tokyo": ("tokyo", 0),
    "turku": ("turku", 0), "vanimo": ("vanimo", 1), "vik": ("vik", 1), "vik_o": ("vikO", 2),
}


def main():
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "cmcrameri==1.10", "-d", tmp], check=True)
        wheel = zipfile.ZipFile(os.path.join(tmp, [f for f in os.listdir(tmp) if f.endswith(".whl")][0]))
        out = bytearray(b"SSCM") + bytes([len(MAPS)])
        for name, (file, kind) in MAPS.items():
            rows = [line.split() for line in wheel.read(f"cmcrameri/cmaps/{file}.txt").decode().splitlines() if line.strip()]
            assert len(rows) == 256, (file, len(rows))
            out += bytes([len(name)]) + name.encode() + bytes([kind])
            out += bytes(min(255, max(0, round(float(v) * 255))) for row in rows for v in row)
        licence = [n for n in wheel.namelist() if n.endswith("LICENSE.txt")][0]
        os.makedirs(OUT, exist_ok=True)
        for path, data in [("crameri.bin", bytes(out)), ("LICENSE-cmcrameri.txt", wheel.read(licence))]:
            tmp_path = os.path.join(OUT, f".{path}.partial")
            with open(tmp_path, "wb") as f:
                f.write(data)
            os.replace(tmp_path, os.path.join(OUT, path))
        print(f"{len(MAPS)} colormaps, {len(out)} bytes -> {OUT}")


if __name__ == "__main__":
    main()
