#!/usr/bin/env python3
# spindle-test: runner=python variants=once
"""The README's "First topic, produce and consume" section, run as written:
each ```sh block through bash against a fresh broker with the defaults
tools/spindle-up.sh uses, and the ```text block after it compared with
what the commands printed (localhost:9092 read as this broker's address)."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clients_kafka import need_kcat  # noqa: E402
from harness import Broker, args  # noqa: E402

exe, smp = args()
need_kcat()

README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "README.md")
SECTION = "## First topic, produce and consume"


def steps():
    """[(commands, expected stdout or None)] from the README section."""
    text = open(README, encoding="utf-8").read()
    start = text.find("\n" + SECTION + "\n")
    if start < 0:
        print("FAIL: README has no %r section" % SECTION)
        sys.exit(1)
    end = text.find("\n## ", start + 1)
    section = text[start:end if end >= 0 else len(text)]
    blocks = re.findall(r"^```(\w+)\n(.*?)^```$", section, flags=re.M | re.S)
    out = []
    for kind, body in blocks:
        if kind == "sh":
            out.append([body, None])
        elif kind == "text" and out and out[-1][1] is None:
            out[-1][1] = body
    return out


plan = steps()
if len(plan) < 3 or all(want is None for _, want in plan):
    print("FAIL: the README section has too few commands or no expected output: %s" % plan)
    sys.exit(1)

with Broker(exe, extra=["--smp", smp]) as b:
    for cmds, want in plan:
        script = cmds.replace("localhost:9092", b.bootstrap)
        run = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], capture_output=True,
                             text=True, timeout=60)
        if run.returncode != 0:
            b.stop()
            print("FAIL: README commands exited %d:\n%s\n--- stderr ---\n%s\n--- broker log ---\n%s"
                  % (run.returncode, script, run.stderr, b.log_text()))
            sys.exit(1)
        if want is not None and run.stdout != want.replace("localhost:9092", b.bootstrap):
            b.stop()
            print("FAIL: README commands\n%s\nprinted\n%s\nthe README shows\n%s\n--- broker log ---\n%s"
                  % (script, run.stdout, want.replace("localhost:9092", b.bootstrap), b.log_text()))
            sys.exit(1)
    rc = b.stop()
    if rc != 0:
        print("FAIL: broker exited %s\n%s" % (rc, b.log_text()))
        sys.exit(1)
    print("ok: %d README steps print what the README shows" % len(plan))
