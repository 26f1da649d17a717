// spindle-test: runner=node variants=matrix
// Configs through the Node clients. KafkaJS 2.x's admin describes a topic's
// configs (values, sources, synonyms) and the broker's, replaces a topic's
// explicit set with alterConfigs (validateOnly first), and sees refusals
// as Kafka's error types. @platformatic/kafka's Admin describes with
// documentation (DescribeConfigs v4), alters (AlterConfigs v2) and changes
// single keys with incrementalAlterConfigs: SET, DELETE, APPEND and
// SUBTRACT in one request, and the refusals of a bad one.
import { check, checkEqual, requireClient, withBroker } from './clients_harness.mjs';

const kafkajs = await requireClient('kafkajs');
const { Kafka, logLevel, ConfigResourceTypes } = kafkajs.default ?? kafkajs;
const pk = await requireClient('@platformatic/kafka');
const { Admin } = pk;

const SRC_TOPIC = 1;
const SRC_DEFAULT = 5;
const TOPIC_RES = 2;
const BROKER_RES = 4;
const OP = { SET: 0, DELETE: 1, APPEND: 2, SUBTRACT: 3 };

async function refusal(promise) {
    try {
        await promise;
        return null;
    } catch (err) {
        return err;
    }
}

// KafkaJS' error, or the first protocol error inside an aggregate, as a Kafka error type.
function errorType(err) {
    if (!err) return null;
    if (err.type) return err.type;
    for (const e of err.errors ?? err.cause?.errors ?? []) {
        const t = errorType(e);
        if (t) return t;
    }
    return err.cause ? errorType(err.cause) : String(err.message);
}

// @platformatic/kafka's error: the codes of the protocol errors it carries.
function errorCodes(err) {
    const out = [];
    const walk = (e, depth) => {
        if (!e || depth > 6) return;
        if (typeof e.apiCode === 'number') out.push(e.apiCode);
        if (e.errors && typeof e.errors === 'object') {
            for (const x of Object.values(e.errors)) walk(x, depth + 1);
        }
        if (e.response?.responses) {
            for (const r of e.response.responses) if (r.errorCode) out.push(r.errorCode);
        }
        walk(e.cause, depth + 1);
    };
    walk(err, 0);
    return out;
}

async function runKafkajs(b) {
    const kafka = new Kafka({ clientId: 'kjs-configs', brokers: [b.bootstrap], logLevel: logLevel.NOTHING,
        retry: { retries: 2 } });
    const admin = kafka.admin();
    await admin.connect();
    try {
        check(await admin.createTopics({ topics: [{ topic: 'kjs-cfg', numPartitions: 2,
            configEntries: [{ name: 'retention.ms', value: '3600000' }] }] }), 'KafkaJS creates kjs-cfg');
        const d = await admin.describeConfigs({ includeSynonyms: true,
            resources: [{ type: ConfigResourceTypes.TOPIC, name: 'kjs-cfg' }] });
        const res = d.resources[0];
        checkEqual([res.errorCode, res.resourceName], [0, 'kjs-cfg'], 'KafkaJS describeConfigs answer');
        const byName = Object.fromEntries(res.configEntries.map((e) => [e.configName, e]));
        check(Object.keys(byName).length >= 34, `every documented config (${Object.keys(byName).length})`);
        const rm = byName['retention.ms'];
        checkEqual([rm.configValue, rm.configSource, rm.readOnly, rm.isSensitive],
            ['3600000', SRC_TOPIC, false, false], 'retention.ms from the topic');
        checkEqual(rm.configSynonyms.map((s) => [s.configName, s.configValue, s.configSource]),
            [['retention.ms', '3600000', SRC_TOPIC], ['log.retention.hours', '168', SRC_DEFAULT]],
            'retention.ms synonyms');
        checkEqual([byName['segment.bytes'].configValue, byName['segment.bytes'].configSource],
            ['1073741824', SRC_DEFAULT], 'segment.bytes default');

        const only = await admin.describeConfigs({ includeSynonyms: false,
            resources: [{ type: ConfigResourceTypes.TOPIC, name: 'kjs-cfg', configNames: ['cleanup.policy'] }] });
        checkEqual(only.resources[0].configEntries.map((e) => [e.configName, e.configValue]),
            [['cleanup.policy', 'delete']], 'configNames filter');

        const br = await admin.describeConfigs({ includeSynonyms: false,
            resources: [{ type: ConfigResourceTypes.BROKER, name: '1' }] });
        const bcfg = Object.fromEntries(br.resources[0].configEntries.map((e) => [e.configName, e]));
        check(bcfg['num.partitions'] && bcfg['num.partitions'].readOnly && bcfg['log.retention.hours'],
            'KafkaJS describes the broker: read-only keys');

        // validateOnly, then the real change: the whole explicit set is replaced.
        const change = [{ type: ConfigResourceTypes.TOPIC, name: 'kjs-cfg',
            configEntries: [{ name: 'cleanup.policy', value: 'compact' }, { name: 'max.message.bytes', value: '2048' }] }];
        await admin.alterConfigs({ validateOnly: true, resources: change });
        let after = await admin.describeConfigs({ includeSynonyms: false,
            resources: [{ type: ConfigResourceTypes.TOPIC, name: 'kjs-cfg' }] });
        let explicit = after.resources[0].configEntries.filter((e) => e.configSource === SRC_TOPIC)
            .map((e) => [e.configName, e.configValue]).sort();
        checkEqual(explicit, [['retention.ms', '3600000']], 'validateOnly changed nothing');
        await admin.alterConfigs({ validateOnly: false, resources: change });
        after = await admin.describeConfigs({ includeSynonyms: false,
            resources: [{ type: ConfigResourceTypes.TOPIC, name: 'kjs-cfg' }] });
        explicit = after.resources[0].configEntries.filter((e) => e.configSource === SRC_TOPIC)
            .map((e) => [e.configName, e.configValue]).sort();
        checkEqual(explicit, [['cleanup.policy', 'compact'], ['max.message.bytes', '2048']],
            'alterConfigs replaced the explicit set');

        const bad = await refusal(admin.alterConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC,
            name: 'kjs-cfg', configEntries: [{ name: 'retention.ms', value: 'later' }] }] }));
        checkEqual(errorType(bad), 'INVALID_CONFIG', 'KafkaJS: a bad value is INVALID_CONFIG');
        const unknown = await refusal(admin.alterConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC,
            name: 'kjs-cfg', configEntries: [{ name: 'no.such.config', value: '1' }] }] }));
        checkEqual(errorType(unknown), 'INVALID_CONFIG', 'KafkaJS: an unknown name is INVALID_CONFIG');
        const missing = await refusal(admin.describeConfigs({ includeSynonyms: false,
            resources: [{ type: ConfigResourceTypes.TOPIC, name: 'kjs-nope' }] }));
        checkEqual(errorType(missing), 'UNKNOWN_TOPIC_OR_PARTITION', 'KafkaJS: describe of a missing topic');
    } finally {
        await admin.disconnect();
    }
}

