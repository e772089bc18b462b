package inventory

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/scoutbridge/scoutbridge/pkg/config"
)

// KubeConn is how to reach a Kubernetes API server.
type KubeConn struct {
	Server string
	Token  config.Secret
	Client *http.Client
}

const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// KubeConnect finds the API server: KUBECONFIG (its current context) when set, otherwise the in-cluster
// service account.
func KubeConnect(kubeconfig string) (*KubeConn, error) {
	if kubeconfig != "" {
		return loadKubeconfig(kubeconfig)
	}
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" {
		return nil, errors.New("kubernetes: neither KUBECONFIG nor an in-cluster service account (KUBERNETES_SERVICE_HOST) is available")
	}
	tok, err := os.ReadFile(filepath.Join(serviceAccountDir, "token"))
	if err != nil {
		return nil, fmt.Errorf("kubernetes: read service account token: %w", err)
	}
	ca, err := os.ReadFile(filepath.Join(serviceAccountDir, "ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("kubernetes: read service account CA: %w", err)
	}
	tc, err := tlsConfig(ca, nil, nil, false)
	if err != nil {
		return nil, err
	}
	if port == "" {
		port = "443"
	}
	return &KubeConn{Server: "https://" + joinHostPort(host, port), Token: config.NewSecret(strings.TrimSpace(string(tok))),
		Client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}}, nil
}

func joinHostPort(h, p string) string {
	if strings.Contains(h, ":") {
		return "[" + h + "]:" + p
	}
	return h + ":" + p
}

type kubeconfigFile struct {
	CurrentContext string `json:"current-context"`
	Clusters       []struct {
		Name    string `json:"name"`
		Cluster struct {
			Server                   string `json:"server"`
			CertificateAuthority     string `json:"certificate-authority"`
			CertificateAuthorityData string `json:"certificate-authority-data"`
			InsecureSkipTLSVerify    any    `json:"insecure-skip-tls-verify"`
		} `json:"cluster"`
	} `json:"clusters"`
	Users []struct {
		Name string `json:"name"`
		User struct {
			Token                 string `json:"token"`
			TokenFile             string `json:"tokenFile"`
			ClientCertificate     string `json:"client-certificate"`
			ClientCertificateData string `json:"client-certificate-data"`
			ClientKey             string `json:"client-key"`
			ClientKeyData         string `json:"client-key-data"`
		} `json:"user"`
	} `json:"users"`
	Contexts []struct {
		Name    string `json:"name"`
		Context struct {
			Cluster string `json:"cluster"`
			User    string `json:"user"`
		} `json:"context"`
	} `json:"contexts"`
}

// loadKubeconfig reads a kubeconfig (YAML in the block style kubectl writes, or JSON). Errors never
// quote the file's content: it holds credentials.
func loadKubeconfig(path string) (*KubeConn, error) {
	if i := strings.IndexByte(path, os.PathListSeparator); i >= 0 {
		path = path[:i] // the first file of a KUBECONFIG list
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	var kc kubeconfigFile
	if err := json.Unmarshal(raw, &kc); err != nil {
		doc, yerr := parseSimpleYAML(string(raw))
		if yerr != nil {
			return nil, fmt.Errorf("kubeconfig %s: not JSON nor simple YAML: %w", path, yerr)
		}
		b, _ := json.Marshal(doc)
		if err := json.Unmarshal(b, &kc); err != nil {
			return nil, fmt.Errorf("kubeconfig %s: unexpected structure", path)
		}
	}
	base := filepath.Dir(path)
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(base, p)
	}
	ctxName := kc.CurrentContext
	var clusterName, userName string
	for _, c := range kc.Contexts {
		if c.Name == ctxName || ctxName == "" {
			clusterName, userName = c.Context.Cluster, c.Context.User
			break
		}
	}
	conn := &KubeConn{}
	var ca []byte
	insecure := false
	found := false
	for _, c := range kc.Clusters {
		if c.Name != clusterName {
			continue
		}
		found = true
		conn.Server = strings.TrimRight(c.Cluster.Server, "/")
		insecure = fmt.Sprint(c.Cluster.InsecureSkipTLSVerify) == "true"
		if ca, err = dataOrFile(c.Cluster.CertificateAuthorityData, rel(c.Cluster.CertificateAuthority)); err != nil {
			return nil, fmt.Errorf("kubeconfig cluster %s: certificate authority: %w", c.Name, err)
		}
	}
	if !found || conn.Server == "" {
		return nil, fmt.Errorf("kubeconfig %s: no cluster server for context %q", path, ctxName)
	}
	var cert, key []byte
	for _, u := range kc.Users {
		if u.Name != userName {
			continue
		}
		tok := u.User.Token
		if tok == "" && u.User.TokenFile != "" {
			b, err := os.ReadFile(rel(u.User.TokenFile))
			if err != nil {
				return nil, fmt.Errorf("kubeconfig user %s: token file: %w", u.Name, err)
			}
			tok = strings.TrimSpace(string(b))
		}
		conn.Token = config.NewSecret(tok)
		if cert, err = dataOrFile(u.User.ClientCertificateData, rel(u.User.ClientCertificate)); err != nil {
			return nil, fmt.Errorf("kubeconfig user %s: client certificate: %w", u.Name, err)
		}
		if key, err = dataOrFile(u.User.ClientKeyData, rel(u.User.ClientKey)); err != nil {
			return nil, fmt.Errorf("kubeconfig user %s: client key: %w", u.Name, err)
		}
	}
	tc, err := tlsConfig(ca, cert, key, insecure)
	if err != nil {
		return nil, err
	}
	conn.Client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
	return conn, nil
}

func dataOrFile(data, file string) ([]byte, error) {
	if data != "" {
		return base64.StdEncoding.DecodeString(strings.TrimSpace(data))
	}
	if file != "" {
		return os.ReadFile(file)
	}
	return nil, nil
}

func tlsConfig(ca, cert, key []byte, insecure bool) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure} //nolint:gosec // only when the kubeconfig asks
	if len(ca) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			return nil, errors.New("kubernetes: certificate authority holds no PEM certificate")
		}
		tc.RootCAs = pool
	}
	if len(cert) > 0 || len(key) > 0 {
		pair, err := tls.X509KeyPair(cert, key)
		if err != nil {
			return nil, errors.New("kubernetes: client certificate and key do not form a valid pair")
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return tc, nil
}
