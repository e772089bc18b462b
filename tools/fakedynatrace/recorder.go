package main

import (
	"io"
	"os"
	"path/filepath"
	"sync"
)

// ingestRecorder appends accepted events to a JSON-lines file, one compact event per line.
type ingestRecorder struct {
	mu     sync.Mutex
	path   string
	f      *os.File
	n, sum int64
}

func openIngestRecorder(path string) (*ingestRecorder, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return nil, err
	}
	return &ingestRecorder{path: path, f: f}, nil
}

// append records n accepted events, given as their JSON lines.
func (r *ingestRecorder) append(lines []byte, n int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.f.Write(lines); err != nil {
		return err
	}
	r.n += int64(n)
	r.sum += int64(len(lines))
	return nil
}

func (r *ingestRecorder) copyTo(w io.Writer) error {
	r.mu.Lock()
	size := r.sum
	r.mu.Unlock()
	f, err := os.Open(r.path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, io.LimitReader(f, size))
	return err
}

func (r *ingestRecorder) count() int64 { r.mu.Lock(); defer r.mu.Unlock(); return r.n }
func (r *ingestRecorder) bytes() int64 { r.mu.Lock(); defer r.mu.Unlock(); return r.sum }

func (r *ingestRecorder) reset() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n, r.sum = 0, 0
	if err := r.f.Truncate(0); err != nil {
		return err
	}
	_, err := r.f.Seek(0, io.SeekStart)
	return err
}

func (r *ingestRecorder) close() { _ = r.f.Close() }
