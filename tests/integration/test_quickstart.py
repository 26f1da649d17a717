#!/usr/bin/env python3
"""README command 1: tools/spindle-up.sh installs, builds and starts a broker
with its data in a local directory. Run here on a port the test picks."""
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Broker, work_dir  # noqa: E402

root, build = sys.argv[1], sys.argv[2]
env = dict(os.environ, SPINDLE_BUILD_DIR=build)
import tempfile  # noqa: E402

with tempfile.TemporaryDirectory(dir=work_dir()) as tmp:
    data = os.path.join(tmp, "data")
    env["SPINDLE_DATA_DIR"] = data
    b = Broker(None, cmd=[os.path.join(root, "tools", "spindle-up.sh"),
                          "--set", "listeners=PLAINTEXT://127.0.0.1:0"], env=env)
    b.start(timeout=300)
    try:
        with socket.create_connection((b.host, b.port), timeout=5):
            pass
        ok = os.path.isfile(os.path.join(data, "meta.properties"))
    finally:
        rc = b.stop()
    if not ok or rc != 0:
        print("FAIL: data dir %s prepared=%s, exit %s\n%s" % (data, ok, rc, b.log_text()))
        sys.exit(1)
