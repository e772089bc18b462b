// Package sqlitedb opens the embedded SQLite databases of scoutbridge services: the pure-Go driver (so
// binaries stay static), WAL journaling, a busy timeout, foreign keys, and schema migrations tracked in
// PRAGMA user_version. One opener for every store, so each is tuned and migrated the same way.
package sqlitedb

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Options tune a database.
type Options struct {
	// Migrations are applied in order; migration i brings the schema to version i+1. Never edit a
	// migration that has shipped: append a new one.
	Migrations []string
	// Synchronous is PRAGMA synchronous: "FULL" (default; a commit survives power loss) or "NORMAL"
	// (WAL-safe against process crashes, faster).
	Synchronous string
	// MaxOpenConns bounds connections (default 1: SQLite has one writer, and one connection avoids
	// SQLITE_BUSY between our own goroutines). Read-heavy stores may raise it.
	MaxOpenConns int
}

// Open opens (creating if needed) the database at path and migrates it. path ":memory:" gives a private
// in-memory database.
func Open(ctx context.Context, path string, opt Options) (*sql.DB, error) {
	if opt.Synchronous == "" {
		opt.Synchronous = "FULL"
	}
	if opt.MaxOpenConns <= 0 {
		opt.MaxOpenConns = 1
	}
	dsn := path
	if path != ":memory:" {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, fmt.Errorf("create directory for %s: %w", path, err)
		}
		q := url.Values{}
		for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)", "foreign_keys(ON)", "synchronous(" + opt.Synchronous + ")"} {
			q.Add("_pragma", p)
		}
		dsn = "file:" + path + "?" + q.Encode()
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(opt.MaxOpenConns)
	if path == ":memory:" {
		db.SetMaxOpenConns(1) // every connection would be its own empty database
	}
	if err := migrate(ctx, db, opt.Migrations); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	return db, nil
}

func migrate(ctx context.Context, db *sql.DB, migrations []string) error {
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return err
	}
	if version > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this binary knows (%d): refusing to run an older binary on a newer database", version, len(migrations))
	}
	for i := version; i < len(migrations); i++ {
		err := Tx(ctx, db, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
				return fmt.Errorf("migration %d: %w", i+1, err)
			}
			_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", i+1))
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Tx runs fn in a transaction, committing when it returns nil and rolling back otherwise.
func Tx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
