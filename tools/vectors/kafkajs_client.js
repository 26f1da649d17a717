// KafkaJS as a vector source (capture.sh).
//
//   node kafkajs_client.js produce CODEC   three records (none or gzip: the
//                                          codecs KafkaJS has built in)
//   node kafkajs_client.js consume COUNT   a group consumer reads COUNT records
//
// The topic is "vec-js" (KafkaJS cannot decompress the snappy, lz4 and
// zstd batches the other clients write to "vec"). The broker address comes
// from $BROKER; kafkajs is loaded from
// tests/clients/node (tools/deps.sh --test installs it there).
'use strict';
const path = require('path');
const { Kafka, CompressionTypes, logLevel } = require(
  path.join(__dirname, '..', '..', 'tests', 'clients', 'node', 'node_modules', 'kafkajs'));

const kafka = new Kafka({
  clientId: 'vec-kafkajs',
  brokers: [process.env.BROKER],
  logLevel: logLevel.NOTHING,
  retry: { retries: 2 },
});

async function produce(codec) {
  const p = kafka.producer({ allowAutoTopicCreation: false });
  await p.connect();
  await p.send({
    topic: 'vec-js',
    compression: codec === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
    messages: [
      { key: 'k1', value: `${codec}-one`, partition: 0, headers: { trace: 'abc' } },
      { key: 'k2', value: `${codec}-two`, partition: 0, headers: { trace: 'abc' } },
      { key: null, value: `${codec}-three`, partition: 0, headers: { trace: 'abc' } },
    ],
  });
  await p.disconnect();
}

async function consume(count) {
  const c = kafka.consumer({ groupId: 'vec-kafkajs' });
  await c.connect();
  await c.subscribe({ topic: 'vec-js', fromBeginning: true });
  let got = 0;
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${got} records`)), 20000);
    c.run({
      eachMessage: async () => {
        got += 1;
        if (got === count) {
          clearTimeout(timer);
          resolve();
        }
      },
    });
  });
  await c.disconnect();
}

const [mode, arg] = process.argv.slice(2);
(mode === 'produce' ? produce(arg) : consume(Number(arg))).catch((e) => {
  console.error(`kafkajs_client: ${e.message}`);
  process.exit(1);
});
