package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
	"github.com/scoutbridge/scoutbridge/pkg/config"
	"github.com/scoutbridge/scoutbridge/pkg/retry"
	"github.com/scoutbridge/scoutbridge/pkg/testutil"
	"github.com/scoutbridge/scoutbridge/services/runtime/internal/inventory"
	"github.com/scoutbridge/scoutbridge/services/runtime/internal/readmodel"
)

// receiver is a webhook endpoint that fails its first failures requests, and can hold requests.
type receiver struct {
	mu       sync.Mutex
	failures int
	hold     chan struct{} // when set, requests wait for it to close
	started  chan struct{}
	got      map[string][]string // path -> bodies
	headers  []http.Header
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	hold, started := r.hold, r.started
	if r.failures > 0 {
		r.failures--
		r.mu.Unlock()
		http.Error(w, "try later", http.StatusServiceUnavailable)
		return
	}
	r.mu.Unlock()
	if hold != nil {
		close(started)
		<-hold
	}
	r.mu.Lock()
	r.got[req.URL.Path] = append(r.got[req.URL.Path], string(body))
	r.headers = append(r.headers, req.Header.Clone())
	r.mu.Unlock()
}

func (r *receiver) count(path string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got[path])
}

func rows(n int) []readmodel.Row {
	var out []readmodel.Row
	for i := range n {
		vuln := "CVE-2026-" + string(rune('A'+i))
		out = append(out, readmodel.Row{RowID: readmodel.RowID(vuln, "docker.io", "acme/api", "openssl", "3.0"), VulnerabilityID: vuln,
			Title: vuln + ": overflow", Registry: "docker.io", Repository: "acme/api", PackageName: "openssl", PackageVersion: "3.0",
			RiskLevel: imagev1.RiskLevel_RISK_LEVEL_CRITICAL, RiskScore: 9.8, FirstSeen: time.Now().Add(-time.Hour), LastSeen: time.Now(),
			Images: []readmodel.AffectedImage{{Digest: "sha256:" + strings.Repeat("a", 64), Tags: []string{"1.0"},
				Containers: []inventory.Container{{Name: "api-1", Source: "docker", Stage: "production", Namespace: "prod"}}}}})
	}
	return out
}

