"""Builds corpora/hostile/: inputs that must each fail with their own clear error.

Run from corpora/hostile: python3 ../formats/tools/make_hostile.py
(encrypted.pdf: qpdf; encrypted.docx: msoffcrypto-tool; scanned.pdf: LibreOffice; see README.)
"""
import io, struct, zipfile, zlib

def png(w, h):
    raw = b"".join(b"\x00" + bytes([200, 200, 200]) * w for _ in range(h))
    def chunk(t, d):
        c = struct.pack(">I", len(d)) + t + d
        return c + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))

open("png-named.pdf", "wb").write(png(64, 32))
open("page.png", "wb").write(png(600, 300))
open("truncated.pdf", "wb").write(open("../formats/pdf/wal.pdf", "rb").read()[:4000])

buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>')
    z.writestr("word/document.xml", "<w:document>" + " " * (60 * 1024 * 1024) + "</w:document>")
open("zip-bomb.docx", "wb").write(buf.getvalue())

open("invalid-utf8.json", "wb").write(b'{"question": "caf\xe9 hours?", "answer": "\xff\xfe"}')
open("invalid-utf8.txt", "wb").write(b"Our caf\xe9 opens at nine.\n")
open("deep.json", "w").write("[" * 5000 + "]" * 5000)
open("deep.xml", "w").write("<a>" * 5000 + "deep text" + "</a>" * 5000)
open("deep.html", "w").write("<html><body>" + "<div>" * 5000 + "deep text" + "</div>" * 5000 + "</body></html>")
open("truncated.xml", "w").write(open("../formats/xml/iso_15924.xml").read()[:6000])
open("empty.txt", "wb").write(b"")
open("binary.md", "wb").write(bytes(range(256)) * 8)
open("not-a-zip.xlsx", "w").write("this is not a spreadsheet\n")
