// spindle-test: runner=node variants=matrix
// @platformatic/kafka 1.x classic consumer groups (JoinGroup/SyncGroup)
// and its group admin: two consumers share a topic's partitions and read a
// known set of keyed messages exactly once between them, committing as
// they go; the Admin finds the coordinator, lists the group (with state
// and type filters), describes it (members, client ids, hosts,
// assignments, authorized operations), is refused deleting it while it has
// members, lists its committed offsets, alters them once it is empty and
// deletes it: its offsets go with it.
import { check, checkEqual, requireClient, withBroker } from './clients_harness.mjs';

const pk = await requireClient('@platformatic/kafka');
const { Admin, Producer, Consumer, ProduceAcks, stringSerializers, stringDeserializers } = pk;

const TOPIC = 'platformatic-group-events';
const PARTITIONS = 4;
const GROUP = 'platformatic-classic';
const N = 80;
const GROUP_OPS = (1 << 3) | (1 << 6) | (1 << 8); // READ, DELETE, DESCRIBE

const base = (b, clientId) => ({ clientId, bootstrapBrokers: [b.bootstrap], retries: 10, retryDelay: 300, timeout: 20000 });

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

// Every Kafka error code an error (or the errors inside it) carries.
function apiCodes(err, out = []) {
    if (!err || typeof err !== 'object') return out;
    if (typeof err.apiCode === 'number') out.push(err.apiCode);
    for (const e of err.errors ?? []) apiCodes(e, out);
    if (err.response) apiCodes(err.response, out);
    for (const e of Object.values(err.errors ?? {})) if (!Array.isArray(err.errors)) apiCodes(e, out);
    return out;
}

function partsOf(consumer) {
    return (consumer.assignments ?? []).filter((a) => a.topic === TOPIC).flatMap((a) => a.partitions).sort();
}

async function offsetsOf(admin) {
    const res = await admin.listConsumerGroupOffsets({ groups: [GROUP] });
    const out = {};
    for (const t of res[0]?.topics ?? []) {
        for (const p of t.partitions) if (t.name === TOPIC) out[p.partitionIndex] = Number(p.committedOffset);
    }
    return out;
}

