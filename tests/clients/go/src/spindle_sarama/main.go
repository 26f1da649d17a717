// Command spindle_sarama is the Sarama (Debian's 1.22) half of the
// integration test tests/integration/test_sarama.py. With config.Version set
// to -version it makes a topic (CreateTopics where that version has it, else
// the producer's metadata request auto-creates it), sends -n keyed messages
// through a SyncProducer, then reads every partition back with a partition
// consumer from the oldest offset, without a consumer group, and checks each
// message: key, value, offset, timestamp (from 0.10 on) and the order within
// its partition. It prints one JSON summary line and exits 1 on a mismatch.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"hash/fnv"
	"log"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/Shopify/sarama"
	"spindle_saramautil"
)

type summary struct {
	Version     string          `json:"version"`
	Compression string          `json:"compression"`
	Topic       string          `json:"topic"`
	Created     string          `json:"created"`
	Produced    int             `json:"produced"`
	Consumed    int             `json:"consumed"`
	PerPart     map[int32]int   `json:"per_partition"`
	HighWater   map[int32]int64 `json:"high_water"`
	ProduceMs   int64           `json:"produce_ms"`
	ConsumeMs   int64           `json:"consume_ms"`
	Errors      []string        `json:"errors"`
}

var (
	sum     summary
	dropped int
)

func fail(format string, a ...interface{}) {
	if len(sum.Errors) < 10 {
		sum.Errors = append(sum.Errors, fmt.Sprintf(format, a...))
	} else {
		dropped++
	}
}

func finish() {
	if dropped > 0 {
		sum.Errors = append(sum.Errors, fmt.Sprintf("... and %d more", dropped))
	}
	out, _ := json.Marshal(sum)
	fmt.Println(string(out))
	if len(sum.Errors) > 0 {
		os.Exit(1)
	}
	os.Exit(0)
}

func die(format string, a ...interface{}) {
	fail(format, a...)
	finish()
}

func key(i int) []byte { return []byte(fmt.Sprintf("key-%03d", i%97)) }

