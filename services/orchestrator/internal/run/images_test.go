package run_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"

	triagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/triage/v1"
	"github.com/scoutbridge/scoutbridge/pkg/grpcclient"
	"github.com/scoutbridge/scoutbridge/pkg/testutil"
	"github.com/scoutbridge/scoutbridge/services/orchestrator/internal/peers"
	"github.com/scoutbridge/scoutbridge/services/orchestrator/internal/peertest"
	"github.com/scoutbridge/scoutbridge/services/orchestrator/internal/run"
	"github.com/scoutbridge/scoutbridge/services/orchestrator/internal/store"
)

func TestDigestsAlreadyIngestedAreSkippedUnlessForced(t *testing.T) {
	h := newHarness(t, nil)
	img := peertest.Image("acme/api", 1, t0.Add(-time.Hour))
	h.peers.Discovery.SetImages(img)
	h.runToEnd(run.Request{})

	again := run.Request{PushedAfter: t0.Add(-2 * time.Hour)}
	r, imgs := h.runToEnd(again)
	if imgs[0].State != run.ImageSkipped || !strings.Contains(imgs[0].Reason, "scanned and ingested in run-") || r.Counts.Skipped != 1 {
		t.Fatalf("image %s %q counts %+v, want SKIPPED naming the earlier run", imgs[0].State, imgs[0].Reason, r.Counts)
	}
	if h.peers.Scanner.Calls(img.Digest) != 1 {
		t.Fatalf("scanned %d times, want 1", h.peers.Scanner.Calls(img.Digest))
	}

	// The memory survives a restart.
	h.restart()
	_, imgs = h.runToEnd(again)
	if imgs[0].State != run.ImageSkipped {
		t.Fatalf("after restart: %s, want SKIPPED", imgs[0].State)
	}

	again.ForceRescan = true
	_, imgs = h.runToEnd(again)
	if imgs[0].State != run.ImageIngested || h.peers.Scanner.Forced(img.Digest) != 1 {
		t.Fatalf("forced: %s, forced scans %d; want INGESTED after one forced scan", imgs[0].State, h.peers.Scanner.Forced(img.Digest))
	}
}

func TestScansAreRetriedWhileTheScannerIsBusyOrUnavailable(t *testing.T) {
	h := newHarness(t, func(o *run.Options) { o.MaxAttempts = 4 })
	busy := peertest.Image("acme/api", 1, t0.Add(-time.Hour))
	h.peers.Discovery.SetImages(busy)
	h.peers.Scanner.Fail(busy.Digest, codes.Unavailable, codes.ResourceExhausted, codes.Unavailable)
	h.peers.Ingest.FailNext(codes.Unavailable)

	r, imgs := h.runToEnd(run.Request{})
	if r.State != run.StateSucceeded || imgs[0].State != run.ImageIngested {
		t.Fatalf("run %s image %s (%s), want both done", r.State, imgs[0].State, imgs[0].Reason)
	}
	if imgs[0].Attempts != 4 {
		t.Errorf("attempts %d, want 4", imgs[0].Attempts)
	}
	if len(h.peers.Ingest.Stored()[busy.Digest]) != 1 {
		t.Errorf("stored scans %v, want one", h.peers.Ingest.Stored()[busy.Digest])
	}
}

func TestAScannerThatStaysDownFailsTheRunWithAClearReasonAndLosesNothing(t *testing.T) {
	h := newHarness(t, nil)
	var imgs []*run.Image
	for i := range 3 {
		h.peers.Discovery.AddImages(peertest.Image("acme/api", i, t0.Add(-time.Hour)))
	}
	h.peers.Scanner.SetDown(true)
	r, imgs := h.runToEnd(run.Request{})
	if r.State != run.StateFailed {
		t.Fatalf("state %s, want FAILED", r.State)
	}
	for _, img := range imgs {
		if img.State != run.ImageFailed || img.Attempts != 3 || !strings.Contains(img.Reason, "still failing after 3 attempts") ||
			!strings.Contains(img.Reason, "Unavailable") {
			t.Errorf("image %s attempts %d reason %q", img.State, img.Attempts, img.Reason)
		}
	}
	if !strings.Contains(r.Error, "3 image(s) failed") {
		t.Errorf("run error %q", r.Error)
	}

	h.peers.Scanner.SetDown(false)
	h.clock.Advance(time.Hour)
	r2, imgs2 := h.runToEnd(run.Request{})
	if r2.State != run.StateSucceeded || r2.Counts.Ingested != 3 {
		t.Fatalf("next run %s counts %+v, want the 3 carried-over images ingested", r2.State, r2.Counts)
	}
	for _, img := range imgs2 {
		if img.ScanReason != run.ReasonCarriedOver {
			t.Errorf("reason %s, want CARRIED_OVER", img.ScanReason)
		}
	}
}

