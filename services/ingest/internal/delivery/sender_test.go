package delivery

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
	"github.com/scoutbridge/scoutbridge/pkg/config"
	"github.com/scoutbridge/scoutbridge/pkg/retry"
	"github.com/scoutbridge/scoutbridge/pkg/testutil"
	"github.com/scoutbridge/scoutbridge/services/ingest/internal/semdict"
	"github.com/scoutbridge/scoutbridge/services/ingest/internal/sink"
	"github.com/scoutbridge/scoutbridge/services/ingest/internal/store"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const goodToken = "dt0c01.TESTTOKENTESTTOKENTESTTOK.secretsecretsecretsecretsecretsecretsecretsecretsecretsecret1234"

// fake is a running tools/fakedynatrace process.
type fake struct {
	base string
}

func startFake(t *testing.T, maxBody int) *fake {
	t.Helper()
	bin := testutil.BuildBinary(t, "./tools/fakedynatrace")
	addr := testutil.FreeAddr(t)
	testutil.StartProcess(t, bin, []string{"LISTEN_ADDR=" + addr, "FAKEDT_API_TOKEN=" + goodToken,
		fmt.Sprintf("FAKEDT_MAX_BODY_BYTES=%d", maxBody), "FAKEDT_EVENTS_FILE=" + filepath.Join(t.TempDir(), "events.jsonl")})
	f := &fake{base: "http://" + addr}
	testutil.Eventually(t, 10*time.Second, func() bool {
		r, err := http.Get(f.base + "/healthz")
		if err == nil {
			r.Body.Close()
		}
		return err == nil && r.StatusCode == 200
	}, "fakedynatrace did not start")
	return f
}

func (f *fake) ingestURL() string { return f.base + "/e/abc12345/platform/ingest/v1/security.events" }

func (f *fake) fault(t *testing.T, spec string) {
	t.Helper()
	r, err := http.Post(f.base+"/_fake/faults", "application/json", strings.NewReader(spec))
	if err != nil || r.StatusCode != http.StatusNoContent {
		t.Fatalf("inject fault %s: %v %v", spec, err, r)
	}
	r.Body.Close()
}

