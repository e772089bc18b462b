package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
)

// pkgSpec is one package the generated image contains.
type pkgSpec struct {
	typ, namespace, name, version, qualifiers string
	paths                                     []string
}

func (p pkgSpec) purl() string {
	s := "pkg:" + p.typ + "/"
	if p.namespace != "" {
		s += p.namespace + "/"
	}
	s += p.name + "@" + strings.ReplaceAll(p.version, "+", "%2B")
	if p.qualifiers != "" {
		s += "?" + p.qualifiers
	}
	return s
}

var (
	debNames  = []string{"openssl", "libc6", "zlib1g", "tar", "perl-base", "libssh2-1", "curl", "libxml2", "ncurses-base", "systemd"}
	apkNames  = []string{"libexpat", "busybox", "musl", "libcrypto3", "zlib", "sqlite-libs"}
	npmNames  = []string{"ansi-regex", "express", "@isaacs/cliui", "path-to-regexp", "body-parser", "semver", "cookie", "send"}
	goNames   = []string{"golang.org/x/crypto", "golang.org/x/net", "google.golang.org/grpc", "github.com/docker/docker"}
	pypiNames = []string{"pillow", "requests", "urllib3", "jinja2"}
	severity  = []string{"CRITICAL", "HIGH", "MEDIUM", "LOW", "UNSPECIFIED"}
	levels    = map[string]string{"CRITICAL": "error", "HIGH": "error", "MEDIUM": "warning", "LOW": "note", "UNSPECIFIED": "none"}
	cwe       = []string{"Out-of-bounds Write", "Inefficient Regular Expression Complexity", "Improper Input Validation", "Use After Free", ""}
)

