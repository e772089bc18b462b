package inventory

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Kubernetes reads running containers from the Kubernetes API (pods' containerStatuses).
type Kubernetes struct {
	conn       *KubeConn
	names      StageNames
	namespaces []string
	nsStages   map[string]string
}

// NewKubernetes lists pods in namespaces (every namespace when empty). nsStages maps a namespace to a
// release stage, used when neither the pod label nor the container's environment names one.
func NewKubernetes(conn *KubeConn, names StageNames, namespaces []string, nsStages map[string]string) *Kubernetes {
	return &Kubernetes{conn: conn, names: names, namespaces: namespaces, nsStages: nsStages}
}

// Name is "kubernetes".
func (k *Kubernetes) Name() string { return "kubernetes" }

type kubePodList struct {
	Metadata struct {
		Continue string `json:"continue"`
	} `json:"metadata"`
	Items []kubePod `json:"items"`
}

type kubePod struct {
	Metadata struct {
		Name            string            `json:"name"`
		Namespace       string            `json:"namespace"`
		UID             string            `json:"uid"`
		Labels          map[string]string `json:"labels"`
		OwnerReferences []struct {
			Kind string `json:"kind"`
			Name string `json:"name"`
		} `json:"ownerReferences"`
	} `json:"metadata"`
	Spec struct {
		NodeName   string `json:"nodeName"`
		Containers []struct {
			Name string `json:"name"`
			Env  []struct {
				Name  string `json:"name"`
				Value string `json:"value"`
			} `json:"env"`
		} `json:"containers"`
	} `json:"spec"`
	Status struct {
		ContainerStatuses []struct {
			Name        string `json:"name"`
			Image       string `json:"image"`
			ImageID     string `json:"imageID"`
			ContainerID string `json:"containerID"`
			State       struct {
				Running *struct {
					StartedAt string `json:"startedAt"`
				} `json:"running"`
			} `json:"state"`
		} `json:"containerStatuses"`
	} `json:"status"`
}

// Poll lists pods page by page and returns their running containers.
func (k *Kubernetes) Poll(ctx context.Context) ([]Container, error) {
	paths := []string{"/api/v1/pods"}
	if len(k.namespaces) > 0 {
		paths = paths[:0]
		for _, ns := range k.namespaces {
			paths = append(paths, "/api/v1/namespaces/"+url.PathEscape(ns)+"/pods")
		}
	}
	var out []Container
	for _, path := range paths {
		cont := ""
		for {
			q := url.Values{"limit": {"500"}}
			if cont != "" {
				q.Set("continue", cont)
			}
			var list kubePodList
			if err := k.get(ctx, path+"?"+q.Encode(), &list); err != nil {
				return nil, err
			}
			for _, pod := range list.Items {
				out = append(out, k.containers(pod)...)
			}
			if cont = list.Metadata.Continue; cont == "" {
				break
			}
		}
	}
	return out, nil
}

func (k *Kubernetes) containers(pod kubePod) []Container {
	md := pod.Metadata
	var out []Container
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.State.Running == nil {
			continue
		}
		env := map[string]string{}
		for _, sc := range pod.Spec.Containers {
			if sc.Name == cs.Name {
				for _, e := range sc.Env {
					env[e.Name] = e.Value
				}
			}
		}
		c := Container{
			ID: md.Namespace + "/" + md.Name + "/" + cs.Name, Name: md.Name + "/" + cs.Name,
			Workload: workloadOf(pod), Namespace: md.Namespace, Host: pod.Spec.NodeName, State: "running",
			Stage:     firstNonEmpty(md.Labels[k.names.StageLabel], env[k.names.StageEnv], k.nsStages[md.Namespace]),
			Product:   firstNonEmpty(md.Labels[k.names.ProductLabel], env[k.names.ProductEnv]),
			ImageName: cs.Image,
		}
		c.Digests = addDigest(c.Digests, cs.ImageID)
		if strings.Contains(cs.Image, "@") { // a pod that names its image by digest
			c.Digests = addDigest(c.Digests, cs.Image)
		}
		if len(c.Digests) == 0 {
			continue // no imageID yet: nothing to match findings on
		}
		c.ImageDigest = c.Digests[0]
		out = append(out, c)
	}
	return out
}

var replicaSetHash = regexp.MustCompile(`-[a-z0-9]{5,10}$`)

// workloadOf names the pod's workload: its owner, with a ReplicaSet's hash cut off to give the
// Deployment.
func workloadOf(pod kubePod) string {
	for _, o := range pod.Metadata.OwnerReferences {
		if o.Kind == "ReplicaSet" {
			return replicaSetHash.ReplaceAllString(o.Name, "")
		}
		return o.Name
	}
	return ""
}

func (k *Kubernetes) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.conn.Server+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if k.conn.Token.IsSet() {
		req.Header.Set("Authorization", "Bearer "+k.conn.Token.Reveal())
	}
	client := k.conn.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("kubernetes GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return &httpStatusError{what: "kubernetes GET " + path, status: resp.StatusCode, body: strings.TrimSpace(string(b))}
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("kubernetes GET %s: decode: %w", path, err)
	}
	return nil
}

// ParseStageMap reads "namespace=stage,namespace=stage" (RUNTIME_KUBERNETES_NAMESPACE_STAGES).
func ParseStageMap(items []string) (map[string]string, error) {
	m := map[string]string{}
	for _, it := range items {
		ns, stage, ok := strings.Cut(it, "=")
		ns, stage = strings.TrimSpace(ns), strings.TrimSpace(stage)
		if !ok || ns == "" || stage == "" {
			return nil, fmt.Errorf("%q is not namespace=stage", it)
		}
		m[ns] = stage
	}
	return m, nil
}
