#!/usr/bin/env python3
# spindle-test: runner=system-python variants=matrix
"""Topics over the wire: CreateTopics (v0-v7: partitions, configs,
validate_only, every refusal Kafka gives), Metadata (v0-v12: all topics,
by name, by id, partitions with leader epochs and topic ids, auto-creation
on and off and as the request allows it), CreatePartitions and DeleteTopics
(by name and by id, with the data gone), with hand-built requests; then
the same through confluent-kafka's AdminClient."""
import os
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Broker, args, check, failures, finish, guard  # noqa: E402
from kwire import (Conn, create_partitions_request as create_partitions,  # noqa: E402
                   create_topics_request as create_topics,
                   delete_topics_request as delete_topics, metadata_request as metadata,
                   parse_create_partitions, parse_create_topics, parse_delete_topics,
                   parse_metadata)

exe, smp = args("2")

E_UNKNOWN_TOPIC, E_INVALID_TOPIC, E_EXISTS, E_PARTITIONS = 3, 17, 36, 37
E_REPLICATION, E_ASSIGNMENT, E_CONFIG, E_REQUEST, E_UNKNOWN_ID = 38, 39, 40, 42, 100
NODE = 1


def by_name(topics):
    return {t["name"]: t for t in topics}


def wait_gone(path, timeout=10.0):
    deadline = time.time() + timeout
    while os.path.exists(path) and time.time() < deadline:
        time.sleep(0.05)
    return not os.path.exists(path)


def partition_dirs(data_dir, topic):
    prefix = topic + "-"
    return sorted(int(d[len(prefix):]) for d in os.listdir(data_dir)
                  if d.startswith(prefix) and d[len(prefix):].isdigit())


# ---- With auto-creation off ----

