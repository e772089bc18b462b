package sqlitedb

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestMigrationsApplyOnceAndNewerSchemaIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "x.db")
	v1 := []string{"CREATE TABLE a (id INTEGER PRIMARY KEY)"}
	db, err := Open(t.Context(), path, Options{Migrations: v1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO a (id) VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	db.Close()

	v2 := append(v1, "ALTER TABLE a ADD COLUMN name TEXT")
	db, err = Open(t.Context(), path, Options{Migrations: v2})
	if err != nil {
		t.Fatalf("reopen with a new migration: %v", err)
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM a WHERE name IS NULL").Scan(&n); err != nil || n != 1 {
		t.Fatalf("data kept across migration: n=%d err=%v", n, err)
	}
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal mode %q %v, want wal", mode, err)
	}
	db.Close()

	if _, err := Open(t.Context(), path, Options{Migrations: v1}); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("an older binary opened a newer schema: %v", err)
	}
}
