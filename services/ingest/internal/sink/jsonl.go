package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// JSONLTailWindow is how much of the file's end JSONL reads at start to recognise events already
// written. It must exceed the largest batch delivered to the sink (see delivery's JSONL batch limit).
const JSONLTailWindow = 8 << 20

// JSONL appends events as JSON lines to a file, exactly once across crashes: each batch is written and
// fsynced before the outbox forgets it, and at start a torn last line is cut off and the event ids in
// the file's tail are remembered, so a batch written just before a crash (and still in the outbox) is
// not written twice.
type JSONL struct {
	mu     sync.Mutex
	path   string
	f      *os.File
	recent map[string]struct{}
}

// OpenJSONL opens (creating if needed) the file at path and repairs its tail.
func OpenJSONL(path string) (*JSONL, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("create directory of %s: %w", path, err)
	}
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if os.IsNotExist(statErr) {
		syncDir(filepath.Dir(path))
	}
	j := &JSONL{path: path, f: f}
	if err := j.repair(); err != nil {
		f.Close()
		return nil, fmt.Errorf("repair %s: %w", path, err)
	}
	return j, nil
}

// repair truncates a partial last line and loads the event ids of the tail.
func (j *JSONL) repair() error {
	size, err := j.f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	start := max(size-JSONLTailWindow, 0)
	tail := make([]byte, size-start)
	if _, err := j.f.ReadAt(tail, start); err != nil && err != io.EOF {
		return err
	}
	if len(tail) > 0 && tail[len(tail)-1] != '\n' {
		cut := bytes.LastIndexByte(tail, '\n') + 1 // 0 when no newline: the whole tail is torn
		if err := j.f.Truncate(start + int64(cut)); err != nil {
			return err
		}
		if err := j.f.Sync(); err != nil {
			return err
		}
		tail = tail[:cut]
	}
	if start > 0 { // the first line of the window may be partial
		if i := bytes.IndexByte(tail, '\n'); i >= 0 {
			tail = tail[i+1:]
		}
	}
	j.recent = map[string]struct{}{}
	for line := range bytes.Lines(tail) {
		var e struct {
			ID string `json:"event.id"`
		}
		if json.Unmarshal(line, &e) == nil && e.ID != "" {
			j.recent[e.ID] = struct{}{}
		}
	}
	_, err = j.f.Seek(0, io.SeekEnd)
	return err
}

// Name is "jsonl".
func (j *JSONL) Name() string { return "jsonl" }

// Deliver appends the events not already at the file's end and fsyncs.
func (j *JSONL) Deliver(_ context.Context, events []Event) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	var buf []byte
	for _, e := range events {
		if _, done := j.recent[e.ID]; done {
			continue
		}
		buf = append(buf, e.Body...)
		buf = append(buf, '\n')
	}
	if len(buf) == 0 {
		return nil // all written before: the outbox did not record it
	}
	end, err := j.f.Seek(0, io.SeekEnd)
	if err != nil {
		return &Error{Kind: Transient, Err: fmt.Errorf("seek %s: %w", j.path, err)}
	}
	if _, err := j.f.Write(buf); err != nil {
		// Cut a partial write so the retry does not leave a torn line in the middle of the file.
		_ = j.f.Truncate(end)
		return &Error{Kind: Transient, Err: fmt.Errorf("write %s: %w", j.path, err)}
	}
	if err := j.f.Sync(); err != nil {
		return &Error{Kind: Transient, Err: fmt.Errorf("fsync %s: %w", j.path, err)}
	}
	// If the outbox cannot record this batch as sent, it hands it over again: remember it (only it,
	// so memory stays bounded by one batch).
	j.recent = make(map[string]struct{}, len(events))
	for _, e := range events {
		j.recent[e.ID] = struct{}{}
	}
	return nil
}

// Close closes the file.
func (j *JSONL) Close() error { return j.f.Close() }

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
