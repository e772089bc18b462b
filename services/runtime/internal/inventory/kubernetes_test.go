package inventory

import (
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const (
	idxDigest  = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	platDigest = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	cfgDigest  = "sha256:3333333333333333333333333333333333333333333333333333333333333333"
)

// fakeAPIServer answers pod lists in two pages and checks the bearer token.
func fakeAPIServer(t *testing.T, token string) *httptest.Server {
	t.Helper()
	page1 := `{"metadata":{"continue":"next-1"},"items":[
	 {"metadata":{"name":"api-7d9f8b6c5d-x2x9q","namespace":"shop","labels":{"dynatrace-release-stage":"production","dynatrace-release-product":"shop"},
	   "ownerReferences":[{"kind":"ReplicaSet","name":"api-7d9f8b6c5d"}]},
	  "spec":{"nodeName":"node-1","containers":[{"name":"api"},{"name":"sidecar","env":[{"name":"DT_RELEASE_STAGE","value":"staging"}]}]},
	  "status":{"containerStatuses":[
	    {"name":"api","image":"docker.io/acme/api:1.0","imageID":"docker.io/acme/api@` + idxDigest + `","state":{"running":{"startedAt":"2026-11-20T10:00:00Z"}}},
	    {"name":"sidecar","image":"acme/side:2","imageID":"docker-pullable://acme/side@` + platDigest + `","state":{"running":{}}}]}},
	 {"metadata":{"name":"job-1","namespace":"batch"},"spec":{"containers":[{"name":"main"}]},
	  "status":{"containerStatuses":[{"name":"main","image":"acme/job:1","imageID":"docker.io/acme/job@` + idxDigest + `","state":{"terminated":{"exitCode":0}}}]}}]}`
	page2 := `{"metadata":{},"items":[
	 {"metadata":{"name":"worker-0","namespace":"prod-eu","ownerReferences":[{"kind":"StatefulSet","name":"worker"}]},
	  "spec":{"nodeName":"node-2","containers":[{"name":"w","env":[{"name":"OTHER","value":"x"}]}]},
	  "status":{"containerStatuses":[{"name":"w","image":"local/w","imageID":"docker://` + cfgDigest + `","state":{"running":{}}}]}}]}`
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, `{"kind":"Status","code":401}`, http.StatusUnauthorized)
			return
		}
		if r.URL.Path != "/api/v1/pods" {
			http.NotFound(w, r)
			return
		}
		if r.URL.Query().Get("continue") == "next-1" {
			_, _ = w.Write([]byte(page2))
			return
		}
		_, _ = w.Write([]byte(page1))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// writeKubeconfig writes a kubeconfig in the YAML style kubectl writes.
func writeKubeconfig(t *testing.T, srv *httptest.Server, token string) string {
	t.Helper()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	kc := `apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: ` + base64.StdEncoding.EncodeToString(ca) + `
    server: ` + srv.URL + `
  name: test
- cluster:
    server: https://elsewhere.invalid
  name: other
contexts:
- context:
    cluster: other
    user: nobody
  name: other
- context:
    cluster: test
    namespace: default
    user: "tester"
  name: test-ctx
current-context: test-ctx # the one to use
preferences: {}
users:
- name: tester
  user:
    token: ` + token + `
- name: nobody
  user: {}
`
	path := filepath.Join(t.TempDir(), "config")
	must(t, os.WriteFile(path, []byte(kc), 0o600))
	return path
}

