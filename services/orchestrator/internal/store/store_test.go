package store_test

import (
	"path/filepath"
	"testing"
	"time"

	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
	"github.com/scoutbridge/scoutbridge/services/orchestrator/internal/run"
	"github.com/scoutbridge/scoutbridge/services/orchestrator/internal/store"
)

func TestStateSurvivesReopeningAndTheWatermarkNeverMovesBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "o.db")
	st, err := store.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 5, 0, 0, 0, 0, time.UTC)
	r := &run.Run{ID: "run-1", State: run.StateRunning, Trigger: run.TriggerAPI, MovesWatermark: true,
		Window: run.Window{Start: t0, End: t0.Add(time.Hour)}, StartedAt: t0.Add(time.Hour)}
	if err := st.CreateRun(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	img := &run.Image{Image: &imagev1.Image{Repository: "acme/api", Digest: "sha256:aa"}, State: run.ImagePending, ScanReason: run.ReasonPushed}
	if added, err := st.AddImage(t.Context(), r.ID, img); err != nil || !added {
		t.Fatalf("AddImage: %v %v", added, err)
	}
	if added, _ := st.AddImage(t.Context(), r.ID, img); added {
		t.Error("the same digest was added twice to one run")
	}
	end := t0.Add(time.Hour)
	r.State = run.StatePartial
	if err := st.FinishRun(t.Context(), r, &end, []run.CarryOver{{Image: img.Image, Reason: "scan: Internal", RunID: r.ID}}, nil); err != nil {
		t.Fatal(err)
	}
	earlier := t0
	if err := st.FinishRun(t.Context(), r, &earlier, nil, nil); err != nil {
		t.Fatal(err)
	}
	st.Close()

	st, err = store.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if wm, ok, _ := st.Watermark(t.Context()); !ok || !wm.Equal(end) {
		t.Errorf("watermark %v, want %v (it must not move back)", wm, end)
	}
	carry, err := st.CarryOvers(t.Context())
	if err != nil || len(carry) != 1 || carry[0].Image.GetDigest() != "sha256:aa" || carry[0].Image.GetRegistry() != "" {
		t.Fatalf("carry-overs %v %v", carry, err)
	}
	got, err := st.GetRun(t.Context(), "run-1")
	if err != nil || got.State != run.StatePartial || got.Counts.Discovered != 1 || !got.Window.Start.Equal(t0) {
		t.Errorf("run after reopening: %+v %v", got, err)
	}
	img.State = run.ImageIngested
	if err := st.CompleteImage(t.Context(), r.ID, img, &run.Evaluation{RunID: r.ID, At: r.StartedAt}); err != nil {
		t.Fatal(err)
	}
	if carry, _ := st.CarryOvers(t.Context()); len(carry) != 0 {
		t.Errorf("an ingested image is still carried over: %v", carry)
	}
	if ev, ok, _ := st.Evaluated(t.Context(), run.KeyOf(img.Image)); !ok || ev.RunID != "run-1" || !ev.At.Equal(r.StartedAt) {
		t.Errorf("memory %+v %v", ev, ok)
	}
}