func value(i int) []byte {
	// Compressible and of varied length, one large one.
	v := fmt.Sprintf("sarama/%d/", i) + strings.Repeat("v", i%50)
	if i == 5 {
		v += strings.Repeat("L", 100000)
	}
	return []byte(v)
}

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "bootstrap brokers, comma separated")
	version := flag.String("version", "2.1.0", "sarama config.Version")
	topic := flag.String("topic", "sarama", "topic")
	partitions := flag.Int("partitions", 3, "partitions to create (CreateTopics) or expect (auto-created)")
	n := flag.Int("n", 500, "messages")
	compression := flag.String("compression", "none", "none, gzip, snappy, lz4")
	create := flag.Bool("create", true, "create the topic with ClusterAdmin (else auto-create)")
	timeout := flag.Duration("timeout", 40*time.Second, "time allowed for consuming")
	flag.Parse()

	sum = summary{Version: *version, Compression: *compression, Topic: *topic,
		PerPart: map[int32]int{}, HighWater: map[int32]int64{}, Errors: []string{}}
	addrs := strings.Split(*brokers, ",")

	cfg := sarama.NewConfig()
	v, err := sarama.ParseKafkaVersion(*version)
	if err != nil {
		die("version %q: %v", *version, err)
	}
	cfg.Version = v
	cfg.ClientID = "spindle-sarama"
	cfg.Net.DialTimeout = 10 * time.Second
	cfg.Net.ReadTimeout = 20 * time.Second
	cfg.Metadata.Retry.Max = 20
	cfg.Metadata.Retry.Backoff = 100 * time.Millisecond
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Retry.Max = 0 // a retry could reorder; the broker must not need one
	cfg.Producer.MaxMessageBytes = 900000
	cfg.Producer.Flush.Messages = 64
	cfg.Producer.Flush.Frequency = 5 * time.Millisecond
	switch *compression {
	case "none":
		cfg.Producer.Compression = sarama.CompressionNone
	case "gzip":
		cfg.Producer.Compression = sarama.CompressionGZIP
	case "snappy":
		cfg.Producer.Compression = sarama.CompressionSnappy
	case "lz4":
		cfg.Producer.Compression = sarama.CompressionLZ4
	default:
		die("unknown compression %q", *compression)
	}
	if os.Getenv("SARAMA_DEBUG") != "" {
		sarama.Logger = log.New(os.Stderr, "[sarama] ", log.Lmicroseconds)
	}
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.Fetch.Default = 1 << 20
	cfg.Consumer.MaxWaitTime = 200 * time.Millisecond

	// The topic: CreateTopics needs 0.10.1 in Sarama; below that the
	// producer's metadata request auto-creates it with num.partitions.
	if *create {
		admin, err := sarama.NewClusterAdmin(addrs, cfg)
		if err != nil {
			die("cluster admin: %v", err)
		}
		err = admin.CreateTopic(*topic, &sarama.TopicDetail{NumPartitions: int32(*partitions),
			ReplicationFactor: 1}, false)
		if err != nil {
			die("CreateTopic %s: %v", *topic, err)
		}
		admin.Close()
		sum.Created = "CreateTopics"
	} else {
		sum.Created = "auto"
	}

	client, err := sarama.NewClient(addrs, cfg)
	if err != nil {
		die("client: %v", err)
	}
	defer client.Close()

	// Produce: timestamps chosen here, so that what comes back can be
	// compared (message format v1 and the v2 batches carry them).
	base := time.Now().Truncate(time.Millisecond).Add(-time.Hour)
	msgs := make([]*sarama.ProducerMessage, *n)
	for i := range msgs {
		msgs[i] = &sarama.ProducerMessage{Topic: *topic, Key: sarama.ByteEncoder(key(i)),
			Value: sarama.ByteEncoder(value(i)), Timestamp: base.Add(time.Duration(i) * time.Millisecond),
			Metadata: i}
	}
	if err := spindle_saramautil.WaitLeaders(client, *topic); err != nil {
		die("%v", err)
	}
	producer, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		die("producer: %v", err)
	}
	t0 := time.Now()
	if err := producer.SendMessages(msgs); err != nil {
		if perrs, ok := err.(sarama.ProducerErrors); ok {
			for _, pe := range perrs {
				fail("produce message %v: %v", pe.Msg.Metadata, pe.Err)
			}
		} else {
			fail("produce: %v", err)
		}
		producer.Close()
		finish()
	}
	sum.ProduceMs = time.Since(t0).Milliseconds()
	if err := producer.Close(); err != nil {
		fail("producer close: %v", err)
	}
	sum.Produced = len(msgs)

	parts, err := client.Partitions(*topic)
	if err != nil {
		die("partitions of %s: %v", *topic, err)
	}
	if len(parts) != *partitions {
		fail("%s has %d partitions, want %d", *topic, len(parts), *partitions)
	}

	// Per partition, what was produced in produce order: the delivery
	// offsets must be 0..n-1 in that order.
	want := map[int32][]int{}
	keyPart := map[string]int32{}
	for i, m := range msgs {
		want[m.Partition] = append(want[m.Partition], i)
		k := string(key(i))
		if p, ok := keyPart[k]; ok && p != m.Partition {
			fail("key %s on partitions %d and %d", k, p, m.Partition)
		}
		keyPart[k] = m.Partition
	}
	for p, idx := range want {
		for j, i := range idx {
			if msgs[i].Offset != int64(j) {
				fail("partition %d: message %d delivered at offset %d, want %d", p, i, msgs[i].Offset, j)
				break
			}
		}
	}
	// Sarama's default partitioner: FNV-1a of the key modulo partitions.
	for i, m := range msgs {
		h := fnv.New32a()
		h.Write(key(i))
		hp := int32(h.Sum32()) % int32(len(parts))
		if hp < 0 {
			hp = -hp
		}
		if m.Partition != hp {
			fail("message %d with key %s on partition %d, want %d", i, key(i), m.Partition, hp)
			break
		}
	}

	// Consume every partition from the oldest offset, no group.
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		die("consumer: %v", err)
	}
	t0 = time.Now()
	deadline := time.After(*timeout)
	sort.Slice(parts, func(a, b int) bool { return parts[a] < parts[b] })
	for _, p := range parts {
		pc, err := consumer.ConsumePartition(*topic, p, sarama.OffsetOldest)
		if err != nil {
			fail("ConsumePartition %d: %v", p, err)
			continue
		}
		idx := want[p]
		got := 0
	read:
		for got < len(idx) {
			select {
			case m := <-pc.Messages():
				i := idx[got]
				if m.Offset != int64(got) {
					fail("partition %d: offset %d, want %d", p, m.Offset, got)
				}
				if string(m.Key) != string(key(i)) || string(m.Value) != string(value(i)) {
					fail("partition %d offset %d: key %q value %.40q..., want %q %.40q...",
						p, m.Offset, m.Key, m.Value, key(i), value(i))
				}
				if v.IsAtLeast(sarama.V0_10_0_0) && !m.Timestamp.Equal(msgs[i].Timestamp) {
					fail("partition %d offset %d: timestamp %v, want %v", p, m.Offset,
						m.Timestamp.UnixNano()/1e6, msgs[i].Timestamp.UnixNano()/1e6)
				}
				// Below 0.11 the answer must be message format v1 (Sarama
				// parses either; only a legacy message has a block
				// timestamp), from 0.11 on the stored v2 batches.
				legacy := !m.BlockTimestamp.IsZero()
				if v.IsAtLeast(sarama.V0_10_0_0) && legacy == v.IsAtLeast(sarama.V0_11_0_0) {
					fail("partition %d offset %d: fetched as a legacy message: %v, want %v", p, m.Offset,
						legacy, !legacy)
				}
				// Below 0.10, message format v0: no timestamp at all.
				if !v.IsAtLeast(sarama.V0_10_0_0) && !m.Timestamp.IsZero() {
					fail("partition %d offset %d: a timestamp (%v) in message format v0", p, m.Offset,
						m.Timestamp.UnixNano()/1e6)
				}
				got++
			case e := <-pc.Errors():
				fail("partition %d: consumer error: %v", p, e.Err)
				break read
			case <-deadline:
				fail("partition %d: read %d of %d before the timeout", p, got, len(idx))
				break read
			}
		}
		sum.Consumed += got
		sum.PerPart[p] = got
		// Nothing more than what was produced: a short wait for extras.
		select {
		case m := <-pc.Messages():
			fail("partition %d: unexpected message at offset %d", p, m.Offset)
		case <-time.After(50 * time.Millisecond):
		}
		sum.HighWater[p] = pc.HighWaterMarkOffset()
		if sum.HighWater[p] != int64(len(idx)) {
			fail("partition %d: high water mark %d, want %d", p, sum.HighWater[p], len(idx))
		}
		pc.Close()
	}
	sum.ConsumeMs = time.Since(t0).Milliseconds()
	consumer.Close()

	// The offsets ListOffsets gives (v0 below 0.10.1, v1 from there).
	for _, p := range parts {
		newest, err := client.GetOffset(*topic, p, sarama.OffsetNewest)
		if err != nil || newest != int64(len(want[p])) {
			fail("partition %d: GetOffset(newest) = %d, %v; want %d", p, newest, err, len(want[p]))
		}
		oldest, err := client.GetOffset(*topic, p, sarama.OffsetOldest)
		if err != nil || oldest != 0 {
			fail("partition %d: GetOffset(oldest) = %d, %v; want 0", p, oldest, err)
		}
	}
	if sum.Consumed != sum.Produced {
		fail("consumed %d of %d", sum.Consumed, sum.Produced)
	}
	finish()
}
