package run

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/propagation"

	"github.com/scoutbridge/scoutbridge/pkg/retry"
)

// Options configure an Orchestrator.
type Options struct {
	// InitialLookback is the first run's window length (INITIAL_LOOKBACK).
	InitialLookback time.Duration
	// ScanConcurrency is how many scans are in flight at once (SCAN_CONCURRENCY).
	ScanConcurrency int
	// MaxAttempts bounds the calls per image (scan, ingest) and per discovery listing (SCAN_MAX_ATTEMPTS).
	MaxAttempts int
	// Backoff spaces the retries.
	Backoff retry.Backoff
	// RescanInterval: running digests last evaluated longer ago are scanned again (RESCAN_INTERVAL);
	// 0 turns re-evaluation off.
	RescanInterval time.Duration
	// IngestTimeout bounds one ingest call; ingest calls are not cut short by CancelRun.
	IngestTimeout time.Duration
	// Now is the clock (tests).
	Now func() time.Time
	// SchedulePoll is the longest the scheduler sleeps before looking at the clock again (default 1m).
	SchedulePoll time.Duration
	Logger       *slog.Logger
}

func (o *Options) defaults() {
	if o.InitialLookback <= 0 {
		o.InitialLookback = 24 * time.Hour
	}
	if o.ScanConcurrency <= 0 {
		o.ScanConcurrency = 4
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	if o.Backoff.Initial <= 0 {
		o.Backoff = retry.Backoff{Initial: 500 * time.Millisecond, Max: 15 * time.Second, Multiplier: 2, Jitter: 0.2}
	}
	if o.IngestTimeout <= 0 {
		o.IngestTimeout = 2 * time.Minute
	}
	if o.SchedulePoll <= 0 {
		o.SchedulePoll = time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Orchestrator starts, resumes, watches and cancels runs, one at a time.
type Orchestrator struct {
	opt       Options
	store     Store
	discovery Discoverer
	scanner   Scanner
	ingest    Ingester
	runtime   Runtime // nil: no runtime service
	metrics   *metrics
	log       *slog.Logger

	mu     sync.Mutex
	active *execution
	// base is the context runs live in: it ends at shutdown, which leaves a run RUNNING to be resumed.
	base context.Context
	wg   sync.WaitGroup
	// notifying keeps NotifyNewFindings calls one at a time, as they were when they belonged to the run.
	notifying sync.Mutex
}

// New builds an Orchestrator. runtime may be nil. Runs started through it live until ctx ends; a run
// still going then stays RUNNING in the store and is resumed by Resume on the next start.
func New(ctx context.Context, store Store, d Discoverer, s Scanner, i Ingester, rt Runtime, opt Options) (*Orchestrator, error) {
	opt.defaults()
	m, err := newMetrics()
	if err != nil {
		return nil, err
	}
	return &Orchestrator{opt: opt, store: store, discovery: d, scanner: s, ingest: i, runtime: rt,
		metrics: m, log: opt.Logger, base: ctx}, nil
}

// Wait blocks until every run goroutine has returned (after ctx ended, or after the active run
// finished and its notification was sent).
func (o *Orchestrator) Wait() { o.wg.Wait() }

// Start plans and starts a run. It answers *RunningError while another run is running and
// *InvalidRequestError for a window that ends before it starts.
func (o *Orchestrator) Start(ctx context.Context, req Request) (*Run, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.active != nil {
		return nil, &RunningError{RunID: o.active.id}
	}
	if err := o.base.Err(); err != nil {
		return nil, fmt.Errorf("shutting down: %w", err)
	}
	r, err := o.plan(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := o.store.CreateRun(ctx, r); err != nil {
		return nil, fmt.Errorf("save run: %w", err)
	}
	o.launch(r)
	return r, nil
}

// plan turns a request into a run: the window is [watermark, now) unless overridden; only a
// default-scope, default-window, non-dry run may move the watermark.
func (o *Orchestrator) plan(ctx context.Context, req Request) (*Run, error) {
	now := o.opt.Now().UTC()
	r := &Run{ID: newRunID(now), State: StateRunning, Trigger: req.Trigger, DryRun: req.DryRun,
		ForceRescan: req.ForceRescan, Namespaces: req.Namespaces, StartedAt: now, RescanOnly: req.RescanOnly}
	if r.Trigger == 0 {
		r.Trigger = TriggerAPI
	}
	if req.RescanOnly {
		return r, nil
	}
	start, end := req.PushedAfter.UTC(), req.PushedBefore.UTC()
	if req.PushedAfter.IsZero() {
		wm, ok, err := o.store.Watermark(ctx)
		if err != nil {
			return nil, fmt.Errorf("read watermark: %w", err)
		}
		start = now.Add(-o.opt.InitialLookback)
		if ok {
			start = wm
		}
	}
	if req.PushedBefore.IsZero() {
		end = now
	}
	if !start.Before(end) {
		return nil, &InvalidRequestError{Reason: fmt.Sprintf("window start %s is not before its end %s",
			start.Format(time.RFC3339), end.Format(time.RFC3339))}
	}
	r.Window = Window{Start: start, End: end}
	r.MovesWatermark = len(req.Namespaces) == 0 && req.PushedAfter.IsZero() && req.PushedBefore.IsZero() && !req.DryRun
	return r, nil
}

func newRunID(now time.Time) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return "run-" + now.Format("20060102-150405") + "-" + hex.EncodeToString(b)
}

// launch runs r in the background; o.mu is held.
func (o *Orchestrator) launch(r *Run) {
	ctx, cancel := context.WithCancelCause(o.base)
	ex := &execution{o: o, id: r.ID, run: r, cancel: cancel, events: newBroadcaster(), done: make(chan struct{})}
	o.active = ex
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		final := ex.execute(ctx)
		ex.release()
		if final != nil {
			o.notify(final)
		}
	}()
}

// release gives up the run's slot, once: as soon as its final state is saved (so that StartRun never
// refuses a new run for one GetRun shows finished), or when it stops without finishing.
func (ex *execution) release() {
	ex.releaseOnce.Do(func() {
		ex.o.mu.Lock()
		ex.o.active = nil
		ex.o.mu.Unlock()
		close(ex.done)
	})
}

// notify asks the runtime service to send the new prioritized rows after a run (not a dry run)
// finished. It runs after the run has given up its slot: a run that GetRun and WatchRun show as
// finished must not make StartRun answer FailedPrecondition while webhooks are being delivered. A
// failure only delays the rows until the runtime service's own next notification.
func (o *Orchestrator) notify(r *Run) {
	if o.runtime == nil || r.DryRun {
		return
	}
	o.notifying.Lock()
	defer o.notifying.Unlock()
	// The call stays in the run's trace.
	ctx := propagation.TraceContext{}.Extract(o.base, propagation.MapCarrier{"traceparent": r.TraceParent})
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := o.runtime.NotifyNewFindings(ctx); err != nil {
		o.log.WarnContext(ctx, "NotifyNewFindings failed; the runtime service sends them with its next notification", "run_id", r.ID, "error", err.Error())
	}
}

// Resume restarts the runs a crash or a shutdown left RUNNING, with their run ids. Images already
// ingested stay so; a scanned image whose ingest was not confirmed is ingested again with the same
// report (ingest stores a repeated scan_id once). With several (which only an older bug could leave)
// the newest is resumed and the others are marked FAILED with their images carried over.
func (o *Orchestrator) Resume(ctx context.Context) error {
	runs, err := o.store.UnfinishedRuns(ctx)
	if err != nil {
		return fmt.Errorf("find unfinished runs: %w", err)
	}
	if len(runs) == 0 {
		return nil
	}
	newest := runs[0]
	for _, r := range runs[1:] {
		r.State, r.FinishedAt, r.Error = StateFailed, o.opt.Now().UTC(), "abandoned: a newer run was resumed instead"
		if err := o.store.FinishRun(ctx, r, nil, nil, nil); err != nil {
			return err
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.active != nil {
		return &RunningError{RunID: o.active.id}
	}
	o.log.InfoContext(ctx, "resuming a run left running", "run_id", newest.ID)
	o.launch(newest)
	return nil
}

// Cancel stops a running run. Images already ingested stay ingested; the rest are carried over. A
// finished run is returned as it is.
func (o *Orchestrator) Cancel(ctx context.Context, id string) (*Run, error) {
	o.mu.Lock()
	ex := o.active
	o.mu.Unlock()
	if ex == nil || ex.id != id {
		return o.Get(ctx, id)
	}
	ex.cancel(errCancelled)
	select {
	case <-ex.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return o.Get(ctx, id)
}

var errCancelled = errors.New("cancelled by CancelRun")

// Get returns a run with its counts.
func (o *Orchestrator) Get(ctx context.Context, id string) (*Run, error) {
	return o.store.GetRun(ctx, id)
}

// Images returns every image of a run with its state.
func (o *Orchestrator) Images(ctx context.Context, id string) ([]*Image, error) {
	if _, err := o.store.GetRun(ctx, id); err != nil {
		return nil, err
	}
	return o.store.Images(ctx, id)
}

// List returns runs newest first, below beforeSeq (0: from the newest).
func (o *Orchestrator) List(ctx context.Context, beforeSeq int64, limit int) ([]*Run, error) {
	return o.store.ListRuns(ctx, beforeSeq, limit)
}

// ActiveID is the running run's id, or "".
func (o *Orchestrator) ActiveID() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.active == nil {
		return ""
	}
	return o.active.id
}

// Watch sends a snapshot of the run, then every event until the run finishes (the last event is
// EventRunFinished). An empty id means the running run, else the newest. It returns when the run
// finished, ctx ended or send failed.
func (o *Orchestrator) Watch(ctx context.Context, id string, send func(Event) error) error {
	o.mu.Lock()
	ex := o.active
	o.mu.Unlock()
	if id == "" {
		if ex != nil {
			id = ex.id
		} else {
			latest, err := o.store.LatestRun(ctx, RunFilter{})
			if err != nil {
				return err
			}
			if latest == nil {
				return ErrNotFound
			}
			id = latest.ID
		}
	}
	var w *watcher
	if ex != nil && ex.id == id {
		if sub, ok := ex.events.subscribe(); ok {
			w = sub
			defer ex.events.unsubscribe(w)
		}
	}
	snap, err := o.store.GetRun(ctx, id)
	if err != nil {
		return err
	}
	if err := send(Event{Type: EventSnapshot, Time: o.opt.Now().UTC(), Run: snap}); err != nil {
		return err
	}
	if w == nil { // finished before the watch began
		if snap.Finished() {
			return send(Event{Type: EventRunFinished, Time: o.opt.Now().UTC(), Run: snap, Message: snap.Error})
		}
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-w.ch:
			if !ok {
				if w.lagged {
					return ErrWatcherTooSlow
				}
				return nil // run finished (its final event was sent) or the service is stopping
			}
			if err := send(ev); err != nil {
				return err
			}
			if ev.Type == EventRunFinished {
				return nil
			}
		}
	}
}