// The SARIF types, declared in the key order Scout writes.
type sarifDoc struct {
	Version string     `json:"version"`
	Schema  string     `json:"$schema"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	FullName       string      `json:"fullName"`
	InformationURI string      `json:"informationUri"`
	Name           string      `json:"name"`
	Rules          []sarifRule `json:"rules"`
	Version        string      `json:"version"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifHelp struct {
	Text     string `json:"text"`
	Markdown string `json:"markdown"`
}

type sarifRule struct {
	ID               string         `json:"id"`
	Name             string         `json:"name"`
	ShortDescription sarifText      `json:"shortDescription"`
	HelpURI          string         `json:"helpUri"`
	Help             sarifHelp      `json:"help"`
	Properties       map[string]any `json:"properties"` // keys sorted, as Scout's are
}

type sarifResult struct {
	RuleID    string          `json:"ruleId"`
	RuleIndex int             `json:"ruleIndex"`
	Kind      string          `json:"kind"`
	Level     string          `json:"level"`
	Message   sarifText       `json:"message"`
	Locations []sarifLocation `json:"locations"`
}

type sarifLocation struct {
	PhysicalLocation struct {
		ArtifactLocation struct {
			URI string `json:"uri"`
		} `json:"artifactLocation"`
	} `json:"physicalLocation"`
}

// rngFor is a random source seeded by the digest, so every run for one digest gives the same report.
func rngFor(digest string) *rand.Rand {
	sum := sha256.Sum256([]byte(digest))
	return rand.New(rand.NewPCG(binary.BigEndian.Uint64(sum[:8]), binary.BigEndian.Uint64(sum[8:16])))
}

// makePackage builds package i of the image.
func makePackage(rng *rand.Rand, i int) pkgSpec {
	v := fmt.Sprintf("%d.%d.%d", rng.IntN(5), rng.IntN(30), rng.IntN(20))
	var p pkgSpec
	switch i % 5 {
	case 0:
		name := debNames[rng.IntN(len(debNames))]
		p = pkgSpec{typ: "deb", namespace: "debian", name: name, version: v + "-1+deb12u1",
			qualifiers: "os_distro=bookworm&os_name=debian&os_version=12", paths: []string{"/var/lib/dpkg/status"}}
		// Some Debian packages are found in hundreds of files, as in the real samples.
		if i%10 == 0 {
			for j := range 120 {
				p.paths = append(p.paths, fmt.Sprintf("/usr/share/doc/%s/file-%03d", name, j))
			}
		}
	case 1:
		p = pkgSpec{typ: "npm", name: npmNames[rng.IntN(len(npmNames))], version: v}
		if strings.HasPrefix(p.name, "@") {
			p.namespace, p.name, _ = strings.Cut(p.name, "/")
			p.namespace = strings.ReplaceAll(p.namespace, "@", "%40")
		}
		for j := range 1 + rng.IntN(4) {
			p.paths = append(p.paths, fmt.Sprintf("/usr/local/lib/node_modules/npm/node_modules/dep%d/node_modules/%s/package.json", j, p.name))
		}
	case 2:
		p = pkgSpec{typ: "golang", name: goNames[rng.IntN(len(goNames))], version: "v" + v, paths: []string{"/usr/local/bin/app"}}
		p.namespace, p.name = splitGo(p.name)
	case 3:
		p = pkgSpec{typ: "apk", namespace: "alpine", name: apkNames[rng.IntN(len(apkNames))], version: v + "-r0",
			qualifiers: "arch=x86_64&distro=alpine-3.21.3", paths: []string{"/lib/apk/db/installed"}}
	default:
		p = pkgSpec{typ: "pypi", name: pypiNames[rng.IntN(len(pypiNames))], version: v,
			paths: []string{fmt.Sprintf("/usr/lib/python3/dist-packages/%s-%s.dist-info/METADATA", pypiNames[i%len(pypiNames)], v)}}
	}
	return p
}

func splitGo(path string) (string, string) {
	i := strings.LastIndex(path, "/")
	return path[:i], path[i+1:]
}

// facts are the per-package lines of a result's message.
type facts struct {
	id, sev, purl, affected, fixed, score, vector, epss, pct string
}

// messageText renders the facts the way Scout does: "  <label padded to 15> : <value padded>".
func messageText(f facts) string {
	rows := [][2]string{{"Vulnerability", f.id}, {"Severity", f.sev}, {"Package", f.purl}, {"Affected range", f.affected}, {"Fixed version", f.fixed}}
	if f.score != "" {
		rows = append(rows, [2]string{"CVSS Score", f.score}, [2]string{"CVSS Vector", f.vector})
	}
	if f.epss != "" {
		rows = append(rows, [2]string{"EPSS Score", f.epss}, [2]string{"EPSS Percentile", f.pct})
	}
	width := 0
	for _, r := range rows {
		width = max(width, len(r[1]))
	}
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "  %-15s : %-*s  \n", r[0], width, r[1])
	}
	return b.String()
}

