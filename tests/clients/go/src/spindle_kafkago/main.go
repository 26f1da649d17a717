// Command spindle_kafkago is the segmentio/kafka-go (Debian's 0.2) half of
// the integration test tests/integration/test_kafka_go.py. kafka-go 0.2
// speaks message format v1 only: Metadata v1, CreateTopics v0, Produce v2,
// Fetch v2 and ListOffsets v1. It makes a topic (CreateTopics, or the
// auto-creation a Metadata request causes), writes -n keyed messages with a
// kafka.Writer and the Hash balancer, reads each partition back with a
// kafka.Reader without a GroupID, and checks key, value, timestamp, offsets
// and the order within each partition. Then the same through a bare
// kafka.Conn: a compressed write to one partition and a ReadBatch of it. It
// prints one JSON summary line and exits 1 on a mismatch.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"hash/fnv"
	"os"
	"strings"
	"time"

	kafka "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/gzip"
	"github.com/segmentio/kafka-go/lz4"
	"github.com/segmentio/kafka-go/snappy"
)

type summary struct {
	Compression string      `json:"compression"`
	Topic       string      `json:"topic"`
	Created     string      `json:"created"`
	Produced    int         `json:"produced"`
	Consumed    int         `json:"consumed"`
	PerPart     map[int]int `json:"per_partition"`
	ConnBatch   int         `json:"conn_batch"`
	ProduceMs   int64       `json:"produce_ms"`
	ConsumeMs   int64       `json:"consume_ms"`
	Errors      []string    `json:"errors"`
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

func key(i int) []byte { return []byte(fmt.Sprintf("key-%03d", i%89)) }

func value(i int) []byte {
	v := fmt.Sprintf("kafka-go/%d/", i) + strings.Repeat("w", i%40)
	if i == 3 {
		v += strings.Repeat("L", 100000)
	}
	return []byte(v)
}

func codec(name string) kafka.CompressionCodec {
	switch name {
	case "none":
		return nil
	case "gzip":
		return gzip.NewCompressionCodec()
	case "snappy":
		return snappy.NewCompressionCodec()
	case "lz4":
		return lz4.NewCompressionCodec()
	}
	die("unknown compression %q", name)
	return nil
}

// partitionsOf asks for the topic's partitions (Metadata v1, which lets the
// broker auto-create it) until it has want of them, each with a leader.
func partitionsOf(broker, topic string, want int) []kafka.Partition {
	var last error
	for try := 0; try < 50; try++ {
		conn, err := kafka.Dial("tcp", broker)
		if err != nil {
			die("dial %s: %v", broker, err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		parts, err := conn.ReadPartitions(topic)
		conn.Close()
		last = err
		if err == nil && len(parts) == want {
			ok := true
			for _, p := range parts {
				ok = ok && p.Leader.Port != 0
			}
			if ok {
				return parts
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	die("topic %s: no %d partitions with leaders (last error %v)", topic, want, last)
	return nil
}

func main() {
	broker := flag.String("broker", "127.0.0.1:9092", "bootstrap broker")
	topic := flag.String("topic", "kafka-go", "topic")
	partitions := flag.Int("partitions", 3, "partitions to create or expect")
	n := flag.Int("n", 400, "messages")
	compression := flag.String("compression", "none", "none, gzip, snappy, lz4")
	create := flag.Bool("create", true, "create the topic with CreateTopics (else auto-create)")
	timeout := flag.Duration("timeout", 40*time.Second, "time allowed for each phase")
	flag.Parse()
	sum = summary{Compression: *compression, Topic: *topic, PerPart: map[int]int{}, Errors: []string{}}
	comp := codec(*compression)

	if *create {
		conn, err := kafka.Dial("tcp", *broker)
		if err != nil {
			die("dial %s: %v", *broker, err)
		}
		conn.SetDeadline(time.Now().Add(20 * time.Second))
		err = conn.CreateTopics(kafka.TopicConfig{Topic: *topic, NumPartitions: *partitions,
			ReplicationFactor: 1})
		conn.Close()
		if err != nil {
			die("CreateTopics %s: %v", *topic, err)
		}
		sum.Created = "CreateTopics"
	} else {
		sum.Created = "auto"
	}
	parts := partitionsOf(*broker, *topic, *partitions)

	// Write through a Writer: the Hash balancer (FNV-1a, as Sarama's) puts
	// each key on one partition; one attempt, so nothing is reordered.
	w := kafka.NewWriter(kafka.WriterConfig{Brokers: []string{*broker}, Topic: *topic,
		Balancer: &kafka.Hash{}, MaxAttempts: 1, BatchSize: 50, BatchTimeout: 5 * time.Millisecond,
		RequiredAcks: -1, CompressionCodec: comp, ReadTimeout: 20 * time.Second,
		WriteTimeout: 20 * time.Second})
	base := time.Now().Truncate(time.Millisecond).Add(-time.Hour)
	msgs := make([]kafka.Message, *n)
	for i := range msgs {
		msgs[i] = kafka.Message{Key: key(i), Value: value(i), Time: base.Add(time.Duration(i) * time.Millisecond)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	t0 := time.Now()
	err := w.WriteMessages(ctx, msgs...)
	cancel()
	sum.ProduceMs = time.Since(t0).Milliseconds()
	if cerr := w.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		die("WriteMessages: %v", err)
	}
	sum.Produced = len(msgs)

	// Where each message must be, in produce order.
	want := map[int][]int{}
	for i := range msgs {
		h := fnv.New32a()
		h.Write(key(i))
		p := int(h.Sum32()) % len(parts)
		if p < 0 {
			p = -p
		}
		want[p] = append(want[p], i)
	}

	// Read back each partition with a Reader, no group.
	t0 = time.Now()
	for p := 0; p < len(parts); p++ {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{*broker}, Topic: *topic, Partition: p,
			MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond})
		if err := r.SetOffset(kafka.FirstOffset); err != nil {
			fail("partition %d: SetOffset: %v", p, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		got := 0
		for got < len(want[p]) {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				fail("partition %d: read %d of %d: %v", p, got, len(want[p]), err)
				break
			}
			i := want[p][got]
			if m.Offset != int64(got) {
				fail("partition %d: offset %d, want %d", p, m.Offset, got)
			}
			if string(m.Key) != string(key(i)) || string(m.Value) != string(value(i)) {
				fail("partition %d offset %d: key %q value %.40q..., want %q %.40q...",
					p, m.Offset, m.Key, m.Value, key(i), value(i))
			}
			if !m.Time.Equal(msgs[i].Time) {
				fail("partition %d offset %d: time %d, want %d", p, m.Offset,
					m.Time.UnixNano()/1e6, msgs[i].Time.UnixNano()/1e6)
			}
			got++
		}
		cancel()
		// Nothing past what was written.
		ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
		if m, err := r.ReadMessage(ctx); err == nil {
			fail("partition %d: unexpected message at offset %d", p, m.Offset)
		}
		cancel()
		r.Close()
		sum.PerPart[p] = got
		sum.Consumed += got
	}
	sum.ConsumeMs = time.Since(t0).Milliseconds()
	if sum.Consumed != sum.Produced {
		fail("consumed %d of %d", sum.Consumed, sum.Produced)
	}

	// A bare Conn to partition 0's leader: ListOffsets v1 first and last,
	// one more (compressed) Produce v2 of 20 messages, and a Fetch v2 batch
	// of them from where they start.
	ctx, cancel = context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	conn, err := kafka.DialLeader(ctx, "tcp", *broker, *topic, 0)
	if err != nil {
		die("DialLeader partition 0: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(*timeout))
	first, last, err := conn.ReadOffsets()
	if err != nil || first != 0 || last != int64(len(want[0])) {
		fail("partition 0 ReadOffsets: %d %d %v, want 0 %d", first, last, err, len(want[0]))
	}
	extra := make([]kafka.Message, 20)
	for j := range extra {
		extra[j] = kafka.Message{Key: []byte(fmt.Sprintf("conn-%d", j)), Value: value(1000 + j),
			Time: base.Add(time.Duration(5000+j) * time.Millisecond)}
	}
	if _, err := conn.WriteCompressedMessages(comp, extra...); err != nil {
		die("partition 0 WriteCompressedMessages: %v", err)
	}
	if _, err := conn.Seek(last, kafka.SeekAbsolute); err != nil {
		die("partition 0 Seek %d: %v", last, err)
	}
	batch := conn.ReadBatch(1, 1<<20)
	for j := 0; j < len(extra); j++ {
		m, err := batch.ReadMessage()
		if err != nil {
			fail("partition 0 ReadBatch message %d: %v", j, err)
			break
		}
		if m.Offset != last+int64(j) || string(m.Key) != string(extra[j].Key) ||
			string(m.Value) != string(extra[j].Value) || !m.Time.Equal(extra[j].Time) {
			fail("partition 0 ReadBatch message %d: offset %d key %q time %d, want %d %q %d", j, m.Offset,
				m.Key, m.Time.UnixNano()/1e6, last+int64(j), extra[j].Key, extra[j].Time.UnixNano()/1e6)
		}
		sum.ConnBatch++
	}
	batch.Close()
	if _, end, err := conn.ReadOffsets(); err != nil || end != last+int64(len(extra)) {
		fail("partition 0 last offset after the Conn write: %d %v, want %d", end, err, last+int64(len(extra)))
	}
	finish()
}
