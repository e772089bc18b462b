package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"
)

// whatsNext is the hint older Scout versions printed on stdout after the report.
const whatsNext = "\nWhat's next:\n    View base image update recommendations → docker scout recommendations %s\n"

// scan answers `cves` and `sbom` according to the image's behaviour.
func scan(cmd string, args []string, cfg config, stdout, stderr io.Writer) int {
	o, bad := parseOptions(cmd, args)
	if bad != "" {
		return usageError(stderr, bad, "docker scout "+cmd+" --help")
	}
	want := map[string]string{"cves": "sarif", "sbom": "json"}[cmd]
	if o.format != want {
		return usageError(stderr, fmt.Sprintf("the stand-in only produces --format %s for %s, got %q", want, cmd, o.format), "docker scout "+cmd+" --help")
	}
	b := cfg.lookup(o.repo, o.digest)
	time.Sleep(time.Duration(b.latencyMS) * time.Millisecond)
	fmt.Fprintf(stderr, "    ✓ Pulled\n    ✓ SBOM of image already cached, %d packages indexed\n", b.findings*3+7)

	switch b.behavior {
	case "ok", "empty", "whats_next_trailer", "garbage":
	case "auth":
		fmt.Fprintln(stderr, "Log in with your Docker ID or email address to use docker scout.")
		return errorLine(stderr, "Log in with your Docker ID or email address to use docker scout.")
	case "not_entitled":
		return errorLine(stderr, "[DOWNSTREAM_SERVICE_ERROR] FORBIDDEN: organization is not entitled to use Docker Scout (not enrolled)")
	case "not_found":
		return errorLine(stderr, fmt.Sprintf("failed to get image %s: GET https://index.docker.io/v2/%s/manifests/%s: MANIFEST_UNKNOWN: manifest unknown; unknown tag=%s", o.image, o.repo, o.digest, o.digest))
	case "unauthorized":
		return errorLine(stderr, fmt.Sprintf("failed to get image %s: GET https://index.docker.io/v2/%s/manifests/%s: UNAUTHORIZED: authentication required; 401 Unauthorized", o.image, o.repo, o.digest))
	case "transient":
		return errorLine(stderr, `Post "https://api.dso.docker.com/v1/graphql": EOF`)
	case "hang":
		fmt.Fprintln(stderr, "    ⣾ Storing image for indexing")
		if self, err := os.Executable(); err == nil {
			child := exec.Command(self, "scout", "hang-child")
			_ = child.Start() // a grandchild: only a process-group kill reaches it
		}
		time.Sleep(time.Hour)
		return 0
	case "exit125":
		return usageError(stderr, "unknown flag: --source", "docker scout cves --help")
	case "panic":
		var m map[string]int
		m["boom"]++ // a real Go panic: exit 2 and a goroutine trace on stderr
		return 0
	case "exit255":
		fmt.Fprintln(stderr, "fatal error: unexpected signal during runtime execution")
		return 255
	case "leak_secret":
		// A misbehaving Scout that echoes its credentials: the scanner must not repeat them.
		return errorLine(stderr, fmt.Sprintf("login failed for %s with password %s", os.Getenv("DOCKER_SCOUT_HUB_USER"), os.Getenv("DOCKER_SCOUT_HUB_PASSWORD")))
	case "bad_config":
		fmt.Fprintln(stderr, "fakescout: fakescout.json is not valid JSON")
		return 255
	default:
		fmt.Fprintf(stderr, "fakescout: unknown behavior %q\n", b.behavior)
		return 255
	}

	var body []byte
	switch {
	case b.behavior == "garbage":
		body = []byte("<html><body><h1>403 Forbidden</h1></body></html>\n\x00\x01 not json")
	case cmd == "cves":
		n := b.findings
		if b.behavior == "empty" {
			n = 0
		}
		body = sarifReport(o.repo, o.digest, n)
	default:
		n := b.findings
		if b.behavior == "empty" {
			n = 0
		}
		body = sbomReport(o.repo, o.digest, o.platform, n)
	}
	if o.output != "" {
		if err := os.WriteFile(o.output, body, 0o644); err != nil {
			return errorLine(stderr, fmt.Sprintf("write %s: %v", o.output, err))
		}
		fmt.Fprintf(stderr, "    ✓ Report written to %s\n", o.output)
	} else {
		_, _ = stdout.Write(body)
	}
	if b.behavior == "whats_next_trailer" {
		fmt.Fprintf(stdout, whatsNext, o.image)
	}
	if cmd == "cves" && !bytes.Equal(body, nil) {
		fmt.Fprintf(stderr, "    ✗ Detected %d vulnerable packages\n", b.findings)
	}
	return 0
}
