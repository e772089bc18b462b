package hub

import (
	"net/url"
	"testing"
)

func TestTheTokenGoesOnlyToDockerHubHosts(t *testing.T) {
	tests := []struct {
		name string
		base string
		next string
		want bool
	}{
		{"the API host itself", "https://hub.docker.com", "https://hub.docker.com/v2/x?page=2", true},
		{"a sibling under the parent domain (real next links)", "https://hub.docker.com", "https://registry.hub.docker.com/v2/x?page=2", true},
		{"the parent domain", "https://hub.docker.com", "https://docker.com/v2/x", true},
		{"host names are case-insensitive", "https://hub.docker.com", "https://Registry.Hub.Docker.COM/v2/x", true},
		{"another domain", "https://hub.docker.com", "https://evil.example/v2/x", false},
		{"a look-alike suffix", "https://hub.docker.com", "https://notdocker.com/v2/x", false},
		{"a downgrade to plain http", "https://hub.docker.com", "http://registry.hub.docker.com/v2/x", false},
		{"a two-label base trusts only itself", "https://docker.com", "https://evil.com/v2/x", false},
		{"a stand-in on a single-label host, other port", "http://fakehub:8081", "http://fakehub:9999/v2/x", true},
		{"a stand-in, another single-label host", "http://fakehub:8081", "http://other:8081/v2/x", false},
		{"an IP base trusts only itself", "http://127.0.0.1:8081", "http://127.0.0.2:8081/v2/x", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(Config{BaseURL: tt.base})
			u, err := url.Parse(tt.next)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.mayCarryToken(u); got != tt.want {
				t.Errorf("mayCarryToken(%s) from %s = %v, want %v", tt.next, tt.base, got, tt.want)
			}
		})
	}
}
