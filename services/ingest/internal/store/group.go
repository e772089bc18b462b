package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/scoutbridge/scoutbridge/pkg/sqlitedb"
)

// ErrClosed is returned by Ingest once Close has been called.
var ErrClosed = errors.New("store closed")

// maxGroup bounds how many scans share one transaction (the orchestrator keeps a few in flight; a
// bound keeps a transaction, and what waits on it, small whatever the callers do).
const maxGroup = 16

// Group commit: one goroutine (commitLoop) owns ingest transactions. Scans that arrive while a
// transaction commits are written together in the next one, so they share its fsync and the index
// pages they all touch are written to the WAL once. Every caller is answered after the commit that
// holds its rows, and only with its own outcome.

// ingestReq is one Ingest call waiting for the committer.
type ingestReq struct {
	ctx  context.Context
	rows *scanRows
	done chan ingestDone // buffered: the committer never waits for a caller
}

type ingestDone struct {
	res IngestResult
	err error
}

// submit hands rows to the committer and waits for its answer. A caller that gives up before the
// committer writes its rows stores nothing; one that gives up later gets ctx's error, and its scan may
// still be committed (as with any canceled RPC: a retry then answers duplicate).
func (s *Store) submit(ctx context.Context, rows *scanRows) (IngestResult, error) {
	req := &ingestReq{ctx: ctx, rows: rows, done: make(chan ingestDone, 1)}
	select {
	case s.ingests <- req:
	case <-s.closing:
		return IngestResult{}, ErrClosed
	case <-ctx.Done():
		return IngestResult{}, ctx.Err()
	}
	select {
	case d := <-req.done:
		return d.res, d.err
	case <-ctx.Done():
		return IngestResult{}, ctx.Err()
	}
}

// commitLoop runs until Close: it takes the next request, then every request already waiting (up to
// maxGroup), and commits them in one transaction.
func (s *Store) commitLoop() {
	defer close(s.committed)
	group := make([]*ingestReq, 0, maxGroup)
	for {
		select {
		case req := <-s.ingests:
			group = append(group[:0], req)
		case <-s.closing:
			return
		}
	more:
		for len(group) < maxGroup {
			select {
			case req := <-s.ingests:
				group = append(group, req)
			default:
				break more
			}
		}
		s.commitGroup(group)
	}
}

// commitGroup commits group in one transaction and answers each caller. If the transaction fails, the
// scans are committed one by one, so that a scan the store refuses fails alone.
func (s *Store) commitGroup(group []*ingestReq) {
	out := make([]ingestDone, len(group))
	// Not a caller's context: one caller going away must not abort the others' transaction.
	ctx := context.Background()
	err := sqlitedb.Tx(ctx, s.w, func(tx *sql.Tx) error {
		for i, req := range group {
			if err := req.ctx.Err(); err != nil {
				out[i].err = err // gave up before its rows were written: nothing of it is stored
				continue
			}
			res, err := s.ingestTx(ctx, tx, req.rows)
			if err != nil {
				return err
			}
			out[i].res = res
		}
		return nil
	})
	if err != nil && len(group) > 1 {
		for _, req := range group {
			s.commitGroup([]*ingestReq{req})
		}
		return
	}
	for i, req := range group {
		if err != nil {
			out[i] = ingestDone{err: err}
		}
		req.rows.release()
		req.done <- out[i]
	}
}
