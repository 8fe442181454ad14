#!/usr/bin/env python3
"""Writes cabinet files with what gcab does not write: reserved areas,
several folders of different methods, MSZIP blocks that end in a sync flush
or in a final block, blocks without checksums, UTF-8 names, empty cabinets.

    mkcab.py OUT.cab SPEC.json

SPEC: {"header_reserve": n, "folder_reserve": n, "data_reserve": n,
       "folders": [{"method": "none"|"mszip", "block": size, "final": bool,
                    "checksums": bool, "files": [[name, path], ...]}],
       "set_id": n, "checksum_reserve": bool}

Checksums cover a block's reserved area as MS-CAB says (checksum_reserve,
the default) or leave it out as libmspack and gcab do.

The MSZIP writer follows MS-CAB: each block is "CK" followed by a raw
deflate stream of at most 32768 bytes of input, compressed with the
previous 32 KiB of the folder's data as preset dictionary.
"""
import json
import struct
import sys
import zlib


def checksum(data, seed=0):
    csum = seed
    n = len(data) // 4 * 4
    for i in range(0, n, 4):
        csum ^= struct.unpack_from("<I", data, i)[0]
    tail = 0
    for b in data[n:]:
        tail = (tail << 8) | b
    return csum ^ tail


def blocks(data, method, size, final):
    out = []
    window = b""
    for i in range(0, max(len(data), 1), size):
        chunk = data[i:i + size]
        if not chunk and data:
            break
        if method == "none":
            out.append((chunk, len(chunk)))
            continue
        if window:
            z = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, window)
        else:
            z = zlib.compressobj(9, zlib.DEFLATED, -15)
        packed = z.compress(chunk) + z.flush(zlib.Z_FINISH if final else zlib.Z_SYNC_FLUSH)
        out.append((b"CK" + packed, len(chunk)))
        window = (window + chunk)[-32768:]
    return out


def main():
    out_path, spec_path = sys.argv[1], sys.argv[2]
    spec = json.load(open(spec_path))
    hres, fres, dres = spec.get("header_reserve", 0), spec.get("folder_reserve", 0), spec.get("data_reserve", 0)
    reserve = hres or fres or dres
    folders = spec["folders"]

    files = []  # (name bytes, size, offset, folder index, attribs)
    datas = []
    for fi, folder in enumerate(folders):
        stream = b""
        for name, path in folder["files"]:
            content = open(path, "rb").read()
            raw = name.encode("utf-8")
            attribs = 0x20 | (0x80 if any(c > 127 for c in raw) else 0)
            files.append((raw, len(content), len(stream), fi, attribs))
            stream += content
        datas.append(blocks(stream, folder["method"], folder.get("block", 32768), folder.get("final", True)))

    header_len = 36 + (4 + hres if reserve else 0)
    folders_len = len(folders) * (8 + fres)
    files_len = sum(16 + len(f[0]) + 1 for f in files)
    off = header_len + folders_len + files_len
    folder_entries = b""
    data_area = b""
    for fi, folder in enumerate(folders):
        typ = {"none": 0, "mszip": 1}[folder["method"]]
        folder_entries += struct.pack("<IHH", off + len(data_area), len(datas[fi]), typ) + bytes(range(fres))
        for packed, unpacked in datas[fi]:
            res = bytes((7 * i) & 0xff for i in range(dres))
            csum = 0
            if folder.get("checksums", True):
                covered = res + packed if spec.get("checksum_reserve", True) else packed
                csum = checksum(struct.pack("<HH", len(packed), unpacked), checksum(covered))
            data_area += struct.pack("<IHH", csum, len(packed), unpacked) + res + packed
    file_entries = b""
    for raw, size, offset, fi, attribs in files:
        # 2024-02-29 13:37:58
        date = (2024 - 1980) << 9 | 2 << 5 | 29
        time = 13 << 11 | 37 << 5 | 58 // 2
        file_entries += struct.pack("<IIHHHH", size, offset, fi, date, time, attribs) + raw + b"\0"

    total = header_len + folders_len + files_len + len(data_area)
    flags = 4 if reserve else 0
    header = struct.pack("<4sIIIIIBBHHHHH", b"MSCF", 0, total, 0, header_len + folders_len, 0, 3, 1,
                         len(folders), len(files), flags, spec.get("set_id", 0), 0)
    if reserve:
        header += struct.pack("<HBB", hres, fres, dres) + bytes((3 * i) & 0xff for i in range(hres))
    with open(out_path, "wb") as f:
        f.write(header + folder_entries + file_entries + data_area)


main()
