// spindle-test: runner=node variants=matrix
// KafkaJS 2.x against a real broker: admin creates a topic (and is told
// when it already exists), describes and deletes it; a plain producer and
// an idempotent one (InitProducerId) send keyed messages with headers, some
// gzip-compressed, with acks=all; fetchTopicOffsets and
// fetchTopicOffsetsByTimestamp list offsets. KafkaJS's consumer works only
// inside a consumer group, whose APIs Spindle does not serve yet, so the
// messages are read back with KafkaJS's own Fetch request through its
// cluster object; every key, value, header, partition and offset is checked.
import { check, checkEqual, keyPartition, requireClient, withBroker } from './clients_harness.mjs';

const kafkajs = await requireClient('kafkajs');
const { Kafka, logLevel, CompressionTypes, Partitioners } = kafkajs.default ?? kafkajs;

const TOPIC = 'kafkajs-events';
const PARTITIONS = 3;

// KafkaJS keeps its cluster factory behind a symbol; this is the client's
// own connection and request code, only reached without a consumer group.
function kafkaCluster(kafka) {
    const sym = Object.getOwnPropertySymbols(kafka).find((s) => String(s).includes('createCluster'));
    check(sym !== undefined, 'KafkaJS has no cluster factory');
    return kafka[sym]({ allowAutoTopicCreation: false });
}

async function fetchAll(kafka, topic, ends) {
    const cluster = kafkaCluster(kafka);
    await cluster.connect();
    try {
        await cluster.addTargetTopic(topic);
        await cluster.refreshMetadata();
        const got = {};
        for (const [p, end] of Object.entries(ends)) {
            got[p] = [];
            let offset = 0n;
            for (let round = 0; offset < BigInt(end) && round < 100; round++) {
                const leader = cluster.findTopicPartitionMetadata(topic).find((m) => m.partitionId === Number(p)).leader;
                const broker = await cluster.findBroker({ nodeId: String(leader) });
                const res = await broker.fetch({
                    replicaId: -1,
                    isolationLevel: 1,
                    maxWaitTime: 100,
                    minBytes: 1,
                    maxBytes: 1 << 20,
                    topics: [{ topic, partitions: [{ partition: Number(p), fetchOffset: String(offset), maxBytes: 1 << 20 }] }],
                });
                const part = res.responses[0].partitions[0];
                checkEqual([res.responses[0].topicName, part.partition, part.errorCode], [topic, Number(p), 0], 'fetch answer');
                checkEqual(part.highWatermark, String(end), `partition ${p} high watermark`);
                for (const m of part.messages) {
                    if (BigInt(m.offset) < offset) continue; // a batch starts before the fetch offset
                    got[p].push(m);
                    offset = BigInt(m.offset) + 1n;
                }
            }
        }
        return got;
    } finally {
        await cluster.disconnect();
    }
}

function headersOf(m) {
    const out = {};
    for (const [k, v] of Object.entries(m.headers || {})) out[k] = Buffer.isBuffer(v) ? v.toString() : String(v);
    return out;
}