func newOutbox(t *testing.T, path, url string, logs io.Writer) (*Outbox, *readmodel.Store) {
	t.Helper()
	st, err := readmodel.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	hooks := []Webhook{
		NewSlack(config.NewSecret(url+"/slack/T000/B000/sekrit-slack-path"), 2*time.Second),
		NewJSON(url+"/json", config.NewSecret("hmac-secret"), 2*time.Second),
	}
	o, err := NewOutbox(t.Context(), st.DB(), hooks, slog.New(slog.NewJSONHandler(logs, nil)),
		Options{Backoff: retry.Backoff{Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond, Multiplier: 2}, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return o, st
}

func TestEachRowIsDeliveredOncePerWebhookThroughFailuresAndARestart(t *testing.T) {
	rcv := &receiver{failures: 3, got: map[string][]string{}}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "runtime.db")
	logs := &testutil.SyncBuffer{}

	// First life: three rows queued; the receiver fails three times, then holds the next request while
	// the service shuts down.
	o1, st1 := newOutbox(t, path, srv.URL, logs)
	queued, err := o1.Enqueue(t.Context(), rows(3))
	if err != nil || queued != 6 {
		t.Fatalf("queued %d (%v), want 6 (3 rows x 2 webhooks)", queued, err)
	}
	if again, _ := o1.Enqueue(t.Context(), rows(3)); again != 0 {
		t.Fatalf("the same rows queued again: %d", again)
	}
	rcv.mu.Lock()
	rcv.hold, rcv.started = make(chan struct{}), make(chan struct{})
	hold, started := rcv.hold, rcv.started
	rcv.mu.Unlock()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- o1.Run(ctx) }()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery reached the receiver")
	}
	cancel() // shutdown begins while a delivery is in progress
	time.Sleep(50 * time.Millisecond)
	rcv.mu.Lock()
	rcv.hold = nil
	rcv.mu.Unlock()
	close(hold)
	if err := <-done; err == nil {
		t.Fatal("Run returned nil after its context ended")
	}
	delivered := rcv.count("/json") + rcv.count("/slack/T000/B000/sekrit-slack-path")
	if delivered != 1 {
		t.Fatalf("deliveries in the first life %d, want exactly the one in progress", delivered)
	}
	stats, _ := o1.Stats(t.Context())
	if stats.Delivered != 1 || stats.Pending != 5 {
		t.Fatalf("after shutdown: %+v, want the delivery in progress recorded (1 delivered, 5 pending)", stats)
	}
	st1.Close()

	// Second life on the same database: the rest is delivered, nothing twice, nothing queued again.
	o2, _ := newOutbox(t, path, srv.URL, logs)
	if again, _ := o2.Enqueue(t.Context(), rows(3)); again != 0 {
		t.Fatalf("rows queued again after restart: %d", again)
	}
	ctx2, cancel2 := context.WithCancel(t.Context())
	defer cancel2()
	go o2.Run(ctx2)
	testutil.Eventually(t, 10*time.Second, func() bool {
		return rcv.count("/json") == 3 && rcv.count("/slack/T000/B000/sekrit-slack-path") == 3
	}, "every row delivered to both webhooks: json %d, slack %d", rcv.count("/json"), rcv.count("/slack/T000/B000/sekrit-slack-path"))
	time.Sleep(200 * time.Millisecond)
	if n := rcv.count("/json") + rcv.count("/slack/T000/B000/sekrit-slack-path"); n != 6 {
		t.Fatalf("deliveries %d, want 6 (each row once per webhook)", n)
	}

	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	ids := map[string]bool{}
	for _, body := range rcv.got["/json"] {
		var ev Event
		if err := json.Unmarshal([]byte(body), &ev); err != nil {
			t.Fatalf("json body: %v", err)
		}
		if ids[ev.RowID] {
			t.Errorf("row %s delivered twice", ev.RowID)
		}
		ids[ev.RowID] = true
		if ev.RiskLevel != "CRITICAL" || ev.AffectedImagesCount != 1 || ev.Images[0].Containers[0].ReleaseStage != "production" {
			t.Errorf("json event missing the row's facts: %s", body)
		}
	}
	signed := 0
	for _, h := range rcv.headers {
		if sig := h.Get("X-Scoutbridge-Signature"); sig != "" {
			signed++
			if h.Get("Idempotency-Key") == "" {
				t.Error("no Idempotency-Key")
			}
		}
	}
	if signed != 3 {
		t.Errorf("%d signed requests, want the 3 JSON ones", signed)
	}
	for _, body := range rcv.got["/json"] {
		want := Sign("hmac-secret", []byte(body))
		found := false
		for _, h := range rcv.headers {
			found = found || h.Get("X-Scoutbridge-Signature") == want
		}
		if !found {
			t.Errorf("no request carries the HMAC of body %s", body)
		}
	}
	for _, body := range rcv.got["/slack/T000/B000/sekrit-slack-path"] {
		var m struct{ Text string }
		_ = json.Unmarshal([]byte(body), &m)
		for _, want := range []string{"<https://scout.docker.com/v/CVE-2026-", "<https://hub.docker.com/r/acme/api|docker.io/acme/api>", "api-1 (production, docker, ns prod)"} {
			if !strings.Contains(m.Text, want) {
				t.Errorf("slack text lacks %q:\n%s", want, m.Text)
			}
		}
	}
	if !strings.Contains(logs.String(), "HTTP 503") {
		t.Errorf("the failures were not logged:\n%s", logs.String())
	}
	for _, secret := range []string{"sekrit-slack-path", "hmac-secret"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("a secret reached the log: %s", secret)
		}
	}
}

func TestAnUnreachableWebhookDoesNotLeakItsURL(t *testing.T) {
	s := NewSlack(config.NewSecret("http://127.0.0.1:1/services/T/B/very-secret"), time.Second)
	err := s.Send(t.Context(), "row", []byte(`{}`))
	if err == nil || strings.Contains(err.Error(), "very-secret") {
		t.Fatalf("error %v: want a failure that does not quote the URL", err)
	}
	if !bytes.Contains([]byte(err.Error()), []byte("refused")) {
		t.Logf("error: %v", err)
	}
}

func TestAWebhookNoLongerConfiguredKeepsItsQueue(t *testing.T) {
	rcv := &receiver{got: map[string][]string{}}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "runtime.db")
	o1, st1 := newOutbox(t, path, srv.URL, io.Discard)
	if q, err := o1.Enqueue(t.Context(), rows(2)); err != nil || q != 4 {
		t.Fatalf("queued %d, %v", q, err)
	}
	st1.Close()

	// Restart with the JSON webhook only.
	st2, err := readmodel.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	o2, err := NewOutbox(t.Context(), st2.DB(), []Webhook{NewJSON(srv.URL+"/json", config.Secret{}, time.Second)},
		slog.New(slog.NewTextHandler(io.Discard, nil)), Options{Backoff: retry.Backoff{Initial: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go o2.Run(ctx)
	testutil.Eventually(t, 5*time.Second, func() bool { return rcv.count("/json") == 2 }, "JSON rows not delivered")
	time.Sleep(100 * time.Millisecond)
	stats, _ := o2.Stats(t.Context())
	if stats.Pending != 2 || stats.Delivered != 2 {
		t.Errorf("stats %+v: want the 2 Slack notifications kept pending", stats)
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if h := rcv.headers[0].Get("X-Scoutbridge-Signature"); h != "" {
		t.Errorf("signed without a secret: %q", h)
	}
}
