// Package delivery drains the store's outbox into the sinks: one background Sender per sink, which
// batches events, retries transient failures with backoff forever, honours 429 Retry-After, splits
// batches a sink finds too large, dead-letters batches it refuses as invalid and pauses the sink when it
// refuses our credentials. Ingest never waits for it: the outbox is the hand-over.
package delivery

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/scoutbridge/scoutbridge/pkg/retry"
	"github.com/scoutbridge/scoutbridge/services/ingest/internal/sink"
	"github.com/scoutbridge/scoutbridge/services/ingest/internal/store"
)

// Outbox is the part of the store a Sender uses.
type Outbox interface {
	NextBatch(ctx context.Context, sink string, after int64, maxEvents, maxBytes int) ([]store.Pending, error)
	MarkSent(ctx context.Context, sink string, batch []store.Pending) error
	DeadLetter(ctx context.Context, sink string, batch []store.Pending, status int, response string) error
}

// State is a sink's delivery state.
type State int

const (
	// OK: delivering normally (or idle).
	OK State = iota + 1
	// Retrying after transient failures.
	Retrying
	// Paused: the sink refused our credentials or URL; an operator must act and restart.
	Paused
)

func (s State) String() string {
	switch s {
	case OK:
		return "ok"
	case Retrying:
		return "retrying"
	case Paused:
		return "paused"
	}
	return "unknown"
}

// Options tune a Sender.
type Options struct {
	// MaxEvents and MaxBytes bound one batch (MaxBytes: the JSON array's size).
	MaxEvents, MaxBytes int
	// Backoff paces retries of transient failures (and of 429 without Retry-After).
	Backoff retry.Backoff
	// Poll is how often an idle sender looks at the outbox without being woken (default 2s).
	Poll time.Duration
	// OnState is called when the state changes (e.g. to mark health degraded).
	OnState func(sink string, s State, reason string)
}

// Sender delivers one sink's outbox.
type Sender struct {
	sink   sink.Sink
	outbox Outbox
	log    *slog.Logger
	opt    Options
	wake   chan struct{}

	mu      sync.Mutex
	state   State
	lastErr string
}

// NewSender builds a sender; Run starts it.
func NewSender(s sink.Sink, outbox Outbox, log *slog.Logger, opt Options) *Sender {
	if opt.MaxEvents <= 0 {
		opt.MaxEvents = 5000
	}
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = 10_000_000
	}
	if opt.Backoff.Initial == 0 {
		opt.Backoff = retry.Backoff{Initial: 500 * time.Millisecond, Max: 5 * time.Minute, Multiplier: 2, Jitter: 0.3}
	}
	if opt.Poll <= 0 {
		opt.Poll = 2 * time.Second
	}
	return &Sender{sink: s, outbox: outbox, log: log.With("sink", s.Name()), opt: opt, wake: make(chan struct{}, 1), state: OK}
}

// Name is the sink's name.
func (s *Sender) Name() string { return s.sink.Name() }

// Wake tells the sender that new events are queued.
func (s *Sender) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// State returns the state and the last error (without secrets).
func (s *Sender) State() (State, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state, s.lastErr
}

func (s *Sender) setState(st State, reason string) {
	s.mu.Lock()
	changed := s.state != st
	s.state = st
	if reason != "" {
		s.lastErr = reason
	}
	s.mu.Unlock()
	if changed && s.opt.OnState != nil {
		s.opt.OnState(s.sink.Name(), st, reason)
	}
}

// Run delivers until ctx ends. It returns nil at shutdown; it never gives up on its own. While a batch
// from the cursor is being posted, the next one is read from the store, so the sink never waits for
// the store between posts.
func (s *Sender) Run(ctx context.Context) error {
	idle := time.NewTimer(s.opt.Poll)
	defer idle.Stop()
	var next chan batchRead // the prefetched batch, if one is being read
	defer func() {
		if next != nil {
			<-next
		}
	}()
	attempt := 0
	for ctx.Err() == nil {
		if st, _ := s.State(); st == Paused {
			<-ctx.Done()
			break
		}
		var r batchRead
		if next != nil {
			r, next = <-next, nil
		} else {
			r.batch, r.err = s.outbox.NextBatch(ctx, s.sink.Name(), 0, s.opt.MaxEvents, s.opt.MaxBytes)
		}
		if r.err != nil {
			if ctx.Err() != nil {
				break
			}
			s.log.ErrorContext(ctx, "cannot read the outbox", "error", r.err.Error())
			_ = retry.Sleep(ctx, s.opt.Backoff.Delay(attempt))
			attempt++
			continue
		}
		attempt = 0
		if len(r.batch) == 0 {
			idle.Reset(s.opt.Poll)
			select {
			case <-ctx.Done():
			case <-s.wake:
			case <-idle.C:
			}
			continue
		}
		if last := r.batch[len(r.batch)-1]; last.RedriveID == 0 {
			next = s.prefetch(ctx, last.Seq)
		}
		if !s.deliver(ctx, r.batch) && next != nil {
			// The batch is still queued (paused, shutting down, or not acknowledged): what follows it
			// must be read again after it.
			<-next
			next = nil
		}
	}
	return nil
}

