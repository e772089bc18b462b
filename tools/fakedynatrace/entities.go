package main

import (
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/scoutbridge/scoutbridge/tools/internal/envvar"
)

// The entities API (issue 7): GET /api/v2/entities as the Environment API v2 answers it, for the
// runtime service's Dynatrace inventory source. Entities come from -entities-file and can be replaced
// at any time with PUT /_fake/entities (tests and the demo do); GET /_fake/entities shows them.
// An entity without lastSeenTms counts as seen now.
var entitiesFile = flag.String("entities-file", envvar.String("FAKEDT_ENTITIES_FILE", ""), `JSON file of entities ({"entities": [...]} or [...]) served by GET /api/v2/entities (env FAKEDT_ENTITIES_FILE)`)

// entitiesToken is the Api-Token the entities API accepts (FAKEDT_ENTITIES_TOKEN, read by main); empty
// accepts any non-empty token.
var entitiesToken string

// fakeEntity is one monitored entity as v2 returns it.
type fakeEntity struct {
	EntityID          string         `json:"entityId"`
	Type              string         `json:"type"`
	DisplayName       string         `json:"displayName,omitempty"`
	FirstSeenTms      int64          `json:"firstSeenTms,omitempty"`
	LastSeenTms       int64          `json:"lastSeenTms,omitempty"`
	Properties        map[string]any `json:"properties,omitempty"`
	Tags              []any          `json:"tags,omitempty"`
	FromRelationships map[string]any `json:"fromRelationships,omitempty"`
	ToRelationships   map[string]any `json:"toRelationships,omitempty"`
}

type entityStore struct {
	mu       sync.RWMutex
	entities []fakeEntity
}

// pageKey is what nextPageKey encodes: the first query and where the next page starts.
type pageKey struct {
	Type     string   `json:"t"`
	Fields   []string `json:"f"`
	From     int64    `json:"from"`
	PageSize int      `json:"ps"`
	Offset   int      `json:"o"`
}

const (
	entitiesDefaultPageSize = 50
	entitiesMaxPageSize     = 4000
	entitySelectorMaxLen    = 2000
)

var entityTypeRE = regexp.MustCompile(`^type\(\s*"?([A-Z_]+)"?\s*\)$`)

func registerEntityAPI(mux *http.ServeMux) {
	st := &entityStore{}
	if *entitiesFile != "" {
		b, err := os.ReadFile(*entitiesFile)
		if err == nil {
			err = st.replace(b)
		}
		if err != nil {
			log.Fatalf("fakedynatrace: entities file %s: %v", *entitiesFile, err)
		}
	}
	mux.HandleFunc("GET /api/v2/entities", st.list)
	mux.HandleFunc("PUT /_fake/entities", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
		if err == nil {
			err = st.replace(b)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /_fake/entities", func(w http.ResponseWriter, _ *http.Request) {
		st.mu.RLock()
		defer st.mu.RUnlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"entities": st.entities})
	})
}

func (st *entityStore) replace(b []byte) error {
	var list []fakeEntity
	if err := json.Unmarshal(b, &list); err != nil {
		var wrapped struct {
			Entities []fakeEntity `json:"entities"`
		}
		if err2 := json.Unmarshal(b, &wrapped); err2 != nil {
			return fmt.Errorf("want a JSON array of entities or {\"entities\": [...]}: %v", err2)
		}
		list = wrapped.Entities
	}
	for i, e := range list {
		if e.EntityID == "" || e.Type == "" {
			return fmt.Errorf("entity %d: entityId and type are required", i)
		}
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].EntityID < list[j].EntityID })
	st.mu.Lock()
	st.entities = list
	st.mu.Unlock()
	return nil
}

func entitiesError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg}})
}

