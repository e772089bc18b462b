package inventory

import (
	"context"
	"errors"
	"testing"
	"time"
)

type scriptedSource struct {
	name string
	cs   []Container
	err  error
}

func (s *scriptedSource) Name() string                              { return s.name }
func (s *scriptedSource) Poll(context.Context) ([]Container, error) { return s.cs, s.err }

func TestInventoryKeepsAFailingSourcesContainersUntilTheyAgeOut(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	k8s := &scriptedSource{name: "kubernetes", cs: []Container{{ID: "a", Name: "a", ImageDigest: idxDigest, Digests: []string{idxDigest}}}}
	dock := &scriptedSource{name: "docker", cs: []Container{{ID: "b", Name: "b", ImageDigest: platDigest, Digests: []string{platDigest}}}}
	inv := New(3*time.Hour, k8s, dock)
	clock := t0
	inv.SetClock(func() time.Time { return clock })
	if err := inv.Poll(t.Context()); err != nil {
		t.Fatal(err)
	}

	clock = t0.Add(time.Hour)
	k8s.cs, k8s.err = nil, errors.New("kubernetes GET /api/v1/pods: HTTP 503")
	if err := inv.Poll(t.Context()); err == nil {
		t.Fatal("a failing source did not fail the poll")
	}
	if got := len(inv.Running(clock)); got != 2 {
		t.Errorf("%d containers after a failed poll, want both (the failure keeps what was seen)", got)
	}
	h := inv.Health()
	if h[0].Name != "docker" || !h[0].Healthy || h[1].Name != "kubernetes" || h[1].Healthy || h[1].LastError == "" || !h[1].LastSuccess.Equal(t0) {
		t.Errorf("health %+v", h)
	}

	clock = t0.Add(3*time.Hour + time.Minute)
	_ = inv.Poll(t.Context())
	running := inv.Running(clock)
	if len(running) != 1 || running[0].Name != "b" {
		t.Errorf("running %+v: want only b (a was last seen more than 3h ago)", running)
	}
	imgs := inv.Images(clock)
	if len(imgs) != 1 || imgs[0].Digest != platDigest || len(imgs[0].Containers) != 1 {
		t.Errorf("images %+v", imgs)
	}
}
