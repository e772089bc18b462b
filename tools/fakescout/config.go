package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
)

// behavior says how the stand-in answers one image. Absent fields inherit from "default".
type behavior struct {
	LatencyMS *int   `json:"latency_ms,omitempty"`
	Findings  *int   `json:"findings,omitempty"`
	Behavior  string `json:"behavior,omitempty"`
}

// config is $DOCKER_CONFIG/fakescout.json, read again on every invocation.
type config struct {
	Default behavior            `json:"default"`
	Images  map[string]behavior `json:"images"`
}

func dockerConfigDir() string {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".docker")
}

// loadConfig reads fakescout.json; a missing or unreadable file means the defaults (ok, no latency,
// 20 findings). A file that is not JSON makes every scan fail with exit 255, so a typo is noticed.
func loadConfig() config {
	var c config
	b, err := os.ReadFile(filepath.Join(dockerConfigDir(), "fakescout.json"))
	if err != nil {
		return c
	}
	if err := json.Unmarshal(b, &c); err != nil {
		c = config{Default: behavior{Behavior: "bad_config"}}
	}
	return c
}

// resolved is the effective behaviour for one image.
type resolved struct {
	latencyMS int
	findings  int
	behavior  string
}

// lookup finds the behaviour for an image: the first of "repo@digest", digest, repo (with and without
// "docker.io/" and "library/") that is a key of images, over the default.
func (c config) lookup(repo, digest string) resolved {
	r := resolved{latencyMS: 0, findings: 20, behavior: "ok"}
	apply := func(b behavior) {
		if b.LatencyMS != nil {
			r.latencyMS = *b.LatencyMS
		}
		if b.Findings != nil {
			r.findings = *b.Findings
		}
		if b.Behavior != "" {
			r.behavior = b.Behavior
		}
	}
	apply(c.Default)
	short := strings.TrimPrefix(repo, "library/")
	for _, k := range []string{repo + "@" + digest, digest, repo, short, "docker.io/" + repo} {
		if b, ok := c.Images[k]; ok && k != "" {
			apply(b)
			break
		}
	}
	return r
}
