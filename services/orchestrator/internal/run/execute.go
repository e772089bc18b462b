package run

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
	"github.com/scoutbridge/scoutbridge/pkg/retry"
)

// execution is one run being worked on.
type execution struct {
	o      *Orchestrator
	id     string // the run's id, readable by any goroutine
	run    *Run   // owned by the run's goroutine
	cancel context.CancelCauseFunc
	events *broadcaster
	done   chan struct{} // closed by release

	releaseOnce sync.Once

	// reevaluate holds the running digests due for re-evaluation that were scanned before; only the
	// gathering goroutine uses it.
	reevaluate map[Key]bool

	mu        sync.Mutex
	images    map[Key]*Image
	nsErrors  []NamespaceError
	discovery error // why discovery failed, after retries
}

// execute drives the run to its end and returns it in its final state. When ctx ends because the
// service stops, it returns nil without finishing: the run stays RUNNING and is resumed on the next
// start. It also returns nil for a run abandoned because the database failed.
func (ex *execution) execute(ctx context.Context) *Run {
	o, r := ex.o, ex.run
	ctx, span := ex.startSpan(ctx)
	defer span.End()
	log := o.log.With("run_id", r.ID)
	log.InfoContext(ctx, "run started", "window_start", r.Window.Start, "window_end", r.Window.End,
		"dry_run", r.DryRun, "force_rescan", r.ForceRescan, "rescan_only", r.RescanOnly)

	ex.images = map[Key]*Image{}
	known, err := o.store.Images(context.WithoutCancel(ctx), r.ID)
	if err != nil {
		ex.abandon(ctx, err)
		return nil
	}
	queue := make(chan *Image, 1024)
	var pending []*Image
	for _, img := range known {
		ex.images[KeyOf(img.Image)] = img
		switch img.State {
		case ImagePending, ImageScanning, ImageScanned:
			pending = append(pending, img)
		}
	}

	var workers sync.WaitGroup
	if !r.DryRun {
		for range o.opt.ScanConcurrency {
			workers.Go(func() {
				for img := range queue {
					if ctx.Err() != nil {
						continue // drain: the run is stopping
					}
					ex.process(ctx, img)
				}
			})
		}
	}
	enqueue := func(img *Image) { // admit never calls it for a dry run, which has no workers
		select {
		case queue <- img:
		case <-ctx.Done():
		}
	}
	for _, img := range pending {
		ex.admit(ctx, img, enqueue) // a crash may have come between adding an image and skipping it
	}

	if !r.DiscoveryDone {
		ex.gather(ctx, enqueue)
	}
	close(queue)
	workers.Wait()

	if cause := context.Cause(ctx); ctx.Err() != nil && !errors.Is(cause, errCancelled) {
		log.InfoContext(ctx, "run interrupted by shutdown; it resumes on the next start")
		ex.events.close()
		return nil
	}
	final := ex.finish(context.WithoutCancel(ctx), ctx.Err() != nil)
	if final == nil {
		return nil
	}
	span.SetAttributes(attribute.String("scoutbridge.run_state", final.State.String()))
	if final.State == StateFailed {
		span.SetStatus(codes.Error, final.Error)
	}
	return final
}

// startSpan starts the run's span: a new trace for a new run, the same trace again for a run resumed
// after a restart (its first span's traceparent is saved with the run), so that a run is one trace.
func (ex *execution) startSpan(ctx context.Context) (context.Context, trace.Span) {
	r := ex.run
	opts := []trace.SpanStartOption{trace.WithAttributes(
		attribute.String("scoutbridge.run_id", r.ID), attribute.Bool("scoutbridge.dry_run", r.DryRun),
		attribute.Bool("scoutbridge.force_rescan", r.ForceRescan), attribute.StringSlice("scoutbridge.namespaces", r.Namespaces))}
	carrier := propagation.MapCarrier{}
	if r.TraceParent != "" {
		carrier.Set("traceparent", r.TraceParent)
		ctx = propagation.TraceContext{}.Extract(ctx, carrier)
	} else {
		opts = append(opts, trace.WithNewRoot())
	}
	ctx, span := tracer.Start(ctx, "run", opts...)
	if r.TraceParent == "" && span.SpanContext().IsValid() {
		propagation.TraceContext{}.Inject(ctx, carrier)
		r.TraceParent = carrier.Get("traceparent")
		if err := ex.o.store.UpdateRun(ctx, r); err != nil {
			ex.o.log.ErrorContext(ctx, "save run", "run_id", r.ID, "error", err.Error())
		}
	}
	return ctx, span
}

