// Package spindle_saramautil holds what the Sarama test programs share.
package spindle_saramautil

import (
	"fmt"
	"time"

	"github.com/Shopify/sarama"
)

// WaitLeaders opens the connections to the topic's leaders before a
// producer starts. Sarama 1.22 opens a newly registered broker in the
// background and its producer sends on it without waiting, failing the
// first batch with "broker not connected" when the dial is not done yet
// (seen with auto-created topics and under load); with retries off that
// would be a lost batch, so the tests take the race out of the client.
func WaitLeaders(client sarama.Client, topic string) error {
	if err := client.RefreshMetadata(topic); err != nil {
		return fmt.Errorf("metadata for %s: %v", topic, err)
	}
	parts, err := client.Partitions(topic)
	if err != nil {
		return fmt.Errorf("partitions of %s: %v", topic, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, p := range parts {
		leader, err := client.Leader(topic, p)
		if err != nil {
			return fmt.Errorf("leader of %s/%d: %v", topic, p, err)
		}
		for {
			if ok, _ := leader.Connected(); ok {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("leader of %s/%d never connected", topic, p)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return nil
}
