package inventory

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/scoutbridge/scoutbridge/pkg/config"
)

// dtKeys is every Dynatrace entity property and relationship key the source reads, in one place: the
// v2 names are not all documented, so each field lists the keys tried in order, and a missing key is
// simply absent.
var dtKeys = struct {
	ImageDigest, ImageName, Status, Workload, ContainerNames, Namespace, Stage, Product []string
	// PgiOfCgi is the relationship from a process group instance to its container group instance.
	PgiOfCgi []string
	// CgiOnHost is the relationship from a container group instance to its host.
	CgiOnHost []string
}{
	ImageDigest:    []string{"containerImageDigest", "imageDigest"},
	ImageName:      []string{"containerImageName", "imageName"},
	Status:         []string{"containerStatus", "status"},
	Workload:       []string{"workloadName", "kubernetesWorkloadName"},
	ContainerNames: []string{"containerNames", "containerName"},
	Namespace:      []string{"namespaceName", "kubernetesNamespace", "containerizationNamespace"},
	Stage:          []string{"releasesStage", "releaseStage"},
	Product:        []string{"releasesProduct", "releaseProduct"},
	PgiOfCgi:       []string{"isPgiOfCgi"},
	CgiOnHost:      []string{"isCgiOfHost", "runsOn", "isSiteOf"},
}

// Dynatrace reads running containers from the Environment API v2 entities: container group instances
// (digest, status, workload) joined to process group instances (release stage and product).
type Dynatrace struct {
	base     string
	token    config.Secret
	client   *http.Client
	from     string
	pageSize int
}

// NewDynatrace reads entities seen within maxAge from the environment at apiURL (e.g.
// https://abc123.live.dynatrace.com) with a token holding entities.read.
func NewDynatrace(apiURL string, token config.Secret, maxAge time.Duration) *Dynatrace {
	return &Dynatrace{base: strings.TrimRight(apiURL, "/"), token: token, client: &http.Client{Timeout: 30 * time.Second},
		from: fmt.Sprintf("now-%dm", max(int(maxAge/time.Minute), 1)), pageSize: 500}
}

// Name is "dynatrace".
func (d *Dynatrace) Name() string { return "dynatrace" }

type dtEntity struct {
	EntityID          string                     `json:"entityId"`
	Type              string                     `json:"type"`
	DisplayName       string                     `json:"displayName"`
	LastSeenTms       int64                      `json:"lastSeenTms"`
	Properties        map[string]json.RawMessage `json:"properties"`
	FromRelationships map[string][]dtEntityRef   `json:"fromRelationships"`
	ToRelationships   map[string][]dtEntityRef   `json:"toRelationships"`
}

type dtEntityRef struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

type dtPage struct {
	TotalCount  int64      `json:"totalCount"`
	NextPageKey *string    `json:"nextPageKey"`
	Entities    []dtEntity `json:"entities"`
}

