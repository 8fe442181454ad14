# Reads JSON strings, one a line, and writes for each how Python's
# urllib.parse.urlsplit (the parser Sentry's HTTP clients use) reads it:
# {"ok", "scheme", "username", "password", "hostname", "port"}.
import json
import sys
from urllib.parse import urlsplit

for line in sys.stdin:
    s = json.loads(line)
    try:
        u = urlsplit(s)
        out = {"ok": True, "scheme": u.scheme, "username": u.username,
               "password": u.password, "hostname": u.hostname, "port": u.port}
    except ValueError as e:
        out = {"ok": False, "error": str(e)}
    sys.stdout.write(json.dumps(out) + "\n")
