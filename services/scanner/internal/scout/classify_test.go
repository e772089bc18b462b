package scout

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name   string
		exit   int
		stderr string
		want   Class
		says   string
	}{
		{"the real exit-1 output for a missing image", 1, "\x1b[31mERROR  \x1b[0m Status: failed to get image local://diego64/kube-news-security:after-fix: failed to inspect image: Error response from daemon: No such image: diego64/kube-news-security:after-fix, Code: 1 \n", ClassNotFound, "No such image"},
		{"the real exit-125 output for an unknown flag", 125, "\x1b[31mERROR  \x1b[0m Status: unknown flag: --source\nSee 'docker scout cves --help'., Code: 125 \n", ClassInternal, "unknown flag: --source"},
		{"not logged in", 1, "Log in with your Docker ID or email address to use docker scout.\n", ClassPrecondition, "docker login"},
		{"organization not enrolled", 1, "ERROR Status: [DOWNSTREAM_SERVICE_ERROR] FORBIDDEN, Code: 1", ClassPrecondition, "not enrolled"},
		{"graphql EOF", 1, "    ✓ Pulled\nERROR Status: Post \"https://api.dso.docker.com/v1/graphql\": EOF, Code: 1", ClassUnavailable, "graphql"},
		{"a 403 HTML page", 1, "<html><head><title>403 Forbidden</title></head></html>", ClassUnavailable, "403"},
		{"a 502", 1, "ERROR Status: unexpected status 502 Bad Gateway, Code: 1", ClassUnavailable, "502"},
		{"pull 401", 1, "ERROR Status: GET https://index.docker.io/v2/acme/private/manifests/sha256:ab: UNAUTHORIZED: authentication required, Code: 1", ClassPermissionDenied, "authentication required"},
		{"a digest that contains 401 is not a 401", 1, "ERROR Status: MANIFEST_UNKNOWN sha256:0401ff, Code: 1", ClassNotFound, "MANIFEST_UNKNOWN"},
		{"a Go panic", 2, "panic: runtime error: invalid memory address\n\ngoroutine 1 [running]:\nmain.main()", ClassInternal, "panic: runtime error"},
		{"no plugin", 1, "docker: unknown command: docker scout\n\nRun 'docker --help' for more information\n", ClassPluginMissing, "install"},
		{"something never seen", 3, "it broke", ClassInternal, "exit code 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			class, msg := classify(tc.exit, StripANSI(tc.stderr))
			if class != tc.want || !strings.Contains(msg, tc.says) {
				t.Fatalf("got %v %q, want %v saying %q", class, msg, tc.want, tc.says)
			}
			if strings.Contains(msg, "\x1b") {
				t.Errorf("ANSI code in %q", msg)
			}
		})
	}
}

func TestExcerptRedactsSecrets(t *testing.T) {
	r := newRedactor([]string{"DOCKER_SCOUT_HUB_PASSWORD=hunter2hunter2", "DOCKER_SCOUT_HUB_USER=robot", "PATH=/bin"})
	in := "    ✓ Pulled\n\x1b[31mERROR\x1b[0m login robot:hunter2hunter2 failed\nAuthorization: Bearer eyJhbGciOi.abc\ntoken=dckr_pat_abcdef123\n"
	got := excerpt(in, r)
	for _, bad := range []string{"hunter2hunter2", "eyJhbGciOi", "dckr_pat_abcdef123", "\x1b", "✓ Pulled"} {
		if strings.Contains(got, bad) {
			t.Errorf("excerpt %q contains %q", got, bad)
		}
	}
	if !strings.Contains(got, "login robot:[redacted] failed") {
		t.Errorf("excerpt %q lost the useful part", got)
	}
}

func TestChildEnvKeepsOnlyWhatScoutNeeds(t *testing.T) {
	got := childEnv([]string{"PATH=/bin", "HOME=/root", "DOCKER_CONFIG=/cfg", "DOCKER_SCOUT_HUB_USER=u", "DOCKER_HOST=tcp://x",
		"DT_API_TOKEN=secret", "ORCHESTRATOR_TOKEN=t", "TMPDIR=/tmp", "OTEL_EXPORTER_OTLP_ENDPOINT=http://x", "TRACEPARENT=00-x",
		"HTTPS_PROXY=http://proxy:3128", "NO_PROXY=localhost", "SSL_CERT_FILE=/etc/ca.pem", "DOCKERHUB_TOKEN=secret"})
	want := "PATH=/bin HOME=/root DOCKER_CONFIG=/cfg DOCKER_SCOUT_HUB_USER=u HTTPS_PROXY=http://proxy:3128 NO_PROXY=localhost SSL_CERT_FILE=/etc/ca.pem"
	if strings.Join(got, " ") != want {
		t.Fatalf("child env %v, want %s", got, want)
	}
}

func TestDefaultTempRootFallsBackToHome(t *testing.T) {
	home := t.TempDir()
	t.Setenv("TMPDIR", "/nonexistent-scoutbridge-tmp")
	t.Setenv("HOME", home)
	if got := DefaultTempRoot(); got != home+"/.scoutbridge-tmp" {
		t.Fatalf("temp root %q, want under HOME when TMPDIR is not writable", got)
	}
}

func TestExcerptIsBoundedAndValidUTF8(t *testing.T) {
	got := excerpt("ERROR Status: x"+strings.Repeat("é", 2000)+", Code: 1\n", newRedactor(nil))
	if len(got) > maxExcerptBytes+len("…") || !utf8.ValidString(got) {
		t.Fatalf("excerpt of %d bytes, valid UTF-8 %v", len(got), utf8.ValidString(got))
	}
}