func TestADiscoveryThatStaysDownFailsTheRun(t *testing.T) {
	h := newHarness(t, nil)
	h.peers.Discovery.SetDown(true)
	r, _ := h.runToEnd(run.Request{})
	if r.State != run.StateFailed || !strings.Contains(r.Error, "discovery failed after 3 attempts") || !strings.Contains(r.Error, "Unavailable") {
		t.Fatalf("run %s error %q", r.State, r.Error)
	}
	if n := len(h.peers.Discovery.Requests()); n != 3 {
		t.Errorf("discovery called %d times, want 3", n)
	}
	h.peers.Discovery.SetDown(false)
	h.peers.Discovery.SetImages(peertest.Image("acme/api", 1, t0.Add(-time.Hour)))
	h.clock.Advance(time.Hour)
	r2, imgs := h.runToEnd(run.Request{})
	if !r2.Window.Start.Equal(r.Window.Start) || len(imgs) != 1 {
		t.Errorf("next window %v images %d: want the failed window covered again", r2.Window, len(imgs))
	}
}

func TestABrokenDiscoveryStreamIsListedAgainWithoutDuplicates(t *testing.T) {
	h := newHarness(t, nil)
	for i := range 5 {
		h.peers.Discovery.AddImages(peertest.Image("acme/api", i, t0.Add(-time.Hour)))
	}
	h.peers.Discovery.BreakStreamAfter(2)
	r, imgs := h.runToEnd(run.Request{})
	if r.State != run.StateSucceeded || len(imgs) != 5 || r.Counts.Ingested != 5 {
		t.Fatalf("run %s images %d counts %+v", r.State, len(imgs), r.Counts)
	}
	for d, ids := range h.peers.Ingest.Stored() {
		if len(ids) != 1 {
			t.Errorf("%s stored %d times", d, len(ids))
		}
	}
}

func TestScanConcurrencyBoundsTheScansInFlight(t *testing.T) {
	h := newHarness(t, func(o *run.Options) { o.ScanConcurrency = 3 })
	for i := range 20 {
		h.peers.Discovery.AddImages(peertest.Image("acme/api", i, t0.Add(-time.Hour)))
	}
	h.peers.Scanner.Hold() // every scan waits, so the bound is reached however slow the machine is
	r, err := h.o.Start(t.Context(), run.Request{})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return h.peers.Scanner.InFlight() == 3 }, "3 scans did not start")
	time.Sleep(50 * time.Millisecond) // room for a fourth, were the bound broken
	h.peers.Scanner.Release()
	h.waitFinished(r.ID)
	if got := h.peers.Scanner.MaxInFlight(); got != 3 {
		t.Errorf("at most %d scans in flight, want 3", got)
	}
}

func TestCancelStopsPromptlyAndCarriesTheRestOver(t *testing.T) {
	h := newHarness(t, func(o *run.Options) { o.ScanConcurrency = 2 })
	for i := range 6 {
		h.peers.Discovery.AddImages(peertest.Image("acme/api", i, t0.Add(-time.Hour)))
	}
	h.peers.Scanner.Hold()
	r, err := h.o.Start(t.Context(), run.Request{})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return h.peers.Scanner.InFlight() == 2 }, "scans did not start")
	start := time.Now()
	cancelled, err := h.o.Cancel(t.Context(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("cancel took %s", waited)
	}
	if cancelled.State != run.StateCancelled {
		t.Fatalf("state %s, want CANCELLED", cancelled.State)
	}
	imgs, _ := h.o.Images(t.Context(), r.ID)
	for _, img := range imgs {
		if img.State != run.ImagePending || !strings.Contains(img.Reason, "cancelled") {
			t.Errorf("image %s %q, want PENDING, cancelled", img.State, img.Reason)
		}
	}
	h.peers.Scanner.Release()
	h.clock.Advance(time.Hour)
	r2, imgs2 := h.runToEnd(run.Request{})
	if r2.Counts.Ingested != 6 || len(imgs2) != 6 {
		t.Fatalf("next run counts %+v, want all 6 ingested", r2.Counts)
	}
}

