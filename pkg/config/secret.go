package config

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// Secret holds a credential. It never prints: fmt, slog and JSON all show [redacted]. Only Reveal gives
// the value, and only the code that puts it on the wire should call it.
type Secret struct{ value string }

const redacted = "[redacted]"

// NewSecret wraps a value (tests, and values read by other means).
func NewSecret(v string) Secret { return Secret{value: v} }

// Reveal returns the credential.
func (s Secret) Reveal() string { return s.value }

// IsSet reports whether a value was configured.
func (s Secret) IsSet() bool { return s.value != "" }

func (s Secret) String() string   { return redactedUnlessEmpty(s) }
func (s Secret) GoString() string { return redactedUnlessEmpty(s) }

// LogValue keeps the secret out of structured logs.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redactedUnlessEmpty(s)) }

// MarshalJSON keeps the secret out of JSON.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redactedUnlessEmpty(s) + `"`), nil }

// Format keeps the secret out of every fmt verb (%v, %s, %q, %x ...).
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redactedUnlessEmpty(s))) }

func redactedUnlessEmpty(s Secret) string {
	if s.value == "" {
		return ""
	}
	return redacted
}

// Secret registers a credential read from ENV, or from the file named by ENV_FILE (trailing newline
// trimmed). Setting both is an error: which one wins would be a guess. A flag is offered only for the
// _FILE form, so a secret never has to appear on a command line.
func (s *Set) Secret(p *Secret, env, usage string) {
	fileEnv := env + "_FILE"
	s.names = append(s.names, env, fileEnv)
	v, hasValue := s.lookup(env)
	path, hasFile := s.lookup(fileEnv)
	switch {
	case hasValue && hasFile && v != "" && path != "":
		s.errs = append(s.errs, Invalid(env, "set either %s or %s, not both", env, fileEnv))
	case hasFile && path != "":
		if err := readSecretFile(p, path); err != nil {
			s.errs = append(s.errs, Invalid(fileEnv, "%v", err))
		}
	case hasValue:
		*p = Secret{value: strings.TrimSpace(v)}
	}
	s.fs.Func(FlagName(fileEnv), fmt.Sprintf("file holding %s (env %s or %s)", usage, env, fileEnv), func(path string) error {
		if err := readSecretFile(p, path); err != nil {
			return Invalid(fileEnv, "%v", err)
		}
		return nil
	})
}

func readSecretFile(p *Secret, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		// The path is not secret; the content is never part of the message.
		return fmt.Errorf("cannot read secret file %s: %w", path, unwrapPathErr(err))
	}
	*p = Secret{value: strings.TrimRight(string(b), "\r\n")}
	return nil
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
