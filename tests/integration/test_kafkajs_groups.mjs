// spindle-test: runner=node variants=matrix
// KafkaJS 2.x consumer groups: two consumers in one group share a topic's
// partitions and read a known set of keyed messages exactly once between
// them (each key from the partition Kafka's partitioner gives it); the
// admin lists and describes the live group (members, client ids, hosts,
// assignments), is refused deleting it while it has members
// (NON_EMPTY_GROUP), reads its committed offsets once the members left,
// resets them to the earliest (KafkaJS joins the empty group for that) so
// that a consumer reads everything again, and finally deletes it: its
// offsets are gone and it is described as Dead.
import { check, checkEqual, keyPartition, requireClient, withBroker } from './clients_harness.mjs';

const kafkajs = await requireClient('kafkajs');
const { Kafka, logLevel, AssignerProtocol, Partitioners } = kafkajs.default ?? kafkajs;

const TOPIC = 'kafkajs-group-events';
const PARTITIONS = 4;
const GROUP = 'kafkajs-group';
const N = 120;
const E_NON_EMPTY = 68;

function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

async function until(what, cond, timeoutMs = 30000) {
    const deadline = Date.now() + timeoutMs;
    while (!(await cond())) {
        if (Date.now() > deadline) throw new Error('timed out waiting for ' + what);
        await sleep(50);
    }
}

function groupConsumer(kafka, name, seen, joins) {
    const consumer = kafka.consumer({ groupId: GROUP, sessionTimeout: 10000, rebalanceTimeout: 10000,
        heartbeatInterval: 300, maxWaitTimeInMs: 100, retry: { retries: 10 } });
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
        joins[name] = { generation: e.payload.generationId, parts: (e.payload.memberAssignment[TOPIC] || []).slice().sort() };
    });
    return {
        consumer,
        async start() {
            await consumer.connect();
            await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
            await consumer.run({
                eachMessage: async ({ partition, message }) => {
                    seen.push({ member: name, partition, offset: message.offset, key: message.key.toString(), value: message.value.toString() });
                },
            });
        },
    };
}

function partsOfAssignment(buf) {
    const a = AssignerProtocol.MemberAssignment.decode(buf);
    return (a && a.assignment[TOPIC] ? a.assignment[TOPIC] : []).slice().sort();
}

