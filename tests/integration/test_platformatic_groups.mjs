// spindle-test: runner=node variants=matrix
// @platformatic/kafka 1.x consumer groups against a real broker, both
// protocols. KIP-848 (groupProtocol 'consumer': ConsumerGroupHeartbeat, the
// broker's uniform assignor): two consumers of one group on a 4-partition
// topic split the partitions between them (the second join makes the first
// give some up), then read a known set of messages, each exactly once across
// the two, committing every message; the committed offsets are the ends.
// The classic protocol (JoinGroup/SyncGroup, the client's own assignor) of
// the same client works against the same broker in a group of its own and
// reads the same messages. Closing a KIP-848 consumer leaves the group (an
// epoch -1 heartbeat): it ends Empty.
import { check, checkEqual, requireClient, withBroker } from './clients_harness.mjs';

const pk = await requireClient('@platformatic/kafka');
const { Admin, Producer, Consumer, ProduceAcks, stringSerializers, stringDeserializers } = pk;

const TOPIC = 'pk-groups';
const PARTITIONS = 4;
const COUNT = 400;

const base = (b) => ({ bootstrapBrokers: [b.bootstrap], retries: 5, timeout: 20000 });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Waits until cond() holds, checking every 50 ms, up to ms.
async function waitFor(cond, ms, what) {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
        if (await cond()) return;
        await sleep(50);
    }
    throw new Error('timed out waiting for ' + what);
}

function ownedPartitions(consumer) {
    return (consumer.assignments ?? []).filter((a) => a.topic === TOPIC).flatMap((a) => a.partitions);
}

// A consumer of the group reading TOPIC from the committed offsets (earliest
// when none), committing each message after recording it.
async function startConsumer(b, groupId, clientId, protocol, seen) {
    const consumer = new Consumer({
        ...base(b), clientId, groupId, groupProtocol: protocol,
        deserializers: stringDeserializers, sessionTimeout: 10000, rebalanceTimeout: 10000,
        heartbeatInterval: 500,
    });
    const stream = await consumer.consume({
        topics: [TOPIC], mode: 'committed', fallbackMode: 'earliest', autocommit: false, maxWaitTime: 200,
    });
    stream.on('data', (m) => {
        seen.push({ by: clientId, key: m.key, partition: m.partition, offset: m.offset });
        m.commit().then(() => { seen.commits = (seen.commits ?? 0) + 1; },
            (err) => seen.push({ by: clientId, commitError: String(err) }));
    });
    stream.on('error', (err) => seen.push({ by: clientId, streamError: String(err) }));
    return { consumer, stream };
}

async function produceAll(b) {
    const producer = new Producer({ ...base(b), clientId: 'pk-producer', serializers: stringSerializers, acks: ProduceAcks.ALL });
    try {
        const messages = [];
        for (let i = 0; i < COUNT; i++) {
            messages.push({ topic: TOPIC, key: `k-${i}`, value: `v-${i}`, partition: i % PARTITIONS });
        }
        for (let i = 0; i < COUNT; i += 100) {
            await producer.send({ messages: messages.slice(i, i + 100) });
        }
    } finally {
        await producer.close();
    }
}

function checkExactlyOnce(seen, what) {
    const errors = seen.filter((s) => s.commitError || s.streamError);
    checkEqual(errors, [], `${what}: no commit or stream errors`);
    const keys = seen.map((s) => s.key).sort();
    const want = Array.from({ length: COUNT }, (_, i) => `k-${i}`).sort();
    checkEqual(keys, want, `${what}: every message exactly once`);
}

