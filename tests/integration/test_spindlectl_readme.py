#!/usr/bin/env python3
# spindle-test: runner=python variants=once
"""The README's "First topic, produce and consume" section, run as written:
each ```sh block through bash against a fresh broker, with this build's
tools/ first on PATH (where the README puts spindlectl) and SPINDLE_BROKERS
and localhost:9092 read as this broker's address, and the ```text block
after a command compared with what it printed. The kcat blocks are left out
(and said so) when kcat is not installed."""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Broker, args  # noqa: E402

exe, smp = args()
BUILD = os.environ.get("SPINDLE_BUILD_ROOT", "")
TOOLS = os.path.join(BUILD, "tools")
if not os.path.exists(os.path.join(TOOLS, "spindlectl")):
    print("FAIL: %s/spindlectl is not built" % TOOLS)
    sys.exit(1)

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
if sum("spindlectl" in cmds for cmds, _ in plan) < 3 or all(want is None for _, want in plan):
    print("FAIL: the README section has too few spindlectl commands or no expected output")
    sys.exit(1)
have_kcat = shutil.which("kcat") is not None
if not have_kcat:
    print("kcat is not installed: the README's kcat commands are left out")

with Broker(exe, extra=["--smp", smp]) as b:
    env = dict(os.environ, SPINDLE_BROKERS=b.bootstrap,
               PATH=TOOLS + os.pathsep + os.environ.get("PATH", ""))
    ran = 0
    for cmds, want in plan:
        if "kcat " in cmds and not have_kcat:
            continue
        script = cmds.replace("localhost:9092", b.bootstrap)
        run = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], capture_output=True,
                             text=True, timeout=60, env=env)
        ran += 1
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
    print("ok: %d README steps print what the README shows" % ran)
