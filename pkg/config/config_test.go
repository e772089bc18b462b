package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestPrecedenceIsFlagThenEnvThenDefault(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"default when nothing is set", nil, nil, ":7071"},
		{"environment over default", map[string]string{"LISTEN_ADDR": ":9000"}, nil, ":9000"},
		{"flag over environment", map[string]string{"LISTEN_ADDR": ":9000"}, []string{"-listen-addr", ":9100"}, ":9100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var addr string
			s := New("test").WithLookup(env(tt.env))
			s.String(&addr, "LISTEN_ADDR", ":7071", "listen")
			if err := s.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if addr != tt.want {
				t.Fatalf("got %q, want %q", addr, tt.want)
			}
		})
	}
}

func TestInvalidValuesNameTheSetting(t *testing.T) {
	tests := []struct {
		name, env, value string
		register         func(s *Set)
	}{
		{"integer", "SCAN_CONCURRENCY", "four", func(s *Set) { var n int; s.Int(&n, "SCAN_CONCURRENCY", 4, "") }},
		{"duration", "RUN_INTERVAL", "daily", func(s *Set) { var d time.Duration; s.Duration(&d, "RUN_INTERVAL", time.Hour, "") }},
		{"negative duration", "RUN_INTERVAL", "-5m", func(s *Set) { var d time.Duration; s.Duration(&d, "RUN_INTERVAL", time.Hour, "") }},
		{"boolean", "RUNTIME_DOCKER", "yes please", func(s *Set) { var b bool; s.Bool(&b, "RUNTIME_DOCKER", false, "") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New("test").WithLookup(env(map[string]string{tt.env: tt.value}))
			tt.register(s)
			err := s.Parse(nil)
			if err == nil || !strings.Contains(err.Error(), tt.env) {
				t.Fatalf("error %v does not name %s", err, tt.env)
			}
		})
	}
}

func TestCheckReportsTheSetting(t *testing.T) {
	var n int
	s := New("test").WithLookup(env(map[string]string{"SCANNER_CONCURRENCY": "0"}))
	s.Int(&n, "SCANNER_CONCURRENCY", 2, "")
	s.Check(func() error {
		if n < 1 {
			return Invalid("SCANNER_CONCURRENCY", "must be at least 1")
		}
		return nil
	})
	if err := s.Parse(nil); err == nil || err.Error() != "invalid setting SCANNER_CONCURRENCY: must be at least 1" {
		t.Fatalf("got %v", err)
	}
}

func TestListAndZeroDuration(t *testing.T) {
	var l []string
	var d time.Duration
	s := New("test").WithLookup(env(map[string]string{"DISCOVERY_NAMESPACES": " acme, ,beta ", "RUN_INTERVAL": "0"}))
	s.List(&l, "DISCOVERY_NAMESPACES", nil, "")
	s.Duration(&d, "RUN_INTERVAL", 24*time.Hour, "")
	if err := s.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(l) != "[acme beta]" || d != 0 {
		t.Fatalf("got %v %v", l, d)
	}
}

func TestSecretFromFileAndNeverPrinted(t *testing.T) {
	const token = "dckr_pat_supersecret"
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var sec Secret
	s := New("test").WithLookup(env(map[string]string{"DOCKERHUB_TOKEN_FILE": path}))
	s.Secret(&sec, "DOCKERHUB_TOKEN", "token")
	if err := s.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if sec.Reveal() != token {
		t.Fatalf("Reveal = %q", sec.Reveal())
	}
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "token", sec)
	js, _ := json.Marshal(struct{ T Secret }{sec})
	for _, out := range []string{fmt.Sprint(sec), fmt.Sprintf("%v %s %q %+v %#v %x", sec, sec, sec, sec, sec, sec), logged.String(), string(js)} {
		if strings.Contains(out, "supersecret") {
			t.Fatalf("secret leaked: %s", out)
		}
	}
}

func TestSecretBothFormsIsAnError(t *testing.T) {
	var sec Secret
	s := New("test").WithLookup(env(map[string]string{"DT_API_TOKEN": "a", "DT_API_TOKEN_FILE": "/x"}))
	s.Secret(&sec, "DT_API_TOKEN", "token")
	if err := s.Parse(nil); err == nil || !strings.Contains(err.Error(), "DT_API_TOKEN") {
		t.Fatalf("got %v", err)
	}
}

func TestSecretFileMissingDoesNotLeakAndNamesSetting(t *testing.T) {
	var sec Secret
	s := New("test").WithLookup(env(map[string]string{"DT_API_TOKEN_FILE": "/nonexistent/token"}))
	s.Secret(&sec, "DT_API_TOKEN", "token")
	err := s.Parse(nil)
	if err == nil || !strings.Contains(err.Error(), "DT_API_TOKEN_FILE") {
		t.Fatalf("got %v", err)
	}
}
