package main

import (
	"encoding/json"
	"fmt"
	"strings"
)

// sbomReport generates `docker scout sbom --format json` output: the image source (distro, platform),
// one artifact per package of the SARIF report plus some clean ones, and the descriptor.
func sbomReport(repo, digest, platform string, findings int) []byte {
	rng := rngFor(digest)
	osName, arch, _ := strings.Cut(platform, "/")
	plat := map[string]string{"os": osName, "architecture": arch}
	if arch, variant, ok := strings.Cut(arch, "/"); ok {
		plat["architecture"], plat["variant"] = arch, variant
	}
	artifacts := []map[string]any{}
	seen := map[string]bool{}
	for i := 0; i < findings+7; i++ {
		p := makePackage(rng, i)
		if seen[p.purl()] {
			continue
		}
		seen[p.purl()] = true
		locs := []map[string]string{}
		for _, path := range p.paths[:1] {
			locs = append(locs, map[string]string{"path": path, "digest": "sha256:" + strings.Repeat("ab", 32)})
		}
		artifacts = append(artifacts, map[string]any{
			"type": p.typ, "namespace": p.namespace, "name": p.name, "version": p.version, "purl": p.purl(),
			"author": fmt.Sprintf("%s maintainers <%s@example.org>", p.name, p.name), "licenses": []string{"MIT"},
			"locations": locs,
		})
	}
	doc := map[string]any{
		"source": map[string]any{"type": "image", "image": map[string]any{
			"name": repo, "digest": digest, "tags": []string{},
			"distro":   map[string]string{"os_name": "debian", "os_version": "12"},
			"platform": plat,
			"size":     50_000_000 + rng.IntN(1_000_000),
		}},
		"attestations": []any{},
		"artifacts":    artifacts,
		"descriptor":   map[string]string{"name": "docker-scout", "version": strings.TrimPrefix(version, "v"), "sbom_version": "11"},
	}
	b, _ := json.Marshal(doc)
	return append(b, '\n')
}
