"""A streaming writer of one-sheet workbooks (``.xlsx``): the sheet's XML is written row by row
straight into the zip, so memory stays flat whatever the number of rows and a row costs a few
string joins.

The workbook is the one openpyxl's write-only mode would make for the same cells: a number
format per style (made once, shared by every cell using it), a bold header font, typed cells
(numbers and dates as numbers with their format, text as inline strings — never a formula),
column widths, the first row frozen and an autofilter over the data (with its defined name).
``core.exports`` decides what each value becomes; this module only writes the parts.
"""
import re
import zipfile
from datetime import date, datetime

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
SHEET_PATH = "xl/worksheets/sheet1.xml"
COMPRESSION_LEVEL = 1
"""Deflate level of the parts: the sheet compresses ~10 times already at 1, at a fraction of the
time of the default."""
FLUSH_ROWS = 500
"""Rows joined before they are written to the zip."""
_ILLEGAL = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")
"""Characters XML 1.0 cannot hold (openpyxl drops them too)."""
_SHEET_TITLE_BAD = re.compile(r"[\\*?:/\[\]]")
EPOCH = date(1899, 12, 30).toordinal()
"""The ordinal of Excel's day 0 (1899-12-30; serial numbers count days from it)."""

BUILTIN_FORMATS = {"General": 0, "0": 1, "0.00": 2, "#,##0": 3, "#,##0.00": 4, "0%": 9, "0.00%": 10}


def column_letter(index):
    """1 → ``A``, 27 → ``AA``."""
    letters = ""
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def escape(text):
    """Text as XML character data: characters XML cannot hold dropped, ``& < >`` escaped."""
    if not text.isprintable():
        text = _ILLEGAL.sub("", text)
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    return text


def _attribute(text):
    return escape(text).replace('"', "&quot;")


def excel_date(value):
    """A date or naive datetime as Excel's serial number (days since 1899-12-30)."""
    days = value.toordinal() - EPOCH
    if type(value) is datetime:
        seconds = value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6
        if seconds:
            return days + seconds / 86400
    return days


def text_cell(ref, text):
    """An inline-string cell (``text`` already escaped)."""
    return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'


