"""Reference zip reader and writer: Python's zipfile, independent of Go's
archive/zip. It decodes entry names as the zip reader behind symbolic does
(UTF-8 when the entry says so, code page 437 otherwise) and, like it, reads
the last of several entries with one name.

  zipref.py dump BUNDLE...   prints a JSON list, one object per bundle:
                             {"names": [every entry name, in order],
                              "files": {name: base64 contents, or null when
                                        the entry cannot be read}}
  zipref.py write SPECS      writes the bundles the JSON file SPECS lists:
                             [{"out": path, "header": bool, "entries":
                               [[name, base64, "stored" or "deflated"], ...]}]
"""
import base64
import json
import sys
import zipfile


def dump(paths):
    out = []
    for path in paths:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            files = {}
            for name in names:
                try:
                    files[name] = base64.b64encode(zf.read(name)).decode()
                except Exception:
                    files[name] = None
            out.append({"names": names, "files": files})
    json.dump(out, sys.stdout)


def write(specs_path):
    with open(specs_path) as f:
        specs = json.load(f)
    for spec in specs:
        with open(spec["out"], "wb") as f:
            if spec["header"]:
                f.write(b"SYSB\x02\x00\x00\x00")
            with zipfile.ZipFile(f, "w") as zf:
                for name, data, method in spec["entries"]:
                    compress = zipfile.ZIP_DEFLATED if method == "deflated" else zipfile.ZIP_STORED
                    info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
                    zf.writestr(info, base64.b64decode(data), compress_type=compress)


if __name__ == "__main__":
    if sys.argv[1] == "dump":
        dump(sys.argv[2:])
    elif sys.argv[1] == "write":
        write(sys.argv[2])
    else:
        sys.exit("usage: zipref.py dump BUNDLE... | write SPECS")