await withBroker(['--set', 'group.initial.rebalance.delay.ms=100', '--set', 'offsets.topic.num.partitions=6'], async (b) => {
    const kafka = new Kafka({ clientId: 'kjs-groups', brokers: [b.bootstrap], logLevel: logLevel.NOTHING,
        retry: { retries: 5, initialRetryTime: 100 } });
    const admin = kafka.admin();
    await admin.connect();
    checkEqual(await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: PARTITIONS }], waitForLeaders: true }), true, 'createTopics');
    checkEqual((await admin.listGroups()).groups, [], 'listGroups before any group');

    // Two members; nothing is produced until they share the partitions.
    const seen = [];
    const joins = {};
    const members = [groupConsumer(kafka, 'one', seen, joins), groupConsumer(kafka, 'two', seen, joins)];
    await members[0].start();
    await members[1].start();
    await until('both members assigned', () => {
        const j = Object.values(joins);
        return j.length === 2 && j[0].generation === j[1].generation && j.every((x) => x.parts.length > 0) &&
            [...j[0].parts, ...j[1].parts].sort().join() === [...Array(PARTITIONS).keys()].join();
    });

    // A fetch sent before the last rebalance may still be out (maxWaitTimeInMs).
    await sleep(500);
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const messages = [];
    for (let i = 0; i < N; i++) messages.push({ key: `key-${i % 13}`, value: `message-${i}` });
    await producer.send({ topic: TOPIC, acks: -1, messages });
    await producer.disconnect();
    await until(`${N} messages consumed`, () => seen.length >= N);
    await sleep(300); // anything beyond N would be a duplicate

    // Exactly once, each from its key's partition, each member from its own partitions.
    checkEqual(seen.map((m) => m.value).sort(), messages.map((m) => m.value).sort(), 'each message consumed once');
    for (const m of seen) {
        check(keyPartition(m.key, PARTITIONS) === m.partition, `${m.value} (${m.key}) read from partition ${m.partition}`);
        check(joins[m.member].parts.includes(m.partition), `${m.member} read partition ${m.partition} it does not hold`);
    }
    const ends = {};
    for (let p = 0; p < PARTITIONS; p++) ends[p] = messages.filter((m) => keyPartition(m.key, PARTITIONS) === p).length;

    // The live group, as the admin sees it.
    const listed = (await admin.listGroups()).groups;
    checkEqual(listed, [{ groupId: GROUP, protocolType: 'consumer' }], 'listGroups');
    let { groups } = await admin.describeGroups([GROUP]);
    check(groups.length === 1, 'describeGroups answers one group');
    let g = groups[0];
    checkEqual([g.errorCode, g.groupId, g.state, g.protocolType, g.protocol], [0, GROUP, 'Stable', 'consumer', 'RoundRobinAssigner'], 'describeGroups');
    checkEqual(g.members.map((m) => m.clientId), ['kjs-groups', 'kjs-groups'], 'described client ids');
    check(g.members.every((m) => m.clientHost.includes('127.0.0.1')), 'described hosts: ' + g.members.map((m) => m.clientHost));
    const described = g.members.map((m) => partsOfAssignment(m.memberAssignment).join()).sort();
    checkEqual(described, Object.values(joins).map((j) => j.parts.join()).sort(), 'described assignments');

    // Deleting a group with members is refused.
    let refused = null;
    try {
        await admin.deleteGroups([GROUP]);
    } catch (err) {
        refused = err;
    }
    check(refused !== null && refused.name === 'KafkaJSDeleteGroupsError', 'deleteGroups of a live group: ' + refused);
    checkEqual(refused.groups.map((x) => [x.groupId, x.errorCode]), [[GROUP, E_NON_EMPTY]], 'deleteGroups error');

    // The members leave (committing); the offsets are each partition's end.
    for (const m of members) await m.consumer.disconnect();
    ({ groups } = await admin.describeGroups([GROUP]));
    checkEqual([groups[0].state, groups[0].members.length], ['Empty', 0], 'described after the members left');
    const sortByPart = (ps) => ps.map((p) => [p.partition, p.offset]).sort((x, y) => x[0] - y[0]);
    let offsets = await admin.fetchOffsets({ groupId: GROUP, topics: [TOPIC] });
    checkEqual(sortByPart(offsets[0].partitions), Object.entries(ends).map(([p, n]) => [Number(p), String(n)]), 'committed offsets');

    // Reset to the earliest: a new member reads everything again.
    await admin.resetOffsets({ groupId: GROUP, topic: TOPIC, earliest: true });
    offsets = await admin.fetchOffsets({ groupId: GROUP, topics: [TOPIC], resolveOffsets: true });
    checkEqual(sortByPart(offsets[0].partitions), [...Array(PARTITIONS).keys()].map((p) => [p, '0']), 'offsets after resetOffsets');
    const again = [];
    const rereader = groupConsumer(kafka, 'three', again, joins);
    await rereader.start();
    await until('messages read again after the reset', () => again.length >= N);
    checkEqual(again.map((m) => m.value).sort(), messages.map((m) => m.value).sort(), 'read again once each');
    await rereader.consumer.disconnect();

    // Empty now: deleted, offsets gone, Dead.
    checkEqual(await admin.deleteGroups([GROUP]), [{ groupId: GROUP, errorCode: 0 }], 'deleteGroups of the empty group');
    checkEqual((await admin.listGroups()).groups, [], 'listGroups after delete');
    ({ groups } = await admin.describeGroups([GROUP]));
    checkEqual([groups[0].errorCode, groups[0].state, groups[0].members.length], [0, 'Dead', 0], 'described after delete');
    offsets = await admin.fetchOffsets({ groupId: GROUP, topics: [TOPIC] });
    checkEqual(sortByPart(offsets[0].partitions), [...Array(PARTITIONS).keys()].map((p) => [p, '-1']), 'offsets after delete');
    await admin.disconnect();
    console.log(`ok: KafkaJS group of 2 read ${N} messages once; listed, described, refused, reset and deleted`);
});
