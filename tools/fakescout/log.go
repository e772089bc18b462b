package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// logEntry is one line of $DOCKER_CONFIG/fakescout.log. It records the names of the environment
// variables the plugin saw, never their values.
type logEntry struct {
	Time        string   `json:"time"`
	PID         int      `json:"pid"`
	PPID        int      `json:"ppid"`
	Args        []string `json:"args"`
	TMPDIR      string   `json:"tmpdir"`
	Traceparent bool     `json:"traceparent"`
	Env         []string `json:"env"`
}

// logInvocation appends one JSON line per invocation. A read-only config dir (compose mounts it so) is
// not an error: the line is silently dropped.
func logInvocation(args []string) {
	var names []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		names = append(names, name)
	}
	sort.Strings(names)
	e := logEntry{
		Time: time.Now().UTC().Format(time.RFC3339Nano), PID: os.Getpid(), PPID: os.Getppid(),
		Args: append([]string{}, args...), TMPDIR: os.Getenv("TMPDIR"),
		Traceparent: os.Getenv("TRACEPARENT") != "", Env: names,
	}
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	f, err := os.OpenFile(filepath.Join(dockerConfigDir(), "fakescout.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = f.Write(append(b, '\n'))
}