def run_explicit(b):
    c = Conn(b)
    ct = lambda v, topics, **kw: c.ask(create_topics, parse_create_topics, v, topics, **kw)  # noqa
    md = lambda v, topics=None, **kw: c.ask(metadata, parse_metadata, v, topics, **kw)  # noqa

    # A topic with partitions and a config: v7 answers everything resolved.
    res = ct(7, [{"name": "alpha", "parts": 5, "rf": 1, "configs": [("retention.ms", "123456")]}])
    a = res[0]
    check(a["error"] == 0 and a["message"] is None, "create alpha: %s" % a)
    check(a["id"] != b"\x00" * 16, "create alpha: a topic id")
    check(a["parts"] == 5 and a["rf"] == 1, "create alpha: 5 partitions, factor 1")
    cfg = a["configs"] or {}
    check(cfg.get("retention.ms") == ("123456", 1), "create alpha: retention.ms from the topic")
    check(cfg.get("cleanup.policy", (None,))[0] == "delete" and "segment.bytes" in cfg,
          "create alpha: the other configs described (%d)" % len(cfg))
    check(partition_dirs(b.data_dir, "alpha") == [0, 1, 2, 3, 4],
          "alpha's partition logs exist when CreateTopics answers")
    alpha_id = a["id"]

    # Every refusal, in one request.
    topics = [
        {"name": "alpha", "parts": 1},
        {"name": "bad name", "parts": 1},
        {"name": "x" * 250, "parts": 1},
        {"name": "..", "parts": 1},
        {"name": "rf3", "parts": 1, "rf": 3},
        {"name": "rf0", "parts": 1, "rf": 0},
        {"name": "p0", "parts": 0},
        {"name": "pneg", "parts": -5},
        {"name": "cfgkey", "parts": 1, "configs": [("no.such.config", "1")]},
        {"name": "cfgval", "parts": 1, "configs": [("retention.ms", "soon")]},
        {"name": "cfgnull", "parts": 1, "configs": [("retention.ms", None)]},
        {"name": "twice", "parts": 1},
        {"name": "twice", "parts": 2},
        {"name": "assign2", "assign": [(0, [2])]},
        {"name": "assignboth", "parts": 1, "assign": [(0, [NODE])]},
        {"name": "huge", "parts": 10001},
        {"name": "deflt"},
        {"name": "assigned", "assign": [(0, [NODE]), (1, [NODE])]},
    ]
    res = ct(7, topics)
    got = [(t["name"][:20], t["error"]) for t in res]
    want = [("alpha", E_EXISTS), ("bad name", E_INVALID_TOPIC), ("x" * 20, E_INVALID_TOPIC),
            ("..", E_INVALID_TOPIC), ("rf3", E_REPLICATION), ("rf0", E_REPLICATION),
            ("p0", E_PARTITIONS), ("pneg", E_PARTITIONS), ("cfgkey", E_CONFIG),
            ("cfgval", E_CONFIG), ("cfgnull", E_CONFIG), ("twice", E_REQUEST),
            ("twice", E_REQUEST), ("assign2", E_ASSIGNMENT), ("assignboth", E_REQUEST),
            ("huge", E_PARTITIONS), ("deflt", 0), ("assigned", 0)]
    check(got == want, "CreateTopics errors as Kafka gives them: %s" % got)
    msgs = {t["name"][:20]: t["message"] or "" for t in res}
    check("no.such.config" in msgs["cfgkey"] and "retention.ms" in msgs["cfgval"],
          "INVALID_CONFIG names the key: %r / %r" % (msgs["cfgkey"], msgs["cfgval"]))
    check("illegal" in msgs["bad name"] and "already exists" in msgs["alpha"],
          "messages for a bad name and an existing topic")
    d = by_name(res)
    check(d["deflt"]["parts"] == 3 and d["assigned"]["parts"] == 2,
          "num.partitions for -1 (%s), the assignment's count (%s)"
          % (d["deflt"]["parts"], d["assigned"]["parts"]))
    check(not os.path.exists(os.path.join(b.data_dir, "rf3-0")), "a refused topic has no data")

    # validate_only: answered as if created, nothing created.
    res = ct(7, [{"name": "vonly", "parts": 4}], validate_only=True)
    check(res[0]["error"] == 0 and res[0]["parts"] == 4, "validate_only answers: %s" % res[0])
    _, ts = md(12, ["vonly"], allow_auto=False)
    check(ts[0]["error"] == E_UNKNOWN_TOPIC and not os.path.exists(
        os.path.join(b.data_dir, "vonly-0")), "validate_only created nothing")

    # Old versions of CreateTopics.
    for v in (0, 1, 4):
        res = ct(v, [{"name": "old%d" % v, "parts": 2, "rf": 1}])
        check(res[0]["error"] == 0, "CreateTopics v%d: %s" % (v, res[0]))

    # Metadata: every topic, at every version; leader epochs and ids.
    for v in range(0, 13):
        _, ts = md(v, None)
        names = sorted(t["name"] for t in ts)
        check(names == ["alpha", "assigned", "deflt", "old0", "old1", "old4"],
              "Metadata v%d lists every topic: %s" % (v, names))
    brokers, ts = md(12, ["alpha"])
    t = ts[0]
    parts = sorted(t["partitions"], key=lambda p: p["index"])
    check(t["error"] == 0 and t["id"] == alpha_id and not t["internal"],
          "Metadata v12: alpha with its topic id")
    check([(p["index"], p["leader"], p["epoch"], p["replicas"], p["isr"], p["offline"])
           for p in parts] == [(i, NODE, 0, [NODE], [NODE], []) for i in range(5)],
          "Metadata v12: alpha's partitions led by this node at epoch 0")
    check(list(brokers) == [NODE] and brokers[NODE][1] == b.port, "Metadata v12: this broker")
    _, ts = md(12, [alpha_id, uuid.uuid4().bytes])
    check(ts[0]["name"] == "alpha" and ts[0]["error"] == 0 and ts[1]["error"] == E_UNKNOWN_ID
          and ts[1]["name"] is None, "Metadata v12 by topic id: known and unknown")
    _, ts = md(10, [alpha_id])
    check(ts[0]["name"] == "alpha" and len(ts[0]["partitions"]) == 5, "Metadata v10 by topic id")
    _, ts = md(1, ["missing", "bad$name"])
    check([t["error"] for t in ts] == [E_UNKNOWN_TOPIC, E_INVALID_TOPIC],
          "auto-creation off: missing topic unknown, illegal name invalid")
    check(not os.path.exists(os.path.join(b.data_dir, "missing-0")), "nothing auto-created")

    # CreatePartitions.
    cp = lambda v, topics, **kw: c.ask(create_partitions, parse_create_partitions, v, topics, **kw)  # noqa
    res = cp(3, [("alpha", 8, None), ("deflt", 2, None), ("deflt2", 9, None),
                 ("assigned", 3, [[2]]), ("old0", 2, None)])
    errs = [(n, e) for n, e, _ in res]
    check(errs == [("alpha", 0), ("deflt", E_PARTITIONS), ("deflt2", E_UNKNOWN_TOPIC),
                   ("assigned", E_ASSIGNMENT), ("old0", E_PARTITIONS)],
          "CreatePartitions errors: %s" % errs)
    check("would not be an increase" in (res[1][2] or ""), "shrinking says why: %r" % res[1][2])
    check(partition_dirs(b.data_dir, "alpha") == list(range(8)), "alpha has 8 partition logs")
    res = cp(0, [("old1", 4, None)], validate_only=True)
    check(res[0][1] == 0 and partition_dirs(b.data_dir, "old1") == [0, 1],
          "CreatePartitions v0 validate_only changes nothing")
    res = cp(1, [("old1", 3, [[NODE]])])
    check(res[0][1] == 0 and partition_dirs(b.data_dir, "old1") == [0, 1, 2],
          "CreatePartitions v1 with an assignment")
    _, ts = md(12, ["alpha", "old1"])
    check([len(t["partitions"]) for t in ts] == [8, 3], "Metadata shows the new partitions")

    # DeleteTopics by name and by id.
    dt = lambda v, topics: c.ask(delete_topics, parse_delete_topics, v, topics)  # noqa
    res = dt(6, [("deflt", None), (None, alpha_id), (None, uuid.uuid4().bytes),
                 ("old0", alpha_id), ("nope", None)])
    got = [(t["name"], t["error"]) for t in res]
    check(got == [("deflt", 0), ("alpha", 0), (None, E_UNKNOWN_ID), ("old0", E_REQUEST),
                  ("nope", E_UNKNOWN_TOPIC)], "DeleteTopics v6: %s" % got)
    check(res[1]["id"] == alpha_id, "DeleteTopics v6 by id answers the id")
    check(wait_gone(os.path.join(b.data_dir, "alpha-0")) and
          wait_gone(os.path.join(b.data_dir, "deflt-0")), "deleted topics' data is gone")
    deadline = time.time() + 10
    while time.time() < deadline and any(d.endswith("-delete") for d in os.listdir(b.data_dir)):
        time.sleep(0.05)
    left = [d for d in os.listdir(b.data_dir) if d.startswith(("alpha", "deflt"))]
    check(left == [], "no directory of a deleted topic is left: %s" % left)
    res = dt(1, ["old0", "old0x"])
    check([t["error"] for t in res] == [0, E_UNKNOWN_TOPIC], "DeleteTopics v1 by name")
    res = dt(5, ["old4"])
    check(res[0]["error"] == 0 and res[0]["message"] is None, "DeleteTopics v5")
    _, ts = md(12, None)
    check(sorted(t["name"] for t in ts) == ["assigned", "old1"], "Metadata after deletion")

    # A name reused gets a new id and empty logs.
    res = ct(7, [{"name": "alpha", "parts": 2}])
    check(res[0]["error"] == 0 and res[0]["id"] != alpha_id, "alpha recreated with a new id")
    _, ts = md(12, [alpha_id, "alpha"])
    check(ts[0]["error"] == E_UNKNOWN_ID and len(ts[1]["partitions"]) == 2,
          "the old id is unknown, the new topic has 2 partitions")
    c.close()


