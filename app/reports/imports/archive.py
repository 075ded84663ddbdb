"""What a workbook unpacks to, checked before any parser opens it.

An .xlsx is a zip: a few hundred KB can unpack to gigabytes (one huge repetitive shared string),
and openpyxl holds the shared strings in memory. At upload and again in the job, a workbook's
parts are checked against the ``imports.*`` settings: the sizes the archive declares, each part's
compression ratio, then the bytes actually unpacked, read in chunks and stopped at the limit (a
header may lie).
"""
import os
import zipfile

from flask_babel import gettext as _

from app.core.errors import DomainError, Invalid

MAX_PARTS = 1000
"""Parts an .xlsx may hold (a workbook has a few dozen; a zip of many tiny parts is itself a bomb)."""
RATIO_FLOOR = 1024 * 1024
"""Parts unpacking to less than this are never refused for their compression ratio."""
UNPACK_CHUNK = 1024 * 1024
_EOCD = b"PK\x05\x06"


def archive_limits():
    """``(total bytes, part bytes, ratio)`` an uploaded workbook may unpack to."""
    from app.core import settings

    mb = 1024 * 1024
    return (settings.get("imports.max_uncompressed_mb") * mb, settings.get("imports.max_part_mb") * mb,
            settings.get("imports.max_compression_ratio"))


def _too_large(message):
    return Invalid({"file": [message]}, message=message)


def _declared_parts(fh):
    """The number of parts the archive's end record declares (read before the directory is)."""
    import struct

    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    fh.seek(max(0, size - 65557))
    tail = fh.read()
    at = tail.rfind(_EOCD)
    if at < 0 or len(tail) - at < 22:
        return None
    return struct.unpack("<H", tail[at + 10:at + 12])[0]


def check_archive(fh):
    """Refuse (422, on ``file``) a workbook (a binary file object) that unpacks beyond the limits:
    too many parts, more than ``imports.max_uncompressed_mb`` in all, a part over
    ``imports.max_part_mb``, or a part compressed more than ``imports.max_compression_ratio``
    times. Returns the bytes it unpacked."""
    total_limit, part_limit, ratio_limit = archive_limits()
    invalid = _("The file is not a valid Excel workbook (.xlsx).")
    total_message = _("The workbook unpacks to more than %(mb)s MB; split it into smaller files.",
                      mb=total_limit // (1024 * 1024))
    part_message = _("A part of the workbook unpacks to more than %(mb)s MB; split it into smaller files.",
                     mb=part_limit // (1024 * 1024))
    ratio_message = _("The workbook is compressed far more than a normal workbook (over %(n)s times); "
                      "it was refused.", n=ratio_limit)
    parts = _declared_parts(fh)
    if parts is None:
        raise Invalid({"file": [invalid]}, message=invalid)
    if parts >= min(MAX_PARTS, 0xFFFF):
        message = _("The workbook has too many parts (%(n)s); it is not a normal workbook.", n=parts)
        raise _too_large(message)
    fh.seek(0)
    try:
        with zipfile.ZipFile(fh) as archive:
            infos = archive.infolist()
            # what the archive declares
            if sum(i.file_size for i in infos) > total_limit:
                raise _too_large(total_message)
            for info in infos:
                if info.file_size > part_limit:
                    raise _too_large(part_message)
                if info.file_size > RATIO_FLOOR and info.file_size > ratio_limit * max(info.compress_size, 1):
                    raise _too_large(ratio_message)
            # what it really unpacks to, never reading past a limit
            total = 0
            for info in infos:
                unpacked = 0
                with archive.open(info) as part:
                    while True:
                        chunk = part.read(UNPACK_CHUNK)
                        if not chunk:
                            break
                        unpacked += len(chunk)
                        total += len(chunk)
                        if unpacked > part_limit:
                            raise _too_large(part_message)
                        if total > total_limit:
                            raise _too_large(total_message)
                        if unpacked > RATIO_FLOOR and unpacked > ratio_limit * max(info.compress_size, 1):
                            raise _too_large(ratio_message)
    except DomainError:
        raise
    except Exception as exc:  # a damaged, encrypted or lying archive (bad CRC, zlib error, unknown method)
        raise Invalid({"file": [invalid]}, message=invalid) from exc
    return total


def check_archive_file(path):
    """``check_archive`` on a stored upload (the job checks again before openpyxl opens it)."""
    with open(path, "rb") as fh:
        return check_archive(fh)


