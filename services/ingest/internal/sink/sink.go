// Package sink holds the places events are delivered to: Dynatrace's security-events ingest API and a
// JSON-lines file. A sink delivers one batch and says, through *Error, what kind of failure it met; the
// delivery package decides what to do about it (wait, split, dead-letter, pause).
package sink

import (
	"context"
	"fmt"
	"time"
)

// Event is one event to deliver: its event.id and its compact JSON.
type Event struct {
	ID   string
	Body []byte
}

// Sink delivers batches of events.
type Sink interface {
	// Name is the sink's name in stats and the outbox: "dynatrace" or "jsonl".
	Name() string
	// Deliver delivers the whole batch or returns an error (an *Error tells what kind).
	Deliver(ctx context.Context, events []Event) error
}

// Kind classifies a failed delivery.
type Kind int

const (
	// Transient failures (5xx, network, disk) are retried with backoff, forever.
	Transient Kind = iota
	// Throttled (429) waits RetryAfter, then retries.
	Throttled
	// TooLarge (413) splits the batch.
	TooLarge
	// Rejected (400 and other client errors) dead-letters the batch: retrying cannot help.
	Rejected
	// Refused (401, 403, 404) pauses the sink until an operator fixes the token or URL and restarts.
	Refused
)

// Error is a failed delivery.
type Error struct {
	Kind       Kind
	Status     int           // HTTP status, 0 when there was no answer
	RetryAfter time.Duration // for Throttled, when the sink said
	Response   string        // the sink's answer (truncated), for dead letters and logs
	Err        error         // the cause, for Transient failures without an answer
}

func (e *Error) Error() string {
	switch {
	case e.Status != 0 && e.Response != "":
		return fmt.Sprintf("HTTP %d: %s", e.Status, e.Response)
	case e.Status != 0:
		return fmt.Sprintf("HTTP %d", e.Status)
	case e.Err != nil:
		return e.Err.Error()
	default:
		return "delivery failed"
	}
}

func (e *Error) Unwrap() error { return e.Err }
