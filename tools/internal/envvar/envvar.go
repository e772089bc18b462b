// Package envvar gives the stand-ins' flags their environment fallbacks (a flag's default is the
// variable's value) and reads their secrets from the environment or a file, never from a flag: a
// command line is visible to everyone on the host. An unset, empty or unreadable value means the
// default: the stand-ins are test tools, and their README says which variables they read.
package envvar

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// String is the value of name, or def when it is unset or empty.
func String(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// Int is name as an integer, or def.
func Int(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return n
	}
	return def
}

// Float is name as a float, or def.
func Float(name string, def float64) float64 {
	if f, err := strconv.ParseFloat(os.Getenv(name), 64); err == nil {
		return f
	}
	return def
}

// Duration is name as a Go duration ("10m"), or def.
func Duration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return d
	}
	return def
}

// Secret is the value of name, or the trimmed content of the file named by name_FILE (a mounted
// secret); "" when neither is set. The error names the variable, never the value.
func Secret(name string) (string, error) {
	if path := os.Getenv(name + "_FILE"); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("%s_FILE: %w", name, err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return os.Getenv(name), nil
}
