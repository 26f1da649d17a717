#!/usr/bin/env python3
"""Lists the integration tests for meson: one line per test file,
`file|runner|variants`, from a `# spindle-test: runner=R variants=V` line
near the top of each tests/integration/test_*.{py,mjs} file.

runner:   python (the first python3), system-python (/usr/bin/python3, which
          sees Debian's client packages), node.
variants: matrix (1 and 3 shards, each also capped at Linux 6.1's io_uring),
          once (3 shards; CI's capped ASan run covers the cap), or
          standalone (the test starts what it needs itself: no broker args).
A file without the line is not a broker test (a helper module)."""
import os
import re
import sys

LINE = re.compile(r"^(?:#|//)\s*spindle-test:\s*runner=(\S+)\s+variants=(\S+)\s*$")

here = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
for name in sorted(os.listdir(here)):
    if not name.startswith("test_") or not name.endswith((".py", ".mjs")):
        continue
    with open(os.path.join(here, name), encoding="utf-8") as fh:
        for _, line in zip(range(12), fh):
            m = LINE.match(line.strip())
            if m:
                print("%s|%s|%s" % (name, m.group(1), m.group(2)))
                break
