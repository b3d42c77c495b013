"""Builds the two sample decks in corpora/formats/pptx/ from SQLite documentation text.

Run: python3 -m pip install python-pptx==1.0.2 && python3 make_pptx.py OUT_DIR
The slide text is taken from the SQLite FAQ and transaction docs (public domain).
"""
import sys
from pptx import Presentation
from pptx.util import Inches

out = sys.argv[1]

def deck(path, title, subtitle, slides):
    prs = Presentation()
    s = prs.slides.add_slide(prs.slide_layouts[0])
    s.shapes.title.text = title
    s.placeholders[1].text = subtitle
    for heading, bullets, notes, table in slides:
        s = prs.slides.add_slide(prs.slide_layouts[1])
        s.shapes.title.text = heading
        body = s.placeholders[1].text_frame
        body.text = bullets[0]
        for b in bullets[1:]:
            body.add_paragraph().text = b
        if table:
            rows, cols = len(table), len(table[0])
            shape = s.shapes.add_table(rows, cols, Inches(0.5), Inches(4.5), Inches(9), Inches(0.4 * rows))
            for r, row in enumerate(table):
                for c, value in enumerate(row):
                    shape.table.cell(r, c).text = value
        if notes:
            s.notes_slide.notes_text_frame.text = notes
    prs.save(path)

deck(f"{out}/sqlite-faq.pptx", "SQLite FAQ", "Answers to the questions users ask most", [
    ("AUTOINCREMENT fields",
     ["A column declared INTEGER PRIMARY KEY will autoincrement.",
      "Inserting NULL into it stores one more than the largest value in the column.",
      "The AUTOINCREMENT keyword additionally prevents reuse of ROWIDs from deleted rows."],
     "Point people at the autoinc page when they ask about gaps in ids.", None),
    ("Datatypes",
     ["SQLite uses dynamic typing: a value's type belongs to the value, not its column.",
      "Columns have a type affinity that values are converted to when possible."],
     "Mention STRICT tables for people who want rigid typing.",
     [["Storage class", "Holds"], ["INTEGER", "signed integers up to 8 bytes"], ["REAL", "8-byte IEEE floats"],
      ["TEXT", "strings in the database encoding"], ["BLOB", "bytes, stored as given"]]),
    ("Concurrent access",
     ["Many processes can read the same database at once.",
      "Only one process can write at a time; writers take an exclusive lock briefly.",
      "In WAL mode readers do not block writers and a writer does not block readers."],
     "", None),
    ("Is SQLite threadsafe?",
     ["SQLite is threadsafe by default (serialized mode).",
      "Compile with SQLITE_THREADSAFE=0 to leave out the mutexes in single-threaded programs."],
     "Threading modes: single-thread, multi-thread, serialized.", None),
])

deck(f"{out}/sqlite-transactions.pptx", "Transactions in SQLite", "BEGIN, COMMIT, ROLLBACK and savepoints", [
    ("Every statement is in a transaction",
     ["Changes happen only inside a transaction.",
      "Without BEGIN, each statement runs in its own automatic transaction that commits when it ends."],
     "The implicit transaction is why a single INSERT is atomic.", None),
    ("Deferred, immediate, exclusive",
     ["DEFERRED starts no transaction until the database is first accessed.",
      "IMMEDIATE starts a write transaction at once.",
      "EXCLUSIVE also keeps other connections from reading, outside WAL mode."],
     "Suggest IMMEDIATE to avoid SQLITE_BUSY when a read is upgraded to a write.",
     [["Kind", "Lock taken at BEGIN"], ["DEFERRED", "none"], ["IMMEDIATE", "RESERVED (write)"],
      ["EXCLUSIVE", "EXCLUSIVE"]]),
    ("Ending a transaction",
     ["COMMIT (or END) makes the changes permanent.",
      "ROLLBACK undoes every change since BEGIN.",
      "An error inside a transaction may roll it back automatically."],
     "", None),
])
