#!/usr/bin/env python3
"""Builds quarry's large benchmark corpus (~100k chunks) from Debian documentation.

Usage: make_large.py PKGROOT DEVDIR OUT [--chars N]

PKGROOT holds python3.11-doc, postgresql-doc-15 and linux-doc-6.1 extracted
with `dpkg-deb -x` (scripts/fetch-large.sh downloads and extracts them);
DEVDIR is corpora/dev (scripts/fetch-devsets.sh). OUT receives one BEIR-style
set like the dev sets:

    docs/*.html          every page, one flat folder, names prefixed by origin
                         (sqlite.lang_vacuum.html, py.library.os.html, ...)
    queries.jsonl        the English dev sets' own questions (sqlite, git, r,
                         gnome-en), each once: their out-of-domain questions
                         are each other's, answerable here, so there are none
    qrels.tsv            their qrels, with the prefixed file names
    manifest.json        provenance, licences and counts

What it is for: load and memory at ~100k chunks (`quarry bench load`,
`quarry bench ann --real`), ingest throughput on a large corpus (`quarry
bench --corpus`), and recall when the dev sets' answers sit among ~80k
chunks of unrelated technical text (Python, PostgreSQL and Linux kernel
documentation) instead of their own small sets.

Only each page's main content is kept (Sphinx's role="main" element, the
DocBook page's content division): sidebars, headers and footers repeat on
every page and would be indexed thousands of times. Python and PostgreSQL go
in whole; kernel pages follow in sorted order until the text reaches --chars
(default 50,000,000 characters, which quarry's 256-token chunker turns into
about 100,000 chunks; the dev sets measure ~500 characters per chunk).

Standard library only; deterministic (sorted inputs).
"""

import html
import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

SOURCES = [
    # prefix, package, folder under the package, provenance, licence
    (
        "py",
        "python3.11-doc",
        "usr/share/doc/python3.11/html",
        "Debian python3.11-doc: the Python 3.11 documentation (Sphinx HTML)",
        "PSF License Version 2",
    ),
    (
        "pg",
        "postgresql-doc-15",
        "usr/share/doc/postgresql-doc-15/html",
        "Debian postgresql-doc-15: the PostgreSQL 15 manual (DocBook HTML)",
        "PostgreSQL Licence",
    ),
    (
        "linux",
        "linux-doc-6.1",
        "usr/share/doc/linux-doc-6.1/html",
        "Debian linux-doc-6.1: the Linux kernel documentation (Sphinx HTML)",
        "GPL-2.0 (kernel documentation)",
    ),
]
DEV_SETS = ["sqlite", "git", "r", "gnome-en"]
# Generated indexes: lists of links, no prose.
SKIP = {"contents.html", "search.html", "py-modindex.html", "bookindex.html"}


def text_chars(fragment):
    fragment = re.sub(r"(?s)<(script|style)\b.*?</\1>", " ", fragment)
    return len(re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", fragment))).strip())


class MainContent(HTMLParser):
    """Start and end offsets of a page's main content element: the element
    with role="main", else (DocBook) the first division under <body> that is
    not its navigation header or footer."""

    def __init__(self, source, docbook):
        super().__init__(convert_charrefs=True)
        self.docbook = docbook
        self.lines = [0]
        for line in source.splitlines(keepends=True):
            self.lines.append(self.lines[-1] + len(line))
        self.stack = []
        self.target = None  # (tag, depth)
        self.span = None
        self.start_at = None

    def position(self):
        line, col = self.getpos()
        return self.lines[line - 1] + col

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if self.target is None and self.span is None:
            docbook = (
                self.docbook
                and tag == "div"
                and self.stack == ["html", "body"]
                and attrs.get("class") not in ("navheader", "navfooter")
            )
            if attrs.get("role") == "main" or docbook:
                self.target = (tag, len(self.stack))
                self.start_at = self.position() + len(self.get_starttag_text() or "")
        if tag not in ("br", "img", "hr", "meta", "link", "input", "col", "wbr", "area"):
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag not in self.stack:
            return
        while self.stack:
            top = self.stack.pop()
            if self.target and top == self.target[0] and len(self.stack) == self.target[1]:
                self.span = (self.start_at, self.position())
                self.target = None
            if top == tag:
                break


def main_content(source):
    parser = MainContent(source, docbook='content="DocBook' in source)
    try:
        parser.feed(source)
        parser.close()
    except Exception:  # malformed page: keep it whole rather than drop it
        return source
    if parser.span:
        return source[parser.span[0] : parser.span[1]]
    return source


def title_of(source):
    m = re.search(r"(?is)<title>(.*?)</title>", source)
    return re.sub(r"\s+", " ", html.unescape(m.group(1))).strip() if m else ""


def page(title, body):
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head>\n<body>\n{body}\n</body></html>\n"
    )


def main():
    args = sys.argv[1:]
    budget = 50_000_000
    if "--chars" in args:
        i = args.index("--chars")
        budget = int(args[i + 1])
        del args[i : i + 2]
    pkgroot, devdir, out = (Path(a) for a in args)
    docs = out / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    for old in docs.glob("*.html"):
        old.unlink()
    total = 0
    counts = {}
    queries, qrels = [], []
    for name in DEV_SETS:
        d = devdir / name
        for p in sorted((d / "docs").glob("*.html")):
            text = p.read_text(encoding="utf-8", errors="replace")
            (docs / f"{name}.{p.name}").write_text(text, encoding="utf-8")
            total += text_chars(text)
            counts[name] = counts.get(name, 0) + 1
        # Each set's out-of-domain questions are the other sets' questions,
        # answerable here: keep every question once, under its own set.
        for line in (d / "queries.jsonl").read_text(encoding="utf-8").splitlines():
            if line.strip() and json.loads(line)["_id"].startswith(name + "-"):
                queries.append(line)
        for line in (d / "qrels.tsv").read_text(encoding="utf-8").splitlines()[1:]:
            q, doc, score = line.split("\t")
            qrels.append(f"{q}\t{name}.{doc}\t{score}")
    sources = []
    for prefix, package, folder, provenance, licence in SOURCES:
        base = pkgroot / package / folder
        files = sorted(
            p
            for p in base.rglob("*.html")
            if p.name not in SKIP
            and not p.name.startswith("genindex")
            and not any(part.startswith("_") for part in p.parts)
        )
        n = 0
        for p in files:
            if total >= budget:
                break
            source = p.read_text(encoding="utf-8", errors="replace")
            body = main_content(source)
            chars = text_chars(body)
            if chars < 200:  # redirects, empty index pages
                continue
            rel = p.relative_to(base).with_suffix("").as_posix().replace("/", ".")
            (docs / f"{prefix}.{rel}.html").write_text(page(title_of(source), body), encoding="utf-8")
            total += chars
            n += 1
        counts[prefix] = n
        sources.append({"prefix": prefix, "provenance": provenance, "licence": licence, "pages": n, "of": len(files)})
    (out / "queries.jsonl").write_text("\n".join(queries) + "\n", encoding="utf-8")
    (out / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\n" + "\n".join(qrels) + "\n", encoding="utf-8")
    manifest = {
        "name": "large",
        "documents": sum(counts.values()),
        "text_characters": total,
        "questions": len(queries),
        "answerable": len({r.split("\t")[0] for r in qrels}),
        "dev_sets": DEV_SETS,
        "sources": sources,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    print(
        f"large: {manifest['documents']} documents, {total:,} characters of text "
        f"(~{total // 500:,} chunks), {len(queries)} questions; "
        + ", ".join(f"{k} {v}" for k, v in counts.items())
    )


if __name__ == "__main__":
    main()
