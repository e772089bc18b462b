// Package notify sends new prioritized rows to webhooks (a Slack incoming webhook, a generic JSON
// webhook signed with HMAC-SHA256) through a durable outbox in the runtime database: each row is queued
// once per webhook (the (row, webhook) pair is the outbox key and is never deleted), delivered with
// retries and backoff, and survives restarts. Delivery is at least once: a crash between a webhook's
// answer and its record sends that one message again, with the same Idempotency-Key (the row id).
package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/scoutbridge/scoutbridge/pkg/config"
	"github.com/scoutbridge/scoutbridge/services/runtime/internal/readmodel"
)

// Webhook is one notification target.
type Webhook interface {
	// Name keys the outbox: "slack" or "webhook".
	Name() string
	// Body renders a row as this webhook's message.
	Body(row readmodel.Row) ([]byte, error)
	// Send posts a rendered message.
	Send(ctx context.Context, rowID string, body []byte) error
}

// poster posts JSON to a URL that may itself be a secret (Slack's is): errors never include it.
type poster struct {
	url    config.Secret
	client *http.Client
	secret config.Secret
}

func (p poster) post(ctx context.Context, rowID string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url.Reveal(), bytes.NewReader(body))
	if err != nil {
		return errors.New("build request: invalid webhook URL")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "scoutbridge-runtime")
	req.Header.Set("Idempotency-Key", rowID)
	if p.secret.IsSet() {
		req.Header.Set("X-Scoutbridge-Signature", Sign(p.secret.Reveal(), body))
	}
	client := p.client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) { // *url.Error quotes the URL: keep only the cause
			err = ue.Err
		}
		return fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("post: HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return nil
}

// Sign is the X-Scoutbridge-Signature value: "sha256=" + hex(HMAC-SHA256(secret, body)).
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func httpClient(timeout time.Duration) *http.Client { return &http.Client{Timeout: timeout} }
