#!/usr/bin/env python3
"""confluent-kafka-python (librdkafka) as a vector source (capture.sh).

    confluent_client.py produce CODEC    three records, as kcat's runs
    confluent_client.py consume COUNT    a group consumer reads COUNT records

The broker address comes from $BROKER. Records: keys k1, k2 and none;
values <codec>-one/two/three; header trace=abc on each.
"""
import os
import sys

from confluent_kafka import Consumer, Producer


def produce(codec):
    p = Producer({'bootstrap.servers': os.environ['BROKER'], 'compression.codec': codec,
                  'linger.ms': 500})
    # Learn the leader first so that the three records leave as one batch
    # (librdkafka sends a batch uncompressed when compression does not
    # make it smaller, as it would for a batch of one tiny record).
    p.list_topics('vec', timeout=10)
    for key, word in ((b'k1', 'one'), (b'k2', 'two'), (None, 'three')):
        p.produce('vec', key=key, value=('%s-%s' % (codec, word)).encode(), partition=0,
                  headers=[('trace', b'abc')])
    if p.flush(10) != 0:
        sys.exit('confluent_client: records left unsent')


def consume(count):
    c = Consumer({'bootstrap.servers': os.environ['BROKER'], 'group.id': 'vec-confluent',
                  'auto.offset.reset': 'earliest', 'enable.auto.commit': False})
    c.subscribe(['vec'])
    got = 0
    while got < count:
        m = c.poll(10)
        if m is None:
            sys.exit('confluent_client: timed out after %d records' % got)
        if m.error():
            continue
        got += 1
    c.commit(asynchronous=False)
    c.close()


if __name__ == '__main__':
    if sys.argv[1] == 'produce':
        produce(sys.argv[2])
    else:
        consume(int(sys.argv[2]))
