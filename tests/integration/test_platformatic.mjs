// spindle-test: runner=node variants=matrix
// @platformatic/kafka 1.x against a real broker: Admin creates a topic (an
// existing name is refused with TOPIC_ALREADY_EXISTS), describes it through
// metadata, lists offsets (earliest, latest, by timestamp) and deletes it;
// a Producer sends keyed messages with headers with acks=all, uncompressed
// and with every codec this Node has (gzip, snappy, lz4; zstd needs Node
// 22), and an idempotent Producer sends more. Its consumer streams need a
// consumer group (not served yet), so the data is read back with
// Consumer.fetch, the client's own Fetch (v12+, topic ids), and checked
// message by message: key, value, headers, partition, offset.
import { check, checkEqual, requireClient, withBroker } from './clients_harness.mjs';

const pk = await requireClient('@platformatic/kafka');
const { Admin, Producer, Consumer, ProduceAcks, stringSerializers, compressionsAlgorithms } = pk;

const TOPIC = 'platformatic-events';
const PARTITIONS = 3;
const CODECS = ['none', 'gzip', 'snappy', 'lz4', 'zstd'].filter((c) => compressionsAlgorithms[c]?.available);

const base = (b) => ({ clientId: 'spindle-it', bootstrapBrokers: [b.bootstrap], retries: 2, timeout: 20000 });

function recordsOf(partition) {
    const out = [];
    for (const batch of partition.records ?? []) {
        for (const r of batch.records) {
            out.push({
                offset: batch.firstOffset + BigInt(r.offsetDelta),
                timestamp: batch.firstTimestamp + r.timestampDelta,
                key: r.key === null ? null : r.key.toString(),
                value: r.value === null ? null : r.value.toString(),
                headers: Object.fromEntries(r.headers.map(([k, v]) => [k.toString(), v.toString()])),
            });
        }
    }
    return out;
}

async function readAll(b, topicId, ends) {
    const consumer = new Consumer({ ...base(b), groupId: 'spindle-it-unused' });
    try {
        const got = {};
        for (const [p, end] of Object.entries(ends)) {
            got[p] = [];
            let offset = 0n;
            for (let round = 0; offset < BigInt(end) && round < 100; round++) {
                const res = await consumer.fetch({
                    node: b.nodeId,
                    maxWaitTime: 100,
                    topics: [{ topicId, partitions: [{ partition: Number(p), currentLeaderEpoch: -1, fetchOffset: offset, lastFetchedEpoch: -1, partitionMaxBytes: 1 << 20 }] }],
                });
                checkEqual([res.errorCode, res.responses.length], [0, 1], 'fetch answer');
                const part = res.responses[0].partitions[0];
                checkEqual([res.responses[0].topicId, part.partitionIndex, part.errorCode, part.highWatermark],
                    [topicId, Number(p), 0, BigInt(end)], `fetch partition ${p}`);
                for (const r of recordsOf(part)) {
                    if (r.offset < offset) continue;
                    got[p].push(r);
                    offset = r.offset + 1n;
                }
            }
        }
        return got;
    } finally {
        await consumer.close();
    }
}

