#!/usr/bin/env python3
"""Writes a Sentry source bundle (what `sentry-cli difutil bundle-sources`
makes): the SYSB header, then a zip of the sources under files/ with a
manifest.json naming the path each has in the debug information and the
identifiers of the object they belong to.

usage: bundle-sources.py OUT CODE_ID DEBUG_ID OBJECT_NAME ABS_PATH=FILE...
"""
import json
import sys
import zipfile
import io

out, code_id, debug_id, name = sys.argv[1:5]
buf = io.BytesIO()
files = {}
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
    for arg in sys.argv[5:]:
        abs_path, local = arg.split("=", 1)
        entry = "files/" + abs_path.lstrip("/")
        info = zipfile.ZipInfo(entry, date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        with open(local, "rb") as f:
            z.writestr(info, f.read())
        files[entry] = {"type": "source", "path": abs_path}
    manifest = {"files": files, "code_id": code_id, "debug_id": debug_id, "object_name": name}
    info = zipfile.ZipInfo("manifest.json", date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    z.writestr(info, json.dumps(manifest, sort_keys=True))
with open(out, "wb") as f:
    f.write(b"SYSB\x02\x00\x00\x00" + buf.getvalue())
