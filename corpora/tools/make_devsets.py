#!/usr/bin/env python3
"""Builds quarry's retrieval dev sets from documentation shipped in Debian packages.

Usage: make_devsets.py PKGROOT OUT

Sets: sqlite, git, r (English FAQs against their manuals); gnome-LANG for
en, de, fr, nl, da, it (GNOME help questions against the pages in the same
language); gnome-LANG-en for de, fr, nl, da, it (the same questions against
the English pages: cross-lingual retrieval).

PKGROOT holds one folder per package, each the package's files extracted with
`dpkg-deb -x` (scripts/fetch-devsets.sh downloads and extracts them).
OUT receives one folder per dev set, each a BEIR-style set:

    NAME/docs/*.html     what gets indexed (the whole documentation set)
    NAME/queries.jsonl   {"_id", "text"}: real questions taken from the docs
    NAME/qrels.tsv       query-id, corpus-id (a file under docs/), score
    NAME/manifest.json   provenance, licence and counts

The questions are the documentation's own question-style headings (FAQ
questions, GNOME help page titles). They are taken *out* of the indexed
text, with the navigation that repeats them (tables of contents, next/previous
links), so retrieval has to match the answer, not the heading. Score 2 marks
the page or FAQ answer the heading belonged to, score 1 the pages that answer
links to (where its authors point for the full story). Questions without a
qrels row are out of domain (another set's questions, or LibreOffice Calc
help titles for the GNOME sets): the corpus cannot answer them, so the right
decision is to hand off.

Standard library only; deterministic (sorted inputs, fixed-seed sampling).
"""

import html
import json
import random
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

MAL = "{http://projectmallard.org/1.0/}"
IF = "{http://projectmallard.org/experimental/if/}"
UI = "{http://projectmallard.org/1.0/ui/}"


def clean(text):
    text = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", text))).strip()
    return re.sub(r"\s+([?.,!:;)])", r"\1", text)


def read(path):
    return path.read_text(encoding="utf-8", errors="replace")


def page(title, body):
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title></head>\n<body>\n{body}\n</body></html>\n"
    )


def local_links(fragment, names):
    """Corpus files an HTML fragment links to (relative links only)."""
    out = []
    for href in re.findall(r'href="([^"#:]+\.html)(?:#[^"]*)?"', fragment):
        name = href.split("/")[-1]
        if name in names and name not in out:
            out.append(name)
    return out