func (st *entityStore) list(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Api-Token ")
	switch {
	case auth == "":
		entitiesError(w, http.StatusUnauthorized, "Missing authorization parameter.")
		return
	case !ok || tok == "" || (entitiesToken != "" && tok != entitiesToken):
		entitiesError(w, http.StatusUnauthorized, "Token Authentication failed")
		return
	}
	q := r.URL.Query()
	var key pageKey
	if next := q.Get("nextPageKey"); next != "" {
		if len(q) > 1 {
			entitiesError(w, http.StatusBadRequest, "Constraints violated. nextPageKey must be the only query parameter.")
			return
		}
		b, err := base64.RawURLEncoding.DecodeString(next)
		if err != nil || json.Unmarshal(b, &key) != nil || key.Type == "" {
			entitiesError(w, http.StatusBadRequest, "Invalid nextPageKey.")
			return
		}
	} else {
		sel := q.Get("entitySelector")
		if sel == "" {
			entitiesError(w, http.StatusBadRequest, "Constraints violated. entitySelector must not be empty.")
			return
		}
		if len(sel) > entitySelectorMaxLen {
			entitiesError(w, http.StatusBadRequest, "Constraints violated. entitySelector is longer than 2000 characters.")
			return
		}
		m := entityTypeRE.FindStringSubmatch(strings.TrimSpace(sel))
		if m == nil {
			entitiesError(w, http.StatusBadRequest, `Constraints violated. The stand-in understands entitySelector=type("TYPE") only.`)
			return
		}
		key.Type = m[1]
		key.PageSize = entitiesDefaultPageSize
		if ps := q.Get("pageSize"); ps != "" {
			n, err := strconv.Atoi(ps)
			if err != nil || n < 1 || n > entitiesMaxPageSize {
				entitiesError(w, http.StatusBadRequest, "Constraints violated. pageSize must be between 1 and 4000.")
				return
			}
			key.PageSize = n
		}
		for _, f := range strings.Split(q.Get("fields"), ",") {
			if f = strings.TrimSpace(f); f != "" {
				key.Fields = append(key.Fields, strings.TrimPrefix(f, "+"))
			}
		}
		from, err := parseEntitiesTime(q.Get("from"))
		if err != nil {
			entitiesError(w, http.StatusBadRequest, "Constraints violated. "+err.Error())
			return
		}
		key.From = from
	}

	fields := map[string]bool{}
	for _, f := range key.Fields {
		fields[f] = true
	}
	now := time.Now().UnixMilli()
	st.mu.RLock()
	var match []fakeEntity
	for _, e := range st.entities {
		if e.LastSeenTms == 0 {
			e.LastSeenTms = now
		}
		if e.Type == key.Type && e.LastSeenTms >= key.From {
			match = append(match, e)
		}
	}
	st.mu.RUnlock()
	start := min(key.Offset, len(match))
	end := min(start+key.PageSize, len(match))
	page := make([]fakeEntity, 0, end-start)
	for _, e := range match[start:end] {
		out := fakeEntity{EntityID: e.EntityID, Type: e.Type, DisplayName: e.DisplayName}
		if fields["properties"] {
			out.Properties = e.Properties
		}
		if fields["tags"] {
			out.Tags = e.Tags
		}
		if fields["fromRelationships"] {
			out.FromRelationships = e.FromRelationships
		}
		if fields["toRelationships"] {
			out.ToRelationships = e.ToRelationships
		}
		if fields["firstSeenTms"] {
			out.FirstSeenTms = e.FirstSeenTms
		}
		if fields["lastSeenTms"] {
			out.LastSeenTms = e.LastSeenTms
		}
		page = append(page, out)
	}
	var next *string
	if end < len(match) {
		key.Offset = end
		b, _ := json.Marshal(key)
		s := base64.RawURLEncoding.EncodeToString(b)
		next = &s
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"totalCount": len(match), "pageSize": key.PageSize, "nextPageKey": next, "entities": page})
}

// parseEntitiesTime reads from= as v2 does: "now-3h" style relative times or Unix milliseconds; empty
// is the API's default of three days ago.
func parseEntitiesTime(s string) (int64, error) {
	now := time.Now()
	if s == "" {
		return now.Add(-72 * time.Hour).UnixMilli(), nil
	}
	if rel, ok := strings.CutPrefix(s, "now-"); ok {
		unit := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour}
		if len(rel) >= 2 {
			if u, ok := unit[rel[len(rel)-1]]; ok {
				if n, err := strconv.Atoi(rel[:len(rel)-1]); err == nil && n >= 0 {
					return now.Add(-time.Duration(n) * u).UnixMilli(), nil
				}
			}
		}
		return 0, fmt.Errorf("from %q is not a relative time like now-3h", s)
	}
	if s == "now" {
		return now.UnixMilli(), nil
	}
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("from %q is neither a relative time nor Unix milliseconds", s)
	}
	return ms, nil
}