async function kip848(b, admin) {
    const group = 'pk-kip848';
    const seen = [];
    const c1 = await startConsumer(b, group, 'pk-c1', 'consumer', seen);
    await waitFor(() => ownedPartitions(c1.consumer).length === PARTITIONS, 20000, 'c1 to own all 4 partitions');
    const c2 = await startConsumer(b, group, 'pk-c2', 'consumer', seen);
    await waitFor(() => ownedPartitions(c1.consumer).length === 2 && ownedPartitions(c2.consumer).length === 2,
        20000, 'the partitions to be split 2/2');
    const all = [...ownedPartitions(c1.consumer), ...ownedPartitions(c2.consumer)].sort();
    checkEqual(all, [0, 1, 2, 3], 'the two members own each partition once');
    console.log(`ok: KIP-848 group: c1 owns ${ownedPartitions(c1.consumer)}, c2 owns ${ownedPartitions(c2.consumer)}`);

    // @platformatic/kafka 1.x delivers what a fetch sent before a revocation
    // returns, partitions given up included: let those (maxWaitTime 200 ms)
    // come back empty before there is anything to read.
    await sleep(600);
    await produceAll(b);
    await waitFor(() => seen.length >= COUNT && seen.commits >= COUNT, 30000, `${COUNT} messages and commits`);
    await sleep(500); // anything past COUNT would be a duplicate
    checkExactlyOnce(seen, 'KIP-848 group');
    const by = { 'pk-c1': 0, 'pk-c2': 0 };
    for (const s of seen) by[s.by]++;
    check(by['pk-c1'] === COUNT / 2 && by['pk-c2'] === COUNT / 2, 'each member read its two partitions: ' + JSON.stringify(by));
    for (const s of seen) {
        const owner = ownedPartitions(c1.consumer).includes(s.partition) ? 'pk-c1' : 'pk-c2';
        check(s.by === owner, `message ${s.key} of partition ${s.partition} read by its owner`);
    }

    const committed = await c1.consumer.listCommittedOffsets({ topics: [{ topic: TOPIC, partitions: [0, 1, 2, 3] }] });
    checkEqual(committed.get(TOPIC), Array(PARTITIONS).fill(BigInt(COUNT / PARTITIONS)), 'committed offsets are the ends');
    console.log(`ok: KIP-848 group read ${COUNT} messages exactly once and committed the ends`);

    await c1.consumer.close(true);
    await waitFor(() => ownedPartitions(c2.consumer).length === PARTITIONS, 20000, 'c2 to take over all 4 after c1 left');
    await c2.consumer.close(true);
    const listed = await admin.listGroups({ types: ['consumer'] });
    const g = listed.get(group);
    check(g && String(g.state).toLowerCase() === 'empty',
        'after both closed the group is Empty: ' + JSON.stringify(g, (k, v) => (typeof v === 'bigint' ? v.toString() : v)));
    console.log('ok: closing KIP-848 consumers leaves the group, the other takes over; the group ends Empty');
}

async function classic(b) {
    const seen = [];
    const c = await startConsumer(b, 'pk-classic', 'pk-classic-1', 'classic', seen);
    await waitFor(() => seen.length >= COUNT && seen.commits >= COUNT, 30000, `${COUNT} messages and commits in the classic group`);
    await sleep(300);
    checkExactlyOnce(seen, 'classic group');
    const committed = await c.consumer.listCommittedOffsets({ topics: [{ topic: TOPIC, partitions: [0, 1, 2, 3] }] });
    checkEqual(committed.get(TOPIC), Array(PARTITIONS).fill(BigInt(COUNT / PARTITIONS)), 'classic group committed offsets');
    await c.consumer.close(true);
    console.log('ok: the classic protocol of the same client reads the same messages in its own group');
}

await withBroker([
    '--set', 'offsets.topic.num.partitions=4',
    '--set', 'group.initial.rebalance.delay.ms=100',
    '--set', 'group.consumer.heartbeat.interval.ms=500',
    '--set', 'group.consumer.session.timeout.ms=10000',
], async (b) => {
    const admin = new Admin({ ...base(b), clientId: 'pk-admin' });
    try {
        await admin.createTopics({ topics: [TOPIC], partitions: PARTITIONS, replicas: 1 });
        await kip848(b, admin);
        await classic(b);
    } finally {
        await admin.close();
    }
});