func TestOneRunAtATime(t *testing.T) {
	h := newHarness(t, nil)
	h.peers.Discovery.SetImages(peertest.Image("acme/api", 1, t0.Add(-time.Hour)))
	h.peers.Scanner.Hold()
	r, err := h.o.Start(t.Context(), run.Request{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.o.Start(t.Context(), run.Request{})
	var running *run.RunningError
	if !errorsAs(err, &running) || running.RunID != r.ID {
		t.Fatalf("second Start: %v, want RunningError naming %s", err, r.ID)
	}
	h.peers.Scanner.Release()
	h.waitFinished(r.ID)
}

func TestARunInterruptedByAShutdownResumesWithItsIDAndIngestsEachImageOnce(t *testing.T) {
	h := newHarness(t, func(o *run.Options) { o.ScanConcurrency = 2 })
	h.peers.Scanner.Latency = 30 * time.Millisecond
	for i := range 12 {
		h.peers.Discovery.AddImages(peertest.Image("acme/api", i, t0.Add(-time.Hour)))
	}
	r, err := h.o.Start(t.Context(), run.Request{})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return len(h.peers.Ingest.Stored()) >= 3 }, "nothing ingested")
	h.restart()
	if err := h.o.Resume(t.Context()); err != nil {
		t.Fatal(err)
	}
	if h.o.ActiveID() != r.ID {
		t.Fatalf("resumed %q, want %s", h.o.ActiveID(), r.ID)
	}
	final, imgs := h.waitFinished(r.ID)
	if final.State != run.StateSucceeded || final.Counts.Ingested != 12 || len(imgs) != 12 {
		t.Fatalf("run %s counts %+v", final.State, final.Counts)
	}
	if stored := h.peers.Ingest.Stored(); len(stored) != 12 {
		t.Errorf("%d digests stored, want 12", len(stored))
	} else {
		for d, ids := range stored {
			if len(ids) != 1 {
				t.Errorf("%s stored %d scans, want 1", d, len(ids))
			}
		}
	}
}

func TestRunningDigestsAreReevaluatedEveryRescanInterval(t *testing.T) {
	h := newHarness(t, func(o *run.Options) { o.RescanInterval = 24 * time.Hour })
	old := peertest.Image("acme/api", 1, t0.Add(-time.Hour))
	h.peers.Discovery.SetImages(old)
	h.runToEnd(run.Request{}) // scanned because it was pushed
	h.peers.Triage.SetRunning(
		&triagev1.RuntimeImage{Digest: old.Digest, ImageName: "docker.io/acme/api"},
		&triagev1.RuntimeImage{Digest: peertest.Digest("library/nginx", 1), ImageName: "nginx:1.27"},
		&triagev1.RuntimeImage{Digest: "sha256:" + strings.Repeat("0", 64), ImageName: ""}, // no name: cannot be scanned
	)

	// An hour later the pushed image is fresh; only the never-scanned nginx is due.
	h.clock.Advance(time.Hour)
	r, imgs := h.runToEnd(run.Request{})
	if len(imgs) != 1 || imgs[0].Image.GetRepository() != "library/nginx" || imgs[0].ScanReason != run.ReasonRunning {
		t.Fatalf("images %v, want only library/nginx as RUNNING", imgs)
	}
	if r.Counts.ScannedRunning != 1 || r.Counts.ScannedPushed != 0 {
		t.Errorf("counts %+v", r.Counts)
	}

	// A day after its push scan, the running image is scanned again, forced, although no window lists it.
	h.clock.Advance(24 * time.Hour)
	r, imgs = h.runToEnd(run.Request{})
	m := byDigest(imgs)
	if m[old.Digest] == nil || m[old.Digest].State != run.ImageIngested || m[old.Digest].ScanReason != run.ReasonRunning {
		t.Fatalf("images %v, want acme/api re-evaluated", imgs)
	}
	if h.peers.Scanner.Forced(old.Digest) != 1 || r.Counts.ScannedRunning != 2 {
		t.Errorf("forced scans %d counts %+v", h.peers.Scanner.Forced(old.Digest), r.Counts)
	}
}