class Workbook:
    """One sheet written row by row::

        book = Workbook(target, "Complaints")
        style = book.style("yyyy-mm-dd")          # before ``start``
        book.start(widths)
        book.row("<c …/><c …/>")                  # the cells' XML, refs included
        book.close(last_column, rows)

    ``target`` is a path or a binary file."""

    def __init__(self, target, sheet_title):
        self.title = _SHEET_TITLE_BAD.sub("_", str(sheet_title))[:31] or "Sheet"
        self.formats = {}  # custom number format → numFmtId
        self.styles = [(0, 0)]  # cellXfs: (numFmtId, fontId); 0 is the default
        self.zip = zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED,
                                   compresslevel=COMPRESSION_LEVEL)
        self.sheet = None
        self.pending, self.rows = [], 0

    def style(self, number_format=None, bold=False):
        """The index of the cell style with ``number_format`` (and the bold font), made once."""
        if number_format is None or number_format == "General":
            fmt = 0
        elif number_format in BUILTIN_FORMATS:
            fmt = BUILTIN_FORMATS[number_format]
        else:
            fmt = self.formats.setdefault(number_format, 164 + len(self.formats))
        key = (fmt, 1 if bold else 0)
        if key not in self.styles:
            self.styles.append(key)
        return self.styles.index(key)

    def start(self, widths, freeze_header=True):
        """Open the sheet: column ``widths`` (one per column, from A) and the frozen first row."""
        self.sheet = self.zip.open(SHEET_PATH, "w", force_zip64=True)
        head = [f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{MAIN_NS}">'
                '<sheetViews><sheetView workbookViewId="0">']
        if freeze_header:
            head.append('<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
                        '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/>')
        head.append('</sheetView></sheetViews><sheetFormatPr baseColWidth="8" defaultRowHeight="15"/>')
        if widths:
            head.append("<cols>")
            head.extend(f'<col min="{i}" max="{i}" width="{width}" customWidth="1"/>'
                        for i, width in enumerate(widths, 1))
            head.append("</cols>")
        head.append("<sheetData>")
        self.sheet.write("".join(head).encode())

    def row(self, cells):
        """Append the next row (its cells' XML)."""
        self.rows += 1
        self.pending.append(f'<row r="{self.rows}">{cells}</row>')
        if len(self.pending) >= FLUSH_ROWS:
            self.flush()

    def flush(self):
        if self.pending:
            self.sheet.write("".join(self.pending).encode())
            self.pending.clear()

    def close(self, columns, autofilter=True):
        """End the sheet (an autofilter over ``columns`` columns and every row written) and write
        the workbook's other parts."""
        self.flush()
        filter_ref = None
        if autofilter and columns:
            filter_ref = f"A1:{column_letter(columns)}{max(self.rows, 1)}"
        tail = "</sheetData>"
        if filter_ref:
            tail += f'<autoFilter ref="{filter_ref}"/>'
        tail += "</worksheet>"
        self.sheet.write(tail.encode())
        self.sheet.close()
        self._parts(filter_ref)
        self.zip.close()

    def abort(self):
        """Close the zip whatever state it is in (the caller deletes the file)."""
        for part in (self.sheet, self.zip):
            try:
                if part is not None:
                    part.close()
            except Exception:  # already broken: nothing more to keep
                pass

    def _parts(self, filter_ref):
        write = self.zip.writestr
        xml = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        write("[Content_Types].xml", xml + (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            '<Override PartName="/xl/styles.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
            '</Types>'))
        write("_rels/.rels", xml + (
            f'<Relationships xmlns="{PKG_REL_NS}">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'))
        write("xl/_rels/workbook.xml.rels", xml + (
            f'<Relationships xmlns="{PKG_REL_NS}">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            'relationships/worksheet" Target="worksheets/sheet1.xml"/>'
            '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            'relationships/styles" Target="styles.xml"/></Relationships>'))
        names = ""
        if filter_ref:
            start, end = filter_ref.split(":")
            absolute = "$" + re.sub(r"(\d+)", r"$\1", start) + ":$" + re.sub(r"(\d+)", r"$\1", end)
            quoted = "'" + self.title.replace("'", "''") + "'"
            names = (f'<definedNames><definedName name="_xlnm._FilterDatabase" localSheetId="0" hidden="1">'
                     f'{escape(quoted)}!{absolute}</definedName></definedNames>')
        write("xl/workbook.xml", xml + (
            f'<workbook xmlns="{MAIN_NS}" xmlns:r="{REL_NS}"><bookViews><workbookView/></bookViews>'
            f'<sheets><sheet name="{_attribute(self.title)}" sheetId="1" r:id="rId1"/></sheets>{names}'
            '<calcPr calcId="124519" fullCalcOnLoad="1"/></workbook>'))
        write("xl/styles.xml", xml + self._styles())

    def _styles(self):
        formats = "".join(f'<numFmt numFmtId="{fmt_id}" formatCode="{_attribute(code)}"/>'
                          for code, fmt_id in self.formats.items())
        xfs = []
        for fmt_id, font in self.styles:
            attrs = f'numFmtId="{fmt_id}" fontId="{font}" fillId="0" borderId="0" xfId="0"'
            if fmt_id:
                attrs += ' applyNumberFormat="1"'
            if font:
                attrs += ' applyFont="1"'
            xfs.append(f"<xf {attrs}/>")
        return (f'<styleSheet xmlns="{MAIN_NS}">'
                + (f'<numFmts count="{len(self.formats)}">{formats}</numFmts>' if self.formats else "")
                + '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
                '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
                '<fills count="2"><fill><patternFill/></fill><fill><patternFill patternType="gray125"/></fill></fills>'
                '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
                '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
                f'<cellXfs count="{len(xfs)}">{"".join(xfs)}</cellXfs>'
                '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
                '</styleSheet>')
