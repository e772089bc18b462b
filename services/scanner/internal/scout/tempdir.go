package scout

import (
	"os"
	"path/filepath"
)

// DefaultTempRoot is where per-scan directories go: $TMPDIR or /tmp when writable, else
// $HOME/.scoutbridge-tmp (an image built FROM scratch has no /tmp, but HOME is a writable volume).
func DefaultTempRoot() string {
	if dir := os.TempDir(); writable(dir) {
		return dir
	}
	if home, err := os.UserHomeDir(); err == nil {
		dir := filepath.Join(home, ".scoutbridge-tmp")
		if err := os.MkdirAll(dir, 0o700); err == nil && writable(dir) {
			return dir
		}
	}
	return os.TempDir()
}

func writable(dir string) bool {
	f, err := os.CreateTemp(dir, ".scoutbridge-probe-")
	if err != nil {
		return false
	}
	name := f.Name()
	f.Close()
	os.Remove(name)
	return true
}
