package run_test

import (
	"context"
	"testing"
	"time"

	"github.com/scoutbridge/scoutbridge/pkg/testutil"
	"github.com/scoutbridge/scoutbridge/services/orchestrator/internal/run"
)

func runs(t *testing.T, h *harness) []*run.Run {
	t.Helper()
	rs, err := h.o.List(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestTheScheduleRunsAtOnceThenEveryInterval(t *testing.T) {
	h := newHarness(t, func(o *run.Options) { o.SchedulePoll = 5 * time.Millisecond })
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { _ = h.o.Schedule(ctx, time.Hour) }()
	testutil.Eventually(t, 10*time.Second, func() bool { rs := runs(t, h); return len(rs) == 1 && rs[0].Finished() }, "no run at start")
	if rs := runs(t, h); rs[0].Trigger != run.TriggerSchedule || !rs[0].MovesWatermark {
		t.Errorf("first run: trigger %s moves watermark %v", rs[0].Trigger, rs[0].MovesWatermark)
	}
	time.Sleep(50 * time.Millisecond)
	if n := len(runs(t, h)); n != 1 {
		t.Fatalf("%d runs before the interval passed, want 1", n)
	}
	h.clock.Advance(time.Hour)
	testutil.Eventually(t, 10*time.Second, func() bool { return len(runs(t, h)) == 2 }, "no run after the interval")
}

func TestOnDemandOnlyStillReevaluatesRunningImagesEveryRescanInterval(t *testing.T) {
	h := newHarness(t, func(o *run.Options) { o.SchedulePoll = 5 * time.Millisecond; o.RescanInterval = 6 * time.Hour })
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { _ = h.o.Schedule(ctx, 0) }()
	time.Sleep(50 * time.Millisecond)
	if n := len(runs(t, h)); n != 0 {
		t.Fatalf("%d runs at start with RUN_INTERVAL=0, want none", n)
	}
	h.clock.Advance(6 * time.Hour)
	testutil.Eventually(t, 10*time.Second, func() bool { return len(runs(t, h)) == 1 }, "no re-evaluation run")
	if r := runs(t, h)[0]; !r.RescanOnly || r.MovesWatermark {
		t.Errorf("run rescan-only %v moves watermark %v", r.RescanOnly, r.MovesWatermark)
	}
}