// gather lists the window, then adds carried-over and running images, queueing each image that needs
// work. It records discovery failures on the execution.
func (ex *execution) gather(ctx context.Context, enqueue func(*Image)) {
	o, r := ex.o, ex.run
	defaultScope := r.MovesWatermark || r.RescanOnly
	var running []*imagev1.Image
	if defaultScope && !r.DryRun {
		// Asked first, so that a due digest the window lists again (a new tag on an old digest) is
		// re-evaluated rather than skipped as already scanned.
		running, ex.reevaluate = ex.runningDue(ctx)
	}
	if !r.RescanOnly {
		err := ex.discover(ctx, enqueue)
		if err != nil {
			if ctx.Err() == nil {
				ex.mu.Lock()
				ex.discovery = err
				ex.mu.Unlock()
			}
			return
		}
	}
	if defaultScope && !r.RescanOnly {
		carry, err := o.store.CarryOvers(ctx)
		if err != nil {
			ex.mu.Lock()
			ex.discovery = fmt.Errorf("read carried-over images: %w", err)
			ex.mu.Unlock()
			return
		}
		for _, c := range carry {
			ex.add(ctx, c.Image, ReasonCarriedOver, "carried over from "+c.RunID+": "+c.Reason, enqueue)
		}
	}
	for _, img := range running {
		ex.add(ctx, img, ReasonRunning, "", enqueue)
	}
	if ctx.Err() != nil {
		return
	}
	r.DiscoveryDone = true
	ex.mu.Lock()
	r.NamespacesFailed = int64(len(ex.nsErrors))
	ex.mu.Unlock()
	if err := o.store.UpdateRun(ctx, r); err != nil {
		o.log.ErrorContext(ctx, "save run", "run_id", r.ID, "error", err.Error())
	}
}

// discover lists the window, retrying the whole listing while discovery is unavailable (images seen
// before a failure are not added twice).
func (ex *execution) discover(ctx context.Context, enqueue func(*Image)) error {
	o, r := ex.o, ex.run
	q := DiscoverQuery{Namespaces: r.Namespaces, Window: r.Window}
	var err error
	for attempt := 0; attempt < o.opt.MaxAttempts; attempt++ {
		if attempt > 0 {
			o.log.WarnContext(ctx, "discovery failed; retrying", "run_id", r.ID, "attempt", attempt, "error", err.Error())
			if retry.Sleep(ctx, o.opt.Backoff.Delay(attempt-1)) != nil {
				return ctx.Err()
			}
		}
		ex.mu.Lock()
		ex.nsErrors = nil
		ex.mu.Unlock()
		err = o.discovery.Discover(ctx, q, func(img *imagev1.Image) error {
			ex.add(ctx, img, ReasonPushed, "", enqueue)
			return ctx.Err()
		}, func(ne NamespaceError) error {
			ex.mu.Lock()
			ex.nsErrors = append(ex.nsErrors, ne)
			ex.mu.Unlock()
			ex.publish(ctx, Event{Type: EventNamespaceFailed, Message: fmt.Sprintf("namespace %s: %s: %s", ne.Namespace, ne.Code, ne.Message)})
			return nil
		})
		if err == nil || ctx.Err() != nil || !retryable(err) {
			break
		}
	}
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("discovery failed after %d attempts: %w", o.opt.MaxAttempts, err)
	}
	return err
}

