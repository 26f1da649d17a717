// Command spindle_sarama_group is the Sarama (Debian's 1.22) half of the
// integration test tests/integration/test_sarama_groups.py: a consumer group
// made with sarama.NewConsumerGroup and a ConsumerGroupHandler, at the
// config.Version given by -version (groups need 0.10.2 in Sarama).
//
// Sarama 1.22 sends FindCoordinator v0, JoinGroup v1 (v0 below 0.10.1),
// SyncGroup, Heartbeat and LeaveGroup v0, OffsetFetch v1, and OffsetCommit
// v1 (generation, member id and a per-partition timestamp of -1) or, with
// -retention set, v2 (a retention time instead).
//
// It makes a topic of -partitions partitions and runs two members of one
// group; once both hold claims of one generation it sends -n keyed
// messages, and the members mark each message as they read it
// (MarkMessage, committed every -commit-interval and when a session ends).
// A third of the way through the first member leaves (its session ends, its
// last marks are committed, then LeaveGroup); the second must take its
// partitions over from those commits: every message read exactly once, each
// key and value checked. Then -n2 more messages are read by a new member
// that stops half-way and a restarted one that resumes from its commits;
// at the end OffsetFetch must give the log ends and a member's metadata.
// It prints one JSON summary line and exits 1 on any failure.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Shopify/sarama"
	"spindle_saramautil"
)

type summary struct {
	Version      string             `json:"version"`
	Topic        string             `json:"topic"`
	Group        string             `json:"group"`
	Commit       string             `json:"offset_commit"`
	Consumed     int                `json:"consumed"`
	LeaverRead   int                `json:"leaver_read"`
	TakenOver    int                `json:"taken_over"`
	Restart      [2]int             `json:"restart_split"`
	JoinMs       int64              `json:"join_ms"`
	JoinToFirst  map[string]int64   `json:"join_to_first_ms"`
	Claims       map[string][]int32 `json:"claims"`
	Generations  []string           `json:"generations"`
	GroupMs      int64              `json:"group_ms"`
	GroupErrors  []string           `json:"group_errors"`
	Errors       []string           `json:"errors"`
	dropped      int
	droppedGroup int
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
	if sum.droppedGroup > 0 {
		sum.GroupErrors = append(sum.GroupErrors, fmt.Sprintf("... and %d more", sum.droppedGroup))
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
	return []byte(fmt.Sprintf("%s/%d/", topic, i) + strings.Repeat("s", i%30))
}

// tally is what every member read, shared by their handlers.
type tally struct {
	mu     sync.Mutex
	seen   map[int]int          // message index -> times read
	by     map[int]string       // message index -> member that read it last
	part   map[int]int32        // message index -> its partition
	claims map[string][]int32   // member -> its latest claims
	gen    map[string]int32     // member -> the generation of its latest session
	first  map[string]time.Time // member -> its first message
	start  map[string]time.Time // member -> when it started
	gens   []string             // "member: generation [claims]", in order
	notify chan struct{}
}

func newTally() *tally {
	return &tally{seen: map[int]int{}, by: map[int]string{}, part: map[int]int32{}, claims: map[string][]int32{},
		gen:   map[string]int32{},
		first: map[string]time.Time{}, start: map[string]time.Time{}, notify: make(chan struct{}, 1)}
}

func (t *tally) total() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.seen)
}

// handler is one member's sarama.ConsumerGroupHandler.
type handler struct {
	name  string
	topic string
	t     *tally
	pace  time.Duration
	limit int // stop marking after this many (0: no limit); the member is then stopped
	read  int
}

func (h *handler) Setup(s sarama.ConsumerGroupSession) error {
	parts := append([]int32(nil), s.Claims()[h.topic]...)
	sort.Slice(parts, func(a, b int) bool { return parts[a] < parts[b] })
	h.t.mu.Lock()
	h.t.claims[h.name] = parts
	h.t.gen[h.name] = s.GenerationID()
	h.t.gens = append(h.t.gens, fmt.Sprintf("%s: generation %d %v", h.name, s.GenerationID(), parts))
	h.t.mu.Unlock()
	return nil
}

