"""A worker's peak memory reading the largest workbook an import accepts, and the bomb it refuses.

Each case runs in a child process that does what the import job does with a stored upload
(``reports.imports.read_workbook``: the archive check, then openpyxl in read-only mode, every row
read) and reports its peak RSS (``resource.getrusage``), its RSS before reading, and the time.

Cases (limits: the ``imports.*`` settings' defaults and ``IMPORT_MAX_MB``):

* ``upload-limit`` — a genuine workbook of varied text, ``MAX_ROWS`` rows, as wide as fits in the
  upload limit (about 10 MB compressed);
* ``unpacked-limit`` — at the unpacked limits: a shared-strings part and a sheet just under the
  part limit each, together just under the total limit, compressed under the ratio limit
  (a few MB on disk) — the most a worker can be made to parse;
* ``bomb`` — 300 MB of shared strings in a few hundred KB: refused by the check;
* ``bomb-unguarded`` (``--unguarded``) — the same bomb handed straight to openpyxl, as before the check.

Usage (from the repository root)::

    .venv/bin/python bench/xlsx_memory.py
    .venv/bin/python bench/xlsx_memory.py --unguarded     # also the bomb without the check (~0.75 GB)

The last line printed is a JSON summary for scripts.
"""
import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
MB = 1024 * 1024
NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG = "http://schemas.openxmlformats.org/package/2006/relationships"

CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    '</Types>')
ROOT_RELS = (f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PKG}">'
             f'<Relationship Id="rId1" Type="{REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>')
WORKBOOK = (f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{NS}" xmlns:r="{REL}"><sheets>'
            '<sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>')
WORKBOOK_RELS = (f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PKG}">'
                 f'<Relationship Id="rId1" Type="{REL}/worksheet" Target="worksheets/sheet1.xml"/>'
                 f'<Relationship Id="rId2" Type="{REL}/sharedStrings" Target="sharedStrings.xml"/>'
                 '</Relationships>')


