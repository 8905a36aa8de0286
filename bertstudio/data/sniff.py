"""What a file really is, told from its first bytes rather than from its name.

A gzip file renamed to ``.csv`` used to be decoded as Windows-1252 text and "predicted" row by row, and a
workbook saved as ``data.csv`` failed with a parser error. Here compressed files, archives, documents and
images are recognised by their signature and refused with what to do; workbooks and Parquet files are read
as what they are whatever their name says (an ``.xlsx`` is a zip archive holding ``xl/workbook.xml``, so a
zip is only an error when it is not a workbook).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from bertstudio.data.findings import Finding
from bertstudio.errors import DataError

_HEAD_BYTES = 64

# Formats chosen by the file name (see io._FORMATS) that are text, so content decides how they are parsed.
TEXT_FORMATS = ("csv", "tsv", "txt", "jsonl", "json")


@dataclass(frozen=True)
class Refused:
    """A kind of file that is not a table, described for the person who chose it."""

    what: str  # "a gzip-compressed file", completes "'x.csv' is ..."
    hint: str
    not_a_table: bool = True  # the message ends ", not a table." (a protected workbook is one, just locked)


_DECOMPRESS = "Decompress it first (double-click it, or use your archive program), then choose the file inside."
_RESAVE = "Open it in the program that made it and save or export the table as CSV (UTF-8) or Excel (.xlsx)."

# Signatures at offset 0, longest first where one is a prefix of another.
_SIGNATURES: tuple[tuple[bytes, Refused | str], ...] = (
    (b"\x1f\x8b", Refused("a gzip-compressed file (.gz)", _DECOMPRESS)),
    (b"\xfd7zXZ\x00", Refused("an xz-compressed file (.xz)", _DECOMPRESS)),
    (b"\x28\xb5\x2f\xfd", Refused("a zstd-compressed file (.zst)", _DECOMPRESS)),
    (b"7z\xbc\xaf\x27\x1c", Refused("a 7-Zip archive (.7z)", _DECOMPRESS)),
    (b"Rar!\x1a\x07", Refused("a RAR archive (.rar)", _DECOMPRESS)),
    (b"%PDF-", Refused("a PDF document", _RESAVE)),
    (b"\x89PNG\r\n\x1a\n", Refused("a PNG image", _RESAVE)),
    (b"\xff\xd8\xff", Refused("a JPEG image", _RESAVE)),
    (b"GIF8", Refused("a GIF image", _RESAVE)),
    (b"SQLite format 3\x00", Refused("an SQLite database", _RESAVE)),
)
# The old binary Office container (OLE2 / Compound File): an .xls workbook, or an .xlsx saved with a password.
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Excel saves a password-protected .xlsx as an OLE2 container whose streams are named these (UTF-16 names in
# directory entries of 128 bytes, which start at multiples of 128 in the file).
_ENCRYPTED_STREAMS = tuple(name.encode("utf-16-le") + b"\x00\x00" for name in ("EncryptedPackage", "EncryptionInfo"))
_OLE2_ENTRY = 128
_SCAN_CHUNK = 1 << 20
PASSWORD_PROTECTED = Refused(
    "password-protected: an Excel workbook that cannot be read without its password",
    "Open it in Excel, remove the password (File > Info > Protect Workbook > Encrypt with Password, clear the "
    "password) and save it again, or save a copy as CSV.", not_a_table=False)
_ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_BZIP2 = b"BZh"  # followed by the block size digit and the block magic; "BZh" alone can start a text
_BZIP2_BLOCK = b"1AY&SY"
_PARQUET = b"PAR1"  # at both ends of a Parquet file
_HTML = (b"<!doctype html", b"<html")

_FORMAT_NAMES = {"excel": "an Excel workbook", "parquet": "a Parquet file"}


def sniff_format(file: Path, named: str) -> tuple[str, list[Finding]]:
    """The format to read ``file`` as: ``named`` (from its extension) unless the content says otherwise.

    Returns the format and a note when the content overruled the name; raises DataError for anything that
    is not a table (compressed files, archives, documents, images, a damaged workbook).
    """
    found = content_kind(file)
    if found is None:
        if named in TEXT_FORMATS:
            return named, []
        # A "workbook" that is plain text: web exports often name CSV or TSV files .xls.
        return "txt", [_renamed_note(file, "plain text", "delimited text")]
    if found == named:
        return named, []
    return found, [_renamed_note(file, _FORMAT_NAMES[found], _FORMAT_NAMES[found])]


def content_kind(file: Path) -> str | None:
    """What the first and last bytes of ``file`` say it is ("excel", "parquet", None for text or unknown);
    raises DataError for what is not a table (compressed files, archives, documents, images)."""
    with file.open("rb") as handle:
        head = handle.read(_HEAD_BYTES)
        handle.seek(max(0, file.stat().st_size - len(_PARQUET)))
        tail = handle.read()
    found = _by_signature(head, tail, file)
    if isinstance(found, Refused):
        raise DataError(f"'{file.name}' is {found.what}{', not a table' if found.not_a_table else ''}.",
                        hint=found.hint)
    return found


def _by_signature(head: bytes, tail: bytes, file: Path) -> Refused | str | None:
    """A refusal, a format name ("excel", "parquet"), or None for anything else (text, or unknown binary)."""
    if head.startswith(_ZIP_SIGNATURES):
        return _zip_kind(file)
    if head.startswith(_BZIP2) and head[4:10] == _BZIP2_BLOCK:
        return Refused("a bzip2-compressed file (.bz2)", _DECOMPRESS)
    if head.startswith(_PARQUET) and tail == _PARQUET:
        return "parquet"
    if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:14].lower().startswith(_HTML):
        return Refused("a web page (HTML)", "If it came from a download link, the link may have needed a log-in: "
                       "download the table again as CSV or Excel (.xlsx).")
    if head.startswith(_OLE2):
        return PASSWORD_PROTECTED if is_encrypted_ole2(file) else "excel"
    for signature, kind in _SIGNATURES:
        if head.startswith(signature):
            return kind
    return None


def is_encrypted_ole2(file: Path) -> bool:
    """Whether an OLE2 container holds Excel's encrypted-package streams (it was "read" as an old .xls and
    refused as one, which sent people to re-save a file they could not open without its password).

    The names are looked for at the start of a directory entry only, so a cell of an .xls that happens to hold
    the words does not count; the file is read in chunks, so a big .xls costs no memory.
    """
    overlap = max(len(name) for name in _ENCRYPTED_STREAMS)
    offset, tail = 0, b""
    with file.open("rb") as handle:
        while chunk := handle.read(_SCAN_CHUNK):
            window, start = tail + chunk, offset - len(tail)
            if any(_at_entry_start(window, start, name) for name in _ENCRYPTED_STREAMS):
                return True
            tail, offset = window[-overlap:], offset + len(chunk)
    return False


def _at_entry_start(window: bytes, start: int, name: bytes) -> bool:
    """Whether ``name`` occurs in ``window`` (which begins at file offset ``start``) where an entry begins."""
    found = window.find(name)
    while found >= 0:
        if (start + found) % _OLE2_ENTRY == 0:
            return True
        found = window.find(name, found + 1)
    return False


def _zip_kind(file: Path) -> Refused | str:
    """A zip archive is an Excel workbook when it holds ``xl/workbook.xml``; anything else is refused."""
    try:
        with zipfile.ZipFile(file) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return Refused("a damaged zip archive or Excel workbook (it cannot be opened)",
                       "Open it in Excel or LibreOffice and save it again as .xlsx or CSV; if it came "
                       "by e-mail or download, fetch it again.")
    if any(name.startswith("xl/workbook.") for name in names):
        return "excel"
    if "word/document.xml" in names:
        return Refused("a Word document", "Copy the table into a spreadsheet and save it as CSV or Excel (.xlsx).")
    if "content.xml" in names and "mimetype" in names:
        return Refused("an OpenDocument file (LibreOffice)", "In LibreOffice, save it as CSV or Excel (.xlsx).")
    listed = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    return Refused(f"a zip archive ({len(names)} file{'s' if len(names) != 1 else ''}: {listed})",
                   "Unzip it and choose the CSV or Excel file inside.")


def _renamed_note(file: Path, what: str, read_as: str) -> Finding:
    return Finding("info", "content_not_extension",
                   f"'{file.name}' is really {what} despite its name; it was read as {read_as}.",
                   hint="Nothing to do if the table below looks right; renaming the file avoids the surprise.")
