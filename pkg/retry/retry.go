// Package retry holds the backoff every scoutbridge retry loop uses: exponential, capped, with jitter
// so that many clients retrying at once spread out.
package retry

import (
	"context"
	"math"
	"math/rand/v2"
	"time"
)

// Backoff computes delays between attempts.
type Backoff struct {
	// Initial is the delay after the first failure.
	Initial time.Duration
	// Max caps the delay.
	Max time.Duration
	// Multiplier grows the delay per attempt (default 2).
	Multiplier float64
	// Jitter is the fraction of the delay that is randomized, 0 to 1 (0.2 = ±20 %).
	Jitter float64
}

// Default is a sensible backoff for calls to outside services.
var Default = Backoff{Initial: 200 * time.Millisecond, Max: 30 * time.Second, Multiplier: 2, Jitter: 0.2}

// Delay is the wait before attempt number attempt+1 (attempt counts from 0).
func (b Backoff) Delay(attempt int) time.Duration {
	mult := b.Multiplier
	if mult <= 0 {
		mult = 2
	}
	d := float64(b.Initial) * math.Pow(mult, float64(max(attempt, 0)))
	if b.Max > 0 && d > float64(b.Max) {
		d = float64(b.Max)
	}
	if b.Jitter > 0 {
		d *= 1 + b.Jitter*(2*rand.Float64()-1)
	}
	return time.Duration(d)
}

// Sleep waits d or until ctx ends, whichever comes first; it returns ctx's error when ctx ended.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
