package envvar

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecretFromTheVariableOrAFile(t *testing.T) {
	t.Setenv("X_TOKEN", "from-env")
	if got, err := Secret("X_TOKEN"); err != nil || got != "from-env" {
		t.Fatalf("Secret = %q, %v; want the variable's value", got, err)
	}
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("X_TOKEN_FILE", file)
	if got, err := Secret("X_TOKEN"); err != nil || got != "from-file" {
		t.Fatalf("Secret = %q, %v; want the file's trimmed content", got, err)
	}
	t.Setenv("X_TOKEN_FILE", filepath.Join(t.TempDir(), "missing"))
	if _, err := Secret("X_TOKEN"); err == nil || !strings.Contains(err.Error(), "X_TOKEN_FILE") || strings.Contains(err.Error(), "from-env") {
		t.Fatalf("a missing file gives %v; want an error naming X_TOKEN_FILE and not the secret", err)
	}
}

func TestEmptyOrBadValuesMeanTheDefault(t *testing.T) {
	t.Setenv("X_ADDR", "")
	t.Setenv("X_N", "many")
	if String("X_ADDR", ":8081") != ":8081" || Int("X_N", 3) != 3 || Duration("X_N", 0) != 0 || Float("X_N", 0.5) != 0.5 {
		t.Fatal("an empty or unparsable value did not fall back to the default")
	}
}
