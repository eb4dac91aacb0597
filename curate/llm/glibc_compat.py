"""Make llama-cpp-py-sync's prebuilt llama.cpp libraries load on glibc older than 2.38.

The wheels on PyPI are built on a glibc-2.38 system and say so only through four symbols:
``__isoc23_strtol``, ``__isoc23_strtoul``, ``__isoc23_strtoull`` and ``__isoc23_sscanf`` (the C23
variants, which differ from the classic ones only in parsing ``0b`` binary prefixes; llama.cpp
never feeds them such strings). On Debian 12 (glibc 2.36) ``dlopen`` then fails with
"version `GLIBC_2.38' not found".

``patched_library_dir`` copies the libraries to a cache folder and rewrites, in the copies only:

* each ``__isoc23_X`` dynamic symbol's name offset so it reads ``X`` (the name is a suffix of the
  old one in the string table, so no bytes move), and
* the ``GLIBC_2.38`` version requirement so it names ``GLIBC_2.2.5``, the version of the classic
  functions on x86-64 (its string is already in the table; the ELF hash is recomputed).

The installed package is never modified. ``$ORIGIN`` RUNPATHs make the copies find each other.
"""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

from curate.errors import BackendError

_PREFIX = b"__isoc23_"
_OLD, _NEW = b"GLIBC_2.38", b"GLIBC_2.2.5"
_SHT_DYNSYM, _SHT_VERNEED = 11, 0x6FFFFFFE


def elf_hash(name: bytes) -> int:
    h = 0
    for c in name:
        h = ((h << 4) + c) & 0xFFFFFFFF
        g = h & 0xF0000000
        if g:
            h ^= g >> 24
        h &= ~g & 0xFFFFFFFF
    return h


def _sections(data: bytearray) -> list[tuple[int, int, int, int]]:
    """(type, offset, size, link) of every section header of a 64-bit little-endian ELF."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise BackendError("glibc compat: not a 64-bit little-endian ELF file")
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    out = []
    for i in range(shnum):
        base = shoff + i * shentsize
        sh_type = struct.unpack_from("<I", data, base + 4)[0]
        offset, size = struct.unpack_from("<QQ", data, base + 24)
        link = struct.unpack_from("<I", data, base + 40)[0]
        out.append((sh_type, offset, size, link))
    return out


def _cstr(data: bytearray, at: int) -> bytes:
    return bytes(data[at:data.index(b"\0", at)])


def patch_elf(data: bytearray) -> int:
    """Rewrite the glibc-2.38 references in place; return how many entries changed."""
    secs = _sections(data)
    changed = 0
    for sh_type, offset, size, link in secs:
        if sh_type != _SHT_DYNSYM:
            continue
        _, str_off, str_size, _ = secs[link]
        for at in range(offset, offset + size, 24):
            name = struct.unpack_from("<I", data, at)[0]
            shndx = struct.unpack_from("<H", data, at + 6)[0]
            if shndx == 0 and _cstr(data, str_off + name).startswith(_PREFIX):
                struct.pack_into("<I", data, at, name + len(_PREFIX))  # "__isoc23_strtol" → "strtol"
                changed += 1
        strtab = bytes(data[str_off:str_off + str_size])
        new_name = strtab.find(b"\0" + _NEW + b"\0")
        for vsec_type, voff, _, _ in secs:
            if vsec_type == _SHT_VERNEED:
                changed += _patch_verneed(data, voff, str_off, new_name)
    return changed


def _patch_verneed(data: bytearray, voff: int, str_off: int, new_name: int) -> int:
    changed = 0
    need = voff
    while True:
        cnt, _file, aux, nxt = struct.unpack_from("<HIII", data, need + 2)
        a = need + aux
        for _ in range(cnt):
            name = struct.unpack_from("<I", data, a + 8)[0]
            if _cstr(data, str_off + name) == _OLD:
                if new_name < 0:
                    raise BackendError("glibc compat: the library has no GLIBC_2.2.5 string to point at")
                struct.pack_into("<I", data, a, elf_hash(_NEW))
                struct.pack_into("<I", data, a + 8, new_name + 1)
                changed += 1
            a += struct.unpack_from("<I", data, a + 12)[0]
        if not nxt:
            return changed
        need += nxt


def patched_library_dir(src: Path, dest: Path) -> Path:
    """Copy every shared library of ``src`` to ``dest`` with the glibc-2.38 references rewritten."""
    marker = dest / ".patched"
    if marker.exists():
        return dest
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for f in sorted(src.iterdir()):
        if ".so" not in f.name or not f.is_file():
            continue
        data = bytearray(f.read_bytes())
        if data[:4] == b"\x7fELF":
            patch_elf(data)
        (tmp / f.name).write_bytes(bytes(data))
        (tmp / f.name).chmod(0o755)
    (tmp / ".patched").write_text("ok")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return dest
