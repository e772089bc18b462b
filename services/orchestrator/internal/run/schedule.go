package run

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// Schedule starts a default run every interval (the first at once when the last one is older than
// interval or there is none, so that after downtime the next run catches up) and, when a runtime
// service is configured, a re-evaluation-only run when RESCAN_INTERVAL passed since the last run that
// evaluated running images (or since start) and no scheduled run comes first. interval 0 means runs start
// on demand only. It returns when ctx ends.
func (o *Orchestrator) Schedule(ctx context.Context, interval time.Duration) error {
	rescan := o.opt.RescanInterval
	if o.runtime == nil {
		rescan = 0
	}
	if interval <= 0 && rescan <= 0 {
		<-ctx.Done()
		return ctx.Err()
	}
	booted := o.opt.Now()
	for {
		now := o.opt.Now()
		var next time.Time
		var req Request
		if interval > 0 {
			last, err := o.store.LatestRun(ctx, RunFilter{MovesWatermark: true})
			if err != nil {
				return err
			}
			next = now
			if last != nil {
				next = last.StartedAt.Add(interval)
			}
			req = Request{Trigger: TriggerSchedule}
		}
		if rescan > 0 {
			last, err := o.latestEvaluation(ctx)
			if err != nil {
				return err
			}
			// Without any evaluation yet, the first is due RESCAN_INTERVAL after start: a service
			// started for on-demand runs does not begin with a run nobody asked for (and every
			// default run evaluates running images anyway).
			due := booted.Add(rescan)
			if !last.IsZero() {
				due = last.Add(rescan)
			}
			if next.IsZero() || due.Before(next) {
				next, req = due, Request{Trigger: TriggerSchedule, RescanOnly: true}
			}
		}
		if err := o.sleepUntil(ctx, next); err != nil {
			return err
		}
		if _, err := o.Start(ctx, req); err != nil {
			var running *RunningError
			if errors.As(err, &running) {
				if err := o.waitIdle(ctx); err != nil {
					return err
				}
				continue
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			o.log.ErrorContext(ctx, "scheduled run did not start", "error", err.Error())
			if err := sleep(ctx, time.Minute); err != nil {
				return err
			}
			continue
		}
		if err := o.waitIdle(ctx); err != nil {
			return err
		}
	}
}

// latestEvaluation is the start of the newest run that re-evaluated running images.
func (o *Orchestrator) latestEvaluation(ctx context.Context) (time.Time, error) {
	var last time.Time
	for _, f := range []RunFilter{{MovesWatermark: true}, {RescanOnly: true}} {
		r, err := o.store.LatestRun(ctx, f)
		if err != nil {
			return time.Time{}, err
		}
		if r != nil && r.StartedAt.After(last) {
			last = r.StartedAt
		}
	}
	return last, nil
}

func (o *Orchestrator) sleepUntil(ctx context.Context, t time.Time) error {
	for {
		d := t.Sub(o.opt.Now())
		if d <= 0 {
			return nil
		}
		// Wake at least every minute: the clock may jump (suspend, NTP).
		if err := sleep(ctx, min(d, o.opt.SchedulePoll)); err != nil {
			return err
		}
	}
}

// waitIdle waits until no run is running.
func (o *Orchestrator) waitIdle(ctx context.Context) error {
	for {
		o.mu.Lock()
		ex := o.active
		o.mu.Unlock()
		if ex == nil {
			return nil
		}
		select {
		case <-ex.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// PollOutbox reads ingest's outbox depth every interval for the outbox depth gauge, until ctx ends.
func (o *Orchestrator) PollOutbox(ctx context.Context, interval time.Duration) error {
	var depth atomic.Int64
	var known atomic.Bool
	if err := o.metrics.observeOutbox(func() (int64, bool) { return depth.Load(), known.Load() }); err != nil {
		return err
	}
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		n, err := o.ingest.OutboxDepth(cctx)
		cancel()
		if err == nil {
			depth.Store(n)
			known.Store(true)
		} else if ctx.Err() == nil {
			known.Store(false)
			o.log.DebugContext(ctx, "cannot read ingest's outbox depth", "error", err.Error())
		}
		if err := sleep(ctx, interval); err != nil {
			return err
		}
	}
}
