package run_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	discoveryv1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/discovery/v1"
	"github.com/scoutbridge/scoutbridge/services/orchestrator/internal/peertest"
	"github.com/scoutbridge/scoutbridge/services/orchestrator/internal/run"
)

func TestFirstRunCoversInitialLookbackThenWindowsFollowWithoutGaps(t *testing.T) {
	h := newHarness(t, func(o *run.Options) { o.InitialLookback = 24 * time.Hour })
	inside := peertest.Image("acme/api", 1, t0.Add(-time.Hour))
	tooOld := peertest.Image("acme/api", 2, t0.Add(-25*time.Hour))
	h.peers.Discovery.SetImages(inside, tooOld)

	r, imgs := h.runToEnd(run.Request{})
	if r.State != run.StateSucceeded {
		t.Fatalf("state %s (%s), want SUCCEEDED", r.State, r.Error)
	}
	if !r.Window.Start.Equal(t0.Add(-24*time.Hour)) || !r.Window.End.Equal(t0) {
		t.Errorf("first window %v, want [t0-24h, t0)", r.Window)
	}
	if len(imgs) != 1 || imgs[0].Image.GetDigest() != inside.Digest || imgs[0].State != run.ImageIngested {
		t.Fatalf("images %v, want only the one pushed inside the lookback, ingested", imgs)
	}
	if wm, ok, _ := h.store.Watermark(t.Context()); !ok || !wm.Equal(t0) {
		t.Errorf("watermark %v, want %v", wm, t0)
	}

	// The next run starts where the first ended, even for an image pushed at exactly that instant.
	h.clock.Advance(2 * time.Hour)
	atBoundary := peertest.Image("acme/web", 1, t0)
	h.peers.Discovery.AddImages(atBoundary)
	r2, imgs2 := h.runToEnd(run.Request{})
	if !r2.Window.Start.Equal(t0) || !r2.Window.End.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("second window %v, want [t0, t0+2h)", r2.Window)
	}
	if len(imgs2) != 1 || imgs2[0].Image.GetDigest() != atBoundary.Digest {
		t.Fatalf("second run images %v, want only the boundary image", imgs2)
	}
	if got := len(h.peers.Ingest.Stored()); got != 2 {
		t.Errorf("digests ingested: %d, want 2", got)
	}
}

func TestAfterDowntimeTheNextRunCatchesUp(t *testing.T) {
	h := newHarness(t, nil)
	h.runToEnd(run.Request{})
	h.clock.Advance(72 * time.Hour) // the orchestrator was down for three days
	missed := peertest.Image("acme/api", 7, t0.Add(30*time.Hour))
	h.peers.Discovery.SetImages(missed)
	h.restart()
	r, imgs := h.runToEnd(run.Request{})
	if !r.Window.Start.Equal(t0) || !r.Window.End.Equal(t0.Add(72*time.Hour)) {
		t.Errorf("window %v, want [t0, t0+72h)", r.Window)
	}
	if len(imgs) != 1 || imgs[0].State != run.ImageIngested {
		t.Fatalf("images %v, want the image pushed during the downtime, ingested", imgs)
	}
}

func TestFailedImagesAreCarriedOverEvenWhenTheNextWindowDoesNotListThem(t *testing.T) {
	h := newHarness(t, nil)
	ok := peertest.Image("acme/api", 1, t0.Add(-time.Hour))
	broken := peertest.Image("acme/api", 2, t0.Add(-time.Hour))
	deleted := peertest.Image("acme/api", 3, t0.Add(-time.Hour))
	h.peers.Discovery.SetImages(ok, broken, deleted)
	h.peers.Scanner.Fail(broken.Digest, codes.Internal)
	h.peers.Scanner.Fail(deleted.Digest, codes.NotFound)

	r, imgs := h.runToEnd(run.Request{})
	if r.State != run.StatePartial {
		t.Fatalf("state %s, want PARTIALLY_SUCCEEDED", r.State)
	}
	m := byDigest(imgs)
	if m[broken.Digest].State != run.ImageFailed || !strings.Contains(m[broken.Digest].Reason, "Internal") {
		t.Errorf("broken image: %s %q, want FAILED with the scanner's reason", m[broken.Digest].State, m[broken.Digest].Reason)
	}
	if m[broken.Digest].Attempts != 1 {
		t.Errorf("a permanent failure was tried %d times, want 1", m[broken.Digest].Attempts)
	}
	if r.Counts.Failed != 2 || r.Counts.Ingested != 1 || !strings.Contains(r.Error, "2 image(s) failed") {
		t.Errorf("counts %+v error %q", r.Counts, r.Error)
	}
	// The window was listed completely: the watermark moves, the failure waits in the carry-over queue.
	if wm, _, _ := h.store.Watermark(t.Context()); !wm.Equal(t0) {
		t.Errorf("watermark %v, want %v", wm, t0)
	}

	h.clock.Advance(time.Hour)
	r2, imgs2 := h.runToEnd(run.Request{})
	m2 := byDigest(imgs2)
	if len(imgs2) != 1 || m2[broken.Digest] == nil {
		t.Fatalf("second run images %v, want only the carried-over broken image (not the deleted one)", imgs2)
	}
	if m2[broken.Digest].ScanReason != run.ReasonCarriedOver || m2[broken.Digest].State != run.ImageIngested {
		t.Errorf("carried-over image: %s %s", m2[broken.Digest].ScanReason, m2[broken.Digest].State)
	}
	if r2.State != run.StateSucceeded {
		t.Errorf("second run %s: %s", r2.State, r2.Error)
	}
	// Once ingested it is not carried again.
	h.clock.Advance(time.Hour)
	_, imgs3 := h.runToEnd(run.Request{})
	if len(imgs3) != 0 {
		t.Errorf("third run images %v, want none", imgs3)
	}
}

