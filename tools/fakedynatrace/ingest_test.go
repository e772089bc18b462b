package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

func newIngestTestServer(t *testing.T, maxBody int64) (*httptest.Server, *ingestRecorder) {
	t.Helper()
	rec, err := openIngestRecorder(filepath.Join(t.TempDir(), "events.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rec.close)
	s := &ingestServer{token: "tok", maxBody: maxBody, rec: rec, faults: &ingestFaults{}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	mux := http.NewServeMux()
	s.register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, rec
}

const okFinding = `{"event.type":"VULNERABILITY_FINDING","event.provider":"Docker Scout","object.id":"a/b@sha256:1","finding.id":"f","vulnerability.id":"CVE-1","component.name":"zlib"}`

func TestIngestAPI(t *testing.T) {
	srv, rec := newIngestTestServer(t, 1000)
	tests := []struct {
		name, path, token, body string
		want                    int
		wantText                string
	}{
		{"one object", "/platform/ingest/v1/security.events", "tok", okFinding, 202, ""},
		{"an array through an ActiveGate", "/e/abc123/platform/ingest/v1/security.events", "tok", "[" + okFinding + "," + okFinding + "]", 202, ""},
		{"a wrong token", "/platform/ingest/v1/security.events", "nope", okFinding, 401, "Api-Token"},
		{"no component.name", "/platform/ingest/v1/security.events", "tok", strings.Replace(okFinding, `"component.name":"zlib"`, `"component.name":""`, 1), 400, "component.name"},
		{"not JSON", "/platform/ingest/v1/security.events", "tok", "[{", 400, "event 0: not a JSON object"},
		{"too large", "/platform/ingest/v1/security.events", "tok", "[" + strings.Repeat(okFinding+",", 8) + okFinding + "]", 413, "exceeds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+tt.path, strings.NewReader(tt.body))
			req.Header.Set("Authorization", "Api-Token "+tt.token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want || !strings.Contains(string(b), tt.wantText) {
				t.Fatalf("%d %s, want %d mentioning %q", resp.StatusCode, b, tt.want, tt.wantText)
			}
		})
	}
	if rec.count() != 3 {
		t.Errorf("%d events recorded, want 3", rec.count())
	}
}

func TestInjectedFaults(t *testing.T) {
	srv, _ := newIngestTestServer(t, 1<<20)
	post := func(path, body string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Api-Token tok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := post("/_fake/faults", `{"status":429,"retry_after_seconds":3,"count":2}`); r.StatusCode != 204 {
		t.Fatalf("add fault: %d", r.StatusCode)
	}
	for i := range 2 {
		r := post("/platform/ingest/v1/security.events", okFinding)
		if r.StatusCode != 429 || r.Header.Get("Retry-After") != "3" {
			t.Fatalf("request %d: %d Retry-After %q", i, r.StatusCode, r.Header.Get("Retry-After"))
		}
	}
	if r := post("/platform/ingest/v1/security.events", okFinding); r.StatusCode != 202 {
		t.Fatalf("after the counted faults: %d", r.StatusCode)
	}
}
