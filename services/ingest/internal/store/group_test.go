package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// holdWriter takes the writer's only connection, so that ingests queue up behind it and are committed
// as one group once release is called. setup runs on that connection first.
func holdWriter(t *testing.T, s *Store, setup ...string) (release func()) {
	t.Helper()
	conn, err := s.w.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range setup {
		if _, err := conn.ExecContext(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
	return func() {
		time.Sleep(100 * time.Millisecond) // let every caller reach the committer's queue
		conn.Close()
	}
}

// ingestAll ingests reports concurrently and returns each call's result and error, by index.
func ingestAll(ctx context.Context, t *testing.T, s *Store, ids []string) ([]IngestResult, []error) {
	t.Helper()
	res, errs := make([]IngestResult, len(ids)), make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		b := mustMap(t, report(id, "acme/api", 'a', "CVE-1", "CVE-2", "CVE-3"))
		wg.Go(func() { res[i], errs[i] = s.Ingest(ctx, b, []string{"dt"}) })
	}
	wg.Wait()
	return res, errs
}

func TestConcurrentIngestsAreEachStoredOnce(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "ingest.db"))
	var ids []string
	for i := range 24 {
		id := fmt.Sprintf("scan-%02d", i)
		ids = append(ids, id, id) // every scan twice, concurrently
	}
	release := holdWriter(t, s)
	go release()
	res, errs := ingestAll(t.Context(), t, s, ids)
	stored := map[string]int{}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("ingest %s: %v", ids[i], err)
		}
		if !res[i].Duplicate {
			stored[ids[i]]++
			if res[i].EventsStored != 4 || res[i].EventsQueued != 4 {
				t.Errorf("%s: %+v, want 4 events stored and queued", ids[i], res[i])
			}
		}
	}
	for _, id := range ids {
		if stored[id] != 1 {
			t.Errorf("%s stored by %d calls, want 1 (the other answers duplicate)", id, stored[id])
		}
	}
	if st, err := s.Stats(t.Context()); err != nil || st != (Stats{Scans: 24, Events: 96, Findings: 72}) {
		t.Fatalf("stats %+v %v, want 24 scans, 96 events, 72 findings", st, err)
	}
	// The outbox order holds: each scan's events are consecutive seqs, its scan event first.
	batch, err := s.NextBatch(t.Context(), "dt", 0, 1000, 1<<30)
	if err != nil || len(batch) != 96 {
		t.Fatalf("queue %d events %v, want 96", len(batch), err)
	}
	var interleaved int
	if err := s.r.QueryRowContext(t.Context(), `SELECT count(*) FROM events e JOIN events n ON n.seq = e.seq + 1
		WHERE e.scan_id <> n.scan_id AND n.type <> 'VULNERABILITY_SCAN'`).Scan(&interleaved); err != nil || interleaved != 0 {
		t.Fatalf("%d events follow another scan's events without a scan event first (%v)", interleaved, err)
	}
}

func TestAScanTheStoreRefusesFailsAloneInItsGroup(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "ingest.db"))
	// A trigger on the writer's connection stands in for a store error that only one scan meets.
	release := holdWriter(t, s, `CREATE TEMP TRIGGER refuse BEFORE INSERT ON scans WHEN NEW.scan_id = 'bad'
		BEGIN SELECT RAISE(ABORT, 'refused'); END`)
	go release()
	ids := []string{"ok-1", "ok-2", "bad", "ok-3", "ok-4"}
	res, errs := ingestAll(t.Context(), t, s, ids)
	for i, id := range ids {
		switch {
		case id == "bad" && errs[i] == nil:
			t.Errorf("bad: stored %+v, want the store's error", res[i])
		case id != "bad" && (errs[i] != nil || res[i].EventsStored != 4):
			t.Errorf("%s: %+v %v, want 4 events stored", id, res[i], errs[i])
		}
	}
	if st, err := s.Stats(t.Context()); err != nil || st.Scans != 4 || st.Events != 16 {
		t.Fatalf("stats %+v %v, want the 4 good scans", st, err)
	}
}

func TestACallerThatGivesUpBeforeItsCommitStoresNothing(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "ingest.db"))
	conn, err := s.w.Conn(t.Context()) // the committer cannot begin while the test holds this
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := s.Ingest(ctx, mustMap(t, report("gave-up", "acme/api", 'a', "CVE-1")), nil)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("canceled ingest answered %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a canceled ingest still waits for the writer")
	}
	conn.Close()
	ingest(t, s, report("next", "acme/api", 'a', "CVE-1")) // runs after any request still queued
	var n int
	if err := s.r.QueryRowContext(t.Context(), `SELECT count(*) FROM scans WHERE scan_id = 'gave-up'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the canceled scan was stored (%d rows, %v)", n, err)
	}
}

func TestIngestAfterCloseIsRefused(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "ingest.db"))
	b := mustMap(t, report("late", "acme/api", 'a', "CVE-1"))
	s.Close()
	if _, err := s.Ingest(t.Context(), b, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("ingest after close: %v, want ErrClosed", err)
	}
}