func (h *handler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *handler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for {
		// Stop at the session's end without draining what the claim has
		// buffered: the next owner reads it from the commits.
		var m *sarama.ConsumerMessage
		select {
		case <-s.Context().Done():
			return nil
		case msg, ok := <-c.Messages():
			if !ok {
				return nil
			}
			m = msg
		}
		fields := strings.SplitN(string(m.Value), "/", 3)
		i, err := strconv.Atoi(fields[min(1, len(fields)-1)])
		if len(fields) != 3 || fields[0] != h.topic || err != nil {
			fail("%s: partition %d offset %d: value %.40q is none of ours", h.name, m.Partition, m.Offset,
				m.Value)
			continue
		}
		if string(m.Key) != string(key(i)) || string(m.Value) != string(value(h.topic, i)) {
			fail("%s: partition %d offset %d: key %q value %.40q, want %q %.40q", h.name, m.Partition,
				m.Offset, m.Key, m.Value, key(i), value(h.topic, i))
		}
		h.t.mu.Lock()
		if h.limit > 0 && h.read >= h.limit {
			// Past its share: neither counted nor marked, so the restarted
			// member must read it.
			h.t.mu.Unlock()
			continue
		}
		if _, ok := h.t.first[h.name]; !ok {
			h.t.first[h.name] = time.Now()
		}
		h.t.seen[i]++
		h.t.by[i] = h.name
		h.t.part[i] = m.Partition
		h.read++
		h.t.mu.Unlock()
		s.MarkMessage(m, h.name)
		select {
		case h.t.notify <- struct{}{}:
		default:
		}
		if h.pace > 0 {
			time.Sleep(h.pace)
		}
	}
	return nil
}

func min(a, b int) int {
	if a < b {
		return a
	}
	return b
}

// member runs Consume in a loop (a new session after each rebalance) until stopped.
type member struct {
	name   string
	cg     sarama.ConsumerGroup
	h      *handler
	cancel context.CancelFunc
	done   chan struct{}
}

func startMember(addrs []string, cfg *sarama.Config, group, topic, name string, t *tally,
	pace time.Duration, limit int) *member {
	cg, err := sarama.NewConsumerGroup(addrs, group, cfg)
	if err != nil {
		die("%s: NewConsumerGroup: %v", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{name: name, cg: cg, h: &handler{name: name, topic: topic, t: t, pace: pace, limit: limit},
		cancel: cancel, done: make(chan struct{})}
	t.mu.Lock()
	t.start[name] = time.Now()
	t.mu.Unlock()
	go func() {
		for e := range cg.Errors() {
			sumMu.Lock()
			if len(sum.GroupErrors) < 12 {
				sum.GroupErrors = append(sum.GroupErrors, fmt.Sprintf("%s: %v", name, e))
			} else {
				sum.droppedGroup++
			}
			sumMu.Unlock()
		}
	}()
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{topic}, m.h); err != nil && ctx.Err() == nil {
				fail("%s: Consume: %v", name, err)
				time.Sleep(100 * time.Millisecond)
			}
		}
	}()
	return m
}

// stop ends the member's session (its marks are committed) and closes it
// (LeaveGroup).
func (m *member) stop() {
	m.cancel()
	select {
	case <-m.done:
	case <-time.After(20 * time.Second):
		fail("%s: its session did not end in 20 s", m.name)
	}
	if err := m.cg.Close(); err != nil {
		fail("%s: Close: %v", m.name, err)
	}
}

func waitFor(t *tally, cond func() bool, limit time.Duration, what string) bool {
	deadline := time.After(limit)
	for !cond() {
		select {
		case <-t.notify:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			fail("timed out after %v: %s", limit, what)
			return false
		}
	}
	return true
}

func produce(client sarama.Client, topic string, from, n int) map[int32]int64 {
	if err := spindle_saramautil.WaitLeaders(client, topic); err != nil {
		die("%v", err)
	}
	p, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		die("producer: %v", err)
	}
	msgs := make([]*sarama.ProducerMessage, n)
	for j := range msgs {
		i := from + j
		msgs[j] = &sarama.ProducerMessage{Topic: topic, Key: sarama.ByteEncoder(key(i)),
			Value: sarama.ByteEncoder(value(topic, i))}
	}
	if err := p.SendMessages(msgs); err != nil {
		die("produce: %v", err)
	}
	if err := p.Close(); err != nil {
		fail("producer close: %v", err)
	}
	ends := map[int32]int64{}
	for _, m := range msgs {
		if m.Offset+1 > ends[m.Partition] {
			ends[m.Partition] = m.Offset + 1
		}
	}
	return ends
}

