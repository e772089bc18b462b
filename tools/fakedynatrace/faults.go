package main

import (
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"sync"
)

// ingestFault is one injected fault: answer Status (with Retry-After for 429) and/or wait LatencyMS,
// for the next Count requests, or for a Ratio (0 to 1) of requests until cleared.
type ingestFault struct {
	Status            int     `json:"status"`
	RetryAfterSeconds int     `json:"retry_after_seconds"`
	LatencyMS         int     `json:"latency_ms"`
	Count             int     `json:"count"`
	Ratio             float64 `json:"ratio"`
}

// ingestFaults is the queue of injected faults; counted faults are used up in order.
type ingestFaults struct {
	mu   sync.Mutex
	list []*ingestFault
}

func (f *ingestFaults) add(w http.ResponseWriter, r *http.Request) {
	var in ingestFault
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, "body must be a fault: "+err.Error(), http.StatusBadRequest)
		return
	}
	if in.Count <= 0 && in.Ratio <= 0 {
		in.Count = 1
	}
	f.mu.Lock()
	f.list = append(f.list, &in)
	f.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (f *ingestFaults) clear(w http.ResponseWriter, _ *http.Request) {
	f.mu.Lock()
	f.list = nil
	f.mu.Unlock()
	if w != nil {
		w.WriteHeader(http.StatusNoContent)
	}
}

// next returns the fault for this request, if any.
func (f *ingestFaults) next() (ingestFault, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, x := range f.list {
		if x.Count > 0 {
			x.Count--
			out := *x
			if x.Count == 0 && x.Ratio <= 0 {
				f.list = append(f.list[:i], f.list[i+1:]...)
			}
			return out, true
		}
		if x.Ratio > 0 && rand.Float64() < x.Ratio {
			return *x, true
		}
	}
	return ingestFault{}, false
}
