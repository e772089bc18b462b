package inventory

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/scoutbridge/scoutbridge/pkg/config"
	"github.com/scoutbridge/scoutbridge/pkg/testutil"
)

// startFakeDynatrace runs the stand-in (tools/fakedynatrace) and loads entities into it.
func startFakeDynatrace(t *testing.T, token string, entities []map[string]any) string {
	t.Helper()
	bin := testutil.BuildBinary(t, "tools/fakedynatrace")
	addr := testutil.FreeAddr(t)
	testutil.StartProcess(t, bin, []string{"FAKEDT_ENTITIES_TOKEN=" + token}, "-addr", addr, "-events-file", filepath.Join(t.TempDir(), "events.jsonl"))
	base := "http://" + addr
	body, _ := json.Marshal(map[string]any{"entities": entities})
	testutil.Eventually(t, 20*time.Second, func() bool {
		req, _ := http.NewRequest(http.MethodPut, base+"/_fake/entities", bytes.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusNoContent
	}, "the stand-in did not accept entities")
	return base
}

func dtEntities() []map[string]any {
	now := time.Now()
	ms := func(ago time.Duration) int64 { return now.Add(-ago).UnixMilli() }
	rel := func(ids ...string) []map[string]any {
		var out []map[string]any
		for _, id := range ids {
			out = append(out, map[string]any{"id": id, "type": "X"})
		}
		return out
	}
	return []map[string]any{
		{"entityId": "CONTAINER_GROUP_INSTANCE-1", "type": "CONTAINER_GROUP_INSTANCE", "displayName": "api-pod", "lastSeenTms": ms(10 * time.Minute),
			"properties": map[string]any{"containerImageDigest": idxDigest, "containerImageName": "acme/api", "containerStatus": "{containerId=abc, state=running}",
				"workloadName": "api", "containerNames": []string{"api"}, "namespaceName": "shop"},
			"fromRelationships": map[string]any{"isCgiOfHost": rel("HOST-1")}},
		{"entityId": "CONTAINER_GROUP_INSTANCE-2", "type": "CONTAINER_GROUP_INSTANCE", "displayName": "web", "lastSeenTms": ms(time.Minute),
			"properties":      map[string]any{"containerImageDigest": platDigest, "containerStatus": map[string]any{"state": "RUNNING"}},
			"toRelationships": map[string]any{"isPgiOfCgi": rel("PROCESS_GROUP_INSTANCE-2")}},
		{"entityId": "CONTAINER_GROUP_INSTANCE-3", "type": "CONTAINER_GROUP_INSTANCE", "displayName": "stopped", "lastSeenTms": ms(time.Minute),
			"properties": map[string]any{"containerImageDigest": cfgDigest, "containerStatus": "state=stopped"}},
		{"entityId": "CONTAINER_GROUP_INSTANCE-4", "type": "CONTAINER_GROUP_INSTANCE", "displayName": "no-status", "lastSeenTms": ms(time.Hour),
			"properties": map[string]any{"containerImageDigest": cfgDigest}},
		{"entityId": "CONTAINER_GROUP_INSTANCE-5", "type": "CONTAINER_GROUP_INSTANCE", "displayName": "gone", "lastSeenTms": ms(5 * time.Hour),
			"properties": map[string]any{"containerImageDigest": idxDigest, "containerStatus": "running"}},
		{"entityId": "CONTAINER_GROUP_INSTANCE-6", "type": "CONTAINER_GROUP_INSTANCE", "displayName": "no-digest", "lastSeenTms": ms(time.Minute),
			"properties": map[string]any{"containerStatus": "running"}},
		{"entityId": "PROCESS_GROUP_INSTANCE-1", "type": "PROCESS_GROUP_INSTANCE", "displayName": "java",
			"properties":        map[string]any{"releasesStage": "production", "releasesProduct": "shop"},
			"fromRelationships": map[string]any{"isPgiOfCgi": rel("CONTAINER_GROUP_INSTANCE-1")}},
		{"entityId": "PROCESS_GROUP_INSTANCE-2", "type": "PROCESS_GROUP_INSTANCE", "displayName": "nginx",
			"properties": map[string]any{"releasesStage": "staging"}},
		{"entityId": "PROCESS_GROUP_INSTANCE-3", "type": "PROCESS_GROUP_INSTANCE", "displayName": "no-props"},
	}
}

func TestDynatraceSourceAgainstTheStandIn(t *testing.T) {
	base := startFakeDynatrace(t, "dt0c01.entities-token", dtEntities())
	src := NewDynatrace(base, config.NewSecret("dt0c01.entities-token"), 3*time.Hour)
	src.pageSize = 2 // several pages of each type
	cs, err := src.Poll(t.Context())
	must(t, err)
	type view struct{ ID, Name, Workload, Namespace, Host, State, Stage, Product, Digest string }
	var got []view
	for _, c := range cs {
		got = append(got, view{c.ID, c.Name, c.Workload, c.Namespace, c.Host, c.State, c.Stage, c.Product, c.ImageDigest})
		if c.LastSeen.IsZero() {
			t.Errorf("%s has no last seen time", c.ID)
		}
	}
	sort.Slice(got, func(i, j int) bool { return got[i].ID < got[j].ID })
	want := []view{
		{"CONTAINER_GROUP_INSTANCE-1", "api", "api", "shop", "HOST-1", "running", "production", "shop", idxDigest},
		{"CONTAINER_GROUP_INSTANCE-2", "web", "", "", "", "running", "staging", "", platDigest},
		// no containerStatus: seen within the window counts as running
		{"CONTAINER_GROUP_INSTANCE-4", "no-status", "", "", "", "seen", "", "", cfgDigest},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("containers:\n got %+v\nwant %+v", got, want)
	}
}

func TestDynatraceSourceWithAWrongToken(t *testing.T) {
	base := startFakeDynatrace(t, "right", dtEntities())
	inv := New(3*time.Hour, NewDynatrace(base, config.NewSecret("wrong-secret-token"), 3*time.Hour))
	if err := inv.Poll(t.Context()); err == nil {
		t.Fatal("poll with a wrong token succeeded")
	}
	h := inv.Health()[0]
	if h.Healthy || !strings.Contains(h.LastError, "401") || strings.Contains(h.LastError, "wrong-secret-token") {
		t.Errorf("health %+v: want unhealthy, 401, no token", h)
	}
}

func TestStandInPagingRules(t *testing.T) {
	base := startFakeDynatrace(t, "tok", dtEntities())
	get := func(q url.Values) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodGet, base+"/api/v2/entities?"+q.Encode(), nil)
		req.Header.Set("Authorization", "Api-Token tok")
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	code, first := get(url.Values{"entitySelector": {`type("CONTAINER_GROUP_INSTANCE")`}, "pageSize": {"2"}, "from": {"now-3h"}})
	if code != 200 || first["totalCount"].(float64) != 5 || len(first["entities"].([]any)) != 2 {
		t.Fatalf("first page: %d %v", code, first)
	}
	if _, ok := first["entities"].([]any)[0].(map[string]any)["properties"]; ok {
		t.Error("properties returned without fields=+properties")
	}
	key := first["nextPageKey"].(string)
	if code, _ := get(url.Values{"nextPageKey": {key}, "pageSize": {"2"}}); code != http.StatusBadRequest {
		t.Errorf("nextPageKey with another parameter: %d, want 400", code)
	}
	pages := 1
	for key != "" {
		code, p := get(url.Values{"nextPageKey": {key}})
		if code != 200 {
			t.Fatalf("page %d: %d %v", pages+1, code, p)
		}
		pages++
		key, _ = p["nextPageKey"].(string)
	}
	if pages != 3 {
		t.Errorf("%d pages for 5 entities of 2 per page, want 3", pages)
	}
	if code, _ := get(url.Values{"entitySelector": {`type("X")`}, "pageSize": {"0"}}); code != http.StatusBadRequest {
		t.Errorf("pageSize 0: %d, want 400", code)
	}
	if code, _ := get(url.Values{"pageSize": {"5"}}); code != http.StatusBadRequest {
		t.Errorf("no entitySelector: %d, want 400", code)
	}
}