// committed reads the group's offsets (OffsetFetch v1) with an offset
// manager of a client that is not a member.
func committed(addrs []string, cfg *sarama.Config, group, topic string, parts int) (map[int32]int64,
	map[int32]string) {
	client, err := sarama.NewClient(addrs, cfg)
	if err != nil {
		die("client: %v", err)
	}
	defer client.Close()
	om, err := sarama.NewOffsetManagerFromClient(group, client)
	if err != nil {
		die("offset manager: %v", err)
	}
	defer om.Close()
	offs, metas := map[int32]int64{}, map[int32]string{}
	for p := int32(0); p < int32(parts); p++ {
		pom, err := om.ManagePartition(topic, p)
		if err != nil {
			fail("ManagePartition %d: %v", p, err)
			continue
		}
		offs[p], metas[p] = pom.NextOffset()
		pom.AsyncClose()
	}
	return offs, metas
}

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "bootstrap brokers, comma separated")
	version := flag.String("version", "2.1.0", "sarama config.Version")
	topic := flag.String("topic", "sarama-group", "topic (created here)")
	group := flag.String("group", "sarama-group", "consumer group")
	partitions := flag.Int("partitions", 6, "partitions")
	n := flag.Int("n", 3000, "messages of the two-member phase")
	n2 := flag.Int("n2", 600, "messages of the restart phase")
	retention := flag.Duration("retention", 0, "Consumer.Offsets.Retention: 0 sends OffsetCommit v1, "+
		"else v2")
	commitEvery := flag.Duration("commit-interval", 100*time.Millisecond, "Consumer.Offsets.CommitInterval")
	timeout := flag.Duration("timeout", 30*time.Second, "time allowed for each phase")
	debug := flag.Bool("debug", false, "Sarama's log on stderr")
	flag.Parse()

	sum = summary{Version: *version, Topic: *topic, Group: *group, JoinToFirst: map[string]int64{},
		Claims: map[string][]int32{}, Errors: []string{}, GroupErrors: []string{}}
	if *debug {
		sarama.Logger = log.New(os.Stderr, "[sarama] ", log.Lmicroseconds)
	}
	addrs := strings.Split(*brokers, ",")
	v, err := sarama.ParseKafkaVersion(*version)
	if err != nil {
		die("version %q: %v", *version, err)
	}
	cfg := sarama.NewConfig()
	cfg.Version = v
	cfg.ClientID = "spindle-sarama-group"
	cfg.Net.DialTimeout = 10 * time.Second
	cfg.Net.ReadTimeout = 20 * time.Second
	cfg.Metadata.Retry.Max = 20
	cfg.Metadata.Retry.Backoff = 100 * time.Millisecond
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Retry.Max = 0
	cfg.Producer.Flush.Messages = 64
	cfg.Producer.Flush.Frequency = 5 * time.Millisecond
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.CommitInterval = *commitEvery
	cfg.Consumer.Offsets.Retention = *retention
	cfg.Consumer.Group.Session.Timeout = 6 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = 300 * time.Millisecond
	cfg.Consumer.Group.Rebalance.Timeout = 10 * time.Second
	cfg.Consumer.Group.Rebalance.Retry.Max = 20
	cfg.Consumer.Group.Rebalance.Retry.Backoff = 100 * time.Millisecond
	if *retention == 0 {
		sum.Commit = "v1"
	} else {
		sum.Commit = "v2"
	}

	admin, err := sarama.NewClusterAdmin(addrs, cfg)
	if err != nil {
		die("cluster admin: %v", err)
	}
	if err := admin.CreateTopic(*topic, &sarama.TopicDetail{NumPartitions: int32(*partitions),
		ReplicationFactor: 1}, false); err != nil {
		die("CreateTopic %s: %v", *topic, err)
	}
	admin.Close()
	client, err := sarama.NewClient(addrs, cfg)
	if err != nil {
		die("client: %v", err)
	}
	defer client.Close()

	// Two members join; the messages come once both hold claims of one
	// generation (a member that joined late would find them all read), so
	// the rebalance while they read is the leave. The first leaves a third
	// of the way through.
	t := newTally()
	t0 := time.Now()
	a := startMember(addrs, cfg, *group, *topic, "a", t, time.Millisecond, 0)
	b := startMember(addrs, cfg, *group, *topic, "b", t, time.Millisecond, 0)
	joined := func() bool {
		t.mu.Lock()
		defer t.mu.Unlock()
		return t.gen["a"] > 0 && t.gen["a"] == t.gen["b"] && len(t.claims["a"]) > 0 &&
			len(t.claims["b"]) > 0
	}
	if !waitFor(t, joined, *timeout, "both members in one generation") {
		finish()
	}
	sum.JoinMs = time.Since(t0).Milliseconds()
	ends := produce(client, *topic, 0, *n)
	if len(ends) != *partitions {
		fail("messages on %d partitions, want %d", len(ends), *partitions)
	}
	waitFor(t, func() bool { return t.total() >= *n/3 }, *timeout, fmt.Sprintf("a third of %d read", *n))
	a.stop()
	t.mu.Lock()
	aClaims := t.claims["a"]
	aRead := a.h.read
	t.mu.Unlock()
	ok := waitFor(t, func() bool { return t.total() >= *n }, *timeout,
		fmt.Sprintf("all %d read after a left", *n))
	sum.GroupMs = time.Since(t0).Milliseconds()
	time.Sleep(300 * time.Millisecond) // anything read twice shows up
	t.mu.Lock()
	bClaims := t.claims["b"]
	for name, at := range t.first {
		sum.JoinToFirst[name] = at.Sub(t.start[name]).Milliseconds()
	}
	t.mu.Unlock()
	b.stop()
	t.mu.Lock()
	sum.Consumed = len(t.seen)
	sum.Claims["a"] = aClaims
	sum.Claims["b"] = bClaims
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
		fail("%d messages read twice though each was marked and committed, e.g. %v", len(twice),
			twice[:min(5, len(twice))])
	}
	if len(bClaims) != *partitions {
		fail("after a left, b claims %v, want all %d partitions", bClaims, *partitions)
	}
	takenOver := 0
	for i, who := range t.by {
		for _, p := range aClaims {
			if who == "b" && t.part[i] == p {
				takenOver++
			}
		}
	}
	t.mu.Unlock()
	sum.LeaverRead, sum.TakenOver = aRead, takenOver
	if aRead == 0 || len(aClaims) == 0 || takenOver == 0 {
		fail("a read %d of its claims %v, b took %d messages of them over", aRead, aClaims, takenOver)
	}
	offs, metas := committed(addrs, cfg, *group, *topic, *partitions)
	for p := int32(0); p < int32(*partitions); p++ {
		if offs[p] != ends[p] || (metas[p] != "a" && metas[p] != "b") {
			fail("partition %d: committed %d %q, want the log end %d and a member's name", p, offs[p],
				metas[p], ends[p])
		}
	}

	// A new member reads half the next messages and stops; a restarted one
	// resumes from its commits.
	newEnds := produce(client, *topic, *n, *n2)
	t2 := newTally()
	c := startMember(addrs, cfg, *group, *topic, "c", t2, 0, *n2/2)
	waitFor(t2, func() bool { return t2.total() >= *n2/2 }, *timeout, "the first restart member read half")
	c.stop()
	sum.Restart[0] = t2.total()
	d := startMember(addrs, cfg, *group, *topic, "d", t2, 0, 0)
	waitFor(t2, func() bool { return t2.total() >= *n2 }, *timeout,
		fmt.Sprintf("the restarted member read the rest (%d of %d)", t2.total(), *n2))
	time.Sleep(300 * time.Millisecond)
	d.stop()
	t2.mu.Lock()
	sum.Restart[1] = len(t2.seen) - sum.Restart[0]
	for i, k := range t2.seen {
		if i < *n || i >= *n+*n2 {
			fail("the restart members read message %d, outside %d..%d", i, *n, *n+*n2-1)
		} else if k > 1 {
			fail("message %d read %d times across the restart", i, k)
		}
	}
	if len(t2.seen) != *n2 {
		fail("across the restart %d of %d read", len(t2.seen), *n2)
	}
	sum.Generations = append(sum.Generations, t2.gens...)
	t2.mu.Unlock()
	offs, metas = committed(addrs, cfg, *group, *topic, *partitions)
	for p := int32(0); p < int32(*partitions); p++ {
		if offs[p] != newEnds[p] || (metas[p] != "c" && metas[p] != "d") {
			fail("partition %d after the restart: committed %d %q, want %d and c or d", p, offs[p],
				metas[p], newEnds[p])
		}
	}
	sumMu.Lock()
	for _, e := range sum.GroupErrors {
		sum.Errors = append(sum.Errors, "group error: "+e)
	}
	sumMu.Unlock()
	finish()
}