func TestRescanOnlyRunsListNothing(t *testing.T) {
	h := newHarness(t, nil)
	h.peers.Triage.SetRunning(&triagev1.RuntimeImage{Digest: peertest.Digest("acme/api", 1), ImageName: "docker.io/acme/api:1.0"})
	r, imgs := h.runToEnd(run.Request{RescanOnly: true, Trigger: run.TriggerSchedule})
	if len(h.peers.Discovery.Requests()) != 0 || len(imgs) != 1 || r.Counts.ScannedRunning != 1 {
		t.Fatalf("discovery calls %d images %d counts %+v", len(h.peers.Discovery.Requests()), len(imgs), r.Counts)
	}
	if _, ok, _ := h.store.Watermark(t.Context()); ok {
		t.Error("a rescan-only run set the watermark")
	}
}

func TestNotifyNewFindingsWhenARunFinishesAndAFailureIsNotFatal(t *testing.T) {
	h := newHarness(t, nil)
	h.peers.Discovery.SetImages(peertest.Image("acme/api", 1, t0.Add(-time.Hour)))
	h.runToEnd(run.Request{})
	testutil.Eventually(t, 5*time.Second, func() bool { return h.peers.Triage.Notified() == 1 }, "NotifyNewFindings not called")

	h.peers.Triage.SetDown(true)
	h.clock.Advance(time.Hour)
	r, _ := h.runToEnd(run.Request{})
	if r.State != run.StateSucceeded {
		t.Errorf("with the runtime service down the run ended %s: %s", r.State, r.Error)
	}
	if _, err := h.o.Start(context.Background(), run.Request{PushedAfter: t0.Add(-time.Hour)}); err != nil {
		t.Errorf("the next run could not start: %v", err)
	}
}

func TestTheNextRunCanStartWhileTheFinishedRunsNotificationsAreSent(t *testing.T) {
	h := newHarness(t, nil)
	h.peers.Discovery.SetImages(peertest.Image("acme/api", 1, t0.Add(-time.Hour)))
	h.peers.Triage.HoldNotify() // webhooks that take their time
	defer h.peers.Triage.ReleaseNotify()
	first, err := h.o.Start(t.Context(), run.Request{})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() bool {
		r, err := h.o.Get(t.Context(), first.ID)
		return err == nil && r.Finished()
	}, "run %s did not finish", first.ID)

	second, err := h.o.Start(t.Context(), run.Request{PushedAfter: t0.Add(-2 * time.Hour)})
	if err != nil {
		t.Fatalf("StartRun after %s finished: %v; a finished run must not hold the slot", first.ID, err)
	}
	h.peers.Triage.ReleaseNotify()
	h.waitFinished(second.ID)
	testutil.Eventually(t, 5*time.Second, func() bool { return h.peers.Triage.Notified() == 2 }, "notifications of both runs were not sent")
}

