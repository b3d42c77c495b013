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

# A docx whose document.xml entry is damaged (its CRC no longer matches):
# docx-rs unwraps that read and panicked inside (#20, hole 11).
src = zipfile.ZipFile("../formats/docx/whentouse.docx")
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
    for info in src.infolist():
        z.writestr(info.filename, src.read(info.filename))
raw = bytearray(buf.getvalue())
info = zipfile.ZipFile(io.BytesIO(bytes(raw))).getinfo("word/document.xml")
at = info.header_offset + 30 + len(info.filename) + len(info.extra) + info.file_size // 2
raw[at:at + 16] = b"#" * 16
open("damaged-entry.docx", "wb").write(bytes(raw))

# A PDF whose page names a font object the file lacks: pdf-extract's
# maybe_deref panicked with "missing object reference" (#20, hole 11).
def pdf(objects):
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for o in offsets:
        out += b"%010d 00000 n \n" % o
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)
text = b"BT /F1 12 Tf 72 712 Td (Returns are accepted within thirty days.) Tj ET"
open("dangling-ref.pdf", "wb").write(pdf([
    b"<< /Type /Catalog /Pages 2 0 R >>",
    b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 99 0 R >> >> >>",
    b"<< /Length %d >>\nstream\n" % len(text) + text + b"\nendstream",
]))