def _column(index):
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def write_workbook(path, header, rows, cols, strings, cell_string):
    """An .xlsx streamed part by part: ``strings`` shared strings (``header`` first, then
    ``strings(i)``), a sheet of ``rows`` data rows × ``cols`` columns whose cell ``(r, c)`` holds
    shared string ``cell_string(r, c)``. Returns ``(bytes on disk, bytes unpacked)``."""
    count = len(header) + strings.count
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("_rels/.rels", ROOT_RELS)
        archive.writestr("xl/workbook.xml", WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        with archive.open("xl/sharedStrings.xml", "w") as fh:
            fh.write(f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{NS}" count="{count}" '
                     f'uniqueCount="{count}">'.encode())
            buffer = []
            for text in header:
                buffer.append(f"<si><t>{text}</t></si>")
            for i in range(strings.count):
                buffer.append(f"<si><t>{strings(i)}</t></si>")
                if len(buffer) >= 10000:
                    fh.write("".join(buffer).encode())
                    buffer = []
            fh.write(("".join(buffer) + "</sst>").encode())
        with archive.open("xl/worksheets/sheet1.xml", "w") as fh:
            fh.write(f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{NS}"><sheetData>'.encode())
            letters = [_column(c) for c in range(max(cols, len(header)))]
            fh.write(('<row r="1">' + "".join(f'<c r="{letters[c]}1" t="s"><v>{c}</v></c>'
                                              for c in range(len(header))) + "</row>").encode())
            for r in range(rows):
                n = r + 2
                cells = "".join(f'<c r="{letters[c]}{n}" t="s"><v>{len(header) + cell_string(r, c)}</v></c>'
                                for c in range(cols))
                fh.write(f'<row r="{n}">{cells}</row>'.encode())
            fh.write(b"</sheetData></worksheet>")
    with zipfile.ZipFile(path) as archive:
        unpacked = sum(i.file_size for i in archive.infolist())
    return os.path.getsize(path), unpacked


class Strings:
    def __init__(self, count, make):
        self.count, self._make = count, make

    def __call__(self, i):
        return self._make(i)


def _random_text(seed, length):
    rng = random.Random(seed)
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
    return "".join(rng.choice(alphabet) for _ in range(length))


def build_cases(folder, header, limits):
    """``{name: (path, on disk, unpacked)}``."""
    from app.reports.imports import MAX_ROWS

    upload_limit, total_limit, part_limit, ratio = limits
    cases = {}
    # 1. at the upload limit: MAX_ROWS rows of random text, as many columns as fit
    cols = 24
    while True:
        path = os.path.join(folder, f"upload-{cols}.xlsx")
        rng_cells = MAX_ROWS * cols
        on_disk, unpacked = write_workbook(path, header, MAX_ROWS, cols, Strings(rng_cells, lambda i: _random_text(i, 12)),
                                           lambda r, c, cols=cols: r * cols + c)
        if on_disk > upload_limit or unpacked > total_limit:
            os.remove(path)
            cols = int(cols * 0.9)
            continue
        if on_disk > upload_limit * 0.9:
            cases["upload-limit"] = (path, on_disk, unpacked)
            break
        os.remove(path)
        cols = int(cols * min(1.5, upload_limit * 0.95 / on_disk))
    # 2. at the unpacked limits: two parts just under the part limit, together under the total
    part = min(part_limit, total_limit // 2) - MB
    strings = part // len("<si><t>客户-0000000</t></si>".encode())  # short unique strings: most objects
    sst = Strings(strings, lambda i: f"客户-{i:07d}")
    cell_bytes = len('<c r="ABC10001" t="s"><v>1234567</v></c>')
    cols = min(16384, part // (MAX_ROWS * cell_bytes))
    path = os.path.join(folder, "unpacked-limit.xlsx")
    on_disk, unpacked = write_workbook(path, header, MAX_ROWS, cols, sst,
                                       lambda r, c, cols=cols, n=strings: (r * cols + c) % n)
    cases["unpacked-limit"] = (path, on_disk, unpacked)
    # 3. the bomb
    path = os.path.join(folder, "bomb.xlsx")
    chunk = b"A" * MB
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("_rels/.rels", ROOT_RELS)
        archive.writestr("xl/workbook.xml", WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        with archive.open("xl/worksheets/sheet1.xml", "w") as fh:
            fh.write(f'<worksheet xmlns="{NS}"><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c></row>'
                     '</sheetData></worksheet>'.encode())
        with archive.open("xl/sharedStrings.xml", "w") as fh:
            fh.write(f'<sst xmlns="{NS}" count="1" uniqueCount="1"><si><t>'.encode())
            for _ in range(300):
                fh.write(chunk)
            fh.write(b"</t></si></sst>")
    with zipfile.ZipFile(path) as archive:
        cases["bomb"] = (path, os.path.getsize(path), sum(i.file_size for i in archive.infolist()))
    return cases


# --- the child: one worker reading one workbook ---------------------------------------------------

def _rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def child(path, guarded):
    from app import create_app

    tmp = tempfile.mkdtemp(prefix="xlsx-bench-")
    app = create_app("development", overrides={
        "SQLALCHEMY_DATABASE_URI": "sqlite:///" + os.path.join(tmp, "bench.sqlite"),
        "RATELIMIT_STORAGE_URI": "memory://", "UPLOAD_FOLDER": os.path.join(tmp, "uploads"),
        "EMBEDDED_REDIS_FILE": os.path.join(tmp, "redis.rdb")})
    with app.app_context():
        from flask_babel import force_locale

        from app.core.errors import DomainError
        from app.core.settings import DEFINITIONS
        from app.reports import imports

        # the settings' defaults, without a database
        imports.archive_limits = lambda: (DEFINITIONS["imports.max_uncompressed_mb"].default * MB,
                                          DEFINITIONS["imports.max_part_mb"].default * MB,
                                          DEFINITIONS["imports.max_compression_ratio"].default)
        if not guarded:
            imports.check_archive_file = lambda p: 0
        spec = imports.spec_for("engineer")
        before = _rss_mb()
        started = time.perf_counter()
        outcome, rows = "read", 0
        with force_locale("zh"):
            try:
                sheet = imports.read_workbook(spec, path)
                rows = len(sheet.rows)
            except DomainError as exc:
                outcome = f"refused: {exc.message}"
        elapsed = time.perf_counter() - started
    print(json.dumps({"outcome": outcome, "rows": rows, "rss_before_mb": round(before, 1),
                      "peak_rss_mb": round(_rss_mb(), 1), "seconds": round(elapsed, 2)}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--unguarded", action="store_true", help="also parse the bomb without the check")
    parser.add_argument("--child", nargs=2, metavar=("PATH", "GUARDED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child[0], args.child[1] == "1")

    from app import create_app

    tmp = tempfile.mkdtemp(prefix="xlsx-bench-")
    app = create_app("development", overrides={
        "SQLALCHEMY_DATABASE_URI": "sqlite:///" + os.path.join(tmp, "bench.sqlite"),
        "RATELIMIT_STORAGE_URI": "memory://", "UPLOAD_FOLDER": os.path.join(tmp, "uploads"),
        "EMBEDDED_REDIS_FILE": os.path.join(tmp, "redis.rdb")})
    with app.app_context():
        from flask_babel import force_locale

        from app.core.settings import DEFINITIONS
        from app.reports import imports

        limits = (imports.max_upload_bytes(), DEFINITIONS["imports.max_uncompressed_mb"].default * MB,
                  DEFINITIONS["imports.max_part_mb"].default * MB,
                  DEFINITIONS["imports.max_compression_ratio"].default)
        with force_locale("zh"):
            header = [str(c.label) for c in imports.spec_for("engineer").columns]
        cases = build_cases(tmp, header, limits)
    runs = [(name, path, True) for name, (path, _d, _u) in cases.items()]
    if args.unguarded:
        runs.append(("bomb-unguarded", cases["bomb"][0], False))
    summary = {"limits_mb": {"upload": limits[0] // MB, "unpacked": limits[1] // MB, "part": limits[2] // MB,
                             "ratio": limits[3]}, "cases": {}}
    for name, path, guarded in runs:
        _path, on_disk, unpacked = cases["bomb" if name == "bomb-unguarded" else name]
        result = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", path, "1" if guarded else "0"],
                                capture_output=True, text=True, cwd=ROOT)
        lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
        if result.returncode != 0 or not lines:
            print(f"{name}: the child failed\n{result.stderr[-2000:]}")
            continue
        measured = json.loads(lines[-1])
        measured.update(on_disk_mb=round(on_disk / MB, 2), unpacked_mb=round(unpacked / MB, 1))
        summary["cases"][name] = measured
        print(f"{name:15s} {measured['on_disk_mb']:7.2f} MB on disk, {measured['unpacked_mb']:7.1f} MB unpacked: "
              f"{measured['outcome'][:60]}, {measured['rows']} rows, peak RSS {measured['peak_rss_mb']:.0f} MB "
              f"(before reading {measured['rss_before_mb']:.0f} MB), {measured['seconds']:.1f}s")
    print(json.dumps(summary, ensure_ascii=False))


if __name__ == "__main__":
    main()
