#!/usr/bin/env python3
"""Writes corpora/multilingual/model-check.jsonl: real texts in six languages
for the embedding-model check (scripts/fetch-models.sh embeds them with the
reference forward passes, quarry's tests with the ONNX model).

Usage: make_model_check.py PKGROOT OUT.jsonl

PKGROOT is scripts/fetch-devsets.sh's package folder (.cache/devsets/pkg).
From GNOME help (Debian gnome-user-docs, CC-BY-SA 3.0): for each of en, de,
fr, nl, da, it, the title and the first paragraph of 25 pages (the same pages
in every language), so there are short query-like and longer passage-like
texts. Standard library only; deterministic.
"""

import json
import random
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

MAL = "{http://projectmallard.org/1.0/}"
LANGS = {"en": "C", "de": "de", "fr": "fr", "nl": "nl", "da": "da", "it": "it"}


def flat(el):
    return re.sub(r"\s+", " ", "".join(el.itertext())).strip()


def main():
    pkgroot, out = Path(sys.argv[1]), Path(sys.argv[2])
    base = pkgroot / "gnome-user-docs/usr/share/help"
    stems = sorted(p.stem for p in (base / "C/gnome-help").glob("*.page"))
    random.Random(20261204).shuffle(stems)
    rows = []
    picked = 0
    for stem in stems:
        texts = {}
        for lang, folder in LANGS.items():
            try:
                root = ET.parse(base / folder / "gnome-help" / f"{stem}.page").getroot()
            except (ET.ParseError, FileNotFoundError):
                break
            title = root.find(MAL + "title")
            para = next((flat(p) for p in root.iter(MAL + "p") if len(flat(p)) >= 80), None)
            if title is None or para is None:
                break
            texts[lang] = (flat(title), para)
        if len(texts) != len(LANGS):
            continue
        for lang, (title, para) in texts.items():
            rows.append({"id": f"{stem}-{lang}-q", "language": lang, "kind": "query", "text": title})
            rows.append({"id": f"{stem}-{lang}-p", "language": lang, "kind": "passage", "text": para})
        picked += 1
        if picked == 25:
            break
    with open(out, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"{len(rows)} texts from {picked} pages in {len(LANGS)} languages")


if __name__ == "__main__":
    main()
