// Command spindle_kafkago_group is the segmentio/kafka-go (Debian's 0.2)
// half of tests/integration/test_kafka_go_groups.py: kafka.Reader with a
// GroupID. kafka-go 0.2 sends FindCoordinator v0, JoinGroup v1, SyncGroup,
// Heartbeat and LeaveGroup v0, OffsetCommit v2 and OffsetFetch v1, and
// reads with Fetch v2 (message format v1).
//
// Two readers of one group join first (each has subscribed in the same
// generation, as their logs say), then -n keyed messages are written. Each
// reader fetches a message, checks it and commits it (CommitMessages with
// CommitInterval 0: synchronous) before the next. A third of the way through
// the first reader closes and the other takes its partitions over from its
// commits once the first one's session has timed out (kafka-go 0.2 sends no
// LeaveGroup: its Close dials the coordinator with a cancelled context): every message read exactly once. Then -n2 more are read
// by a new reader that stops half-way and a restarted one that resumes from
// its commits, and a last reader of the group finds nothing left: the
// commits are the log ends. It prints one JSON summary line and exits 1 on
// any failure.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	kafka "github.com/segmentio/kafka-go"
)

type summary struct {
	Topic       string            `json:"topic"`
	Group       string            `json:"group"`
	Consumed    int               `json:"consumed"`
	LeaverRead  int               `json:"leaver_read"`
	TakenOver   int               `json:"taken_over"`
	Restart     [2]int            `json:"restart_split"`
	JoinMs      int64             `json:"join_ms"`
	GroupMs     int64             `json:"group_ms"`
	Generations []string          `json:"generations"`
	Subscribed  map[string]string `json:"subscribed"`
	ErrorLog    []string          `json:"error_log"`
	Errors      []string          `json:"errors"`
	dropped     int
}

var (
	sumMu sync.Mutex
	sum   summary
)

func fail(format string, a ...interface{}) {
	sumMu.Lock()
	defer sumMu.Unlock()
	if len(sum.Errors) < 12 {
		sum.Errors = append(sum.Errors, fmt.Sprintf(format, a...))
	} else {
		sum.dropped++
	}
}

func finish() {
	sumMu.Lock()
	if sum.dropped > 0 {
		sum.Errors = append(sum.Errors, fmt.Sprintf("... and %d more", sum.dropped))
	}
	out, _ := json.Marshal(sum)
	failed := len(sum.Errors) > 0
	sumMu.Unlock()
	fmt.Println(string(out))
	if failed {
		os.Exit(1)
	}
	os.Exit(0)
}

func die(format string, a ...interface{}) {
	fail(format, a...)
	finish()
}

func key(i int) []byte { return []byte(fmt.Sprintf("key-%03d", i%89)) }

func value(topic string, i int) []byte {
	return []byte(fmt.Sprintf("%s/%d/", topic, i) + strings.Repeat("g", i%30))
}

var (
	joinedRe     = regexp.MustCompile(`generationID=(\d+)`)
	subscribedRe = regexp.MustCompile(`subscribed to partitions: map\[(.*)\]`)
)

// tally is what every reader read, and what their logs said about the group.
type tally struct {
	mu       sync.Mutex
	seen     map[int]int    // message index -> times read
	by       map[int]string // message index -> reader that read it last
	part     map[int]int    // message index -> its partition
	gen      map[string]int // reader -> generation of its last join
	subGen   map[string]int // reader -> generation it last subscribed in
	subParts map[string]string
	gens     []string
	debug    bool
}

func newTally(debug bool) *tally {
	return &tally{seen: map[int]int{}, by: map[int]string{}, part: map[int]int{}, gen: map[string]int{},
		subGen: map[string]int{}, subParts: map[string]string{}, debug: debug}
}

func (t *tally) total() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.seen)
}

// logWriter reads a reader's log lines: its joins and subscriptions.
type logWriter struct {
	t    *tally
	name string
}

func (w logWriter) Write(b []byte) (int, error) {
	line := string(b)
	if strings.HasSuffix(w.name, " (error)") {
		sumMu.Lock()
		if len(sum.ErrorLog) < 20 {
			sum.ErrorLog = append(sum.ErrorLog, w.name+": "+strings.TrimSpace(line))
		}
		sumMu.Unlock()
	}
	w.t.mu.Lock()
	if m := joinedRe.FindStringSubmatch(line); m != nil && strings.Contains(line, "joinGroup succeeded") {
		w.t.gen[w.name], _ = strconv.Atoi(m[1])
	}
	if m := subscribedRe.FindStringSubmatch(line); m != nil {
		w.t.subGen[w.name] = w.t.gen[w.name]
		w.t.subParts[w.name] = m[1]
		w.t.gens = append(w.t.gens, fmt.Sprintf("%s: generation %d {%s}", w.name, w.t.gen[w.name], m[1]))
	}
	w.t.mu.Unlock()
	if w.t.debug {
		os.Stderr.WriteString(w.name + ": " + line)
	}
	return len(b), nil
}

