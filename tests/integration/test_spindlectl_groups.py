#!/usr/bin/env python3
# spindle-test: runner=system-python variants=once
"""spindlectl's consumer groups against a real Spindle: two `consume -g`
members split a topic's partitions and together print every record once,
their commits are what confluent-kafka reads back; `group list` and
`group describe` (tables and JSON) show states, members, client ids,
assignments, committed offsets, log ends and lag, checked against a
confluent-kafka consumer group; `group reset-offsets` plans without
changing anything, refuses a group with members, and with --execute moves
what a new member reads; `group delete`; errors (an unknown group, a
broker that is down) exit with their codes. On librdkafka's mock cluster
(tools/kafka-mock, when built): a group member's records and commits,
and a clear error for the group APIs the mock lacks."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clients_kafka import expect, need_confluent, run, wait_for  # noqa: E402
from test_spindlectl_consume import (CTL, Mock, Stream, ctl, have_mock, lines,  # noqa: E402
                                     need_ctl, produce)

TOPIC = "ctl-groups"
PARTS = 4
PER = 10  # records per partition, twice in check_split
DONE = 2 * PER  # records per partition after check_split


def committed(bs, group, topic=TOPIC, parts=PARTS):
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bs, "group.id": group, "enable.auto.commit": False})
    try:
        got = c.committed([TopicPartition(topic, p) for p in range(parts)], timeout=20)
    finally:
        c.close()
    return [tp.offset for tp in got]


def describe(bs, group):
    return json.loads(ctl(bs, "group", "describe", group, "--json").stdout)


def check_split(bs):
    # Both members join an empty topic, then the records come: each member
    # has its own partitions and together they print every record once.
    # Then one leaves (SIGINT: it commits and leaves the group): the other
    # takes its partitions over from its commits, again with no record twice.
    a = Stream(bs, "consume", TOPIC, "-g", "split", "--from-beginning", "-f", "%p %s\\n")
    b = Stream(bs, "consume", TOPIC, "-g", "split", "--from-beginning", "-f", "%p %s\\n")
    try:
        def both_assigned():
            d = json.loads(ctl(bs, "group", "describe", "split", "--json", check=False).stdout
                           or b"{}")
            ms = d.get("members", [])
            return (d.get("state") == "Stable" and len(ms) == 2
                    and all(m["assignment"] for m in ms))
        wait_for(both_assigned, 40, "two members with assignments")
        recs = [(p, None, b"r%d-%d" % (p, i), None, None) for p in range(PARTS)
                for i in range(PER)]
        produce(bs, TOPIC, recs)
        wait_for(lambda: len(a.got()) + len(b.got()) >= PARTS * PER, 30, "every record printed")
        time.sleep(0.5)  # nothing more may come
        got_a, got_b = a.got(), b.got()
        pa = {g.split(b" ")[0] for g in got_a}
        pb = {g.split(b" ")[0] for g in got_b}
        expect(pa and pb and not (pa & pb), "partitions split: %s / %s" % (pa, pb))
        rb = b.interrupt()
        expect(rb == 0, "the member that left exited %s: %s" % (rb, b.err))
        recs = [(p, None, b"r%d-%d" % (p, i), None, None) for p in range(PARTS)
                for i in range(PER, 2 * PER)]
        produce(bs, TOPIC, recs)
        wait_for(lambda: len(a.got()) + len(got_b) >= 2 * PARTS * PER, 40,
                 "the remaining member took every partition over")
        time.sleep(0.5)
    finally:
        ra = a.interrupt()
        b.kill()
    expect(ra == 0, "member exit %s: %s" % (ra, a.err))
    all_got = sorted(a.got() + b.got())
    want = sorted(b"%d r%d-%d" % (p, p, i) for p in range(PARTS) for i in range(2 * PER))
    expect(all_got == want, "the two members printed %d records, want %d once each"
           % (len(all_got), len(want)))
    got = committed(bs, "split")
    expect(got == [2 * PER] * PARTS, "commits seen by confluent-kafka: %s" % got)


def check_list_describe(bs):
    out = ctl(bs, "group", "list")
    rows = [l.split() for l in lines(out)]
    expect(rows[0] == ["GROUP", "STATE", "PROTOCOL-TYPE", "COORDINATOR"], "list header %s" % rows)
    mine = [r for r in rows if r[0] == "split"]
    expect(mine and mine[0][1] == "Empty" and mine[0][2] == "consumer", "list row %s" % mine)
    js = json.loads(ctl(bs, "group", "list", "--json").stdout)
    g = [x for x in js["groups"] if x["group"] == "split"]
    expect(g and g[0]["state"] == "Empty" and g[0]["protocol_type"] == "consumer",
           "list JSON %s" % js)

    # One more record in partition 0: lag 1 there.
    produce(bs, TOPIC, [(0, None, b"extra", None, None)])
    d = describe(bs, "split")
    expect(d["group"] == "split" and d["state"] == "Empty" and d["members"] == [],
           "describe JSON head %s" % d)
    offs = [(o["topic"], o["partition"], o["committed"], o["log_end"], o["lag"])
            for o in d["offsets"]]
    want = [(TOPIC, p, DONE, DONE + (1 if p == 0 else 0), 1 if p == 0 else 0)
            for p in range(PARTS)]
    expect(offs == want and d["total_lag"] == 1, "describe offsets %s, want %s" % (offs, want))
    text = ctl(bs, "group", "describe", "split").stdout.decode()
    expect("state" in text and "Empty" in text and "total lag: 1" in text, "describe text %s"
           % text)
    table = [l.split() for l in text.splitlines()]
    hdr = ["TOPIC", "PARTITION", "COMMITTED", "LOG-END", "LAG", "MEMBER-ID"]
    expect(hdr in table, "describe table header in %s" % text)
    row0 = table[table.index(hdr) + 1]
    expect(row0 == [TOPIC, "0", str(DONE), str(DONE + 1), "1", "-"], "describe row %s" % row0)

    # A live confluent-kafka group: its member, client id and assignment.
    from confluent_kafka import Consumer

    c = Consumer({"bootstrap.servers": bs, "group.id": "cfk", "client.id": "cfk-client",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        c.subscribe([TOPIC])
        n, deadline = 0, time.time() + 40
        while n < 3 and time.time() < deadline:
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                n += 1
                if n == 3:
                    c.commit(message=m, asynchronous=False)
        expect(n == 3, "confluent consumer read %d records" % n)
        d = describe(bs, "cfk")
        ms = d["members"]
        expect(d["state"] == "Stable" and len(ms) == 1 and ms[0]["client_id"] == "cfk-client",
               "describe of a live group: %s" % d)
        parts = sorted(p for a in ms[0]["assignment"] if a["topic"] == TOPIC
                       for p in a["partitions"])
        expect(parts == list(range(PARTS)), "its assignment %s" % ms[0]["assignment"])
        expect(ms[0]["client_host"], "its host %s" % ms[0])
        mine = [o for o in d["offsets"] if o["committed"] is not None]
        expect(len(mine) == 1 and mine[0]["member_id"] == ms[0]["member_id"]
               and mine[0]["lag"] == mine[0]["log_end"] - mine[0]["committed"],
               "its offsets %s" % d["offsets"])
        text = ctl(bs, "group", "describe", "cfk").stdout.decode()
        expect("cfk-client" in text and ms[0]["member_id"] in text, "describe text %s" % text)

        # Offsets of a group with members cannot be reset.
        out = ctl(bs, "group", "reset-offsets", "cfk", "--topic", TOPIC, "--to-earliest",
                  "--execute", check=False)
        expect(out.returncode == 1 and b'group "cfk": NON_EMPTY_GROUP' in out.stderr,
               "reset of a live group: exit %d %r" % (out.returncode, out.stderr))
    finally:
        c.close()


def check_reset(bs):
    before = committed(bs, "split")
    out = ctl(bs, "group", "reset-offsets", "split", "--topic", TOPIC, "--to-earliest")
    rows = [l.split() for l in lines(out)]
    expect(rows[0] == ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "NEW-OFFSET"],
           "plan header %s" % rows)
    expect(rows[1:1 + PARTS] == [["split", TOPIC, str(p), str(DONE), "0"] for p in range(PARTS)],
           "plan rows %s" % rows)
    expect("dry run" in out.stdout.decode(), "dry run said so")
    expect(committed(bs, "split") == before, "a dry run changes nothing")

    def plan(*argv):
        js = json.loads(ctl(bs, "group", "reset-offsets", "split", "--topic", TOPIC, "--json",
                            *argv).stdout)
        expect(js["executed"] == ("--execute" in argv), "executed flag %s" % js)
        return [(p["partition"], p["current"], p["new"]) for p in js["partitions"]]

    got = plan("--to-latest")
    expect(got == [(p, DONE, DONE + (1 if p == 0 else 0)) for p in range(PARTS)], "latest %s" % got)
    got = plan("-p", "1", "--to-offset", "3")
    expect(got == [(1, DONE, 3)], "--to-offset 3 -p 1: %s" % got)
    got = plan("-p", "2", "--to-offset", "999")
    expect(got == [(2, DONE, DONE)], "--to-offset past the end is kept at the end: %s" % got)
    got = plan("--partition", "3", "--shift-by", "-4")
    expect(got == [(3, DONE, DONE - 4)], "--shift-by -4: %s" % got)
    got = plan("-p", "0", "--to-datetime", "-1h")
    expect(got == [(0, DONE, 0)], "--to-datetime -1h: %s" % got)
    expect(committed(bs, "split") == before, "dry runs change nothing")

    got = plan("--to-earliest", "--execute")
    expect(got == [(p, DONE, 0) for p in range(PARTS)], "executed plan %s" % got)
    expect(committed(bs, "split") == [0] * PARTS, "--execute committed 0s")
    got = plan("-p", "1", "--shift-by", "5", "--execute")
    expect(committed(bs, "split") == [0, 5, 0, 0], "--shift-by 5 --execute")

    # A new member of the group starts where the reset put it.
    total = PARTS * DONE + 1 - 5
    out = ctl(bs, "consume", TOPIC, "-g", "split", "-n", str(total), "--timeout", "20s",
              "-f", "%p:%o\\n", timeout=90)
    got = lines(out)
    expect(len(got) == total and "1:4" not in got and "1:5" in got and "0:0" in got,
           "after the reset a member read %d: %s" % (len(got), sorted(got)[:8]))


def check_delete_errors(bs):
    out = ctl(bs, "group", "delete", "split")
    expect(lines(out) == ['deleted group "split"'], "delete said %s" % lines(out))
    out = ctl(bs, "group", "describe", "split", check=False)
    expect(out.returncode == 1 and b'group "split": GROUP_ID_NOT_FOUND' in out.stderr,
           "describe after delete: exit %d %r" % (out.returncode, out.stderr))
    out = ctl(bs, "group", "delete", "never-was", check=False)
    expect(out.returncode == 1 and b'group "never-was": GROUP_ID_NOT_FOUND' in out.stderr,
           "delete of an unknown group: exit %d %r" % (out.returncode, out.stderr))
    out = ctl(bs, "group", "delete", "never-was", "--json", check=False)
    js = json.loads(out.stdout)
    expect(out.returncode == 1 and js["groups"][0]["deleted"] is False
           and js["groups"][0]["error"]["name"] == "GROUP_ID_NOT_FOUND", "delete JSON %s" % js)
    for argv in (["group"], ["group", "frobnicate"], ["group", "describe"],
                 ["group", "reset-offsets", "g", "--to-earliest"],
                 ["group", "reset-offsets", "g", "--topic", TOPIC],
                 ["group", "reset-offsets", "g", "--topic", TOPIC, "--to-earliest",
                  "--to-latest"]):
        out = ctl(bs, *argv, check=False)
        expect(out.returncode == 2, "usage error %s: exit %d %r" % (argv, out.returncode,
                                                                     out.stderr))
    for sub in ("list", "describe", "delete", "reset-offsets"):
        out = ctl(bs, "group", sub, "--help")
        expect(b"Example" in out.stdout, "group %s --help has an example" % sub)
    t0 = time.time()
    out = subprocess.run([CTL, "-b", "127.0.0.1:1", "--timeout", "2s", "group", "list"],
                         capture_output=True, timeout=30)
    expect(out.returncode == 3 and out.stderr.startswith(b"spindlectl: ")
           and time.time() - t0 < 20, "down broker: exit %d %r" % (out.returncode, out.stderr))


def check_mock():
    if not have_mock():
        print("kafka-mock is not built: its part is skipped")
        return
    m = Mock("--topic", "mg:2")
    try:
        bs = m.bootstrap
        produce(bs, "mg", [(0, None, b"a", None, None), (1, None, b"b", None, None)])
        out = ctl(bs, "consume", "mg", "-g", "mock-g", "--from-beginning", "-n", "2",
                  "--timeout", "20s", timeout=90)
        expect(sorted(lines(out)) == ["a", "b"], "mock group consume %s" % lines(out))
        got = committed(bs, "mock-g", "mg", 2)
        expect(got == [1, 1], "mock group commits %s" % got)
        # librdkafka 2.0.2's mock has no ListGroups / DescribeGroups: a clear
        # error naming the API, not a hang.
        for argv in (["group", "list"], ["group", "describe", "mock-g"]):
            out = ctl(bs, *argv, check=False, timeout=60)
            err = out.stderr.decode()
            expect(out.returncode == 1 and err.startswith("spindlectl: ") and
                   ("Groups" in err or "not supported" in err.lower()),
                   "mock %s: exit %d %r" % (argv, out.returncode, err))
    finally:
        m.close()


def body(b):
    bs = b.bootstrap
    from clients_kafka import create_topic

    create_topic(bs, TOPIC, PARTS)
    check_split(bs)
    check_list_describe(bs)
    check_reset(bs)
    check_delete_errors(bs)
    check_mock()


if __name__ == "__main__":
    need_ctl()
    need_confluent()
    run(body, extra=["--set", "group.initial.rebalance.delay.ms=100",
                     "--set", "offsets.topic.num.partitions=3"], name="spindlectl groups")
