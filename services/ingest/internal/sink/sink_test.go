package sink

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scoutbridge/scoutbridge/pkg/config"
)

func events(from, to int) []Event {
	var out []Event
	for i := from; i < to; i++ {
		out = append(out, Event{ID: fmt.Sprintf("id-%d", i), Body: []byte(fmt.Sprintf(`{"event.id":"id-%d","n":%d}`, i, i))})
	}
	return out
}

func TestJSONLWritesEachEventOnceAcrossACrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out", "events.jsonl")
	j, err := OpenJSONL(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Deliver(t.Context(), events(0, 10)); err != nil {
		t.Fatal(err)
	}
	// The next batch is written, then the process dies before the outbox forgets it, in the middle of
	// writing its last line.
	if err := j.Deliver(t.Context(), events(10, 20)); err != nil {
		t.Fatal(err)
	}
	j.Close()
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	_, _ = f.WriteString(`{"event.id":"id-20","n":`)
	f.Close()

	j, err = OpenJSONL(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	// After restart the outbox hands over the unacknowledged batch again, now with more events.
	if err := j.Deliver(t.Context(), events(10, 25)); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 25 {
		t.Fatalf("%d lines, want 25 (each event once):\n%s", len(lines), b)
	}
	for i, l := range lines {
		if want := fmt.Sprintf(`{"event.id":"id-%d","n":%d}`, i, i); l != want {
			t.Fatalf("line %d = %q, want %q", i, l, want)
		}
	}
}

func TestJSONLWritesABatchOnceWhenTheOutboxCouldNotRecordIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	j, err := OpenJSONL(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	for _, batch := range [][]Event{events(0, 5), events(5, 10), events(5, 12), events(12, 13)} {
		if err := j.Deliver(t.Context(), batch); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(path)
	if lines := strings.Count(string(b), "\n"); lines != 13 {
		t.Fatalf("%d lines, want 13 (events 5-9 handed over twice, written once):\n%s", lines, b)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		in   string
		want time.Duration
	}{
		{"seconds", "7", 7 * time.Second},
		{"an HTTP date", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"absent", "", 0},
		{"garbage", "soon", 0},
		{"a date in the past", now.Add(-time.Hour).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseRetryAfter(tt.in, now); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDynatraceAnswersAreClassified(t *testing.T) {
	const tok = "dt0c01.SINKTESTSINKTESTSINKTEST.sinksinksinksinksinksinksinksinksinksinksinksinksinksinksink12"
	tests := []struct {
		name       string
		status     int
		retryAfter string
		want       Kind
	}{
		{"429 with Retry-After waits as told", 429, "3", Throttled},
		{"413 splits", 413, "", TooLarge},
		{"400 dead-letters", 400, "", Rejected},
		{"422 dead-letters", 422, "", Rejected},
		{"401 pauses", 401, "", Refused},
		{"403 (token without the scope) pauses", 403, "", Refused},
		{"404 (wrong URL) pauses", 404, "", Refused},
		{"408 retries", 408, "", Transient},
		{"500 retries", 500, "", Transient},
		{"503 retries", 503, "", Transient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got struct{ auth, ctype, body string }
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				got.auth, got.ctype, got.body = r.Header.Get("Authorization"), r.Header.Get("Content-Type"), string(b)
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, `{"error":{"message":"answer"}}`)
			}))
			defer srv.Close()
			d, err := NewDynatrace(srv.URL+"/platform/ingest/v1/security.events", config.NewSecret(tok), nil)
			if err != nil {
				t.Fatal(err)
			}
			err = d.Deliver(t.Context(), events(0, 2))
			var se *Error
			if !errors.As(err, &se) || se.Kind != tt.want || se.Status != tt.status {
				t.Fatalf("error %#v, want kind %d for HTTP %d", err, tt.want, tt.status)
			}
			if tt.retryAfter != "" && se.RetryAfter != 3*time.Second {
				t.Errorf("Retry-After read as %v", se.RetryAfter)
			}
			if !strings.Contains(se.Response, "answer") || strings.Contains(err.Error(), tok) {
				t.Errorf("error %q: want Dynatrace's answer and never the token", err)
			}
			if got.auth != "Api-Token "+tok || !strings.HasPrefix(got.ctype, "application/json") ||
				got.body != `[{"event.id":"id-0","n":0},{"event.id":"id-1","n":1}]` {
				t.Errorf("posted %+v", got)
			}
		})
	}
}