// add puts an image into the run (once per digest) and admits it. It runs on the gathering goroutine.
func (ex *execution) add(ctx context.Context, img *imagev1.Image, reason ScanReason, note string, enqueue func(*Image)) {
	o, r := ex.o, ex.run
	if img.GetRepository() == "" || img.GetDigest() == "" {
		o.log.WarnContext(ctx, "ignoring an image without repository or digest", "run_id", r.ID,
			"repository", img.GetRepository(), "digest", img.GetDigest())
		return
	}
	img = proto.CloneOf(img)
	if img.GetRegistry() == "" {
		img.Registry = DefaultRegistry
	}
	k := KeyOf(img)
	ex.mu.Lock()
	_, seen := ex.images[k]
	ex.mu.Unlock()
	if seen {
		return
	}
	if ex.reevaluate[k] {
		reason = ReasonRunning // scanned before, running now and due again: scan it (forced), do not skip it
	}
	it := &Image{Image: img, State: ImagePending, ScanReason: reason, Reason: note, UpdatedAt: o.opt.Now().UTC()}
	if r.DryRun {
		it.Reason = "dry run: discovered only"
	}
	added, err := o.store.AddImage(ctx, r.ID, it)
	if err != nil {
		o.log.ErrorContext(ctx, "save discovered image", "run_id", r.ID, "digest", k.Digest, "error", err.Error())
		return
	}
	ex.mu.Lock()
	ex.images[k] = it
	ex.mu.Unlock()
	if !added {
		return
	}
	ex.publish(ctx, Event{Type: EventDiscovered, Image: it})
	ex.admit(ctx, it, enqueue)
}

// admit queues an image that needs work, or marks it skipped when its digest was scanned and ingested
// before (unless forced; a running image is due by definition). A scanned image waiting for ingest
// always goes on: its report is ingested again, which ingest stores once.
func (ex *execution) admit(ctx context.Context, it *Image, enqueue func(*Image)) {
	o, r := ex.o, ex.run
	if r.DryRun {
		return
	}
	if it.State != ImageScanned && it.ScanReason != ReasonRunning && !r.ForceRescan {
		k := KeyOf(it.Image)
		ev, done, err := o.store.Evaluated(ctx, k)
		if err != nil {
			o.log.ErrorContext(ctx, "read scan memory", "digest", k.Digest, "error", err.Error())
		} else if done {
			it.State = ImageSkipped
			it.Reason = fmt.Sprintf("scanned and ingested in %s at %s", ev.RunID, ev.At.Format(time.RFC3339))
			it.UpdatedAt = o.opt.Now().UTC()
			if err := o.store.CompleteImage(ctx, r.ID, it, nil); err != nil {
				o.log.ErrorContext(ctx, "save skipped image", "digest", k.Digest, "error", err.Error())
			}
			o.metrics.image(ctx, "skipped")
			ex.publish(ctx, Event{Type: EventSkipped, Image: it, Message: it.Reason})
			return
		}
	}
	enqueue(it)
}

// publish stamps and sends an event, with a fresh run snapshot when anyone watches.
func (ex *execution) publish(ctx context.Context, ev Event) {
	if !ex.events.hasWatchers() {
		return
	}
	ev.Time = ex.o.opt.Now().UTC()
	if ev.Image != nil {
		cp := *ev.Image
		cp.Report = nil
		ev.Image = &cp
	}
	if ev.Run == nil {
		snap, err := ex.o.store.GetRun(context.WithoutCancel(ctx), ex.id)
		if err == nil {
			ev.Run = snap
		}
	}
	ex.events.publish(ev)
}

// abandon ends a run the orchestrator cannot work on (its own database failing): it is marked FAILED
// when the database still takes that, and its carry-over queue is left as it was.
func (ex *execution) abandon(ctx context.Context, err error) {
	o, r := ex.o, ex.run
	o.log.ErrorContext(ctx, "run abandoned", "run_id", ex.id, "error", err.Error())
	r.State, r.FinishedAt = StateFailed, o.opt.Now().UTC()
	r.Error = "the orchestrator could not read or write its database (its log has the details); the window is covered again by the next run"
	if ferr := o.store.FinishRun(context.WithoutCancel(ctx), r, nil, nil, nil); ferr != nil {
		o.log.ErrorContext(ctx, "cannot mark the run failed", "run_id", ex.id, "error", ferr.Error())
	}
	ex.events.close()
}

