package sink

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