# ---- With auto-creation on ----

def run_auto(b):
    c = Conn(b)
    md = lambda v, topics=None, **kw: c.ask(metadata, parse_metadata, v, topics, **kw)  # noqa
    _, ts = md(1, ["auto1"])
    check(ts[0]["error"] == 0 and len(ts[0]["partitions"]) == 2,
          "Metadata v1 auto-creates with num.partitions: %s" % ts[0])
    check(partition_dirs(b.data_dir, "auto1") == [0, 1], "auto-created topic has its logs")
    _, ts = md(12, ["auto2"], allow_auto=False)
    check(ts[0]["error"] == E_UNKNOWN_TOPIC and not os.path.exists(
        os.path.join(b.data_dir, "auto2-0")), "allow_auto_topic_creation=false is respected")
    _, ts = md(12, ["auto3", "auto3", "bad$", "auto1"])
    check([(t["name"], t["error"]) for t in ts] ==
          [("auto3", 0), ("auto3", 0), ("bad$", E_INVALID_TOPIC), ("auto1", 0)],
          "Metadata v12 auto-creates once per name, refuses an illegal one")
    check(ts[0]["id"] == ts[1]["id"] != b"\x00" * 16, "both answers carry the new topic's id")
    check(not any(d.startswith("bad") for d in os.listdir(b.data_dir)),
          "nothing created for an illegal name")
    _, ts = md(0, [])
    check(sorted(t["name"] for t in ts) == ["auto1", "auto3"], "Metadata v0 with [] lists all")
    res = c.ask(create_topics, parse_create_topics, 7, [{"name": "auto1", "parts": 1}])
    check(res[0]["error"] == E_EXISTS, "CreateTopics of an auto-created topic: exists")
    c.close()