func TestAResumedRunSkipsAnImageIngestedBeforeTheCrash(t *testing.T) {
	h := newHarness(t, nil)
	img := peertest.Image("acme/api", 1, t0.Add(-time.Hour))
	// The state a crash leaves between adding an already ingested image to a run and marking it skipped.
	left := &run.Run{ID: "run-crashed", State: run.StateRunning, Trigger: run.TriggerSchedule, MovesWatermark: true,
		DiscoveryDone: true, Window: run.Window{Start: t0.Add(-24 * time.Hour), End: t0}, StartedAt: t0}
	if err := h.store.CreateRun(t.Context(), left); err != nil {
		t.Fatal(err)
	}
	it := &run.Image{Image: img, State: run.ImagePending, ScanReason: run.ReasonPushed}
	if _, err := h.store.AddImage(t.Context(), left.ID, it); err != nil {
		t.Fatal(err)
	}
	done := &run.Image{Image: img, State: run.ImageIngested}
	if err := h.store.CompleteImage(t.Context(), "run-earlier", done, &run.Evaluation{RunID: "run-earlier", At: t0.Add(-48 * time.Hour)}); err != nil {
		t.Fatal(err)
	}

	if err := h.o.Resume(t.Context()); err != nil {
		t.Fatal(err)
	}
	r, imgs := h.waitFinished(left.ID)
	if r.State != run.StateSucceeded || len(imgs) != 1 || imgs[0].State != run.ImageSkipped || r.Counts.Skipped != 1 {
		t.Fatalf("resumed run %s counts %+v images %v, want the image SKIPPED", r.State, r.Counts, imgs)
	}
	if n := h.peers.Scanner.Calls(img.Digest); n != 0 {
		t.Errorf("the image was scanned %d times after the restart, want 0 (it was ingested before)", n)
	}
}

func TestScansAreSpreadOverEveryAddressTheScannerNameResolvesTo(t *testing.T) {
	a, b := peertest.Start(t), peertest.Start(t)
	for i := range 20 {
		a.Discovery.AddImages(peertest.Image("acme/api", i, t0.Add(-time.Hour)))
	}
	// What DNS answers for a name with two A records.
	r := manual.NewBuilderWithScheme("twoscanners")
	r.InitialState(resolver.State{Addresses: []resolver.Address{{Addr: a.Addr}, {Addr: b.Addr}}})
	scanners, err := grpcclient.New("twoscanners:///scanner", grpc.WithResolvers(r))
	if err != nil {
		t.Fatal(err)
	}
	defer scanners.Close()
	rest, err := grpcclient.New(a.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer rest.Close()
	st, err := store.Open(t.Context(), t.TempDir()+"/o.db")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	o, err := run.New(t.Context(), st, peers.NewDiscovery(rest), peers.NewScanner(scanners), peers.NewIngest(rest), nil,
		run.Options{ScanConcurrency: 4, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	started, err := o.Start(t.Context(), run.Request{})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, func() bool {
		got, err := o.Get(t.Context(), started.ID)
		return err == nil && got.Finished()
	}, "run did not finish")
	o.Wait()
	if na, nb := a.Scanner.TotalCalls(), b.Scanner.TotalCalls(); na+nb != 20 || na == 0 || nb == 0 {
		t.Errorf("scans per scanner host: %d and %d, want all 20 spread over both", na, nb)
	}
}

func TestARunningDigestDueForReevaluationIsScannedWhenItsWindowListsItAgain(t *testing.T) {
	h := newHarness(t, nil) // RESCAN_INTERVAL 24h
	img := peertest.Image("acme/api", 1, t0.Add(-time.Hour))
	h.peers.Discovery.SetImages(img)
	h.runToEnd(run.Request{})
	h.peers.Triage.SetRunning(&triagev1.RuntimeImage{Digest: img.Digest, ImageName: "docker.io/acme/api"})

	// Two days later the same digest is promoted with a new tag: the window lists it again.
	h.clock.Advance(48 * time.Hour)
	promoted := peertest.Image("acme/api", 1, t0.Add(47*time.Hour))
	promoted.Tags = []string{"prod"}
	h.peers.Discovery.SetImages(promoted)
	r, imgs := h.runToEnd(run.Request{})
	if len(imgs) != 1 || imgs[0].State != run.ImageIngested || imgs[0].ScanReason != run.ReasonRunning {
		t.Fatalf("images %v, want the running digest re-evaluated (INGESTED, RUNNING), not skipped", imgs)
	}
	if h.peers.Scanner.Forced(img.Digest) != 1 || r.Counts.ScannedRunning != 1 {
		t.Errorf("forced scans %d counts %+v, want one forced re-evaluation", h.peers.Scanner.Forced(img.Digest), r.Counts)
	}
}
