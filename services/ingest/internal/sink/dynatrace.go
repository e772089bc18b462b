package sink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/scoutbridge/scoutbridge/pkg/config"
)

// Dynatrace posts events as a JSON array to the security-events ingest endpoint
// (.../platform/ingest/v1/security.events) with an Api-Token.
type Dynatrace struct {
	url    string
	token  config.Secret
	client *http.Client
}

// NewDynatrace builds the sink. ingestURL is the full endpoint URL.
func NewDynatrace(ingestURL string, token config.Secret, client *http.Client) (*Dynatrace, error) {
	u, err := url.Parse(ingestURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("DT_INGEST_URL %q is not an http(s) URL", ingestURL)
	}
	if u.User != nil {
		return nil, errors.New("DT_INGEST_URL must not carry credentials: use DT_API_TOKEN")
	}
	if client == nil {
		client = &http.Client{Timeout: 2 * time.Minute}
	}
	return &Dynatrace{url: ingestURL, token: token, client: client}, nil
}

// Name is "dynatrace".
func (d *Dynatrace) Name() string { return "dynatrace" }

// Deliver posts the batch as one JSON array.
func (d *Dynatrace) Deliver(ctx context.Context, events []Event) error {
	size := 2
	for _, e := range events {
		size += len(e.Body) + 1
	}
	body := make([]byte, 0, size)
	body = append(body, '[')
	for i, e := range events {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, e.Body...)
	}
	body = append(body, ']')

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url, bytes.NewReader(body))
	if err != nil {
		return &Error{Kind: Refused, Err: fmt.Errorf("build request: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Authorization", "Api-Token "+d.token.Reveal())
	resp, err := d.client.Do(req)
	if err != nil {
		return &Error{Kind: Transient, Err: fmt.Errorf("post to Dynatrace: %w", redactURLError(err))}
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 8192))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	e := &Error{Status: resp.StatusCode, Response: strings.TrimSpace(string(answer))}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		e.Kind = Throttled
		e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	case resp.StatusCode == http.StatusRequestEntityTooLarge:
		e.Kind = TooLarge
	case resp.StatusCode == http.StatusUnauthorized, resp.StatusCode == http.StatusForbidden, resp.StatusCode == http.StatusNotFound:
		e.Kind = Refused
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode >= 500:
		e.Kind = Transient
	default:
		e.Kind = Rejected
	}
	return e
}

// parseRetryAfter reads seconds or an HTTP date; 0 when absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// redactURLError keeps the cause of a failed request but not the URL's query (the URL itself carries no
// secret: the token travels in a header).
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