func TestKubernetesSource(t *testing.T) {
	srv := fakeAPIServer(t, "k8s-token")
	conn, err := KubeConnect(writeKubeconfig(t, srv, "k8s-token"))
	must(t, err)
	src := NewKubernetes(conn, DefaultStageNames, nil, map[string]string{"prod-eu": "production"})
	cs, err := src.Poll(t.Context())
	must(t, err)
	type view struct{ Name, Workload, Namespace, Host, Stage, Product, Digest string }
	var got []view
	for _, c := range cs {
		got = append(got, view{c.Name, c.Workload, c.Namespace, c.Host, c.Stage, c.Product, c.ImageDigest})
	}
	want := []view{
		// the pod label wins over the container's environment only when the label is set
		{"api-7d9f8b6c5d-x2x9q/api", "api", "shop", "node-1", "production", "shop", idxDigest},
		{"api-7d9f8b6c5d-x2x9q/sidecar", "api", "shop", "node-1", "production", "shop", platDigest},
		// the terminated job container is left out; the namespace mapping names the stage
		{"worker-0/w", "worker", "prod-eu", "node-2", "production", "", cfgDigest},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("containers:\n got %+v\nwant %+v", got, want)
	}
}

func TestKubernetesStageFromEnvWhenNoLabel(t *testing.T) {
	var pod kubePod
	must(t, json.Unmarshal([]byte(`{"metadata":{"name":"p","namespace":"ns"},"spec":{"containers":[{"name":"c","env":[{"name":"DT_RELEASE_STAGE","value":"staging"}]}]},
	 "status":{"containerStatuses":[{"name":"c","imageID":"x@`+idxDigest+`","state":{"running":{}}}]}}`), &pod))
	k := NewKubernetes(&KubeConn{}, DefaultStageNames, nil, map[string]string{"ns": "production"})
	if cs := k.containers(pod); len(cs) != 1 || cs[0].Stage != "staging" {
		t.Errorf("containers %+v: want the env stage before the namespace mapping", cs)
	}
}

func TestKubernetesContainersWithoutAnImageIDAreMatchedOnTheirImageOrLeftOut(t *testing.T) {
	var pod kubePod
	must(t, json.Unmarshal([]byte(`{"metadata":{"name":"p","namespace":"ns"},"status":{"containerStatuses":[
	 {"name":"by-digest","image":"acme/api@`+idxDigest+`","imageID":"","state":{"running":{}}},
	 {"name":"by-tag","image":"acme/api:1.0","imageID":"","state":{"running":{}}}]}}`), &pod))
	cs := NewKubernetes(&KubeConn{}, DefaultStageNames, nil, nil).containers(pod)
	if len(cs) != 1 || cs[0].Name != "p/by-digest" || cs[0].ImageDigest != idxDigest {
		t.Errorf("containers %+v: want only p/by-digest, matched on the digest its image names", cs)
	}
}

func TestKubernetesSourceErrorsKeepTheTokenOut(t *testing.T) {
	srv := fakeAPIServer(t, "right-token")
	conn, err := KubeConnect(writeKubeconfig(t, srv, "wrong-token-value"))
	must(t, err)
	_, err = NewKubernetes(conn, DefaultStageNames, nil, nil).Poll(t.Context())
	if err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "wrong-token-value") {
		t.Fatalf("error %v: want a 401 that does not quote the token", err)
	}
}

func TestKubeconfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad")
	must(t, os.WriteFile(bad, []byte("clusters:\n\t- tab: secret-value\n"), 0o600))
	if _, err := KubeConnect(bad); err == nil || strings.Contains(err.Error(), "secret-value") {
		t.Errorf("bad kubeconfig: %v", err)
	}
	if _, err := KubeConnect(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing kubeconfig was accepted")
	}
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	if _, err := KubeConnect(""); err == nil {
		t.Error("no kubeconfig and no in-cluster account was accepted")
	}
}

func TestParseDigest(t *testing.T) {
	for in, want := range map[string]string{
		"docker.io/library/nginx@" + idxDigest: idxDigest,
		"docker-pullable://nginx@" + idxDigest: idxDigest,
		"docker://" + cfgDigest:                cfgDigest,
		cfgDigest:                              cfgDigest,
		"nginx:latest":                         "",
		"":                                     "",
	} {
		if got := ParseDigest(in); got != want {
			t.Errorf("ParseDigest(%q) = %q, want %q", in, got, want)
		}
	}
}
