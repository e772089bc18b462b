// Package store keeps the orchestrator's state in SQLite: runs, the state of every image of a run, the
// watermark (end of the last fully covered default-scope window), the memory of digests already
// scanned and ingested (which also dates the last re-evaluation of running digests) and the queue of
// images carried over from failed runs. It implements run.Store.
package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/scoutbridge/scoutbridge/pkg/sqlitedb"
)

var migrations = []string{`
CREATE TABLE runs (
	seq             INTEGER PRIMARY KEY AUTOINCREMENT,
	run_id          TEXT    NOT NULL UNIQUE,
	state           INTEGER NOT NULL,
	trigger         INTEGER NOT NULL,
	dry_run         INTEGER NOT NULL DEFAULT 0,
	force_rescan    INTEGER NOT NULL DEFAULT 0,
	rescan_only     INTEGER NOT NULL DEFAULT 0,
	moves_watermark INTEGER NOT NULL DEFAULT 0,
	discovery_done  INTEGER NOT NULL DEFAULT 0,
	namespaces      TEXT    NOT NULL DEFAULT '',
	window_start    INTEGER,
	window_end      INTEGER,
	started_at      INTEGER NOT NULL,
	finished_at     INTEGER,
	namespaces_failed INTEGER NOT NULL DEFAULT 0,
	error           TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX runs_state ON runs(state);

CREATE TABLE run_images (
	run_id      TEXT    NOT NULL REFERENCES runs(run_id),
	registry    TEXT    NOT NULL,
	repository  TEXT    NOT NULL,
	digest      TEXT    NOT NULL,
	image       BLOB    NOT NULL,
	state       INTEGER NOT NULL,
	reason      TEXT    NOT NULL DEFAULT '',
	attempts    INTEGER NOT NULL DEFAULT 0,
	scan_reason INTEGER NOT NULL,
	critical    INTEGER NOT NULL DEFAULT 0,
	high        INTEGER NOT NULL DEFAULT 0,
	medium      INTEGER NOT NULL DEFAULT 0,
	low         INTEGER NOT NULL DEFAULT 0,
	none        INTEGER NOT NULL DEFAULT 0,
	events_stored INTEGER NOT NULL DEFAULT 0,
	report      BLOB,
	added       INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL,
	PRIMARY KEY (run_id, registry, repository, digest)
);

CREATE TABLE evaluated (
	registry   TEXT    NOT NULL,
	repository TEXT    NOT NULL,
	digest     TEXT    NOT NULL,
	run_id     TEXT    NOT NULL,
	at         INTEGER NOT NULL,
	PRIMARY KEY (registry, repository, digest)
);

CREATE TABLE carry_over (
	registry   TEXT    NOT NULL,
	repository TEXT    NOT NULL,
	digest     TEXT    NOT NULL,
	image      BLOB    NOT NULL,
	reason     TEXT    NOT NULL,
	run_id     TEXT    NOT NULL,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (registry, repository, digest)
);

CREATE TABLE watermark (
	scope TEXT    PRIMARY KEY,
	at    INTEGER NOT NULL
);
`, `
ALTER TABLE runs ADD COLUMN trace_parent TEXT NOT NULL DEFAULT '';
`}

// Store is the orchestrator's SQLite store.
type Store struct {
	db  *sql.DB
	now func() time.Time
}

// Open opens (creating and migrating) the database at path; ":memory:" gives a private one.
func Open(ctx context.Context, path string) (*Store, error) {
	db, err := sqlitedb.Open(ctx, path, sqlitedb.Options{Migrations: migrations})
	if err != nil {
		return nil, err
	}
	return &Store{db: db, now: time.Now}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

func nanos(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

func fromNanos(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// stamp is t in nanoseconds, or now when t is unset.
func stamp(t time.Time) int64 {
	if t.IsZero() {
		return time.Now().UnixNano()
	}
	return t.UnixNano()
}
