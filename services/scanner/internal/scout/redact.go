package scout

import (
	"regexp"
	"strings"
)

// redactor removes secrets from text Scout printed before it goes into an error, a log or a span: the
// values of the credential variables the child received, and anything shaped like a token.
type redactor struct {
	values []string
}

var tokenShapes = regexp.MustCompile(`(?i)(dckr_pat_[A-Za-z0-9_-]+|dckr_oat_[A-Za-z0-9_-]+|bearer\s+[A-Za-z0-9._~+/=-]+|(password|token|secret)(["']?\s*[:=]\s*)[^\s,"']+)`)

func newRedactor(env []string) *redactor {
	r := &redactor{}
	for _, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		if isSecretName(name) && len(value) >= 4 {
			r.values = append(r.values, value)
		}
	}
	return r
}

func isSecretName(name string) bool {
	up := strings.ToUpper(name)
	for _, s := range []string{"PASSWORD", "TOKEN", "SECRET", "_PAT"} {
		if strings.Contains(up, s) {
			return true
		}
	}
	return false
}

func (r *redactor) redact(s string) string {
	for _, v := range r.values {
		s = strings.ReplaceAll(s, v, "[redacted]")
	}
	return tokenShapes.ReplaceAllStringFunc(s, func(m string) string {
		if sub := tokenShapes.FindStringSubmatch(m); sub[2] != "" {
			return sub[2] + sub[3] + "[redacted]"
		}
		return "[redacted]"
	})
}