type member struct {
	name   string
	r      *kafka.Reader
	cancel context.CancelFunc
	done   chan struct{}
	read   int
}

// kafka-go 0.2's Reader.Close cancels its context before it dials the
// coordinator to leave, so the dial fails and no LeaveGroup is sent: a
// closed reader leaves the group when its session times out.
var sessionTimeout = flag.Duration("session-timeout", 2*time.Second, "the readers' SessionTimeout")

func startMember(broker, group, topic, name string, t *tally, pace time.Duration, limit int) *member {
	var errLog io.Writer = logWriter{t, name + " (error)"}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{broker}, GroupID: group, Topic: topic,
		MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond,
		HeartbeatInterval: 300 * time.Millisecond, SessionTimeout: *sessionTimeout,
		RebalanceTimeout: 10 * time.Second, CommitInterval: 0,
		Logger: log.New(logWriter{t, name}, "", 0), ErrorLogger: log.New(errLog, "", 0)})
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{name: name, r: r, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for limit == 0 || m.read < limit {
			msg, err := r.FetchMessage(ctx)
			if err != nil {
				if ctx.Err() == nil {
					fail("%s: FetchMessage: %v", name, err)
				}
				return
			}
			fields := strings.SplitN(string(msg.Value), "/", 3)
			i := -1
			if len(fields) == 3 && fields[0] == topic {
				i, _ = strconv.Atoi(fields[1])
			}
			if i < 0 || string(msg.Key) != string(key(i)) || string(msg.Value) != string(value(topic, i)) {
				fail("%s: partition %d offset %d: key %q value %.40q, not what was written", name,
					msg.Partition, msg.Offset, msg.Key, msg.Value)
				continue
			}
			t.mu.Lock()
			t.seen[i]++
			t.by[i] = name
			t.part[i] = msg.Partition
			t.mu.Unlock()
			m.read++
			if err := r.CommitMessages(context.Background(), msg); err != nil {
				fail("%s: commit of partition %d offset %d: %v", name, msg.Partition, msg.Offset, err)
			}
			if pace > 0 {
				time.Sleep(pace)
			}
		}
	}()
	return m
}

// stop ends the reader's loop after its current message's commit, then
// closes it (which would send LeaveGroup but for kafka-go 0.2's bug).
func (m *member) stop() {
	m.cancel()
	select {
	case <-m.done:
	case <-time.After(20 * time.Second):
		fail("%s: its loop did not end in 20 s", m.name)
	}
	if err := m.r.Close(); err != nil {
		fail("%s: Close: %v", m.name, err)
	}
}