func TestANamespaceThatCannotBeListedKeepsTheWatermark(t *testing.T) {
	h := newHarness(t, nil)
	img := peertest.Image("acme/api", 1, t0.Add(-time.Hour))
	h.peers.Discovery.SetImages(img)
	h.peers.Discovery.SetNamespaceErrors(&discoveryv1.NamespaceError{Namespace: "other", Code: "PERMISSION_DENIED", Message: "no access"})
	r, _ := h.runToEnd(run.Request{})
	if r.State != run.StatePartial || r.Counts.NamespacesFailed != 1 || !strings.Contains(r.Error, "namespace other") {
		t.Fatalf("run %s counts %+v error %q, want PARTIALLY_SUCCEEDED naming the namespace", r.State, r.Counts, r.Error)
	}
	if wm, _, _ := h.store.Watermark(t.Context()); !wm.Equal(r.Window.Start) {
		t.Fatalf("watermark %v, want it held at the window's start %v: a namespace was not listed", wm, r.Window.Start)
	}
	// The next run covers the same window again; what was done is skipped, not scanned twice.
	h.peers.Discovery.SetNamespaceErrors()
	h.clock.Advance(time.Hour)
	r2, imgs2 := h.runToEnd(run.Request{})
	if !r2.Window.Start.Equal(r.Window.Start) {
		t.Errorf("second window starts %v, want the first window's start %v", r2.Window.Start, r.Window.Start)
	}
	if len(imgs2) != 1 || imgs2[0].State != run.ImageSkipped || h.peers.Scanner.Calls(img.Digest) != 1 {
		t.Errorf("second run images %v, scans %d: want the image skipped, scanned once overall", imgs2, h.peers.Scanner.Calls(img.Digest))
	}
	if wm, _, _ := h.store.Watermark(t.Context()); !wm.Equal(t0.Add(time.Hour)) {
		t.Errorf("watermark %v after the complete run, want %v", wm, t0.Add(time.Hour))
	}
}

func TestNarrowedAndDryRunsNeverMoveTheWatermark(t *testing.T) {
	cases := map[string]run.Request{
		"a run limited to namespaces":  {Namespaces: []string{"acme"}},
		"a run with an explicit start": {PushedAfter: t0.Add(-2 * time.Hour)},
		"a run with an explicit end":   {PushedBefore: t0.Add(-time.Minute)},
		"a dry run":                    {DryRun: true},
	}
	for name, req := range cases {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, nil)
			h.peers.Discovery.SetImages(peertest.Image("acme/api", 1, t0.Add(-time.Hour)))
			r, _ := h.runToEnd(req)
			if r.State != run.StateSucceeded {
				t.Fatalf("state %s: %s", r.State, r.Error)
			}
			if _, ok, _ := h.store.Watermark(t.Context()); ok {
				t.Error("the watermark moved")
			}
		})
	}
}

func TestDryRunDiscoversOnly(t *testing.T) {
	h := newHarness(t, nil)
	img := peertest.Image("acme/api", 1, t0.Add(-time.Hour))
	h.peers.Discovery.SetImages(img)
	r, imgs := h.runToEnd(run.Request{DryRun: true})
	if r.Counts.Discovered != 1 || len(imgs) != 1 || imgs[0].State != run.ImagePending {
		t.Fatalf("counts %+v images %v, want one discovered image left pending", r.Counts, imgs)
	}
	if h.peers.Scanner.TotalCalls() != 0 || h.peers.Ingest.Calls() != 0 {
		t.Error("a dry run scanned or ingested")
	}
	// Nothing is remembered: a real run afterwards scans it.
	_, imgs2 := h.runToEnd(run.Request{})
	if imgs2[0].State != run.ImageIngested {
		t.Errorf("after the dry run: %s", imgs2[0].State)
	}
}

func TestAWindowThatEndsBeforeItStartsIsRefused(t *testing.T) {
	h := newHarness(t, nil)
	_, err := h.o.Start(context.Background(), run.Request{PushedAfter: t0, PushedBefore: t0.Add(-time.Hour)})
	var bad *run.InvalidRequestError
	if !errorsAs(err, &bad) {
		t.Fatalf("err %v, want InvalidRequestError", err)
	}
}