class DevSet:
    def __init__(self, name, language, provenance, licence):
        self.name = name
        self.language = language
        self.provenance = provenance
        self.licence = licence
        self.docs = {}  # file name -> html text
        self.questions = []  # (id, text, {doc: score})

    def add_doc(self, name, text):
        assert name not in self.docs, name
        self.docs[name] = text

    def add_question(self, qid, text, relevant):
        self.questions.append((qid, text, relevant))

    def add_answer(self, qid, question, name, title, body, linked=()):
        """A FAQ answer as a page of its own (score 2) and its question; the
        pages among `linked` that the answer links to score 1."""
        self.add_doc(name, page(title, body))
        relevant = {name: 2}
        relevant.update({d: 1 for d in local_links(body, linked)})
        self.add_question(qid, question, relevant)

    def answerable(self):
        return [q for q in self.questions if q[2]]

    def write(self, out, off_topic):
        root = out / self.name
        docs = root / "docs"
        if root.exists():
            for p in sorted(root.rglob("*"), reverse=True):
                p.unlink() if p.is_file() else p.rmdir()
        docs.mkdir(parents=True)
        for name, text in sorted(self.docs.items()):
            (docs / name).write_text(text, encoding="utf-8")
        questions = self.questions + [(qid, text, {}) for qid, text in off_topic]
        with open(root / "queries.jsonl", "w", encoding="utf-8") as f:
            for qid, text, _ in questions:
                f.write(json.dumps({"_id": qid, "text": text}, ensure_ascii=False) + "\n")
        with open(root / "qrels.tsv", "w", encoding="utf-8") as f:
            f.write("query-id\tcorpus-id\tscore\n")
            for qid, _, rel in questions:
                for doc, score in sorted(rel.items(), key=lambda x: (-x[1], x[0])):
                    assert doc in self.docs, (qid, doc)
                    f.write(f"{qid}\t{doc}\t{score}\n")
        manifest = {
            "name": self.name,
            "language": self.language,
            "provenance": self.provenance,
            "licence": self.licence,
            "documents": len(self.docs),
            "answerable": len(self.questions),
            "out_of_domain": len(off_topic),
        }
        (root / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        return manifest


# --- SQLite: the FAQ against the whole HTML documentation -----------------


def sqlite_set(pkgroot):
    base = pkgroot / "sqlite3-doc/usr/share/doc/sqlite3"
    s = DevSet(
        "sqlite",
        "en",
        "Debian sqlite3-doc: /usr/share/doc/sqlite3/*.html (top level); faq.html split into one page per answer",
        "public domain",
    )
    files = sorted(p for p in base.glob("*.html") if p.name != "faq.html")
    names = {p.name for p in files}
    for p in files:
        s.add_doc(p.name, read(p))
    faq = read(base / "faq.html")
    toc = dict(re.findall(r'<a href="#q(\d+)">(.*?)</a>', faq, re.S))
    parts = re.split(r'<a name="q(\d+)"></a>', faq)
    for i in range(1, len(parts), 2):
        n, body = parts[i], parts[i + 1]
        body = re.sub(r"<p><b>\(\d+\).*?</b></p>", "", body, count=1, flags=re.S)
        body = body.split('<div class="footer"')[0].split("</body>")[0]
        s.add_answer(
            f"sqlite-faq-{int(n):02d}",
            clean(toc[n]),
            f"faq-q{int(n):02d}.html",
            "SQLite Frequently Asked Questions",
            body,
            names,
        )
    return s


# --- git: gitfaq against the whole git-doc HTML set -------------------------


def dd_blocks(text):
    """(dt text, dd inner html) pairs of the top-level hdlist1 entries."""
    out = []
    for m in re.finditer(r'<dt class="hdlist1">(.*?)</dt>\s*<dd>', text, re.S):
        depth, i = 1, m.end()
        while depth:
            nxt = re.search(r"<(/?)dd>", text[i:])
            depth += -1 if nxt.group(1) else 1
            i += nxt.end()
        out.append((m.group(1), text[m.end() : i - len("</dd>")]))
    return out


def git_set(pkgroot):
    base = pkgroot / "git-doc/usr/share/doc/git-doc"
    s = DevSet(
        "git",
        "en",
        "Debian git-doc: /usr/share/doc/git-doc/**/*.html (pages in howto/ and technical/ named howto-… and technical-…); gitfaq.html split into one page per answer",
        "GPL-2 (git documentation)",
    )
    files = sorted(p for p in base.rglob("*.html") if p.name != "gitfaq.html")
    flat = {p: "-".join(p.relative_to(base).parts) for p in files}
    names = set(flat.values())
    for p, name in flat.items():
        s.add_doc(name, read(p))
    faq = read(base / "gitfaq.html")
    n = 0
    for question, answer in dd_blocks(faq):
        question = clean(question)
        if not question.endswith("?"):
            continue
        n += 1
        s.add_answer(f"git-faq-{n:02d}", question, f"gitfaq-{n:02d}.html", "gitfaq(7)", answer, names)
    return s


# --- R: the R FAQ against the R manuals -------------------------------------


def r_set(pkgroot):
    base = pkgroot / "r-doc-html/usr/share/doc/r-doc-html/manual"
    s = DevSet(
        "r",
        "en",
        "Debian r-doc-html: the R manuals (/usr/share/doc/r-doc-html/manual/*.html); R-FAQ.html split into one page per question",
        "GPL-2+ (R documentation)",
    )
    for p in sorted(base.glob("*.html")):
        if p.name != "R-FAQ.html":
            s.add_doc(p.name, read(p))
    faq = read(base / "R-FAQ.html")
    # Each section: <div class="section" id=…><div class="header">nav</div>
    # <span…></span><h3 class="section">N.M Question?</h3> answer <hr></div>
    for m in re.finditer(
        r'<h3 class="section">([\d.]+) (.*?)</h3>(.*?)(?=<div class="(?:section|chapter|appendix)"|<h2 )',
        faq,
        re.S,
    ):
        number, question, body = m.group(1), clean(m.group(2)), m.group(3)
        if not question.endswith("?"):
            continue
        body = re.sub(r'<ul class="(?:section-toc|mini-toc)">.*?</ul>', "", body, flags=re.S)
        body = re.sub(r'<div class="header">.*?</div>', "", body, flags=re.S)
        s.add_answer(f"r-faq-{number}", question, f"R-FAQ-{number.replace('.', '-')}.html", "R FAQ", body)
    return s


# --- GNOME help (Mallard) in several languages -------------------------------


class Mallard:
    """Mallard page → HTML, without the page title and the <info> block."""

    INLINE = {"gui", "guiseq", "key", "cmd", "app", "sys", "input", "output", "em",
              "var", "file", "span", "link", "code", "hi", "keyseq", "date", "name"}

    def convert(self, root):
        out = []
        for child in root:
            tag = child.tag.replace(MAL, "")
            if tag in ("info", "title"):
                out.append(child.tail or "")
                continue
            out.append(self.node(child, 2))
        return "".join(out)

    def text(self, el):
        return html.escape(el.text or "")

    def children(self, el, level):
        parts = [self.text(el)]
        for c in el:
            parts.append(self.node(c, level))
        return "".join(parts)

    def node(self, el, level):
        tag = el.tag.replace(MAL, "").replace(UI, "ui:").replace(IF, "if:")
        tail = html.escape(el.tail or "")
        if not isinstance(el.tag, str) or tag in ("info", "media", "comment", "links") or tag.startswith("{"):
            return tail
        if tag == "if:choose":
            first = next(iter(el), None)
            return (self.children(first, level) if first is not None else "") + tail
        if tag == "section":
            title = el.find(MAL + "title")
            inner = "".join(
                self.node(c, level + 1) for c in el if c.tag.replace(MAL, "") not in ("title", "info")
            )
            heading = self.children(title, level) if title is not None else ""
            h = min(level, 6)
            return f"<section><h{h}>{heading}</h{h}>{inner}</section>{tail}"
        if tag == "link" and not (el.text or len(el)):
            return tail  # rendered from the target's title in a browser: left out
        if tag == "keyseq":
            keys = [self.children(k, level) for k in el]
            return "+".join(keys) + tail
        if tag in self.INLINE or tag.startswith("if:") or tag.startswith("ui:"):
            return self.children(el, level) + tail
        mapping = {
            "p": "p", "note": "div", "list": "ul", "steps": "ol", "item": "li",
            "terms": "dl", "screen": "pre", "synopsis": "div", "quote": "blockquote",
            "example": "div", "table": "table", "tr": "tr", "td": "td", "th": "th",
            "thead": "thead", "tbody": "tbody", "tree": "ul", "cite": "p",
            "figure": "div", "desc": "p",
        }
        if tag == "title":  # a block's own title (list, note, figure, table)
            return f"<p><b>{self.children(el, level)}</b></p>{tail}"
        if tag == "code" and el.get("mime"):
            return f"<pre>{self.children(el, level)}</pre>{tail}"
        name = mapping.get(tag, "div")
        return f"<{name}>{self.children(el, level)}</{name}>{tail}"


def mallard_title(root):
    t = root.find(MAL + "title")
    return re.sub(r"\s+", " ", "".join(t.itertext())).strip() if t is not None else ""


def gnome_set(pkgroot, lang, dir_name):
    base = pkgroot / f"gnome-user-docs/usr/share/help/{dir_name}/gnome-help"
    s = DevSet(
        f"gnome-{lang}",
        lang,
        f"Debian gnome-user-docs: /usr/share/help/{dir_name}/gnome-help/*.page (Mallard), converted to HTML without page titles and descriptions",
        "CC-BY-SA 3.0 (GNOME documentation)",
    )
    converter = Mallard()
    for p in sorted(base.glob("*.page")):
        try:
            root = ET.parse(p).getroot()
        except ET.ParseError:
            continue
        title = mallard_title(root)
        body = converter.convert(root)
        name = p.stem + ".html"
        if len(clean(body)) < 80:
            continue  # a page of links only
        s.add_doc(name, page("GNOME Help", body))
        if root.get("type", "topic") == "topic" and len(title.split()) >= 3:
            s.add_question(f"gnome-{lang}-{p.stem}", title, {name: 2})
    return s


def cross_lingual_set(pkgroot, lang, dir_name, english):
    """Questions in `lang` (GNOME help page titles) against the English pages:
    a visitor asking in their language, content written in English. Page
    names are the same in every language, so the qrels carry over."""
    own = gnome_set(pkgroot, lang, dir_name)
    s = DevSet(
        f"gnome-{lang}-en",
        f"{lang}->en",
        f"Questions: Debian gnome-user-docs /usr/share/help/{dir_name}/gnome-help page titles; "
        "documents: the English pages (/usr/share/help/C/gnome-help), converted to HTML without titles and descriptions",
        "CC-BY-SA 3.0 (GNOME documentation)",
    )
    s.docs = dict(english.docs)
    for qid, text, relevant in own.questions:
        if all(doc in s.docs for doc in relevant):
            s.add_question(qid, text, relevant)
    return s


def libreoffice_titles(pkgroot, lang):
    """Calc how-to titles in `lang`: out of domain for desktop help."""
    base = pkgroot / f"libreoffice-help-{lang}/usr/share/libreoffice/help/{lang}/text/scalc/guide"
    out = []
    for p in sorted(base.glob("*.html")):
        m = re.search(r"<title>(.*?)</title>", read(p), re.S)
        if m and len(clean(m.group(1)).split()) >= 3:
            out.append((f"lo-{lang}-{p.stem}", clean(m.group(1))))
    return out


def sample(rng, items, n):
    items = sorted(items)
    return sorted(rng.sample(items, min(n, len(items))))


def main():
    pkgroot, out = Path(sys.argv[1]), Path(sys.argv[2])
    rng = random.Random(20261122)
    sets = {
        "sqlite": sqlite_set(pkgroot),
        "git": git_set(pkgroot),
        "r": r_set(pkgroot),
        "gnome-en": gnome_set(pkgroot, "en", "C"),
        "gnome-de": gnome_set(pkgroot, "de", "de"),
        "gnome-fr": gnome_set(pkgroot, "fr", "fr"),
        "gnome-nl": gnome_set(pkgroot, "nl", "nl"),
        "gnome-da": gnome_set(pkgroot, "da", "da"),
        "gnome-it": gnome_set(pkgroot, "it", "it"),
    }
    languages = ("de", "fr", "nl", "da", "it")
    for lang in languages:
        sets[f"gnome-{lang}-en"] = cross_lingual_set(pkgroot, lang, lang, sets["gnome-en"])
    qs = {k: [(q[0], q[1]) for q in v.questions] for k, v in sets.items()}
    tech = ["sqlite", "git", "r"]
    off = {}
    # Each English set: desktop-help titles and the other two tools' questions.
    for k in tech:
        others = [q for o in tech if o != k for q in sample(rng, qs[o], 8)]
        n = max(8, len(sets[k].questions) // 2 - len(others))
        off[k] = sample(rng, qs["gnome-en"], n) + others
    off["gnome-en"] = [q for o in tech for q in sample(rng, qs[o], 25)]
    titles = {lang: libreoffice_titles(pkgroot, lang) for lang in languages}
    # Own-language sets first, de and fr as they always were drawn.
    for lang in languages:
        off[f"gnome-{lang}"] = sample(rng, titles[lang], 75)
    for lang in languages:
        off[f"gnome-{lang}-en"] = sample(rng, titles[lang], 75)
    manifests = [sets[k].write(out, off[k]) for k in sets]
    for m in manifests:
        print(
            f"{m['name']:10} {m['language']}  {m['documents']:4} documents  "
            f"{m['answerable']:4} answerable  {m['out_of_domain']:3} out of domain"
        )


if __name__ == "__main__":
    main()