async function runPlatformatic(b) {
    const admin = new Admin({ clientId: 'pk-configs', bootstrapBrokers: [b.bootstrap], retries: 1, timeout: 20000 });
    try {
        await admin.createTopics({ topics: ['pk-cfg'], partitions: 1, replicas: 1,
            configs: [{ name: 'segment.ms', value: '60000' }] });
        const describe = async (keys = null) => {
            const [r] = await admin.describeConfigs({ includeSynonyms: true, includeDocumentation: true,
                resources: [{ resourceType: TOPIC_RES, resourceName: 'pk-cfg', configurationKeys: keys }] });
            return Object.fromEntries(r.configs.map((c) => [c.name, c]));
        };
        let cfg = await describe();
        check(cfg['segment.ms'].value === '60000' && cfg['segment.ms'].configSource === SRC_TOPIC,
            '@platformatic/kafka describes segment.ms from the topic');
        check(Object.values(cfg).every((c) => c.documentation && c.configType > 0),
            'v4: every config has a type and documentation');

        await admin.incrementalAlterConfigs({ resources: [{ resourceType: TOPIC_RES, resourceName: 'pk-cfg', configs: [
            { name: 'retention.ms', configOperation: OP.SET, value: '7200000' },
            { name: 'segment.ms', configOperation: OP.DELETE },
            { name: 'cleanup.policy', configOperation: OP.APPEND, value: 'compact' },
        ] }] });
        cfg = await describe(['retention.ms', 'segment.ms', 'cleanup.policy']);
        checkEqual(Object.keys(cfg).sort(), ['cleanup.policy', 'retention.ms', 'segment.ms'], 'key filter');
        checkEqual([cfg['retention.ms'].value, cfg['segment.ms'].value, cfg['segment.ms'].configSource,
            cfg['cleanup.policy'].value], ['7200000', '604800000', SRC_DEFAULT, 'delete,compact'],
        'SET, DELETE and APPEND in one incrementalAlterConfigs');

        await admin.incrementalAlterConfigs({ resources: [{ resourceType: TOPIC_RES, resourceName: 'pk-cfg',
            configs: [{ name: 'cleanup.policy', configOperation: OP.SUBTRACT, value: 'delete' }] }] });
        cfg = await describe(['cleanup.policy']);
        checkEqual(cfg['cleanup.policy'].value, 'compact', 'SUBTRACT');

        await admin.incrementalAlterConfigs({ validateOnly: true, resources: [{ resourceType: TOPIC_RES,
            resourceName: 'pk-cfg', configs: [{ name: 'retention.ms', configOperation: OP.SET, value: '1' }] }] });
        cfg = await describe(['retention.ms']);
        checkEqual(cfg['retention.ms'].value, '7200000', 'validateOnly changed nothing');

        const notList = await refusal(admin.incrementalAlterConfigs({ resources: [{ resourceType: TOPIC_RES,
            resourceName: 'pk-cfg', configs: [{ name: 'retention.ms', configOperation: OP.APPEND, value: '5' }] }] }));
        check(notList && errorCodes(notList).includes(40), `APPEND to a non-list refused with INVALID_CONFIG (${errorCodes(notList)})`);
        const broker = await refusal(admin.incrementalAlterConfigs({ resources: [{ resourceType: BROKER_RES,
            resourceName: '1', configs: [{ name: 'num.partitions', configOperation: OP.SET, value: '2' }] }] }));
        check(broker && errorCodes(broker).includes(42), `a static broker key refused with INVALID_REQUEST (${errorCodes(broker)})`);

        await admin.alterConfigs({ resources: [{ resourceType: TOPIC_RES, resourceName: 'pk-cfg',
            configs: [{ name: 'retention.bytes', value: '1048576' }] }] });
        cfg = await describe();
        const explicit = Object.values(cfg).filter((c) => c.configSource === SRC_TOPIC).map((c) => [c.name, c.value]);
        checkEqual(explicit, [['retention.bytes', '1048576']], 'AlterConfigs v2 replaced the set');
    } finally {
        await admin.close();
    }
}

await withBroker(['--set', 'auto.create.topics.enable=false'], async (b) => {
    await runKafkajs(b);
    await runPlatformatic(b);
});
console.log('ok: configs through KafkaJS and @platformatic/kafka');