await withBroker(['--set', 'auto.create.topics.enable=false'], async (b) => {
    const admin = new Admin(base(b));
    try {
        const created = await admin.createTopics({ topics: [TOPIC], partitions: PARTITIONS, replicas: 1 });
        checkEqual(created.map((t) => [t.name, t.partitions, t.replicas]), [[TOPIC, PARTITIONS, 1]], 'createTopics');
        let refused = null;
        try {
            await admin.createTopics({ topics: [TOPIC], partitions: PARTITIONS, replicas: 1 });
        } catch (err) {
            refused = err;
        }
        check(refused && refused.findBy?.('apiId', 'TOPIC_ALREADY_EXISTS'), 'second createTopics: ' + refused);
        checkEqual(await admin.listTopics(), [TOPIC], 'listTopics');

        const md = await admin.metadata({ topics: [TOPIC], forceUpdate: true });
        const tm = md.topics.get(TOPIC);
        check(tm && typeof tm.id === 'string' && tm.id !== '00000000-0000-0000-0000-000000000000', 'topic id ' + (tm && tm.id));
        checkEqual(tm.partitions.map((p) => [p.leader, p.replicas, p.isr]), Array(PARTITIONS).fill([1, [1], [1]]), 'partition metadata');
        checkEqual([...md.brokers.keys()], [1], 'brokers');

        // One send per codec; partitions explicit, keys and headers set.
        const producer = new Producer({ ...base(b), serializers: stringSerializers, acks: ProduceAcks.ALL });
        const want = { 0: [], 1: [], 2: [] };
        try {
            for (const codec of CODECS) {
                const messages = [];
                for (let i = 0; i < 12; i++) {
                    messages.push({ topic: TOPIC, partition: i % PARTITIONS, key: `${codec}-k${i}`,
                        value: `${codec} value ${i} ${'z'.repeat(i * 10)}`, headers: { codec, n: String(i) } });
                }
                const res = await producer.send({ messages, compression: codec });
                const offsets = (res.offsets ?? []).map((o) => [o.topic, o.partition, o.offset]).sort((x, y) => x[1] - y[1]);
                checkEqual(offsets, [0, 1, 2].map((p) => [TOPIC, p, BigInt(want[p].length)]), `${codec} send offsets`);
                for (const m of messages) want[m.partition].push({ key: m.key, value: m.value, headers: m.headers });
            }
        } finally {
            await producer.close();
        }

        const idem = new Producer({ ...base(b), serializers: stringSerializers, idempotent: true });
        try {
            for (let round = 0; round < 3; round++) {
                const messages = [0, 1, 2, 3].map((i) => ({ topic: TOPIC, partition: 2, key: `idem-${round}-${i}`, value: `idempotent ${round}.${i}`, headers: {} }));
                const res = await idem.send({ messages });
                checkEqual(res.offsets.map((o) => [o.partition, o.offset]), [[2, BigInt(want[2].length)]], `idempotent send ${round}`);
                for (const m of messages) want[2].push({ key: m.key, value: m.value, headers: m.headers });
            }
        } finally {
            await idem.close();
        }
        const ends = Object.fromEntries(Object.entries(want).map(([p, v]) => [p, v.length]));

        // List offsets: earliest, latest, and by timestamp.
        const listed = async (timestamp) => {
            const r = await admin.listOffsets({ topics: [{ name: TOPIC, partitions: [0, 1, 2].map((p) => ({ partitionIndex: p, timestamp })) }] });
            checkEqual(r.map((t) => t.name), [TOPIC], 'listOffsets topic');
            return r[0].partitions.map((p) => [p.partitionIndex, p.offset]).sort((x, y) => x[0] - y[0]);
        };
        checkEqual(await listed(-2n), [0, 1, 2].map((p) => [p, 0n]), 'earliest offsets');
        checkEqual(await listed(-1n), [0, 1, 2].map((p) => [p, BigInt(ends[p])]), 'latest offsets');

        const got = await readAll(b, tm.id, ends);
        for (let p = 0; p < PARTITIONS; p++) {
            checkEqual(got[p].map((r) => ({ offset: r.offset, key: r.key, value: r.value, headers: r.headers })),
                want[p].map((m, i) => ({ offset: BigInt(i), ...m })), `partition ${p} contents`);
        }
        // By timestamp: the first message at or after the last message's time.
        const last = got[0][got[0].length - 1];
        const firstAt = got[0].find((r) => r.timestamp >= last.timestamp).offset;
        const byTs = await listed(last.timestamp);
        checkEqual(byTs[0], [0, firstAt], 'offset of partition 0 by timestamp');

        await admin.deleteTopics({ topics: [TOPIC] });
        checkEqual(await admin.listTopics(), [], 'listTopics after delete');
        console.log(`ok: @platformatic/kafka sent and read ${Object.values(ends).reduce((a, n) => a + n, 0)} messages, codecs ${CODECS.join(',')}`);
    } finally {
        await admin.close();
    }
});