// events returns the accepted events' ids, with how often each arrived.
func (f *fake) events(t *testing.T) map[string]int {
	t.Helper()
	r, err := http.Get(f.base + "/_fake/events")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	out := map[string]int{}
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var e struct {
			ID string `json:"event.id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("recorded line is not an event: %v", err)
		}
		out[e.ID]++
	}
	return out
}

func (f *fake) statuses(t *testing.T) map[string]int {
	t.Helper()
	r, err := http.Get(f.base + "/_fake/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var s struct {
		ByStatus map[string]int `json:"by_status"`
	}
	_ = json.NewDecoder(r.Body).Decode(&s)
	return s.ByStatus
}

func report(scanID string, n int) *imagev1.ScanReport {
	r := &imagev1.ScanReport{ScanId: scanID, Status: imagev1.ScanStatus_SCAN_STATUS_COMPLETED,
		Image:       &imagev1.Image{Registry: "docker.io", Repository: "acme/" + scanID, Digest: "sha256:" + strings.Repeat("c", 64), Tags: []string{"latest"}},
		CompletedAt: timestamppb.Now()}
	for i := range n {
		r.Findings = append(r.Findings, &imagev1.Finding{VulnerabilityId: fmt.Sprintf("CVE-2026-%05d", i), Severity: imagev1.Severity_SEVERITY_MEDIUM,
			Description: strings.Repeat("advisory text ", 20),
			Package:     &imagev1.Package{Type: "npm", Name: fmt.Sprintf("lib%d", i), Version: "1.0.0"}, Locations: []string{"/app/node_modules/x/package.json"}})
	}
	return r
}

type harness struct {
	st   *store.Store
	snd  *Sender
	logs *testutil.SyncBuffer
	ids  map[string]bool
	mu   sync.Mutex
	seen []State
}

func newHarness(t *testing.T, s sink.Sink, opt Options) *harness {
	t.Helper()
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "ingest.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := &harness{st: st, logs: &testutil.SyncBuffer{}, ids: map[string]bool{}}
	opt.Backoff = retry.Backoff{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond, Multiplier: 2, Jitter: 0.2}
	opt.Poll = 50 * time.Millisecond
	opt.OnState = func(_ string, s State, _ string) { h.mu.Lock(); h.seen = append(h.seen, s); h.mu.Unlock() }
	h.snd = NewSender(s, st, slog.New(slog.NewJSONHandler(h.logs, nil)), opt)
	return h
}

func (h *harness) ingest(t *testing.T, r *imagev1.ScanReport) {
	t.Helper()
	b, err := semdict.Map(r, semdict.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.st.Ingest(t.Context(), b, []string{h.snd.Name()}); err != nil {
		t.Fatal(err)
	}
	h.ids[b.Scan.EventID] = true
	for _, f := range b.Findings {
		h.ids[f.EventID] = true
	}
	h.snd.Wake()
}

func (h *harness) run(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { _ = h.snd.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func (h *harness) states() []State {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]State(nil), h.seen...)
}

func dynatrace(t *testing.T, url, token string) *sink.Dynatrace {
	d, err := sink.NewDynatrace(url, config.NewSecret(token), nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func allArrived(t *testing.T, f *fake, want map[string]bool) func() bool {
	return func() bool {
		got := f.events(t)
		for id := range want {
			if got[id] == 0 {
				return false
			}
		}
		return true
	}
}

func TestThrottlingAndOutagesAreRiddenOut(t *testing.T) {
	f := startFake(t, 10_000_000)
	f.fault(t, `{"status":429,"retry_after_seconds":1,"count":2}`)
	f.fault(t, `{"status":503,"count":4}`)
	h := newHarness(t, dynatrace(t, f.ingestURL(), goodToken), Options{MaxEvents: 40})
	h.run(t)
	for i := range 3 {
		h.ingest(t, report(fmt.Sprintf("storm-%d", i), 50)) // ingest is not blocked by the storm
	}
	testutil.Eventually(t, 30*time.Second, allArrived(t, f, h.ids), "not every event arrived after the storm")
	// Refused posts record nothing, and the next batch is read while one is posted: each event
	// must still arrive exactly once.
	got := f.events(t)
	if len(got) != len(h.ids) {
		t.Errorf("%d distinct events arrived, want %d", len(got), len(h.ids))
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("event %s arrived %d times", id, n)
		}
	}
	st := f.statuses(t)
	if st["429"] != 2 || st["503"] != 4 {
		t.Errorf("stand-in answered %v, want 2×429 and 4×503", st)
	}
	if s, _ := h.snd.State(); s != OK {
		t.Errorf("state %v after recovery, want ok", s)
	}
	if !containsState(h.states(), Retrying) {
		t.Error("the sender never reported retrying during the storm")
	}
	c, _ := h.st.SinkCounts(t.Context(), "dynatrace")
	if c.Queued != 0 || c.Sent != int64(len(h.ids)) {
		t.Errorf("counts %+v, want all %d sent", c, len(h.ids))
	}
}

func TestTooLargeBatchesAreSplit(t *testing.T) {
	f := startFake(t, 20_000) // ~a dozen events per post
	h := newHarness(t, dynatrace(t, f.ingestURL(), goodToken), Options{MaxBytes: 10_000_000})
	h.ingest(t, report("big", 120))
	h.run(t)
	testutil.Eventually(t, 30*time.Second, allArrived(t, f, h.ids), "not every event arrived after splitting")
	if st := f.statuses(t); st["413"] == 0 {
		t.Errorf("the stand-in never answered 413 (%v): the test did not split anything", st)
	}
	if c, _ := h.st.SinkCounts(t.Context(), "dynatrace"); c.DeadLettered != 0 || c.Queued != 0 {
		t.Errorf("counts %+v, want nothing dead-lettered or queued", c)
	}
}

func TestRejectedBatchIsDeadLetteredAndRedriven(t *testing.T) {
	f := startFake(t, 10_000_000)
	f.fault(t, `{"status":400,"count":1}`)
	h := newHarness(t, dynatrace(t, f.ingestURL(), goodToken), Options{})
	h.ingest(t, report("rejected", 5))
	h.run(t)
	var dls []store.DeadLetter
	testutil.Eventually(t, 10*time.Second, func() bool {
		dls, _, _ = h.st.ListDeadLetters(t.Context(), "dynatrace", 10, "")
		return len(dls) == 1
	}, "the refused batch was not dead-lettered")
	if dls[0].StatusCode != 400 || !strings.Contains(dls[0].Response, "injected fault") || dls[0].EventCount != 6 {
		t.Fatalf("dead letter %+v, want 400 with the stand-in's answer and 6 events", dls[0])
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(f.events(t)); n != 0 {
		t.Fatalf("a dead-lettered batch was retried blindly: %d events arrived", n)
	}
	if n, err := h.st.Redrive(t.Context(), "dynatrace", []int64{dls[0].ID}, false); err != nil || n != 6 {
		t.Fatalf("redrive %d %v", n, err)
	}
	h.snd.Wake()
	testutil.Eventually(t, 10*time.Second, allArrived(t, f, h.ids), "redriven events did not arrive")
}

func TestRefusedTokenPausesTheSink(t *testing.T) {
	f := startFake(t, 10_000_000)
	const wrong = "dt0c01.WRONGWRONGWRONGWRONGWRON.wrongwrongwrongwrongwrongwrongwrongwrongwrongwrongwrongwrong12"
	h := newHarness(t, dynatrace(t, f.ingestURL(), wrong), Options{})
	h.ingest(t, report("paused", 3))
	h.run(t)
	testutil.Eventually(t, 10*time.Second, func() bool { s, _ := h.snd.State(); return s == Paused }, "the sink did not pause on 401")
	_, reason := h.snd.State()
	if !strings.Contains(reason, "401") {
		t.Errorf("last error %q does not say 401", reason)
	}
	time.Sleep(300 * time.Millisecond)
	if st := f.statuses(t); st["401"] != 1 {
		t.Errorf("a paused sink kept posting: %v", st)
	}
	c, _ := h.st.SinkCounts(t.Context(), "dynatrace")
	if c.Queued != 4 || c.DeadLettered != 0 {
		t.Errorf("counts %+v: events must stay queued while paused", c)
	}
	if strings.Contains(h.logs.String(), wrong) || strings.Contains(reason, wrong) {
		t.Error("the token leaked into the log or the last error")
	}
	if !strings.Contains(h.logs.String(), "sink paused") {
		t.Errorf("the log does not say the sink paused:\n%s", h.logs.String())
	}
}

func TestJSONLSinkDeliversEverything(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	j, err := sink.OpenJSONL(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	h := newHarness(t, j, Options{MaxEvents: 7})
	h.ingest(t, report("jsonl", 30))
	h.run(t)
	testutil.Eventually(t, 10*time.Second, func() bool {
		c, _ := h.st.SinkCounts(t.Context(), "jsonl")
		return c.Queued == 0
	}, "JSONL outbox not drained")
	lines := readLines(t, path)
	if len(lines) != len(h.ids) {
		t.Fatalf("%d lines, want %d", len(lines), len(h.ids))
	}
}

func containsState(s []State, want State) bool {
	for _, x := range s {
		if x == want {
			return true
		}
	}
	return false
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}
