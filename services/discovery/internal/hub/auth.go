package hub

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/scoutbridge/scoutbridge/services/discovery/internal/discover"
)

// tokenLifetime is Docker Hub's JWT lifetime, assumed when the token's exp cannot be read.
const tokenLifetime = 10 * time.Minute

// token returns a valid JWT, logging in when there is none or it is about to expire. Anonymous
// clients get "".
func (c *Client) token(ctx context.Context) (string, error) {
	if c.Anonymous() {
		return "", nil
	}
	c.authMu.Lock()
	defer c.authMu.Unlock()
	c.mu.Lock()
	jwt, refreshAt := c.jwt, c.refreshAt
	c.mu.Unlock()
	if jwt != "" && c.cfg.Now().Before(refreshAt) {
		return jwt, nil
	}
	jwt, err := c.login(ctx)
	if err != nil {
		return "", err
	}
	now := c.cfg.Now()
	lifetime, ok := validity(jwt, now)
	if !ok {
		lifetime = tokenLifetime
	}
	// Refresh a minute early (a fifth of the lifetime for short-lived tokens).
	margin := min(time.Minute, lifetime/5)
	c.mu.Lock()
	c.jwt, c.refreshAt = jwt, now.Add(lifetime-margin)
	c.mu.Unlock()
	return jwt, nil
}

// forget drops jwt so that the next call logs in again (after a 401).
func (c *Client) forget(jwt string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.jwt == jwt {
		c.jwt = ""
	}
}

// login exchanges the credentials for a JWT: POST /v2/auth/token, else the older /v2/users/login.
func (c *Client) login(ctx context.Context) (string, error) {
	secret := c.cfg.Token.Reveal()
	body, _ := json.Marshal(map[string]string{"identifier": c.cfg.Username, "secret": secret})
	var tok struct {
		AccessToken string `json:"access_token"`
		Token       string `json:"token"`
	}
	status, err := c.post(ctx, c.cfg.BaseURL+"/v2/auth/token", body, &tok)
	if err != nil {
		return "", fmt.Errorf("log in to docker hub: %w", err)
	}
	if status == http.StatusOK && tok.AccessToken != "" {
		return tok.AccessToken, nil
	}
	c.log.DebugContext(ctx, "POST /v2/auth/token refused; trying /v2/users/login", "status", status)
	body, _ = json.Marshal(map[string]string{"username": c.cfg.Username, "password": secret})
	status, err = c.post(ctx, c.cfg.BaseURL+"/v2/users/login", body, &tok)
	if err != nil {
		return "", fmt.Errorf("log in to docker hub: %w", err)
	}
	switch {
	case status == http.StatusOK && tok.Token != "":
		return tok.Token, nil
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return "", fmt.Errorf("log in to docker hub as %q: %w", c.cfg.Username, discover.ErrUnauthenticated)
	default:
		return "", fmt.Errorf("log in to docker hub as %q: unexpected answer %d", c.cfg.Username, status)
	}
}

// post sends a login call with the retry rules and decodes a 200 answer into out.
func (c *Client) post(ctx context.Context, url string, body []byte, out any) (int, error) {
	resp, err := c.send(ctx, func() (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
		return req, err
	})
	if err != nil {
		return 0, err
	}
	defer drain(resp.Body)
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return 0, fmt.Errorf("%w: unreadable login answer", discover.ErrUnavailable)
		}
	}
	return resp.StatusCode, nil
}

// validity reads how long a JWT is valid from its claims, without verifying it (only to know when to
// refresh): exp - iat, which does not depend on how far this host's clock is from Docker Hub's (exp -
// now with a clock a few minutes ahead would log in again before every call). Without iat: exp - now.
func validity(jwt string, now time.Time) (time.Duration, bool) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return 0, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return 0, false
	}
	var claims struct {
		Exp int64 `json:"exp"`
		Iat int64 `json:"iat"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Exp == 0 {
		return 0, false
	}
	if claims.Iat != 0 && claims.Exp > claims.Iat {
		return time.Duration(claims.Exp-claims.Iat) * time.Second, true
	}
	return time.Unix(claims.Exp, 0).Sub(now), true
}

func drain(r io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r, 64<<10))
	_ = r.Close()
}
