package scout

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Class is the kind of a failed Scout run; the server maps each to one gRPC code.
type Class int

const (
	// ClassInternal: Scout crashed (panic, exit 125/255) or printed something that is not a report.
	ClassInternal Class = iota
	// ClassPrecondition: not logged in, not entitled, organization not enrolled. Permanent for a run.
	ClassPrecondition
	// ClassPluginMissing: the Docker CLI or the Scout plugin is not installed.
	ClassPluginMissing
	// ClassNotFound: the image or digest does not exist.
	ClassNotFound
	// ClassPermissionDenied: the registry refused to let Scout pull the image (401).
	ClassPermissionDenied
	// ClassUnavailable: a backend hiccup (graphql EOF, 5xx, an HTML error page). Worth a retry.
	ClassUnavailable
	// ClassTimeout: SCANNER_TIMEOUT passed; the process group was killed.
	ClassTimeout
	// ClassCanceled: every caller went away; the process group was killed.
	ClassCanceled
)

func (c Class) String() string {
	return [...]string{"internal", "precondition", "plugin_missing", "not_found", "permission_denied", "unavailable", "timeout", "canceled"}[c]
}

// Error is a failed Scout run.
type Error struct {
	Class    Class
	Command  string // "cves", "sbom", "version"
	ExitCode int    // -1 when killed or never started
	// Message is the one-line reason (Scout's "Status: ..." text when it printed one).
	Message string
	// Stderr is the first lines of stderr, ANSI codes stripped and secrets redacted.
	Stderr string
}

func (e *Error) Error() string {
	s := fmt.Sprintf("docker scout %s: %s", e.Command, e.Message)
	if e.ExitCode >= 0 {
		s += fmt.Sprintf(" (exit %d)", e.ExitCode)
	}
	return s
}

// InstallHint says how to get the plugin; it goes into the NOT_SERVING reason and the log.
const InstallHint = "install the Docker Scout CLI plugin: `curl -fsSL https://raw.githubusercontent.com/docker/scout-cli/main/install.sh | sh` " +
	"(or put the docker-scout binary into $DOCKER_CONFIG/cli-plugins/), then check with `docker scout version`"

var (
	ansi       = regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07`)
	statusLine = regexp.MustCompile(`Status: (.*?)(?:, Code: \d+)?\s*$`)
	http5xx    = regexp.MustCompile(`\b(429|500|502|503|504)\b|internal server error|bad gateway|service unavailable|gateway timeout`)
	code401    = regexp.MustCompile(`\b401\b`)
)

// classify decides what a non-zero exit (or a start failure) means. stderr is already cleaned.
func classify(exitCode int, stderr string) (Class, string) {
	low := strings.ToLower(stderr)
	msg := reason(stderr)
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(low, s) {
				return true
			}
		}
		return false
	}
	switch {
	case has("unknown command: docker scout", "is not a docker command", "usage:  docker [options] command", "run 'docker --help'"):
		return ClassPluginMissing, "the Docker Scout plugin is not installed; " + InstallHint
	case has("log in with your docker id", "not logged in", "please login", "docker login"):
		return ClassPrecondition, "Docker Scout is not logged in: run `docker login` or set DOCKER_SCOUT_HUB_USER and DOCKER_SCOUT_HUB_PASSWORD (" + msg + ")"
	case has("not entitled", "not enrolled", "downstream_service_error", "organization is not"):
		return ClassPrecondition, "Docker Scout refused the account or organization (not entitled or not enrolled): " + msg
	case has("panic:", "goroutine ", "fatal error:"):
		return ClassInternal, "Docker Scout crashed: " + msg
	case exitCode == 125:
		return ClassInternal, "Docker Scout rejected its arguments: " + msg
	case has("unauthorized", "authentication required", "denied: requested access") || code401.MatchString(low):
		return ClassPermissionDenied, "the registry denied access to the image: " + msg
	case has("manifest unknown", "manifest_unknown", "no such image", "name_unknown", "not found"):
		return ClassNotFound, "image not found: " + msg
	case has("graphql", "eof", "connection reset", "connection refused", "i/o timeout", "tls handshake timeout",
		"temporary failure", "no such host", "<html", "403 forbidden", "too many requests") || http5xx.MatchString(low):
		return ClassUnavailable, "Docker Scout's backend failed, try again later: " + msg
	}
	return ClassInternal, fmt.Sprintf("Docker Scout failed with exit code %d: %s", exitCode, msg)
}

// reason is Scout's own one-line reason: the "Status: ..." text, else the first line that is not
// progress.
func reason(stderr string) string {
	for line := range strings.SplitSeq(stderr, "\n") {
		if m := statusLine.FindStringSubmatch(line); m != nil {
			return strings.TrimSpace(m[1])
		}
	}
	for line := range strings.SplitSeq(stderr, "\n") {
		if l := strings.TrimSpace(line); l != "" && !isProgress(l) {
			return l
		}
	}
	return "no error output"
}

// StripANSI removes terminal colour and cursor codes.
func StripANSI(s string) string { return ansi.ReplaceAllString(s, "") }

// maxExcerpt bounds the stderr kept in an error.
const (
	maxExcerptLines = 8
	maxExcerptBytes = 800
)

// excerpt is the first lines of stderr that say something: ANSI stripped, progress lines dropped,
// secrets redacted, bounded.
func excerpt(stderr string, r *redactor) string {
	var lines []string
	for line := range strings.SplitSeq(StripANSI(stderr), "\n") {
		l := strings.TrimRight(line, " \t\r")
		t := strings.TrimSpace(l)
		if t == "" || isProgress(t) {
			continue
		}
		lines = append(lines, l)
		if len(lines) == maxExcerptLines {
			break
		}
	}
	s := r.redact(strings.Join(lines, "\n"))
	if len(s) > maxExcerptBytes {
		// Cut on a rune boundary: the excerpt goes into status messages and JSON logs.
		cut := maxExcerptBytes
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// isProgress: Scout's progress lines ("✓ Pulled", "✗ Detected ...", spinners, "i New version").
func isProgress(t string) bool {
	for _, p := range []string{"✓", "✗", "⣾", "⣽", "⣻", "⢿", "⡿", "⣟", "⣯", "⣷", "i New version"} {
		if strings.HasPrefix(t, p) {
			return true
		}
	}
	return false
}
