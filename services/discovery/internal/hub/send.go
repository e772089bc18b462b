package hub

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/scoutbridge/scoutbridge/pkg/retry"
	"github.com/scoutbridge/scoutbridge/services/discovery/internal/discover"
)

// send runs one request with the retry rules: it waits for the rate-limit pacing, retries network
// errors, 5xx and 429 (bounded by MaxAttempts and MaxWait) and returns any other answer to the caller.
func (c *Client) send(ctx context.Context, build func() (*http.Request, error)) (*http.Response, error) {
	var last error
	var wait time.Duration // before the next attempt; never slept after the last one
	for attempt := 0; attempt < c.cfg.MaxAttempts; attempt++ {
		if err := retry.Sleep(ctx, wait); err != nil {
			return nil, err
		}
		if err := c.pace(ctx); err != nil {
			return nil, err
		}
		req, err := build()
		if err != nil {
			return nil, err
		}
		resp, err := c.http.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			last = fmt.Errorf("%w: %s %s: %v", discover.ErrUnavailable, req.Method, req.URL.Path, unwrapURLError(err))
			wait = c.cfg.Backoff.Delay(attempt)
			continue
		}
		c.observe(resp.Header)
		switch {
		case resp.StatusCode == http.StatusTooManyRequests:
			drain(resp.Body)
			hint, hinted := retryAfter(resp.Header, c.cfg.Now())
			if !hinted {
				hint = c.cfg.Backoff.Delay(attempt)
			}
			wait = max(hint, c.cfg.Backoff.Initial) // "Retry-After: 0" or a past X-Retry-After: no hammering
			if wait > c.cfg.MaxWait {
				return nil, fmt.Errorf("%w: %s %s: docker hub asks to wait %s, more than %s", discover.ErrRateLimited, req.Method, req.URL.Path, wait.Round(time.Second), c.cfg.MaxWait)
			}
			last = fmt.Errorf("%w: %s %s: still throttled after %d attempts", discover.ErrRateLimited, req.Method, req.URL.Path, attempt+1)
			c.log.InfoContext(ctx, "docker hub rate limit reached; waiting", "wait", wait.String(), "path", req.URL.Path)
		case resp.StatusCode >= 500:
			drain(resp.Body)
			last = fmt.Errorf("%w: %s %s answered %d after %d attempts", discover.ErrUnavailable, req.Method, req.URL.Path, resp.StatusCode, attempt+1)
			wait = c.cfg.Backoff.Delay(attempt)
		default:
			return resp, nil
		}
	}
	return nil, last
}

// unwrapURLError keeps the cause of a transport error; the URL is named by the caller (path only).
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// retryAfter reads the wait a 429 announces: Retry-After (seconds or an HTTP date) or X-Retry-After
// (unix time). hinted is false when neither header is usable.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	if v := h.Get("Retry-After"); v != "" {
		if s, err := strconv.Atoi(v); err == nil && s >= 0 {
			return time.Duration(s) * time.Second, true
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(t.Sub(now), 0), true
		}
	}
	if v := h.Get("X-Retry-After"); v != "" {
		if ts, err := strconv.ParseInt(v, 10, 64); err == nil {
			return max(time.Unix(ts, 0).Sub(now), 0), true
		}
	}
	return 0, false
}

// observe reads X-RateLimit-* and spaces the next requests out when the budget runs low: with none
// left it waits for the reset; with less than a tenth left it spreads the rest over the time to reset.
// Remaining and Reset are enough: without X-RateLimit-Limit "low" means fewer than 2 left.
func (c *Client) observe(h http.Header) {
	remaining, err1 := strconv.Atoi(h.Get("X-RateLimit-Remaining"))
	reset, err2 := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64)
	if err1 != nil || err2 != nil {
		return
	}
	limit, _ := strconv.Atoi(h.Get("X-RateLimit-Limit"))
	now := c.cfg.Now()
	until := time.Unix(reset, 0).Sub(now)
	if until <= 0 {
		return
	}
	lowWater := max(limit/10, 2)
	var next time.Time
	switch {
	case remaining <= 0:
		next = now.Add(min(until, c.cfg.MaxWait))
	case remaining < lowWater:
		next = now.Add(min(until/time.Duration(remaining+1), c.cfg.MaxWait))
	default:
		return
	}
	c.mu.Lock()
	if next.After(c.notBefore) {
		c.notBefore = next
	}
	c.mu.Unlock()
}

// pace waits until the rate-limit pacing allows the next request.
func (c *Client) pace(ctx context.Context) error {
	c.mu.Lock()
	wait := c.notBefore.Sub(c.cfg.Now())
	c.mu.Unlock()
	if wait <= 0 {
		return ctx.Err()
	}
	c.log.DebugContext(ctx, "docker hub rate limit running low; slowing down", "wait", wait.String())
	return retry.Sleep(ctx, wait)
}
