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
	NextBatch(ctx context.Context, sink string, maxEvents, maxBytes int) ([]store.Pending, error)
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

// Run delivers until ctx ends. It returns nil at shutdown; it never gives up on its own.
func (s *Sender) Run(ctx context.Context) error {
	idle := time.NewTimer(s.opt.Poll)
	defer idle.Stop()
	attempt := 0
	for ctx.Err() == nil {
		if st, _ := s.State(); st == Paused {
			<-ctx.Done()
			break
		}
		batch, err := s.outbox.NextBatch(ctx, s.sink.Name(), s.opt.MaxEvents, s.opt.MaxBytes)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			s.log.ErrorContext(ctx, "cannot read the outbox", "error", err.Error())
			_ = retry.Sleep(ctx, s.opt.Backoff.Delay(attempt))
			attempt++
			continue
		}
		attempt = 0
		if len(batch) == 0 {
			idle.Reset(s.opt.Poll)
			select {
			case <-ctx.Done():
			case <-s.wake:
			case <-idle.C:
			}
			continue
		}
		s.deliver(ctx, batch)
	}
	return nil
}

// deliver resolves one batch: sent, dead-lettered, or left queued because the sink paused or ctx ended.
func (s *Sender) deliver(ctx context.Context, batch []store.Pending) {
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
			s.ack(ctx, batch)
			return
		}
		if ctx.Err() != nil {
			return
		}
		var se *sink.Error
		if !errors.As(err, &se) {
			se = &sink.Error{Kind: sink.Transient, Err: err}
		}
		switch se.Kind {
		case sink.TooLarge:
			if len(batch) == 1 {
				s.log.WarnContext(ctx, "the sink refused one event as too large; dead-lettered", "event_id", batch[0].EventID, "bytes", len(batch[0].Body))
				s.deadLetter(ctx, batch, se)
				return
			}
			half := len(batch) / 2
			s.log.InfoContext(ctx, "the sink found the batch too large; splitting it", "events", len(batch))
			s.deliver(ctx, batch[:half])
			if st, _ := s.State(); st == Paused || ctx.Err() != nil {
				return
			}
			s.deliver(ctx, batch[half:])
			return
		case sink.Rejected:
			s.log.WarnContext(ctx, "the sink rejected a batch; dead-lettered (see ListDeadLetters, RedriveDeadLetters)",
				"status", se.Status, "response", se.Response, "events", len(batch))
			s.deadLetter(ctx, batch, se)
			return
		case sink.Refused:
			reason := se.Error() + ": the sink refused our credentials or URL; delivery is paused until DT_API_TOKEN or DT_INGEST_URL is fixed and the service restarted"
			s.log.ErrorContext(ctx, "sink paused: delivery degraded", "status", se.Status, "reason", reason, "events_waiting_from", batch[0].Seq)
			s.setState(Paused, reason)
			return
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
}

// ack forgets delivered events. If the store cannot, the events are delivered again later (at least
// once, with the same event.id).
func (s *Sender) ack(ctx context.Context, batch []store.Pending) {
	for attempt := 0; attempt < 5; attempt++ {
		err := s.outbox.MarkSent(context.WithoutCancel(ctx), s.sink.Name(), batch)
		if err == nil {
			return
		}
		s.log.ErrorContext(ctx, "cannot mark events sent; they will be sent again", "error", err.Error())
		if retry.Sleep(ctx, s.opt.Backoff.Delay(attempt)) != nil {
			return
		}
	}
}

func (s *Sender) deadLetter(ctx context.Context, batch []store.Pending, se *sink.Error) {
	for attempt := 0; attempt < 5; attempt++ {
		err := s.outbox.DeadLetter(context.WithoutCancel(ctx), s.sink.Name(), batch, se.Status, se.Response)
		if err == nil {
			return
		}
		s.log.ErrorContext(ctx, "cannot dead-letter a batch", "error", err.Error())
		if retry.Sleep(ctx, s.opt.Backoff.Delay(attempt)) != nil {
			return
		}
	}
}
