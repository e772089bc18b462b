package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/scoutbridge/scoutbridge/pkg/sqlitedb"
)

// ErrBadPageToken is returned for a page token this store did not hand out.
var ErrBadPageToken = errors.New("invalid page token")

// Store is the SQLite store. Writes go through one connection (SQLite has one writer; one connection
// means our own goroutines never see SQLITE_BUSY); reads use a small pool, which WAL lets run beside
// the writer.
type Store struct {
	w, r *sql.DB
	now  func() time.Time

	stmts map[string]*sql.Stmt // the writer's prepared statements, by SQL text; filled by Open, then read-only

	ingests   chan *ingestReq // to commitLoop (group.go); unbuffered: a request sent is being committed
	closing   chan struct{}   // closed by Close: no more ingests
	committed chan struct{}   // closed when commitLoop has returned
	closeOnce sync.Once
}

// Open opens or creates the store at path and migrates its schema. synchronous=FULL: a commit that
// IngestScan acknowledged survives a crash or power loss.
func Open(ctx context.Context, path string) (*Store, error) {
	if err := create(ctx, path); err != nil {
		return nil, err
	}
	w, err := sqlitedb.Open(ctx, path, sqlitedb.Options{Migrations: migrations, Synchronous: "FULL", MaxOpenConns: 1})
	if err != nil {
		return nil, err
	}
	// A bounded page cache keeps the indexes' hot pages in memory (64 MiB at most, whatever the backlog);
	// the statement journal of the multi-row inserts stays in memory (it only serves to undo a failed
	// statement inside its transaction; durability is the WAL's job); fewer, larger checkpoints.
	for _, p := range []string{"PRAGMA cache_size = -65536", "PRAGMA temp_store = MEMORY", fmt.Sprintf("PRAGMA wal_autocheckpoint = %d", walCheckpointBytes/pageSize)} {
		if _, err := w.ExecContext(ctx, p); err != nil {
			w.Close()
			return nil, fmt.Errorf("tune %s: %w", path, err)
		}
	}
	if err := refusePreRelease(ctx, w, path); err != nil {
		w.Close()
		return nil, err
	}
	s := &Store{w: w, r: w, now: time.Now, stmts: map[string]*sql.Stmt{},
		ingests: make(chan *ingestReq), closing: make(chan struct{}), committed: make(chan struct{})}
	go s.commitLoop()
	if path != ":memory:" {
		if s.r, err = sqlitedb.Open(ctx, path, sqlitedb.Options{Migrations: migrations, Synchronous: "FULL", MaxOpenConns: 4}); err != nil {
			w.Close()
			return nil, err
		}
	}
	if err := s.prepare(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// prepare prepares the writer's hot statements once (Open calls it: a statement cannot be prepared on
// the writer's single connection while a transaction holds it).
func (s *Store) prepare(ctx context.Context) error {
	for _, q := range hotStatements() {
		st, err := s.w.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("prepare %.40s: %w", q, err)
		}
		s.stmts[q] = st
	}
	return nil
}

// exec runs query in tx, through its prepared statement when Open prepared one.
func (s *Store) exec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if st, ok := s.stmts[query]; ok {
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, query, args...)
}

// Close closes the store, after the ingest transaction in progress (if any) has committed.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { close(s.closing) })
	<-s.committed
	for _, st := range s.stmts {
		_ = st.Close()
	}
	err := s.w.Close()
	if s.r != s.w {
		err = errors.Join(err, s.r.Close())
	}
	return err
}

// Storage tuning, measured with BenchmarkIngestOnly (docs/benchmarks/ingest.md):
//   - pageSize: an event is ~1-3 KB of JSON, so with SQLite's default 4 KiB pages nearly every event
//     took a page of its own and one WAL frame (one pwrite) at commit. 16 KiB pages hold five or more
//     events, and a commit writes a fraction of the frames.
//   - walCheckpointBytes: the WAL is copied into the database when it passes this size (SQLite's
//     default is 1,000 pages). Index pages that every scan touches are then copied once per checkpoint
//     instead of once every few scans; the WAL file stays bounded by it (plus the last commit).
const (
	pageSize           = 16 << 10
	walCheckpointBytes = 64 << 20
)

// create makes a new database file with the store's page size (it can only be chosen before the
// first write; a database made earlier keeps its page size).
func create(ctx context.Context, path string) error {
	if path == ":memory:" {
		return nil
	}
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		return err
	}
	defer db.Close()
	for _, p := range []string{fmt.Sprintf("PRAGMA page_size = %d", pageSize), "PRAGMA journal_mode = WAL"} {
		if _, err := db.ExecContext(ctx, p); err != nil {
			return fmt.Errorf("create %s: %w", path, err)
		}
	}
	return nil
}

// refusePreRelease stops a database made by a pre-release build (one outbox row per event and sink,
// under the same schema version) from being used with this schema.
func refusePreRelease(ctx context.Context, db *sql.DB, path string) error {
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'outbox'`).Scan(&n); err != nil {
		return fmt.Errorf("inspect %s: %w", path, err)
	}
	if n > 0 {
		return fmt.Errorf("%s was created by a pre-release build of ingest (table outbox): move it away and start again", path)
	}
	return nil
}

func addCounter(ctx context.Context, tx *sql.Tx, name string, delta int64) error {
	if delta == 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO counters (name, value) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET value = value + excluded.value`, name, delta)
	if err != nil {
		return fmt.Errorf("count %s: %w", name, err)
	}
	return nil
}

func (s *Store) counter(ctx context.Context, name string) (int64, error) {
	var v int64
	err := s.r.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, err
}

func ms(t time.Time) int64 { return t.UnixMilli() }