// Poll reads both entity types and joins them.
func (d *Dynatrace) Poll(ctx context.Context) ([]Container, error) {
	cgis, err := d.entities(ctx, "CONTAINER_GROUP_INSTANCE")
	if err != nil {
		return nil, err
	}
	pgis, err := d.entities(ctx, "PROCESS_GROUP_INSTANCE")
	if err != nil {
		return nil, err
	}
	type release struct{ stage, product string }
	byCgi := map[string]release{}
	note := func(cgi string, p dtEntity) {
		r := release{stage: propString(p, dtKeys.Stage), product: propString(p, dtKeys.Product)}
		if r.stage == "" && r.product == "" {
			return
		}
		if old, ok := byCgi[cgi]; ok && old.stage != "" {
			return // the first process with a stage wins
		}
		byCgi[cgi] = r
	}
	for _, p := range pgis {
		for _, cgi := range relIDs(p.FromRelationships, dtKeys.PgiOfCgi) {
			note(cgi, p)
		}
	}
	pgiByID := map[string]dtEntity{}
	for _, p := range pgis {
		pgiByID[p.EntityID] = p
	}
	var out []Container
	for _, c := range cgis {
		for _, pid := range relIDs(c.ToRelationships, dtKeys.PgiOfCgi) { // the same link seen from the container
			if p, ok := pgiByID[pid]; ok {
				note(c.EntityID, p)
			}
		}
		state := containerState(propString(c, dtKeys.Status))
		if state != "running" && state != "" {
			continue
		}
		if state == "" {
			state = "seen" // no status: seen within the window counts as running
		}
		r := byCgi[c.EntityID]
		name := c.DisplayName
		if names := propStrings(c, dtKeys.ContainerNames); len(names) > 0 {
			name = strings.Join(names, ",")
		}
		ct := Container{ID: c.EntityID, Name: name, Workload: propString(c, dtKeys.Workload),
			Namespace: propString(c, dtKeys.Namespace), State: state, Stage: r.stage, Product: r.product,
			ImageName: propString(c, dtKeys.ImageName)}
		if hosts := relIDs(c.FromRelationships, dtKeys.CgiOnHost); len(hosts) > 0 {
			ct.Host = hosts[0]
		}
		if c.LastSeenTms > 0 {
			ct.LastSeen = time.UnixMilli(c.LastSeenTms)
		}
		ct.Digests = addDigest(ct.Digests, propString(c, dtKeys.ImageDigest))
		if len(ct.Digests) == 0 {
			continue // nothing to match findings on
		}
		ct.ImageDigest = ct.Digests[0]
		out = append(out, ct)
	}
	return out, nil
}

// containerState reads containerStatus, which the tutorial parses as "...state=running,..." and which
// may also be a plain word.
func containerState(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, "state="); i >= 0 {
		s = s[i+len("state="):]
		if j := strings.IndexAny(s, ",}"); j >= 0 {
			s = s[:j]
		}
	}
	return strings.ToLower(strings.TrimSpace(s))
}

func (d *Dynatrace) entities(ctx context.Context, typ string) ([]dtEntity, error) {
	q := url.Values{
		"entitySelector": {`type("` + typ + `")`},
		"fields":         {"+properties,+toRelationships,+fromRelationships,+lastSeenTms"},
		"from":           {d.from},
		"pageSize":       {fmt.Sprint(d.pageSize)},
	}
	var out []dtEntity
	for page := 0; ; page++ {
		if page > 10000 {
			return nil, fmt.Errorf("dynatrace entities %s: more than 10000 pages", typ)
		}
		var p dtPage
		if err := d.get(ctx, "/api/v2/entities?"+q.Encode(), &p); err != nil {
			return nil, fmt.Errorf("dynatrace entities %s: %w", typ, err)
		}
		out = append(out, p.Entities...)
		if p.NextPageKey == nil || *p.NextPageKey == "" {
			return out, nil
		}
		q = url.Values{"nextPageKey": {*p.NextPageKey}} // later pages take the key alone
	}
}

func (d *Dynatrace) get(ctx context.Context, pathQuery string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.base+pathQuery, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Api-Token "+d.token.Reveal())
	resp, err := d.client.Do(req)
	if err != nil {
		return fmt.Errorf("GET /api/v2/entities: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return &httpStatusError{what: "GET /api/v2/entities", status: resp.StatusCode, body: strings.TrimSpace(string(b))}
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("GET /api/v2/entities: decode: %w", err)
	}
	return nil
}

func relIDs(rels map[string][]dtEntityRef, keys []string) []string {
	var out []string
	for _, k := range keys {
		for _, r := range rels[k] {
			out = append(out, r.ID)
		}
	}
	return out
}

// propString reads the first present key as a string (a list gives its first element).
func propString(e dtEntity, keys []string) string {
	if s := propStrings(e, keys); len(s) > 0 {
		return s[0]
	}
	return ""
}

func propStrings(e dtEntity, keys []string) []string {
	for _, k := range keys {
		raw, ok := e.Properties[k]
		if !ok {
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) == nil && s != "" {
			return []string{s}
		}
		var list []string
		if json.Unmarshal(raw, &list) == nil && len(list) > 0 {
			return list
		}
		var obj map[string]any
		if json.Unmarshal(raw, &obj) == nil && len(obj) > 0 {
			if st, ok := obj["state"].(string); ok { // a structured status
				return []string{st}
			}
		}
	}
	return nil
}
