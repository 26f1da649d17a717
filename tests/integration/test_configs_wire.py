#!/usr/bin/env python3
# spindle-test: runner=system-python variants=matrix
"""Configs over the wire, with hand-built requests: DescribeConfigs v0-4
(topics with every documented config, value, source, IsDefault,
read-only, synonyms in Kafka's order, types and documentation, key
filters; the broker's own keys; the cluster-wide default resource;
refusals), AlterConfigs v0-2 (the whole explicit set replaced) and
IncrementalAlterConfigs v0-1 (SET, DELETE, APPEND, SUBTRACT, several
operations per resource), validate_only, every refusal per resource, and
the changes kept across a restart (ConfigRecords in the metadata log)."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Broker, args, check, failures, finish, guard, restart_same_port  # noqa: E402
from kwire import (Conn, alter_configs_request, describe_configs_request,  # noqa: E402
                   incremental_alter_configs_request, parse_alter_configs,
                   parse_describe_configs, parse_incremental_alter_configs)

exe, smp = args("2")

E_UNKNOWN_TOPIC, E_INVALID_TOPIC, E_CONFIG, E_REQUEST = 3, 17, 40, 42
TOPIC, BROKER, BROKER_LOGGER = 2, 4, 8
SRC_TOPIC, SRC_STATIC, SRC_DEFAULT = 1, 4, 5
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3
T_BOOLEAN, T_STRING, T_INT, T_LONG, T_DOUBLE, T_LIST = 1, 2, 3, 5, 6, 7
NODE = "1"

# Every topic config Kafka documents.
DOCUMENTED = [
    "cleanup.policy", "compression.gzip.level", "compression.lz4.level", "compression.type",
    "compression.zstd.level", "delete.retention.ms", "file.delete.delay.ms", "flush.messages",
    "flush.ms", "follower.replication.throttled.replicas", "index.interval.bytes",
    "leader.replication.throttled.replicas", "local.retention.bytes", "local.retention.ms",
    "max.compaction.lag.ms", "max.message.bytes", "message.downconversion.enable",
    "message.format.version", "message.timestamp.after.max.ms",
    "message.timestamp.before.max.ms", "message.timestamp.difference.max.ms",
    "message.timestamp.type", "min.cleanable.dirty.ratio", "min.compaction.lag.ms",
    "min.insync.replicas", "preallocate", "remote.storage.enable", "retention.bytes",
    "retention.ms", "segment.bytes", "segment.index.bytes", "segment.jitter.ms", "segment.ms",
    "unclean.leader.election.enable"]


def describe(c, v, resources, **kw):
    return c.ask(describe_configs_request, parse_describe_configs, v, resources, **kw)


def topic_configs(c, name, keys=None, v=4, **kw):
    r = describe(c, v, [(TOPIC, name, keys)], **kw)[0]
    return r["error"], r["configs"]


def alter(c, v, resources, validate_only=False):
    return c.ask(alter_configs_request, parse_alter_configs, v, resources,
                 validate_only=validate_only)


def incr(c, v, resources, validate_only=False):
    return c.ask(incremental_alter_configs_request, parse_incremental_alter_configs, v,
                 resources, validate_only=validate_only)


def run_describe(b):
    c = Conn(b)
    check(c.create_topic("cfg", 2, [("retention.ms", "3600000"),
                                    ("cleanup.policy", "compact,delete")])[0] == 0,
          "create cfg with two configs")

    for v in range(5):
        res = describe(c, v, [(TOPIC, "cfg", None)], synonyms=True, docs=True)
        check(len(res) == 1 and res[0]["error"] == 0 and res[0]["message"] is None and
              res[0]["type"] == TOPIC and res[0]["name"] == "cfg", "v%d: cfg described" % v)
        cfg = res[0]["configs"]
        check(sorted(cfg) == DOCUMENTED, "v%d: every documented topic config, once (%d)"
              % (v, len(cfg)))
        rm, seg, cp = cfg["retention.ms"], cfg["segment.bytes"], cfg["cleanup.policy"]
        check(rm["value"] == "3600000" and seg["value"] == "1073741824" and
              cp["value"] == "compact,delete", "v%d: values (%s, %s, %s)"
              % (v, rm["value"], seg["value"], cp["value"]))
        check(not any(x["read_only"] or x["sensitive"] for x in cfg.values()),
              "v%d: topic configs are neither read-only nor sensitive" % v)
        if v == 0:
            check(rm["is_default"] is False and seg["is_default"] is True,
                  "v0: IsDefault false for the topic's own, true for a default")
            continue
        check(rm["source"] == SRC_TOPIC and seg["source"] == SRC_DEFAULT,
              "v%d: sources TOPIC_CONFIG and DEFAULT_CONFIG (%s, %s)"
              % (v, rm["source"], seg["source"]))
        # The topic's value, then the broker key it falls back to, set at start, then that
        # key's default (log.retention.ms is not set, so it is not listed).
        check(rm["synonyms"] == [("retention.ms", "3600000", SRC_TOPIC),
                                 ("log.retention.hours", "100", SRC_STATIC),
                                 ("log.retention.hours", "168", SRC_DEFAULT)],
              "v%d: retention.ms synonyms %s" % (v, rm["synonyms"]))
        check(seg["synonyms"] == [("log.segment.bytes", "1073741824", SRC_DEFAULT)],
              "v%d: segment.bytes synonyms %s" % (v, seg["synonyms"]))
        check(cfg["leader.replication.throttled.replicas"]["synonyms"] == [],
              "v%d: a config without a broker key has no broker synonym" % v)
        if v >= 3:
            check(rm["type"] == T_LONG and seg["type"] == T_INT and cp["type"] == T_LIST and
                  cfg["preallocate"]["type"] == T_BOOLEAN and
                  cfg["min.cleanable.dirty.ratio"]["type"] == T_DOUBLE and
                  cfg["compression.type"]["type"] == T_STRING, "v%d: config types" % v)
            check(all(x["doc"] for x in cfg.values()), "v%d: every config documented" % v)

    # Without IncludeSynonyms / IncludeDocumentation: none.
    _, cfg = topic_configs(c, "cfg")
    check(all(x["synonyms"] == [] and x["doc"] is None for x in cfg.values()),
          "no synonyms or documentation unless asked")
    check(cfg["retention.ms"]["type"] == T_LONG, "ConfigType given regardless (v4)")

    # A key filter: only those, unknown keys left out; an empty list means all.
    err, cfg = topic_configs(c, "cfg", ["segment.ms", "no.such.key", "retention.ms"])
    check(err == 0 and sorted(cfg) == ["retention.ms", "segment.ms"], "key filter: %s"
          % sorted(cfg))
    err, cfg = topic_configs(c, "cfg", [], v=1)
    check(err == 0 and len(cfg) == len(DOCUMENTED), "an empty key list describes all")

    # Several resources: order kept, each with its own answer.
    res = describe(c, 2, [(TOPIC, "nope", None), (TOPIC, "cfg", ["retention.ms"]),
                          (TOPIC, "bad name!", None), (BROKER, "", None),
                          (BROKER, "7", None), (BROKER, "x", None), (BROKER_LOGGER, NODE, None),
                          (9, "whatever", None)])
    got = [(r["type"], r["name"], r["error"]) for r in res]
    check(got == [(TOPIC, "nope", E_UNKNOWN_TOPIC), (TOPIC, "cfg", 0),
                  (TOPIC, "bad name!", E_INVALID_TOPIC), (BROKER, "", 0),
                  (BROKER, "7", E_REQUEST), (BROKER, "x", E_REQUEST), (BROKER_LOGGER, NODE, 0),
                  (9, "whatever", E_REQUEST)], "several resources, in order: %s" % got)
    check("nope" in (res[0]["message"] or ""), "unknown topic message names it: %s"
          % res[0]["message"])
    check(res[3]["configs"] == {}, "cluster-wide defaults: no dynamic ones")
    check(res[6]["configs"] == {}, "broker loggers: none to describe")
    check(all(r["configs"] == {} for r in res if r["error"]), "errors carry no configs")


def run_broker(b):
    c = Conn(b)
    for v in range(5):
        res = describe(c, v, [(BROKER, NODE, None)], synonyms=True, docs=True)[0]
        cfg = res["configs"]
        check(res["error"] == 0 and "log.retention.hours" in cfg and "num.partitions" in cfg and
              "message.max.bytes" in cfg and "log.dirs" in cfg,
              "v%d: broker keys described (%d)" % (v, len(cfg)))
        check(all(x["read_only"] and not x["sensitive"] for x in cfg.values()),
              "v%d: every broker key read-only" % v)
        lrh, np = cfg["log.retention.hours"], cfg["num.partitions"]
        check(lrh["value"] == "100" and np["value"] == "1", "v%d: broker values" % v)
        if v == 0:
            check(lrh["is_default"] is False and np["is_default"] is True,
                  "v0: IsDefault of the broker keys")
            continue
        check(lrh["source"] == SRC_STATIC and np["source"] == SRC_DEFAULT,
              "v%d: STATIC_BROKER_CONFIG for a key set at start, else DEFAULT_CONFIG" % v)
        check(lrh["synonyms"] == [("log.retention.hours", "100", SRC_STATIC),
                                  ("log.retention.hours", "168", SRC_DEFAULT)],
              "v%d: broker synonyms %s" % (v, lrh["synonyms"]))
        if v >= 3:
            check(lrh["type"] == T_INT and cfg["log.dirs"]["type"] == T_LIST and
                  cfg["auto.create.topics.enable"]["type"] == T_BOOLEAN and
                  cfg["log.retention.ms"]["type"] == T_LONG, "v%d: broker types" % v)
            check(lrh["doc"], "v%d: broker documentation" % v)

    # A topic falls back to the broker's static setting.
    check(c.create_topic("fallback", 1)[0] == 0, "create fallback")
    _, cfg = topic_configs(c, "fallback", ["retention.ms"], synonyms=True)
    rm = cfg["retention.ms"]
    check(rm["value"] == str(100 * 3600 * 1000) and rm["source"] == SRC_STATIC and
          rm["synonyms"] == [("log.retention.hours", "100", SRC_STATIC),
                             ("log.retention.hours", "168", SRC_DEFAULT)],
          "retention.ms from log.retention.hours=100: %s" % rm)

    # No broker key can change while the broker runs.
    for v in range(3):
        got = alter(c, v, [(BROKER, NODE, [("num.partitions", "3")]),
                           (BROKER, "", [("log.retention.hours", "1")]),
                           (BROKER, "9", [("num.partitions", "3")]),
                           (BROKER_LOGGER, NODE, [("root", "DEBUG")])])
        got += alter(c, v, [(BROKER, NODE, [("no.such", "1")])])
        codes = [g[0] for g in got]
        check(codes == [E_REQUEST, E_REQUEST, E_REQUEST, E_REQUEST, E_CONFIG],
              "AlterConfigs v%d on the broker refused: %s" % (v, codes))
        check("Cannot update these configs dynamically" in (got[0][1] or "") and
              "num.partitions" in got[0][1], "read-only message names the key: %s" % got[0][1])
        check("no.such" in (got[4][1] or ""), "unknown broker key named: %s" % got[4][1])
    for v in range(2):
        got = incr(c, v, [(BROKER, NODE, [("log.segment.bytes", SET, "100000")]),
                          (BROKER, NODE, [])])
        check([g[0] for g in got] == [E_REQUEST, E_REQUEST],
              "IncrementalAlterConfigs v%d on the broker refused (and the duplicate)" % v)
    got = incr(c, 1, [(BROKER, NODE, [])])
    check(got[0][0] == 0, "an empty change of the broker is no error")
    _, cfg = topic_configs(c, "fallback", ["retention.ms"])
    check(cfg["retention.ms"]["value"] == str(100 * 3600 * 1000), "broker unchanged")


def run_alter(b):
    c = Conn(b)
    check(c.create_topic("alt", 3, [("retention.ms", "1000"), ("segment.ms", "60000")])[0] == 0,
          "create alt")

    # AlterConfigs replaces the whole explicit set.
    for v in range(3):
        got = alter(c, v, [(TOPIC, "alt", [("max.message.bytes", str(5000 + v)),
                                           ("cleanup.policy", "compact")])])
        check(got == [(0, None, TOPIC, "alt")], "AlterConfigs v%d: %s" % (v, got))
        _, cfg = topic_configs(c, "alt")
        explicit = {k: x["value"] for k, x in cfg.items() if x["source"] == SRC_TOPIC}
        check(explicit == {"max.message.bytes": str(5000 + v), "cleanup.policy": "compact"},
              "AlterConfigs v%d: the explicit set replaced: %s" % (v, explicit))
        check(cfg["retention.ms"]["value"] == str(100 * 3600 * 1000) and
              cfg["retention.ms"]["source"] == SRC_STATIC,
              "retention.ms back to the broker's log.retention.hours")

    # validate_only changes nothing, but answers as the change would.
    got = alter(c, 1, [(TOPIC, "alt", [("retention.ms", "5")])], validate_only=True)
    _, cfg = topic_configs(c, "alt", ["retention.ms", "max.message.bytes"])
    check(got[0][0] == 0 and cfg["retention.ms"]["source"] == SRC_STATIC and
          cfg["max.message.bytes"]["source"] == SRC_TOPIC, "AlterConfigs validate_only")
    got = alter(c, 1, [(TOPIC, "alt", [("retention.ms", "abc")])], validate_only=True)
    check(got[0][0] == E_CONFIG and "retention.ms" in got[0][1],
          "validate_only still refuses a bad value: %s" % (got[0],))

    # Refusals, each on its own resource; the good one beside them is applied.
    check(c.create_topic("alt2", 1)[0] == 0, "create alt2")
    got = alter(c, 2, [(TOPIC, "alt", [("retention.ms", "-5")]),
                       (TOPIC, "alt2", [("retention.ms", "7200000")]),
                       (TOPIC, "nope", [("retention.ms", "1")]),
                       (TOPIC, "bad/name", []),
                       (TOPIC, "alt3", []),
                       (5, "x", [])])
    codes = [g[0] for g in got]
    check(codes == [E_CONFIG, 0, E_UNKNOWN_TOPIC, E_INVALID_TOPIC, E_UNKNOWN_TOPIC, E_REQUEST],
          "AlterConfigs refusals per resource: %s" % codes)
    check("retention.ms" in got[0][1], "invalid value message names the key: %s" % got[0][1])
    _, cfg = topic_configs(c, "alt2", ["retention.ms"])
    check(cfg["retention.ms"]["value"] == "7200000", "the good resource was applied")
    got = alter(c, 0, [(TOPIC, "alt2", [("no.such.config", "1")])])
    check(got[0][0] == E_CONFIG and "no.such.config" in got[0][1],
          "unknown name: INVALID_CONFIG naming it: %s" % (got[0],))
    got = alter(c, 0, [(TOPIC, "alt2", [("retention.ms", None)])])
    check(got[0][0] == E_REQUEST and "retention.ms" in got[0][1],
          "a null value in AlterConfigs: INVALID_REQUEST: %s" % (got[0],))
    got = alter(c, 0, [(TOPIC, "alt2", [("retention.ms", "1"), ("retention.ms", "2")])])
    check(got[0][0] == E_REQUEST, "the same key twice: INVALID_REQUEST: %s" % (got[0],))
    got = alter(c, 0, [(TOPIC, "alt2", []), (TOPIC, "alt2", [])])
    check([g[0] for g in got] == [E_REQUEST, E_REQUEST],
          "the same resource twice: INVALID_REQUEST for both: %s" % got)
    _, cfg = topic_configs(c, "alt2", ["retention.ms"])
    check(cfg["retention.ms"]["value"] == "7200000", "refused requests changed nothing")


def run_incremental(b):
    c = Conn(b)
    check(c.create_topic("inc", 2, [("retention.ms", "1000"), ("segment.ms", "60000")])[0] == 0,
          "create inc")
    for v in range(2):
        got = incr(c, v, [(TOPIC, "inc", [("retention.ms", SET, str(2000 + v)),
                                          ("segment.ms", DELETE, None),
                                          ("cleanup.policy", APPEND, "compact")])])
        check(got == [(0, None, TOPIC, "inc")], "IncrementalAlterConfigs v%d: %s" % (v, got))
        _, cfg = topic_configs(c, "inc", ["retention.ms", "segment.ms", "cleanup.policy"])
        check(cfg["retention.ms"]["value"] == str(2000 + v) and
              cfg["segment.ms"]["source"] == SRC_DEFAULT and
              cfg["segment.ms"]["value"] == "604800000" and
              cfg["cleanup.policy"]["value"] == "delete,compact",
              "v%d: SET, DELETE and APPEND (onto the default) in one request: %s"
              % (v, {k: x["value"] for k, x in cfg.items()}))
        # Put it back for the next round.
        incr(c, v, [(TOPIC, "inc", [("segment.ms", SET, "60000"),
                                    ("cleanup.policy", DELETE, None)])])

    # APPEND what is there already: unchanged; SUBTRACT one item; SUBTRACT what is absent.
    incr(c, 1, [(TOPIC, "inc", [("cleanup.policy", SET, "delete")])])
    got = incr(c, 1, [(TOPIC, "inc", [("cleanup.policy", APPEND, "delete,compact")])])
    _, cfg = topic_configs(c, "inc", ["cleanup.policy"])
    check(got[0][0] == 0 and cfg["cleanup.policy"]["value"] == "delete,compact",
          "APPEND skips items already there: %s" % cfg["cleanup.policy"]["value"])
    got = incr(c, 1, [(TOPIC, "inc", [("cleanup.policy", SUBTRACT, "delete")])])
    _, cfg = topic_configs(c, "inc", ["cleanup.policy"])
    check(got[0][0] == 0 and cfg["cleanup.policy"]["value"] == "compact",
          "SUBTRACT removes an item: %s" % cfg["cleanup.policy"]["value"])
    got = incr(c, 1, [(TOPIC, "inc", [("cleanup.policy", SUBTRACT, "delete")])])
    _, cfg = topic_configs(c, "inc", ["cleanup.policy"])
    check(got[0][0] == 0 and cfg["cleanup.policy"]["value"] == "compact",
          "SUBTRACT of an absent item changes nothing")
    got = incr(c, 1, [(TOPIC, "inc", [("cleanup.policy", SUBTRACT, "compact")])])
    check(got[0][0] == E_CONFIG and "cleanup.policy" in got[0][1],
          "SUBTRACT leaving an empty policy: INVALID_CONFIG: %s" % (got[0],))
    got = incr(c, 1, [(TOPIC, "inc", [("follower.replication.throttled.replicas", APPEND,
                                       "0:1"), ("leader.replication.throttled.replicas", SET,
                                                "0:1,1:1")])])
    check(got[0][0] == 0, "APPEND to the throttled-replicas list")
    got = incr(c, 1, [(TOPIC, "inc", [("leader.replication.throttled.replicas", SUBTRACT,
                                       "0:1")])])
    _, cfg = topic_configs(c, "inc", ["leader.replication.throttled.replicas",
                                      "follower.replication.throttled.replicas"])
    check(got[0][0] == 0 and cfg["leader.replication.throttled.replicas"]["value"] == "1:1" and
          cfg["follower.replication.throttled.replicas"]["value"] == "0:1",
          "SUBTRACT from the throttled-replicas list: %s" % {k: x["value"] for k, x in cfg.items()})

    # Refusals.
    before = topic_configs(c, "inc")[1]
    cases = [
        ([("retention.ms", APPEND, "5")], E_CONFIG, "retention.ms", "APPEND to a non-list"),
        ([("segment.ms", SUBTRACT, "5")], E_CONFIG, "segment.ms", "SUBTRACT from a non-list"),
        ([("no.such", SET, "1")], E_CONFIG, "no.such", "SET of an unknown name"),
        ([("no.such", DELETE, None)], E_CONFIG, "no.such", "DELETE of an unknown name"),
        ([("segment.bytes", SET, "10")], E_CONFIG, "segment.bytes", "a value out of range"),
        ([("compression.type", SET, "brotli")], E_CONFIG, "compression.type", "a bad enum"),
        ([("retention.ms", SET, None)], E_REQUEST, "retention.ms", "SET of null"),
        ([("retention.ms", 9, "1")], E_REQUEST, "retention.ms", "an unknown operation"),
        ([("retention.ms", SET, "1"), ("retention.ms", DELETE, None)], E_REQUEST, "duplicate",
         "the same key twice"),
        ([("retention.ms", SET, "77"), ("segment.bytes", SET, "x")], E_CONFIG, "segment.bytes",
         "one bad op refuses the whole resource"),
    ]
    for ops, code, word, what in cases:
        got = incr(c, 1, [(TOPIC, "inc", ops)])
        check(got[0][0] == code and word in (got[0][1] or ""), "%s: %s" % (what, got[0]))
    check(topic_configs(c, "inc")[1] == before, "refusals changed nothing")
    got = incr(c, 0, [(TOPIC, "inc", []), (TOPIC, "nope", [("retention.ms", SET, "1")]),
                      (TOPIC, "inc", [])])
    check([g[0] for g in got] == [E_REQUEST, E_UNKNOWN_TOPIC, E_REQUEST],
          "duplicate resources and an unknown topic: %s" % got)

    # validate_only.
    got = incr(c, 1, [(TOPIC, "inc", [("retention.ms", SET, "99")])], validate_only=True)
    check(got[0][0] == 0 and topic_configs(c, "inc")[1] == before,
          "IncrementalAlterConfigs validate_only changes nothing")
    got = incr(c, 1, [(TOPIC, "inc", [("retention.ms", SET, "-9")])], validate_only=True)
    check(got[0][0] == E_CONFIG, "validate_only refuses a bad value")

    # DELETE of a key that is not set: no error, nothing written.
    got = incr(c, 1, [(TOPIC, "inc", [("preallocate", DELETE, None)])])
    check(got[0][0] == 0 and topic_configs(c, "inc")[1] == before,
          "DELETE of an unset key is a no-op")
    # Final state for the restart check.
    got = incr(c, 1, [(TOPIC, "inc", [("retention.ms", SET, "4242"),
                                      ("cleanup.policy", SET, "compact,delete")])])
    check(got[0][0] == 0, "final change of inc")


def run_bounds(b):
    """Large requests are answered in time and in full, and nothing is changed."""
    c = Conn(b)
    t0 = time.time()
    ops = [("k%05d.no.such" % i, SET, "1") for i in range(5000)]
    got = incr(c, 1, [(TOPIC, "inc", ops)])
    check(got[0][0] == E_CONFIG, "5000 unknown keys in one resource: INVALID_CONFIG")
    ops = [("retention.ms", SET, str(i)) for i in range(5000)]
    got = incr(c, 1, [(TOPIC, "inc", ops)])
    check(got[0][0] == E_REQUEST, "5000 times the same key: INVALID_REQUEST")
    got = alter(c, 2, [(TOPIC, "inc", [])] * 5000)
    check(len(got) == 5000 and all(g[0] == E_REQUEST for g in got),
          "5000 times the same resource: INVALID_REQUEST for each")
    res = describe(c, 4, [(TOPIC, "inc", ["retention.ms"] * 20000)] * 20)
    check(len(res) == 20 and all(sorted(r["configs"]) == ["retention.ms"] for r in res),
          "20 resources with 20000 keys each described")
    check(time.time() - t0 < 20, "large requests answered in %.1f s" % (time.time() - t0))
    _, cfg = topic_configs(c, "inc", ["retention.ms"])
    check(cfg["retention.ms"]["value"] == "4242", "nothing changed")


def run_restart(b):
    restart_same_port(b)
    c = Conn(b)
    _, cfg = topic_configs(c, "inc", ["retention.ms", "cleanup.policy", "segment.ms"])
    check(cfg["retention.ms"]["value"] == "4242" and
          cfg["cleanup.policy"]["value"] == "compact,delete" and
          cfg["segment.ms"]["value"] == "60000",
          "inc's configs survive a restart: %s" % {k: x["value"] for k, x in cfg.items()})
    _, cfg = topic_configs(c, "alt")
    explicit = {k: x["value"] for k, x in cfg.items() if x["source"] == SRC_TOPIC}
    check(explicit == {"max.message.bytes": "5002", "cleanup.policy": "compact"},
          "alt's replaced set survives a restart: %s" % explicit)


def main():
    with Broker(exe, extra=["--smp", smp, "--set", "auto.create.topics.enable=false",
                            "--set", "log.retention.hours=100"]) as b:
        ok = guard("run_describe", run_describe, b)
        ok = guard("run_broker", run_broker, b) and ok
        ok = guard("run_alter", run_alter, b) and ok
        ok = guard("run_incremental", run_incremental, b) and ok
        ok = guard("run_bounds", run_bounds, b) and ok
        if ok:
            guard("run_restart", run_restart, b)
        rc = b.stop()
        check(rc == 0, "broker exits 0 on SIGTERM (%s)" % rc)
        if failures:
            print(b.log_text())
    finish()


main()
