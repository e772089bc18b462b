package scan

import (
	"context"
	"errors"
	"time"

	"github.com/scoutbridge/scoutbridge/services/scanner/internal/scout"
)

// Readiness says whether `docker scout version` works.
type Readiness struct {
	Ready   bool
	Version string
	Reason  string
	Checked time.Time
}

// CheckReady runs `docker scout version` (bounded by timeout) and records the outcome.
func (s *Service) CheckReady(ctx context.Context, timeout time.Duration) Readiness {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	v, err := s.scout.Version(ctx)
	r := Readiness{Ready: err == nil, Version: v, Checked: s.cfg.Now()}
	if err != nil {
		r.Reason = err.Error()
		var se *scout.Error
		if errors.As(err, &se) && se.Class == scout.ClassPluginMissing {
			r.Reason = se.Message
		}
	}
	s.readyMu.Lock()
	s.ready = r
	s.readyMu.Unlock()
	return r
}

// Ready is the outcome of the last check.
func (s *Service) Ready() Readiness {
	s.readyMu.Lock()
	defer s.readyMu.Unlock()
	return s.ready
}