// batchRead is the outcome of one NextBatch.
type batchRead struct {
	batch []store.Pending
	err   error
}

// prefetch reads the batch after seq in the background.
func (s *Sender) prefetch(ctx context.Context, after int64) chan batchRead {
	c := make(chan batchRead, 1)
	go func() {
		b, err := s.outbox.NextBatch(ctx, s.sink.Name(), after, s.opt.MaxEvents, s.opt.MaxBytes)
		c <- batchRead{b, err}
	}()
	return c
}

// deliver resolves one batch: sent, dead-lettered, or left queued because the sink paused or ctx ended.
// It reports whether the store now records the whole batch as resolved.
func (s *Sender) deliver(ctx context.Context, batch []store.Pending) bool {
	events := make([]sink.Event, len(batch))
	for i, p := range batch {
		events[i] = sink.Event{ID: p.EventID, Body: p.Body}
	}
	for attempt := 0; ctx.Err() == nil; {
		err := s.sink.Deliver(ctx, events)
		if err == nil {
			if st, _ := s.State(); st != OK {
				s.log.InfoContext(ctx, "delivering again", "events", len(batch))
			}
			s.setState(OK, "")
			return s.ack(ctx, batch)
		}
		if ctx.Err() != nil {
			return false
		}
		var se *sink.Error
		if !errors.As(err, &se) {
			se = &sink.Error{Kind: sink.Transient, Err: err}
		}
		switch se.Kind {
		case sink.TooLarge:
			if len(batch) == 1 {
				s.log.WarnContext(ctx, "the sink refused one event as too large; dead-lettered", "event_id", batch[0].EventID, "bytes", len(batch[0].Body))
				return s.deadLetter(ctx, batch, se)
			}
			half := len(batch) / 2
			s.log.InfoContext(ctx, "the sink found the batch too large; splitting it", "events", len(batch))
			if !s.deliver(ctx, batch[:half]) {
				return false
			}
			return s.deliver(ctx, batch[half:])
		case sink.Rejected:
			s.log.WarnContext(ctx, "the sink rejected a batch; dead-lettered (see ListDeadLetters, RedriveDeadLetters)",
				"status", se.Status, "response", se.Response, "events", len(batch))
			return s.deadLetter(ctx, batch, se)
		case sink.Refused:
			reason := se.Error() + ": the sink refused our credentials or URL; delivery is paused until DT_API_TOKEN or DT_INGEST_URL is fixed and the service restarted"
			s.log.ErrorContext(ctx, "sink paused: delivery degraded", "status", se.Status, "reason", reason, "events_waiting_from", batch[0].Seq)
			s.setState(Paused, reason)
			return false
		case sink.Throttled:
			wait := se.RetryAfter
			if wait <= 0 {
				wait = s.opt.Backoff.Delay(attempt)
			}
			s.setState(Retrying, se.Error())
			s.log.InfoContext(ctx, "the sink throttled us; waiting", "retry_after", wait.String())
			attempt++
			_ = retry.Sleep(ctx, wait)
		default:
			wait := s.opt.Backoff.Delay(attempt)
			s.setState(Retrying, se.Error())
			s.log.WarnContext(ctx, "delivery failed; retrying", "error", se.Error(), "attempt", attempt+1, "retry_in", wait.String())
			attempt++
			_ = retry.Sleep(ctx, wait)
		}
	}
	return false
}

// ack forgets delivered events. If the store cannot, the events are delivered again later (at least
// once, with the same event.id).
func (s *Sender) ack(ctx context.Context, batch []store.Pending) bool {
	for attempt := 0; attempt < 5; attempt++ {
		err := s.outbox.MarkSent(context.WithoutCancel(ctx), s.sink.Name(), batch)
		if err == nil {
			return true
		}
		s.log.ErrorContext(ctx, "cannot mark events sent; they will be sent again", "error", err.Error())
		if retry.Sleep(ctx, s.opt.Backoff.Delay(attempt)) != nil {
			return false
		}
	}
	return false
}

func (s *Sender) deadLetter(ctx context.Context, batch []store.Pending, se *sink.Error) bool {
	for attempt := 0; attempt < 5; attempt++ {
		err := s.outbox.DeadLetter(context.WithoutCancel(ctx), s.sink.Name(), batch, se.Status, se.Response)
		if err == nil {
			return true
		}
		s.log.ErrorContext(ctx, "cannot dead-letter a batch", "error", err.Error())
		if retry.Sleep(ctx, s.opt.Backoff.Delay(attempt)) != nil {
			return false
		}
	}
	return false
}
