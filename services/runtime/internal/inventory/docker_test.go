package inventory

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// fakeEngine answers the four Docker Engine API calls the source makes, as an engine with the
// containerd image store (API >= 1.48, ImageManifestDescriptor) answers them.
func fakeEngine(t *testing.T) *httptest.Server {
	t.Helper()
	const list = `[
	 {"Id":"c1","Names":["/shop-api-1"],"Image":"acme/api:1.0","ImageID":"` + cfgDigest + `","State":"running",
	  "ImageManifestDescriptor":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + platDigest + `"}},
	 {"Id":"gone","Names":["/gone"],"Image":"acme/api:1.0","ImageID":"` + cfgDigest + `","State":"running"},
	 {"Id":"c3","Names":["/exited"],"Image":"acme/api:1.0","ImageID":"` + cfgDigest + `","State":"exited"},
	 {"Id":"c4","Names":["/local"],"Image":"sha256:4444444444444444444444444444444444444444444444444444444444444444",
	  "ImageID":"sha256:4444444444444444444444444444444444444444444444444444444444444444","State":"running"}]`
	answers := map[string]string{
		"/info":            `{"Name":"build-host"}`,
		"/containers/json": list,
		"/containers/c1/json": `{"Name":"/shop-api-1","Config":{"Env":["PATH=/bin","APP_STAGE=production","APP_PRODUCT=shop"],
		  "Labels":{"team.stage":"staging","com.docker.compose.service":"api"}}}`,
		"/containers/c4/json":            `{"Name":"/local","Config":{"Labels":{"team.stage":"Production","dynatrace-release-stage":"ignored"}}}`,
		"/images/" + cfgDigest + "/json": `{"Id":"` + cfgDigest + `","RepoDigests":["docker.io/acme/api@` + idxDigest + `","mirror.example/acme/api@` + idxDigest + `"]}`,
		// a locally built image: no repository digest
		"/images/sha256:4444444444444444444444444444444444444444444444444444444444444444/json": `{"Id":"sha256:4444444444444444444444444444444444444444444444444444444444444444","RepoDigests":[]}`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := answers[r.URL.Path]
		if !ok {
			http.Error(w, `{"message":"No such container"}`, http.StatusNotFound)
			return
		}
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestDockerSourceReadsDigestsAndConfiguredStageNames(t *testing.T) {
	srv := fakeEngine(t)
	names := StageNames{StageEnv: "APP_STAGE", StageLabel: "team.stage", ProductEnv: "APP_PRODUCT", ProductLabel: "team.product"}
	src, err := NewDocker("tcp://"+strings.TrimPrefix(srv.URL, "http://"), names)
	must(t, err)
	cs, err := src.Poll(t.Context())
	must(t, err)
	sort.Slice(cs, func(i, j int) bool { return cs[i].ID < cs[j].ID })
	type view struct {
		Name, Workload, Host, Stage, Product, ImageName, ImageDigest string
		Digests                                                      []string
	}
	var got []view
	for _, c := range cs {
		got = append(got, view{c.Name, c.Workload, c.Host, c.Stage, c.Product, c.ImageName, c.ImageDigest, c.Digests})
	}
	local := "sha256:4444444444444444444444444444444444444444444444444444444444444444"
	want := []view{
		// the environment variable wins over the label; matched on the repository (index) digest, the
		// platform manifest digest and the config digest
		{"shop-api-1", "api", "build-host", "production", "shop", "acme/api:1.0", idxDigest, []string{idxDigest, platDigest, cfgDigest}},
		// never pushed: only the config digest, and the image is named after it; the configured label,
		// not Dynatrace's default one, names the stage
		{"local", "", "build-host", "Production", "", local, local, []string{local}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("containers (the exited one and the one gone before its inspect left out):\n got %+v\nwant %+v", got, want)
	}
}
