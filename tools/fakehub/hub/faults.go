package hub

import (
	"bytes"
	"io"
	"maps"
	"net/http"
	"strconv"
	"time"
)

// Faults are the failures the stand-in injects into API calls (control endpoints are never affected).
type Faults struct {
	// ErrorRatio is the share of API calls answered 503 (0 to 1), drawn from the seeded generator.
	ErrorRatio float64 `json:"error_ratio,omitempty"`
	// FailNext answers the next N API calls with 503.
	FailNext int `json:"fail_next,omitempty"`
	// ThrottleNext answers the next N API calls with 429 as if the budget were spent.
	ThrottleNext int `json:"throttle_next,omitempty"`
	// RetryAfter is the wait a 429 announces, in seconds (default: until the minute ends, at least 1).
	RetryAfter int `json:"retry_after,omitempty"`
	// RetryHeader chooses the 429 header: "both" (default), "retry-after" or "x-retry-after".
	RetryHeader string `json:"retry_header,omitempty"`
	// Latency delays every API answer.
	Latency Duration `json:"latency,omitempty"`
	// ExpiredTokens issues tokens that are already expired.
	ExpiredTokens bool `json:"expired_tokens,omitempty"`
	// Forbidden namespaces answer 403 permission denied.
	Forbidden map[string]bool `json:"forbidden,omitempty"`
	// FailNamespaces answer 503 on every call about them.
	FailNamespaces map[string]bool `json:"fail_namespaces,omitempty"`
}

func (f Faults) clone() Faults {
	f.Forbidden = maps.Clone(f.Forbidden)
	f.FailNamespaces = maps.Clone(f.FailNamespaces)
	return f
}

// Duration is a time.Duration written as "250ms" in JSON.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(strconv.Quote(time.Duration(d).String())), nil
}

func (d *Duration) UnmarshalJSON(b []byte) error {
	s, err := strconv.Unquote(string(b))
	if err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	*d = Duration(v)
	return err
}

// Calls counts the API calls the stand-in answered.
type Calls struct {
	// Total counts every API call (not control calls).
	Total int64 `json:"total"`
	// Paths counts per kind: auth_token, login, orgs, repositories, tags, tag.
	Paths map[string]int64 `json:"paths"`
	// Throttled, Failed and Unauthorized count 429, injected 5xx and 401 answers.
	Throttled    int64 `json:"throttled"`
	Failed       int64 `json:"failed"`
	Unauthorized int64 `json:"unauthorized"`
	Forbidden    int64 `json:"forbidden"`
}

// Calls returns a copy of the counters.
func (h *Hub) Calls() Calls {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.calls
	c.Paths = maps.Clone(h.calls.Paths)
	return c
}

// ResetCalls sets every counter to zero.
func (h *Hub) ResetCalls() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = Calls{Paths: map[string]int64{}}
}

const headerLimit = 180

// guard wraps an API handler with counting, latency, rate limiting and injected faults.
func (h *Hub) guard(kind string, fn func(http.ResponseWriter, *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.calls.Total++
		h.calls.Paths[kind]++
		now := h.opts.Now()
		minute := now.Unix() / 60
		if minute != h.window {
			h.window, h.used = minute, 0
		}
		h.used++
		limit := h.opts.RateLimit
		shownLimit := limit
		if shownLimit <= 0 {
			shownLimit = headerLimit
		}
		reset := (minute + 1) * 60
		remaining := max(shownLimit-h.used, 0)
		if limit <= 0 {
			remaining = max(shownLimit-1, 0) // unlimited: never announces exhaustion
		}
		f := &h.faults
		throttle := (limit > 0 && h.used > limit) || f.ThrottleNext > 0
		if f.ThrottleNext > 0 {
			f.ThrottleNext--
		}
		fail := false
		if !throttle {
			ns := r.PathValue("ns")
			fail = f.FailNext > 0 || (ns != "" && f.FailNamespaces[ns]) || (f.ErrorRatio > 0 && h.rng.Float64() < f.ErrorRatio)
			if f.FailNext > 0 {
				f.FailNext--
			}
		}
		retryAfter, retryHeader := f.RetryAfter, f.RetryHeader
		forbidden := f.Forbidden[r.PathValue("ns")]
		latency := time.Duration(f.Latency)
		switch {
		case throttle:
			h.calls.Throttled++
		case fail:
			h.calls.Failed++
		case forbidden:
			h.calls.Forbidden++
		}
		h.mu.Unlock()

		if latency > 0 {
			// Read the body first: the server notices a client that went away (and cancels
			// r.Context) only once the body is consumed.
			body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			r.Body = io.NopCloser(bytes.NewReader(body))
			t := time.NewTimer(latency)
			select {
			case <-r.Context().Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		hd := w.Header()
		hd.Set("X-RateLimit-Limit", strconv.Itoa(shownLimit))
		hd.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
		hd.Set("X-RateLimit-Reset", strconv.FormatInt(reset, 10))
		switch {
		case throttle:
			wait := retryAfter
			if wait <= 0 {
				wait = max(int(reset-now.Unix()), 1)
			}
			if retryHeader != "x-retry-after" {
				hd.Set("Retry-After", strconv.Itoa(wait))
			}
			if retryHeader != "retry-after" {
				hd.Set("X-Retry-After", strconv.FormatInt(now.Unix()+int64(wait), 10))
			}
			writeJSON(w, http.StatusTooManyRequests, map[string]string{"detail": "Rate limit exceeded", "message": "too many requests"})
		case fail:
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"message": "service unavailable (injected)"})
		case forbidden:
			writeJSON(w, http.StatusForbidden, map[string]any{"errinfo": nil, "message": "permission denied"})
		default:
			fn(w, r)
		}
	}
}
