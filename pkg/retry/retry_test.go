package retry

import (
	"context"
	"testing"
	"time"
)

func TestDelayGrowsAndIsCapped(t *testing.T) {
	b := Backoff{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 2}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		if got := b.Delay(i); got != w*time.Millisecond {
			t.Fatalf("attempt %d: %s, want %s", i, got, w*time.Millisecond)
		}
	}
	j := Backoff{Initial: time.Second, Jitter: 0.2}
	for range 100 {
		if d := j.Delay(0); d < 800*time.Millisecond || d > 1200*time.Millisecond {
			t.Fatalf("jittered delay %s outside ±20%%", d)
		}
	}
}

func TestSleepEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := Sleep(ctx, time.Hour); err == nil {
		t.Fatal("Sleep ignored a cancelled context")
	}
}
