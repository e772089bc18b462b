package run_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/scoutbridge/scoutbridge/pkg/grpcclient"
	"github.com/scoutbridge/scoutbridge/pkg/retry"
	"github.com/scoutbridge/scoutbridge/pkg/telemetry"
	"github.com/scoutbridge/scoutbridge/pkg/testutil"
	"github.com/scoutbridge/scoutbridge/services/orchestrator/internal/peers"
	"github.com/scoutbridge/scoutbridge/services/orchestrator/internal/peertest"
	"github.com/scoutbridge/scoutbridge/services/orchestrator/internal/run"
	"github.com/scoutbridge/scoutbridge/services/orchestrator/internal/store"
)

// traces records every span of this test binary and metrics every measurement; otel's globals allow
// one provider of each per process.
var (
	traces  *telemetry.TestProvider
	metrics *sdkmetric.ManualReader
)

func TestMain(m *testing.M) {
	traces = telemetry.NewTestProvider()
	metrics = sdkmetric.NewManualReader()
	otel.SetMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(metrics)))
	os.Exit(m.Run())
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type harness struct {
	t     testing.TB
	peers *peertest.Peers
	store *store.Store
	clock *clock
	o     *run.Orchestrator
	opt   run.Options
	path  string
	stop  context.CancelFunc
}

var t0 = time.Date(2026, 11, 5, 12, 0, 0, 0, time.UTC)

// newHarness runs an orchestrator against in-process peers with a fast backoff and a fake clock at t0.
func newHarness(t testing.TB, mod func(*run.Options)) *harness {
	t.Helper()
	h := &harness{t: t, peers: peertest.Start(t), clock: &clock{t: t0}, path: t.TempDir() + "/orchestrator.db"}
	h.opt = run.Options{ScanConcurrency: 4, MaxAttempts: 3, RescanInterval: 24 * time.Hour,
		Backoff: retry.Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond}, Now: h.clock.Now}
	if mod != nil {
		mod(&h.opt)
	}
	h.open()
	return h
}

// open (re)builds the orchestrator on the same database, as a restart does.
func (h *harness) open() {
	t := h.t
	st, err := store.Open(context.Background(), h.path)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpcclient.New(h.peers.Addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	o, err := run.New(ctx, st, peers.NewDiscovery(cc), peers.NewScanner(cc), peers.NewIngest(cc), peers.NewRuntime(cc), h.opt)
	if err != nil {
		t.Fatal(err)
	}
	h.store, h.o = st, o
	h.stop = func() {
		cancel()
		o.Wait()
		cc.Close()
		st.Close()
	}
	t.Cleanup(func() {
		if h.o == o {
			h.stop()
		}
	})
}

// restart stops the orchestrator like a shutdown (a run in flight stays RUNNING) and opens it again.
func (h *harness) restart() {
	h.stop()
	h.open()
}

// runToEnd starts a run and waits for it to finish.
func (h *harness) runToEnd(req run.Request) (*run.Run, []*run.Image) {
	h.t.Helper()
	r, err := h.o.Start(context.Background(), req)
	if err != nil {
		h.t.Fatalf("Start: %v", err)
	}
	return h.waitFinished(r.ID)
}

func (h *harness) waitFinished(id string) (*run.Run, []*run.Image) {
	h.t.Helper()
	var r *run.Run
	testutil.Eventually(h.t, 30*time.Second, func() bool {
		var err error
		r, err = h.o.Get(context.Background(), id)
		return err == nil && r.Finished() && h.o.ActiveID() == ""
	}, "run %s did not finish", id)
	imgs, err := h.o.Images(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return r, imgs
}

func byDigest(imgs []*run.Image) map[string]*run.Image {
	m := map[string]*run.Image{}
	for _, i := range imgs {
		m[i.Image.GetDigest()] = i
	}
	return m
}