await withBroker(['--set', 'auto.create.topics.enable=false'], async (b) => {
    const kafka = new Kafka({ clientId: 'spindle-it', brokers: [b.bootstrap], logLevel: logLevel.ERROR,
        retry: { retries: 3 } });
    const admin = kafka.admin();
    await admin.connect();

    // Create, and be told it exists.
    const created = await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: PARTITIONS, replicationFactor: 1 }], waitForLeaders: true });
    checkEqual(created, true, 'createTopics');
    const again = await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: PARTITIONS }] });
    checkEqual(again, false, 'createTopics of an existing topic');
    const listed = await admin.listTopics();
    checkEqual(listed, [TOPIC], 'listTopics');
    const md = await admin.fetchTopicMetadata({ topics: [TOPIC] });
    checkEqual(md.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => [p.partitionId, p.leader, p.replicas, p.isr]).sort((x, y) => x[0] - y[0]),
    })), [{ name: TOPIC, partitions: [...Array(PARTITIONS).keys()].map((p) => [p, 1, [1], [1]]) }], 'fetchTopicMetadata');

    // A plain producer: explicit partitions, then keys; acks=all.
    const sent = []; // {partition, key, value, headers}
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
    await producer.connect();
    const explicit = [];
    for (let i = 0; i < 9; i++) {
        explicit.push({ partition: i % PARTITIONS, key: `explicit-${i}`, value: `value ${i}`, headers: { source: 'kafkajs', n: String(i) } });
    }
    let res = await producer.send({ topic: TOPIC, acks: -1, messages: explicit });
    checkEqual(res.map((r) => [r.topicName, r.partition, r.errorCode, r.baseOffset]).sort((x, y) => x[1] - y[1]),
        [[TOPIC, 0, 0, '0'], [TOPIC, 1, 0, '0'], [TOPIC, 2, 0, '0']], 'first send: metadata');
    sent.push(...explicit);

    const keyed = [];
    for (let i = 0; i < 60; i++) {
        keyed.push({ key: `user-${i % 7}`, value: `event ${i}`, headers: { seq: String(i) } });
    }
    res = await producer.send({ topic: TOPIC, acks: -1, compression: CompressionTypes.GZIP, messages: keyed });
    check(res.every((r) => r.errorCode === 0), 'gzip send errors: ' + JSON.stringify(res));
    for (const m of keyed) sent.push({ ...m, partition: keyPartition(m.key, PARTITIONS) });
    await producer.disconnect();

    // The idempotent producer: InitProducerId first, sequences per batch.
    const idem = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
    await idem.connect();
    for (let round = 0; round < 3; round++) {
        const batch = [];
        for (let i = 0; i < 5; i++) batch.push({ partition: 1, key: null, value: `idempotent ${round}.${i}`, headers: {} });
        res = await idem.send({ topic: TOPIC, acks: -1, messages: batch });
        check(res.length === 1 && res[0].errorCode === 0 && res[0].partition === 1, 'idempotent send: ' + JSON.stringify(res));
        sent.push(...batch);
    }
    await idem.disconnect();

    const want = {};
    for (let p = 0; p < PARTITIONS; p++) want[p] = sent.filter((m) => m.partition === p);
    const ends = Object.fromEntries(Object.entries(want).map(([p, v]) => [p, v.length]));

    // List offsets: earliest 0, latest = count, per partition.
    const offs = await admin.fetchTopicOffsets(TOPIC);
    checkEqual(offs.map((o) => [o.partition, o.low, o.high, o.offset]).sort((x, y) => x[0] - y[0]),
        Object.entries(ends).map(([p, n]) => [Number(p), '0', String(n), String(n)]), 'fetchTopicOffsets');

    // Read everything back.
    const got = await fetchAll(kafka, TOPIC, ends);
    for (let p = 0; p < PARTITIONS; p++) {
        const have = got[p].map((m) => ({ offset: m.offset, key: m.key === null ? null : m.key.toString(), value: m.value.toString(), headers: headersOf(m) }));
        const exp = want[p].map((m, i) => ({ offset: String(i), key: m.key, value: m.value, headers: m.headers }));
        checkEqual(have, exp, `partition ${p} contents`);
    }

    // By timestamp: a time after everything gives the end (-1 when none),
    // a time before everything gives offset 0.
    const first = await admin.fetchTopicOffsetsByTimestamp(TOPIC, 0);
    checkEqual(first.map((o) => [o.partition, o.offset]).sort((x, y) => x[0] - y[0]),
        Object.keys(ends).map((p) => [Number(p), '0']), 'offsets at timestamp 0');
    const maxTs = Math.max(...Object.values(got).flat().map((m) => Number(m.timestamp)));
    const later = await admin.fetchTopicOffsetsByTimestamp(TOPIC, maxTs + 1);
    checkEqual(later.map((o) => [o.partition, o.offset]).sort((x, y) => x[0] - y[0]),
        Object.entries(ends).map(([p, n]) => [Number(p), String(n)]), 'offsets after the last timestamp');

    // Delete: gone from the listing.
    await admin.deleteTopics({ topics: [TOPIC] });
    checkEqual(await admin.listTopics(), [], 'listTopics after delete');
    await admin.disconnect();
    console.log(`ok: KafkaJS produced and read ${sent.length} messages in ${PARTITIONS} partitions`);
});
