// spindle-test: runner=node variants=matrix
// The admin APIs through two real clients. KafkaJS: admin.deleteTopicRecords
// (an offset and '-1', the high watermark), then fetchTopicOffsets' low and
// a consumer group reading from the beginning starts at the new log start.
// @platformatic/kafka: Admin.deleteRecords, Admin.listOffsets (earliest),
// Admin.describeLogDirs, and its raw API functions for DescribeCluster v0/v1,
// DescribeTopicPartitions (paging with its cursor), DescribeProducers after
// its idempotent Producer wrote, and a refused DeleteRecords past the high
// watermark. (Its OffsetForLeaderEpoch v4 parser reads Partition before
// ErrorCode, the spec's order reversed, and none of its clients send it:
// test_admin_wire checks that API.)
import { check, checkEqual, requireClient, withBroker } from './clients_harness.mjs';

const kafkajs = await requireClient('kafkajs');
const { Kafka, logLevel } = kafkajs.default ?? kafkajs;
const pk = await requireClient('@platformatic/kafka');
const { Admin, Producer, ProduceAcks, Connection, stringSerializers } = pk;

const JS_TOPIC = 'admin-kafkajs';
const PK_TOPIC = 'admin-platformatic';

async function withKafkajs(b) {
    const kafka = new Kafka({ clientId: 'spindle-it', brokers: [b.bootstrap], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    try {
        check(await admin.createTopics({ topics: [{ topic: JS_TOPIC, numPartitions: 2 }], waitForLeaders: true }),
            'KafkaJS creates the topic');
        const producer = kafka.producer();
        await producer.connect();
        for (let p = 0; p < 2; p++) {
            await producer.send({
                topic: JS_TOPIC, acks: -1,
                messages: Array.from({ length: 10 }, (_, i) => ({ partition: p, value: `v${p}-${i}` })),
            });
        }
        await producer.disconnect();

        // deleteTopicRecords finds leaders in metadata the admin already holds.
        await admin.fetchTopicMetadata({ topics: [JS_TOPIC] });
        await admin.deleteTopicRecords({ topic: JS_TOPIC, partitions: [{ partition: 0, offset: '6' }, { partition: 1, offset: '-1' }] });
        const offsets = (await admin.fetchTopicOffsets(JS_TOPIC)).sort((x, y) => x.partition - y.partition);
        checkEqual(offsets.map((o) => [o.partition, o.low, o.high]), [[0, '6', '10'], [1, '10', '10']],
            'KafkaJS fetchTopicOffsets after deleteTopicRecords');

        // A consumer from the beginning starts at the new log start.
        const consumer = kafka.consumer({ groupId: 'admin-kafkajs-group', maxWaitTimeInMs: 100 });
        await consumer.connect();
        await consumer.subscribe({ topic: JS_TOPIC, fromBeginning: true });
        const seen = [];
        let done;
        const all = new Promise((resolve) => { done = resolve; });
        await consumer.run({
            eachMessage: async ({ partition, message }) => {
                seen.push([partition, Number(message.offset), message.value.toString()]);
                if (seen.length >= 4) done();
            },
        });
        const timer = setTimeout(done, 20000);
        await all;
        clearTimeout(timer);
        await consumer.disconnect();
        checkEqual(seen.sort((x, y) => x[1] - y[1]), [6, 7, 8, 9].map((o) => [0, o, `v0-${o}`]),
            'KafkaJS consumer reads from the new log start');
    } finally {
        await admin.disconnect();
    }
}

const base = (b) => ({ clientId: 'spindle-it', bootstrapBrokers: [b.bootstrap], retries: 2, timeout: 20000 });

async function raw(b, fn) {
    const conn = new Connection('spindle-it');
    await conn.connect(b.host, b.port);
    try {
        return await fn(conn);
    } finally {
        await conn.close();
    }
}

async function withPlatformatic(b) {
    const admin = new Admin(base(b));
    try {
        await admin.createTopics({ topics: [PK_TOPIC], partitions: 3, replicas: 1 });
        for (const [name, n] of [['pk-a', 2], ['pk-b', 3]]) {
            await admin.createTopics({ topics: [name], partitions: n, replicas: 1 });
        }
        const producer = new Producer({ ...base(b), idempotent: true, serializers: stringSerializers });
        try {
            const messages = [];
            for (let p = 0; p < 3; p++) {
                for (let i = 0; i < 8; i++) messages.push({ topic: PK_TOPIC, partition: p, key: `k${i}`, value: `x${p}-${i}` });
            }
            await producer.send({ messages, acks: ProduceAcks.ALL });
        } finally {
            await producer.close();
        }

        const deleted = await admin.deleteRecords({
            topics: [{ name: PK_TOPIC, partitions: [{ partition: 0, offset: 3n }, { partition: 2, offset: -1n }] }],
        });
        checkEqual(deleted.map((t) => [t.name, t.partitions.map((p) => [p.partition, p.lowWatermark]).sort()]),
            [[PK_TOPIC, [[0, 3n], [2, 8n]]]], '@platformatic/kafka deleteRecords');
        const earliest = await admin.listOffsets({ topics: [{ name: PK_TOPIC, partitions: [0, 1, 2].map((p) => ({ partitionIndex: p, timestamp: -2n })) }] });
        checkEqual(earliest[0].partitions.map((p) => [p.partitionIndex, p.offset]).sort((x, y) => x[0] - y[0]),
            [[0, 3n], [1, 0n], [2, 8n]], 'listOffsets earliest after deleteRecords');
        let refused = null;
        try {
            await admin.deleteRecords({ topics: [{ name: PK_TOPIC, partitions: [{ partition: 1, offset: 99n }] }] });
        } catch (err) {
            refused = err;
        }
        // An AggregateError of the brokers' failures, each of the partitions' errors.
        const messages = (e) => (e ? [e.message, ...(e.errors ?? []).flatMap(messages)] : []);
        const why = messages(refused).join(' / ');
        check(why.includes('not within the range of offsets'),
            `deleteRecords past the high watermark is OFFSET_OUT_OF_RANGE (${why})`);

        const dirs = await admin.describeLogDirs({ topics: [{ name: PK_TOPIC, partitions: [0, 1, 2] }] });
        checkEqual([dirs.length, dirs[0].broker, dirs[0].results.length], [1, b.nodeId, 1], 'describeLogDirs: one broker, one dir');
        const r = dirs[0].results[0];
        check(r.logDir.endsWith(b.dataDir.split('/').pop()) && r.logDir.startsWith('/'), `log dir ${r.logDir}`);
        check(r.totalBytes > 0n && r.usableBytes > 0n && r.usableBytes <= r.totalBytes, 'total and usable bytes');
        const parts = r.topics.find((t) => t.name === PK_TOPIC).partitions.sort((x, y) => x.partitionIndex - y.partitionIndex);
        checkEqual(parts.map((p) => [p.partitionIndex, p.offsetLag, p.isFutureKey]), [[0, 0n, false], [1, 0n, false], [2, 0n, false]],
            'describeLogDirs partitions');
        check(parts.every((p) => p.partitionSize > 100n), 'partition sizes');
    } finally {
        await admin.close();
    }

    await raw(b, async (conn) => {
        for (const v of [0, 1]) {
            const api = v === 0 ? pk.describeClusterV0.api : pk.describeClusterV1.api;
            const res = v === 0 ? await api.async(conn, true) : await api.async(conn, true, 1);
            checkEqual([res.errorCode, res.controllerId, res.clusterId.length, res.brokers.map((x) => [x.brokerId, x.host, x.port, x.rack])],
                [0, b.nodeId, 22, [[b.nodeId, b.host, b.port, null]]], `DescribeCluster v${v}`);
            check(res.clusterAuthorizedOperations > 0, 'cluster authorized operations');
        }

        // DescribeTopicPartitions, two partitions a page, over pk-a and pk-b.
        const pages = [];
        let cursor = null;
        for (let i = 0; i < 10; i++) {
            const res = await pk.describeTopicPartitionsV0.api.async(conn, [{ name: 'pk-b' }, { name: 'pk-a' }], 2, cursor);
            pages.push(res.topics.map((t) => [t.name, t.partitions.map((p) => [p.partitionIndex, p.leaderId])]));
            cursor = res.nextCursor;
            if (!cursor) break;
        }
        checkEqual(pages, [[['pk-a', [[0, 1], [1, 1]]]], [['pk-b', [[0, 1], [1, 1]]]], [['pk-b', [[2, 1]]]]],
            'DescribeTopicPartitions pages');

        const prod = await pk.describeProducersV0.api.async(conn, [{ name: PK_TOPIC, partitionIndexes: [0, 1] }]);
        const states = prod.topics[0].partitions.map((p) => [p.partitionIndex, p.errorCode, p.activeProducers.length,
            p.activeProducers[0]?.lastSequence, p.activeProducers[0]?.coordinatorEpoch]);
        checkEqual(states, [[0, 0, 1, 7, -1], [1, 0, 1, 7, -1]], 'DescribeProducers after an idempotent produce');
    });
}

await withBroker([], async (b) => {
    await withKafkajs(b);
    await withPlatformatic(b);
});
console.log('all ok');