# ---- confluent-kafka's AdminClient ----

def run_admin(b):
    try:
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic
    except ImportError:
        print("skip: confluent-kafka not installed")
        return
    a = AdminClient({"bootstrap.servers": b.bootstrap})

    def code(f):
        try:
            f.result(timeout=30)
            return 0
        except KafkaException as e:
            return e.args[0].code()

    fs = a.create_topics([NewTopic("adm", 3, 1, config={"cleanup.policy": "compact"}),
                          NewTopic("adm-bad!", 1, 1), NewTopic("adm-rf", 1, 2)])
    got = {k: code(f) for k, f in fs.items()}
    check(got == {"adm": 0, "adm-bad!": E_INVALID_TOPIC, "adm-rf": E_REPLICATION},
          "AdminClient create_topics: %s" % got)
    fs = a.create_topics([NewTopic("adm-vo", 2, 1)], validate_only=True)
    check(code(fs["adm-vo"]) == 0 and "adm-vo" not in a.list_topics(timeout=30).topics,
          "AdminClient validate_only")
    check(code(a.create_partitions([NewPartitions("adm", 5)])["adm"]) == 0,
          "AdminClient create_partitions")
    mdata = a.list_topics(timeout=30)
    t = mdata.topics.get("adm")
    check(t is not None and sorted(t.partitions) == list(range(5)) and all(
        p.leader == NODE and p.replicas == [NODE] and p.isrs == [NODE]
        for p in t.partitions.values()), "AdminClient list_topics shows adm with 5 partitions")
    check(code(a.delete_topics(["adm"])["adm"]) == 0, "AdminClient delete_topics")
    check(wait_gone(os.path.join(b.data_dir, "adm-0")), "adm's data is gone")
    check("adm" not in a.list_topics(timeout=30).topics, "adm no longer listed")


def main():
    with Broker(exe, extra=["--smp", smp, "--set", "auto.create.topics.enable=false",
                            "--set", "num.partitions=3"]) as b:
        if guard("run_explicit", run_explicit, b):
            guard("run_admin", run_admin, b)
        rc = b.stop()
        check(rc == 0, "broker exits 0 on SIGTERM (%s)" % rc)
        if failures:
            print(b.log_text())
    with Broker(exe, extra=["--smp", smp, "--set", "num.partitions=2"]) as b:
        guard("run_auto", run_auto, b)
        rc = b.stop()
        check(rc == 0, "broker exits 0 on SIGTERM (%s)" % rc)
        if failures:
            print(b.log_text())
    finish()


main()
