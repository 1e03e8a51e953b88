"""How much an uploaded borrower or payment file may hold: the one place for the web upload, the
JSON API and the importer.

Why it looks like this: the size a file *declares* costs nothing to forge. A 1.5 KB XLSX whose sheet
says `A1:ZZ300000` made openpyxl produce 300,000 padded rows (1.7 GB, 15 s) before the importer
could refuse it, and web uploads had no row cap while the API capped at 10,000. So the caps apply
while reading, to what is actually there: the bytes uploaded (`MAX_BYTES`), the bytes an XLSX
unpacks to (`MAX_UNPACKED_BYTES`, from the zip directory; zipfile never inflates past the declared
size), the lines read after the header, blank ones included (`MAX_ROWS`, so a far-away cell cannot
make the reader walk a million empty rows) and the columns read (`MAX_COLUMNS`).
"""
from __future__ import annotations

MAX_BYTES = 20 * 1024 * 1024            # an uploaded CSV/XLSX file, and a JSON API request body
MAX_UNPACKED_BYTES = 100 * 1024 * 1024  # an XLSX's parts unpacked
MAX_ROWS = 50_000                       # lines after the header (file), rows (JSON API)
MAX_COLUMNS = 200                       # columns read from a file; keys across a JSON API request
REQUEST_OVERHEAD = 1024 * 1024          # the rest of a multipart form around the file


def megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MB"
