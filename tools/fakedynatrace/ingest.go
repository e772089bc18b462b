package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// ingestServer answers the security-events ingest API like Dynatrace does (see
// ../../../shared/reference/dynatrace-security-events.md): 202 without a body, 400 with a reason, 401,
// 413, 429 with Retry-After, 5xx.
type ingestServer struct {
	token   string
	maxBody int64
	rec     *ingestRecorder
	faults  *ingestFaults
	log     *slog.Logger

	mu       sync.Mutex
	requests int64
	byStatus map[int]int64
}

func (s *ingestServer) register(mux *http.ServeMux) {
	mux.HandleFunc("POST /platform/ingest/v1/security.events", s.ingest)
	mux.HandleFunc("POST /e/{env}/platform/ingest/v1/security.events", s.ingest)
	mux.HandleFunc("GET /_fake/events", s.events)
	mux.HandleFunc("GET /_fake/stats", s.stats)
	mux.HandleFunc("POST /_fake/reset", s.reset)
	mux.HandleFunc("POST /_fake/faults", s.faults.add)
	mux.HandleFunc("DELETE /_fake/faults", s.faults.clear)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
}

// ingestRequired lists the fields an event must carry, by event.type ("" = every event).
var ingestRequired = map[string][]string{
	"":                      {"event.type", "event.provider", "object.id"},
	"VULNERABILITY_FINDING": {"finding.id", "vulnerability.id", "component.name"},
	"VULNERABILITY_SCAN":    {"scan.id"},
}

func (s *ingestServer) answer(w http.ResponseWriter, status int, msg string) {
	s.mu.Lock()
	s.requests++
	if s.byStatus == nil {
		s.byStatus = map[int]int64{}
	}
	s.byStatus[status]++
	s.mu.Unlock()
	if status == http.StatusAccepted {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": status, "message": msg}})
}

func (s *ingestServer) ingest(w http.ResponseWriter, r *http.Request) {
	if f, ok := s.faults.next(); ok {
		if f.LatencyMS > 0 {
			select {
			case <-time.After(time.Duration(f.LatencyMS) * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
		if f.Status != 0 {
			if f.Status == http.StatusTooManyRequests && f.RetryAfterSeconds >= 0 {
				w.Header().Set("Retry-After", fmt.Sprint(f.RetryAfterSeconds))
			}
			_, _ = io.Copy(io.Discard, r.Body)
			s.answer(w, f.Status, "injected fault")
			return
		}
	}
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Api-Token ")
	if !ok || tok == "" || (s.token != "" && tok != s.token) {
		s.answer(w, http.StatusUnauthorized, "missing or invalid Api-Token")
		return
	}
	if r.ContentLength > s.maxBody {
		s.answer(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("payload of %d bytes exceeds %d", r.ContentLength, s.maxBody))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, s.maxBody+1))
	if err != nil {
		s.answer(w, http.StatusBadRequest, "cannot read body: "+err.Error())
		return
	}
	if int64(len(body)) > s.maxBody {
		s.answer(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("payload exceeds %d bytes", s.maxBody))
		return
	}
	events, err := ingestDecode(body)
	if err != nil {
		s.answer(w, http.StatusBadRequest, err.Error())
		return
	}
	for i, raw := range events {
		if err := ingestValidate(raw); err != nil {
			s.answer(w, http.StatusBadRequest, fmt.Sprintf("event %d: %v", i, err))
			return
		}
	}
	if err := s.rec.append(events); err != nil {
		s.answer(w, http.StatusInternalServerError, "cannot record: "+err.Error())
		return
	}
	s.answer(w, http.StatusAccepted, "")
}

// ingestDecode accepts one event object or an array of them.
func ingestDecode(body []byte) ([]json.RawMessage, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("empty body")
	}
	if trimmed[0] == '{' {
		if !json.Valid(trimmed) {
			return nil, fmt.Errorf("body is not valid JSON")
		}
		return []json.RawMessage{trimmed}, nil
	}
	var events []json.RawMessage
	if err := json.Unmarshal(trimmed, &events); err != nil {
		return nil, fmt.Errorf("body is neither an event object nor an array of events: %v", err)
	}
	if len(events) == 0 {
		return nil, fmt.Errorf("empty array")
	}
	return events, nil
}

func ingestValidate(raw json.RawMessage) error {
	if len(raw) == 0 || raw[0] != '{' {
		return fmt.Errorf("not a JSON object")
	}
	var e map[string]json.RawMessage
	if err := json.Unmarshal(raw, &e); err != nil {
		return fmt.Errorf("not a JSON object: %v", err)
	}
	var typ string
	_ = json.Unmarshal(e["event.type"], &typ)
	for _, key := range append(append([]string(nil), ingestRequired[""]...), ingestRequired[typ]...) {
		v, ok := e[key]
		if !ok || string(v) == `""` || string(v) == "null" {
			return fmt.Errorf("missing required field %s", key)
		}
	}
	return nil
}

func (s *ingestServer) events(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/x-ndjson")
	if err := s.rec.copyTo(w); err != nil {
		s.log.Warn("cannot read the events file", "error", err.Error())
	}
}

func (s *ingestServer) stats(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	by := map[string]int64{}
	for k, v := range s.byStatus {
		by[fmt.Sprint(k)] = v
	}
	out := map[string]any{"requests": s.requests, "by_status": by, "accepted_events": s.rec.count(), "accepted_bytes": s.rec.bytes()}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func (s *ingestServer) reset(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	s.requests, s.byStatus = 0, nil
	s.mu.Unlock()
	s.faults.clear(nil, nil)
	if err := s.rec.reset(); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