// sarifReport generates a SARIF 2.1.0 report with exactly n results for the digest: every fourth rule
// lists two purls (two results, each with its own fixed version), severities cycle through all five,
// every third vector is CVSS 4.0, every fifth fix is "not fixed", some packages have 120 locations.
func sarifReport(repo, digest string, n int) []byte {
	rng := rngFor(digest)
	rules := []sarifRule{}
	results := []sarifResult{}
	for ri := 0; len(results) < n; ri++ {
		sev := severity[ri%len(severity)]
		id := fmt.Sprintf("CVE-%d-%d", 2019+rng.IntN(7), 1000+rng.IntN(60000))
		if ri%7 == 6 {
			id = fmt.Sprintf("GHSA-%04x-%04x-%04x", rng.IntN(65536), rng.IntN(65536), rng.IntN(65536))
		}
		npk := 1
		if ri%4 == 3 && n-len(results) >= 2 {
			npk = 2
		}
		pkgs := []pkgSpec{makePackage(rng, ri)}
		if npk == 2 {
			second := pkgs[0]
			second.version = fmt.Sprintf("%d.%d.%d", 5+rng.IntN(3), rng.IntN(10), rng.IntN(10))
			second.paths = []string{strings.Replace(pkgs[0].paths[0], "dep0", "dep9", 1) + ".second"}
			pkgs = append(pkgs, second)
		}
		var score float64
		switch sev {
		case "CRITICAL":
			score = 9 + float64(rng.IntN(10))/10
		case "HIGH":
			score = 7 + float64(rng.IntN(19))/10
		case "MEDIUM":
			score = 4 + float64(rng.IntN(29))/10
		case "LOW":
			score = 0.1 + float64(rng.IntN(38))/10
		}
		vector := "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
		if ri%3 == 1 {
			vector = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:N"
		}
		scoreText := fmt.Sprintf("%.1f", score)
		var all []facts
		purls := []string{}
		for pi, p := range pkgs {
			f := facts{id: id, sev: sev, purl: p.purl(), affected: "<" + bump(p.version), fixed: bump(p.version)}
			if (ri+pi)%5 == 4 {
				f.affected, f.fixed = ">="+p.version, "not fixed"
			}
			if sev != "UNSPECIFIED" && ri%6 != 5 {
				f.score, f.vector = scoreText, vector
			}
			if ri%2 == 0 {
				f.epss, f.pct = fmt.Sprintf("%.6f", rng.Float64()/10), fmt.Sprintf("%.6f", rng.Float64())
			}
			all = append(all, f)
			purls = append(purls, p.purl())
		}
		// As in the real output, the rule's own range and fix describe only its last package.
		last := all[len(all)-1]
		props := map[string]any{
			"affected_version": last.affected, "cvssV3_severity": sev, "fixed_version": last.fixed,
			"purls": purls, "security-severity": scoreText, "tags": []string{sev},
		}
		if last.score != "" {
			props["cvssV3"] = score
			props["cvssV3_vector"] = vector
		}
		title := id
		if c := cwe[ri%len(cwe)]; c != "" {
			title += ": " + c
		}
		rules = append(rules, sarifRule{
			ID: id, Name: "OsPackageVulnerability", ShortDescription: sarifText{title},
			HelpURI: "https://scout.docker.com/v/" + id,
			Help: sarifHelp{
				Text:     fmt.Sprintf("A %s vulnerability in %s (generated by the scoutbridge stand-in).\n", strings.ToLower(sev), pkgs[0].name),
				Markdown: fmt.Sprintf("> A %s vulnerability in %s.\n\n|                |     |\n|----------------|-----|\n| Package        | %s |\n", strings.ToLower(sev), pkgs[0].name, purls[0]),
			},
			Properties: props,
		})
		for pi, p := range pkgs {
			locs := make([]sarifLocation, len(p.paths))
			for i, path := range p.paths {
				locs[i].PhysicalLocation.ArtifactLocation.URI = path
			}
			results = append(results, sarifResult{RuleID: id, RuleIndex: ri, Kind: "fail", Level: levels[sev],
				Message: sarifText{messageText(all[pi])}, Locations: locs})
		}
	}
	doc := sarifDoc{
		Version: "2.1.0",
		Schema:  "https://raw.githubusercontent.com/oasis-tcs/sarif-spec/master/Schemata/sarif-schema-2.1.0.json",
		Runs: []sarifRun{{
			Tool: sarifTool{Driver: sarifDriver{
				FullName: "Docker Scout", InformationURI: "https://docker.com/products/docker-scout",
				Name: "docker scout", Rules: rules, Version: strings.TrimPrefix(version, "v"),
			}},
			Results: results,
		}},
	}
	// Scout does not HTML-escape ('>' and '&' stay as they are).
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	_ = enc.Encode(doc)
	return buf.Bytes()
}

// bump gives a version just above v, the "fixed" one.
func bump(v string) string {
	i := strings.LastIndexAny(v, "0123456789")
	if i < 0 {
		return v + ".1"
	}
	return v[:i] + string(v[i]+1) + v[i+1:]
}
