package main

import (
	"encoding/json"
	"errors"
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
	body := getBuf(r.ContentLength + 512) // room for the read that sees EOF
	defer putBuf(body)
	if err := readBody(body, r.Body, s.maxBody); err != nil {
		if errors.Is(err, errTooLarge) {
			s.answer(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("payload exceeds %d bytes", s.maxBody))
			return
		}
		s.answer(w, http.StatusBadRequest, "cannot read body: "+err.Error())
		return
	}
	lines := getBuf(int64(len(body.b)) + 512) // compact lines are never longer than the body plus a newline
	defer putBuf(lines)
	var n int
	var err error
	if lines.b, n, err = ingestDecode(body.b, lines.b[:0]); err != nil {
		s.answer(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := s.rec.append(lines.b, n); err != nil {
		s.answer(w, http.StatusInternalServerError, "cannot record: "+err.Error())
		return
	}
	s.answer(w, http.StatusAccepted, "")
}

var errTooLarge = errors.New("body too large")

// buffer is a reusable byte slice: posts are up to 10 MB, and allocating two of them per request
// would make the garbage collector the stand-in's main cost.
type buffer struct{ b []byte }

var buffers = sync.Pool{New: func() any { return &buffer{} }}

func getBuf(sizeHint int64) *buffer {
	buf := buffers.Get().(*buffer)
	if sizeHint > 0 && int64(cap(buf.b)) < sizeHint {
		buf.b = make([]byte, 0, sizeHint)
	}
	buf.b = buf.b[:0]
	return buf
}

func putBuf(buf *buffer) { buffers.Put(buf) }

// readBody reads r into buf, failing with errTooLarge past limit bytes.
func readBody(buf *buffer, r io.Reader, limit int64) error {
	for {
		if len(buf.b) == cap(buf.b) {
			buf.b = append(buf.b, 0)[:len(buf.b)]
		}
		n, err := r.Read(buf.b[len(buf.b):cap(buf.b)])
		buf.b = buf.b[:len(buf.b)+n]
		if int64(len(buf.b)) > limit {
			return errTooLarge
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
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
