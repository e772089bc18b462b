package inventory

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"
)

// Health is one source's state after its last poll.
type Health struct {
	Name        string
	Healthy     bool
	LastSuccess time.Time
	LastError   string
	Containers  int
}

// Inventory merges the sources' polls into the set of containers seen running within MaxAge.
type Inventory struct {
	sources []Source
	maxAge  time.Duration
	now     func() time.Time

	mu      sync.RWMutex
	seen    map[string]Container
	health  map[string]*Health
	version uint64
}

// New returns an inventory over sources. maxAge is how long a container counts as running after it was
// last seen running.
func New(maxAge time.Duration, sources ...Source) *Inventory {
	inv := &Inventory{sources: sources, maxAge: maxAge, now: time.Now,
		seen: map[string]Container{}, health: map[string]*Health{}}
	for _, s := range sources {
		inv.health[s.Name()] = &Health{Name: s.Name()}
	}
	return inv
}

// SetClock replaces the clock (tests).
func (inv *Inventory) SetClock(now func() time.Time) { inv.now = now }

// MaxAge is how long a container counts as running after it was last seen.
func (inv *Inventory) MaxAge() time.Duration { return inv.maxAge }

// Poll asks every source once. A failing source keeps what it reported before (until that ages out)
// and is marked unhealthy; the others are updated. The error joins the sources' errors.
func (inv *Inventory) Poll(ctx context.Context) error {
	type result struct {
		cs  []Container
		err error
	}
	results := make([]result, len(inv.sources))
	var wg sync.WaitGroup
	for i, s := range inv.sources {
		wg.Go(func() {
			cs, err := s.Poll(ctx)
			results[i] = result{cs, err}
		})
	}
	wg.Wait()

	now := inv.now()
	inv.mu.Lock()
	defer inv.mu.Unlock()
	var errs []error
	for i, s := range inv.sources {
		h := inv.health[s.Name()]
		r := results[i]
		if r.err != nil {
			h.Healthy = false
			h.LastError = r.err.Error()
			errs = append(errs, r.err)
			continue
		}
		h.Healthy, h.LastError, h.LastSuccess, h.Containers = true, "", now, len(r.cs)
		for _, c := range r.cs {
			c.Source = s.Name()
			if c.LastSeen.IsZero() || c.LastSeen.After(now) {
				c.LastSeen = now
			}
			if old, ok := inv.seen[c.Key()]; ok && old.LastSeen.After(c.LastSeen) {
				c.LastSeen = old.LastSeen
			}
			inv.seen[c.Key()] = c
		}
	}
	for k, c := range inv.seen {
		if now.Sub(c.LastSeen) > inv.maxAge {
			delete(inv.seen, k)
		}
	}
	inv.version++
	return errors.Join(errs...)
}

// Running returns the containers seen running within MaxAge before asOf, sorted by source and name.
func (inv *Inventory) Running(asOf time.Time) []Container {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	out := make([]Container, 0, len(inv.seen))
	for _, c := range inv.seen {
		if asOf.Sub(c.LastSeen) <= inv.maxAge {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Source != out[j].Source {
			return out[i].Source < out[j].Source
		}
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Health returns every source's health, by name.
func (inv *Inventory) Health() []Health {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	out := make([]Health, 0, len(inv.health))
	for _, h := range inv.health {
		out = append(out, *h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Image is one digest with the containers that run it.
type Image struct {
	Digest     string
	ImageName  string
	Containers []Container
}

// Images groups the running containers by the digest the runtime reports.
func (inv *Inventory) Images(asOf time.Time) []Image {
	byDigest := map[string]*Image{}
	var order []string
	for _, c := range inv.Running(asOf) {
		d := c.ImageDigest
		img, ok := byDigest[d]
		if !ok {
			img = &Image{Digest: d, ImageName: c.ImageName}
			byDigest[d] = img
			order = append(order, d)
		}
		img.Containers = append(img.Containers, c)
	}
	sort.Strings(order)
	out := make([]Image, 0, len(order))
	for _, d := range order {
		out = append(out, *byDigest[d])
	}
	return out
}