func waitFor(cond func() bool, limit time.Duration, what func() string) bool {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			fail("timed out after %v: %s", limit, what())
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

func produce(broker, topic string, from, n int) {
	w := kafka.NewWriter(kafka.WriterConfig{Brokers: []string{broker}, Topic: topic,
		Balancer: &kafka.Hash{}, MaxAttempts: 1, BatchSize: 100, BatchTimeout: 5 * time.Millisecond,
		RequiredAcks: -1, ReadTimeout: 20 * time.Second, WriteTimeout: 20 * time.Second})
	msgs := make([]kafka.Message, n)
	for j := range msgs {
		msgs[j] = kafka.Message{Key: key(from + j), Value: value(topic, from+j)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err := w.WriteMessages(ctx, msgs...)
	cancel()
	if cerr := w.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		die("WriteMessages: %v", err)
	}
}

func main() {
	broker := flag.String("broker", "127.0.0.1:9092", "bootstrap broker")
	topic := flag.String("topic", "kafka-go-group", "topic (created here)")
	group := flag.String("group", "kafka-go-group", "consumer group")
	partitions := flag.Int("partitions", 6, "partitions")
	n := flag.Int("n", 2000, "messages of the two-reader phase")
	n2 := flag.Int("n2", 400, "messages of the restart phase")
	timeout := flag.Duration("timeout", 30*time.Second, "time allowed for each phase")
	debug := flag.Bool("debug", false, "the readers' logs on stderr")
	flag.Parse()
	sum = summary{Topic: *topic, Group: *group, Subscribed: map[string]string{}, ErrorLog: []string{},
		Errors: []string{}}

	conn, err := kafka.Dial("tcp", *broker)
	if err != nil {
		die("dial %s: %v", *broker, err)
	}
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	err = conn.CreateTopics(kafka.TopicConfig{Topic: *topic, NumPartitions: *partitions, ReplicationFactor: 1})
	conn.Close()
	if err != nil {
		die("CreateTopics %s: %v", *topic, err)
	}

	// Two readers join; the messages come once both hold partitions of one
	// generation, so the only rebalance while they read is the leave.
	t := newTally(*debug)
	t0 := time.Now()
	a := startMember(*broker, *group, *topic, "a", t, time.Millisecond, 0)
	b := startMember(*broker, *group, *topic, "b", t, time.Millisecond, 0)
	joined := func() bool {
		t.mu.Lock()
		defer t.mu.Unlock()
		return t.gen["a"] > 0 && t.gen["a"] == t.gen["b"] && t.subGen["a"] == t.gen["a"] &&
			t.subGen["b"] == t.gen["b"]
	}
	if !waitFor(joined, *timeout, func() string { return fmt.Sprintf("both readers in one generation: %v", t.gens) }) {
		finish()
	}
	sum.JoinMs = time.Since(t0).Milliseconds()
	t.mu.Lock()
	aParts := t.subParts["a"]
	t.mu.Unlock()
	t0 = time.Now()
	produce(*broker, *topic, 0, *n)
	waitFor(func() bool { return t.total() >= *n/3 }, *timeout,
		func() string { return fmt.Sprintf("a third of %d read: %d", *n, t.total()) })
	a.stop()
	ok := waitFor(func() bool { return t.total() >= *n }, *timeout,
		func() string { return fmt.Sprintf("all %d read after a left: %d; %v", *n, t.total(), t.gens) })
	sum.GroupMs = time.Since(t0).Milliseconds()
	time.Sleep(300 * time.Millisecond) // anything read twice shows up
	t.mu.Lock()
	sum.Subscribed["a"] = aParts
	sum.Subscribed["b"] = t.subParts["b"]
	t.mu.Unlock()
	b.stop()
	t.mu.Lock()
	sum.Consumed = len(t.seen)
	sum.LeaverRead = a.read
	sum.Generations = append(sum.Generations, t.gens...)
	if ok && len(t.seen) != *n {
		fail("%d of %d messages read", len(t.seen), *n)
	}
	twice := []int{}
	for i, k := range t.seen {
		if k > 1 {
			twice = append(twice, i)
		}
	}
	sort.Ints(twice)
	if len(twice) > 0 {
		fail("%d messages read twice though each was committed, e.g. %v", len(twice), twice[:min(5, len(twice))])
	}
	aOwned := map[int]bool{}
	for i, who := range t.by {
		if who == "a" {
			aOwned[t.part[i]] = true
		}
	}
	for i, who := range t.by {
		if who == "b" && aOwned[t.part[i]] {
			sum.TakenOver++
		}
	}
	t.mu.Unlock()
	if a.read == 0 || sum.TakenOver == 0 {
		fail("a read %d, b read %d of a's partitions after it left", a.read, sum.TakenOver)
	}

	// A new reader reads half the next messages and stops; a restarted one
	// resumes from its commits; a last one finds nothing left.
	produce(*broker, *topic, *n, *n2)
	t2 := newTally(*debug)
	c := startMember(*broker, *group, *topic, "c", t2, 0, *n2/2)
	waitFor(func() bool {
		select {
		case <-c.done:
			return true
		default:
			return false
		}
	}, *timeout, func() string { return fmt.Sprintf("the first restart reader read %d of %d", t2.total(), *n2/2) })
	c.stop()
	sum.Restart[0] = t2.total()
	d := startMember(*broker, *group, *topic, "d", t2, 0, 0)
	waitFor(func() bool { return t2.total() >= *n2 }, *timeout,
		func() string { return fmt.Sprintf("the restarted reader read the rest: %d of %d", t2.total(), *n2) })
	time.Sleep(300 * time.Millisecond)
	d.stop()
	e := startMember(*broker, *group, *topic, "e", t2, 0, 0)
	waitFor(func() bool {
		t2.mu.Lock()
		defer t2.mu.Unlock()
		return t2.subGen["e"] > 0
	}, *timeout, func() string { return "the last reader subscribed" })
	time.Sleep(500 * time.Millisecond) // anything left past the commits is read by now
	e.stop()
	t2.mu.Lock()
	sum.Restart[1] = len(t2.seen) - sum.Restart[0]
	for i, k := range t2.seen {
		if i < *n || i >= *n+*n2 {
			fail("the restart readers read message %d, outside %d..%d", i, *n, *n+*n2-1)
		} else if k > 1 {
			fail("message %d read %d times across the restart", i, k)
		}
	}
	if len(t2.seen) != *n2 {
		fail("across the restart %d of %d read", len(t2.seen), *n2)
	}
	if e.read != 0 {
		fail("a reader of the group read %d messages past the final commits", e.read)
	}
	sum.Generations = append(sum.Generations, t2.gens...)
	t2.mu.Unlock()
	finish()
}

func min(a, b int) int {
	if a < b {
		return a
	}
	return b
}
