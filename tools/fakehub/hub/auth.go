package hub

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

func (h *Hub) authToken(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Identifier string `json:"identifier"`
		Secret     string `json:"secret"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"detail": "invalid JSON body"})
		return
	}
	if !h.accept(body.Identifier, body.Secret) {
		h.unauthorized(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"access_token": h.issue(body.Identifier)})
}

func (h *Hub) login(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"detail": "invalid JSON body"})
		return
	}
	if !h.accept(body.Username, body.Password) {
		h.unauthorized(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"token": h.issue(body.Username)})
}

func (h *Hub) accept(user, secret string) bool {
	if user == "" || secret == "" {
		return false
	}
	if h.opts.Username != "" && user != h.opts.Username {
		return false
	}
	if h.opts.Token != "" && secret != h.opts.Token {
		return false
	}
	return true
}

func (h *Hub) unauthorized(w http.ResponseWriter) {
	h.mu.Lock()
	h.calls.Unauthorized++
	h.mu.Unlock()
	writeJSON(w, http.StatusUnauthorized, map[string]string{"detail": "Incorrect authentication credentials"})
}

// issue returns a JWT-shaped token (header.payload.signature, base64url) whose payload carries exp.
func (h *Hub) issue(user string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.opts.Now()
	exp := now.Add(h.opts.TokenTTL)
	if h.faults.ExpiredTokens {
		exp = now.Add(-time.Second)
	}
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	payload, _ := json.Marshal(map[string]any{"sub": user, "iat": now.Unix(), "exp": exp.Unix(), "iss": "fakehub"})
	sig := make([]byte, 32)
	_, _ = rand.Read(sig)
	tok := header + "." + enc.EncodeToString(payload) + "." + enc.EncodeToString(sig)
	h.tokens[tok] = exp
	return tok
}

// authState says who calls: anonymous (no header), valid, or invalid (401 to answer).
type authState int

const (
	anonymous authState = iota
	authenticated
	invalid
)

func (h *Hub) authOf(r *http.Request) authState {
	v := r.Header.Get("Authorization")
	if v == "" {
		return anonymous
	}
	tok, ok := strings.CutPrefix(v, "Bearer ")
	if !ok {
		tok, ok = strings.CutPrefix(v, "JWT ")
	}
	if !ok {
		return invalid
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	exp, known := h.tokens[tok]
	if !known || !h.opts.Now().Before(exp) {
		return invalid
	}
	return authenticated
}