// finish decides the run's final state, moves the watermark when the whole window was covered, and
// carries unfinished images over. It returns the final run with its counts, or nil when the database
// failed.
func (ex *execution) finish(ctx context.Context, cancelled bool) *Run {
	o, r := ex.o, ex.run
	images, err := o.store.Images(ctx, r.ID)
	if err != nil {
		ex.abandon(ctx, err)
		return nil
	}
	var carry []CarryOver
	var drop []Key
	var failed, completed int64
	var failures []string
	for _, img := range images {
		switch img.State {
		case ImageIngested, ImageSkipped:
			completed++
		case ImageFailed:
			failed++
			if len(failures) < 3 {
				failures = append(failures, img.Image.GetRepository()+"@"+shortDigest(img.Image.GetDigest())+": "+img.Reason)
			}
			if img.ScanReason != ReasonRunning && strings.HasPrefix(img.Reason, goneMark) {
				drop = append(drop, KeyOf(img.Image)) // the image is bad or gone: retrying will not help
				continue
			}
			if img.ScanReason != ReasonRunning {
				carry = append(carry, CarryOver{Image: img.Image, Reason: img.Reason, RunID: r.ID})
			}
		default: // pending, scanning, scanned: only a cancelled or failed run leaves these
			if r.DryRun {
				continue
			}
			if cancelled {
				img.Reason = "run cancelled before this image was done; carried over"
				img.State = ImagePending
				img.Report = nil
				img.UpdatedAt = o.opt.Now().UTC()
				_ = o.store.SaveImage(ctx, r.ID, img)
			}
			if img.ScanReason != ReasonRunning {
				carry = append(carry, CarryOver{Image: img.Image, Reason: "not finished", RunID: r.ID})
			}
		}
	}
	ex.mu.Lock()
	nsErrors, discErr := ex.nsErrors, ex.discovery
	ex.mu.Unlock()
	r.NamespacesFailed = int64(len(nsErrors))

	var reasons []string
	switch {
	case cancelled:
		r.State = StateCancelled
		reasons = append(reasons, "cancelled by CancelRun")
	case discErr != nil:
		r.State = StateFailed
		reasons = append(reasons, discErr.Error())
	case failed > 0 && completed == 0:
		r.State = StateFailed
	case failed > 0 || len(nsErrors) > 0:
		r.State = StatePartial
	default:
		r.State = StateSucceeded
	}
	if failed > 0 {
		reasons = append(reasons, fmt.Sprintf("%d image(s) failed (carried over to the next run unless the image is gone), e.g. %s", failed, strings.Join(failures, "; ")))
	}
	for _, ne := range nsErrors {
		reasons = append(reasons, fmt.Sprintf("namespace %s could not be listed: %s: %s", ne.Namespace, ne.Code, ne.Message))
	}
	r.Error = strings.Join(reasons, "; ")
	r.FinishedAt = o.opt.Now().UTC()

	// The watermark moves only when the whole default-scope window was listed: images it listed but
	// could not finish are carried over, so none is lost.
	var advance *time.Time
	if r.MovesWatermark && r.DiscoveryDone && discErr == nil && len(nsErrors) == 0 {
		end := r.Window.End
		advance = &end
	}
	if err := o.store.FinishRun(ctx, r, advance, carry, drop); err != nil {
		ex.abandon(ctx, err)
		return nil
	}
	ex.release()
	if final, err := o.store.GetRun(ctx, r.ID); err == nil {
		r = final
	}
	o.metrics.run(ctx, r)
	o.log.InfoContext(ctx, "run finished", "run_id", r.ID, "state", r.State.String(), "error", r.Error,
		"discovered", r.Counts.Discovered, "ingested", r.Counts.Ingested, "skipped", r.Counts.Skipped,
		"failed", r.Counts.Failed, "duration", r.Duration(r.FinishedAt).String())
	ex.publish(ctx, Event{Type: EventRunFinished, Run: r, Message: r.Error})
	ex.events.close()
	return r
}

func shortDigest(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}