await withBroker(['--set', 'group.initial.rebalance.delay.ms=100', '--set', 'offsets.topic.num.partitions=6'], async (b) => {
    const admin = new Admin(base(b, 'pk-admin'));
    await admin.createTopics({ topics: [TOPIC], partitions: PARTITIONS, replicas: 1 });
    checkEqual([...(await admin.listGroups()).keys()], [], 'listGroups before any group');

    // Two members; nothing is produced until they share the partitions.
    const seen = [];
    const members = [];
    for (const name of ['pk-one', 'pk-two']) {
        const consumer = new Consumer({ ...base(b, name), groupId: GROUP, deserializers: stringDeserializers,
            sessionTimeout: 10000, rebalanceTimeout: 10000, heartbeatInterval: 300, maxWaitTime: 100 });
        const stream = await consumer.consume({ topics: [TOPIC], mode: 'committed', fallbackMode: 'earliest', autocommit: 100 });
        stream.on('data', (m) => seen.push({ member: name, partition: m.partition, key: m.key, value: m.value }));
        stream.on('error', (err) => seen.push({ member: name, error: String(err) }));
        // @platformatic/kafka 1.x may go on rejoining after close() when a rebalance was under
        // way (the other member's leave): its retries then fail once the broker is gone, as an
        // 'error' event. Errors before close count; those after are the client's own.
        const member = { name, consumer, stream, closed: false };
        consumer.on('error', (err) => { if (!member.closed) seen.push({ member: name, error: String(err) }); });
        members.push(member);
    }
    await until('both members assigned', () => {
        const shares = members.map((m) => partsOf(m.consumer));
        return shares.every((s) => s.length > 0) && shares.flat().sort().join() === [...Array(PARTITIONS).keys()].join();
    });
    const shares = Object.fromEntries(members.map((m) => [m.name, partsOf(m.consumer)]));
    // A fetch sent before the last rebalance may still be out (up to maxWaitTime): the client
    // would deliver what it brings for partitions it no longer holds.
    await sleep(500);

    const producer = new Producer({ ...base(b, 'pk-producer'), serializers: stringSerializers });
    const messages = [];
    for (let i = 0; i < N; i++) messages.push({ topic: TOPIC, key: `key-${i % 11}`, value: `message-${i}` });
    await producer.send({ messages, acks: ProduceAcks.ALL });
    await producer.close();

    await until(`${N} messages consumed`, () => seen.length >= N);
    await sleep(300); // anything beyond N would be a duplicate
    check(seen.every((m) => !m.error), 'stream errors: ' + JSON.stringify(seen.filter((m) => m.error)));
    const dups = seen.filter((m, i) => seen.findIndex((x) => x.value === m.value) !== i);
    check(dups.length === 0, 'consumed twice: ' + JSON.stringify(dups.slice(0, 5)) + ' shares ' + JSON.stringify(shares) +
        ' now ' + JSON.stringify(members.map((m) => partsOf(m.consumer))));
    checkEqual(seen.map((m) => m.value).sort(), messages.map((m) => m.value).sort(), 'each message consumed once');
    for (const m of seen) check(shares[m.member].includes(m.partition), `${m.member} read partition ${m.partition} it does not hold`);
    const keyParts = {};
    for (const m of seen) keyParts[m.key] = [...new Set([...(keyParts[m.key] ?? []), m.partition])];
    check(Object.values(keyParts).every((ps) => ps.length === 1), 'a key in two partitions: ' + JSON.stringify(keyParts));
    const ends = {};
    for (let p = 0; p < PARTITIONS; p++) ends[p] = seen.filter((m) => m.partition === p).length;

    // The coordinator, and the live group listed and described.
    const coord = await admin.findCoordinator({ keyType: 0, keys: [GROUP] });
    checkEqual(coord.map((c) => [c.key, c.nodeId, c.host, c.port]), [[GROUP, 1, b.host, b.port]], 'findCoordinator');
    let listed = await admin.listGroups();
    checkEqual([...listed.values()], [{ id: GROUP, state: 'STABLE', groupType: 'classic', protocolType: 'consumer' }], 'listGroups');
    listed = await admin.listGroups({ states: ['STABLE'] });
    checkEqual([...listed.keys()], [GROUP], 'listGroups STABLE');
    listed = await admin.listGroups({ states: ['EMPTY'] });
    checkEqual([...listed.keys()], [], 'listGroups EMPTY');
    listed = await admin.listGroups({ types: ['consumer'] });
    checkEqual([...listed.keys()], [], 'listGroups of type consumer');
    let described = await admin.describeGroups({ groups: [GROUP], includeAuthorizedOperations: true });
    let g = described.get(GROUP);
    checkEqual([g.state, g.protocolType, g.members.size, g.authorizedOperations], ['STABLE', 'consumer', 2, GROUP_OPS], 'describeGroups');
    const ms = [...g.members.values()].sort((x, y) => x.clientId.localeCompare(y.clientId));
    checkEqual(ms.map((m) => m.clientId), ['pk-one', 'pk-two'], 'described client ids');
    check(ms.every((m) => m.clientHost.includes('127.0.0.1')), 'described hosts: ' + ms.map((m) => m.clientHost));
    checkEqual(ms.map((m) => (m.assignments?.get(TOPIC)?.partitions ?? []).slice().sort()), [shares['pk-one'], shares['pk-two']], 'described assignments');
    checkEqual(ms.map((m) => m.metadata?.topics), [[TOPIC], [TOPIC]], 'described subscriptions');

    // Deleting a group with members is refused with NON_EMPTY_GROUP.
    let refused = null;
    try {
        await admin.deleteGroups({ groups: [GROUP] });
    } catch (err) {
        refused = err;
    }
    check(refused !== null && apiCodes(refused).includes(68), 'deleteGroups of a live group: ' + (refused && refused.message) + ' ' + JSON.stringify(apiCodes(refused)));

    // The members leave (committing what they read): Empty, offsets at the ends.
    for (const m of members) {
        m.closed = true;
        await m.consumer.close(true);
    }
    described = await admin.describeGroups({ groups: [GROUP] });
    g = described.get(GROUP);
    checkEqual([g.state, g.members.size], ['EMPTY', 0], 'described after the members left');
    checkEqual(await offsetsOf(admin), ends, 'committed offsets');
    listed = await admin.listGroups({ states: ['EMPTY'], types: ['classic'] });
    checkEqual([...listed.keys()], [GROUP], 'listGroups EMPTY classic');

    await admin.alterConsumerGroupOffsets({ groupId: GROUP, topics: [{ name: TOPIC, partitionOffsets: [{ partition: 0, offset: 1n }, { partition: 2, offset: 0n }] }] });
    checkEqual(await offsetsOf(admin), { ...ends, 0: 1, 2: 0 }, 'offsets after alterConsumerGroupOffsets');

    await admin.deleteGroups({ groups: [GROUP] });
    checkEqual([...(await admin.listGroups()).keys()], [], 'listGroups after delete');
    g = (await admin.describeGroups({ groups: [GROUP] })).get(GROUP);
    checkEqual([g.state, g.members.size], ['DEAD', 0], 'described after delete');
    const gone = await offsetsOf(admin);
    check(Object.values(gone).every((o) => o === -1), 'offsets after delete: ' + JSON.stringify(gone));
    await admin.close();
    console.log(`ok: @platformatic/kafka classic group of 2 read ${N} messages once; admin found, listed, described, refused, altered and deleted`);
});
