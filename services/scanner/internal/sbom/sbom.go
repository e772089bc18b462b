// Package sbom reads Docker Scout's SBOM (`docker scout sbom --format json`): what the image is (OS,
// platform, package count) and who supplies each package, so findings can carry the supplier.
package sbom

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/package-url/packageurl-go"

	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
)

// ErrMalformed means the output is not a Scout SBOM.
var ErrMalformed = errors.New("malformed SBOM")

// SBOM is the part of Scout's SBOM the scanner uses.
type SBOM struct {
	Summary *imagev1.SbomSummary
	// Suppliers maps a purl without qualifiers and subpath to the package's author. A finding's type
	// comes from its purl, which always agrees with the artifact's type.
	Suppliers map[string]string
}

type document struct {
	Source struct {
		Image struct {
			Name   string `json:"name"`
			Digest string `json:"digest"`
			Distro struct {
				OSName    string `json:"os_name"`
				OSVersion string `json:"os_version"`
			} `json:"distro"`
			Platform struct {
				OS           string `json:"os"`
				Architecture string `json:"architecture"`
				Variant      string `json:"variant"`
			} `json:"platform"`
		} `json:"image"`
	} `json:"source"`
	Artifacts []struct {
		Purl   string `json:"purl"`
		Author string `json:"author"`
	} `json:"artifacts"`
	Descriptor struct {
		Name string `json:"name"`
	} `json:"descriptor"`
}

// Parse reads the first JSON value of data (trailing hints are ignored).
func Parse(data []byte) (*SBOM, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return nil, fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	var doc document
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if doc.Descriptor.Name == "" && doc.Source.Image.Digest == "" {
		return nil, fmt.Errorf("%w: neither a descriptor nor a source image", ErrMalformed)
	}
	im := doc.Source.Image
	platform := ""
	if im.Platform.OS != "" {
		platform = im.Platform.OS + "/" + im.Platform.Architecture
		if im.Platform.Variant != "" {
			platform += "/" + im.Platform.Variant
		}
	}
	s := &SBOM{
		Summary: &imagev1.SbomSummary{OsName: im.Distro.OSName, OsVersion: im.Distro.OSVersion,
			PackageCount: int64(len(doc.Artifacts)), Platform: platform},
		Suppliers: make(map[string]string, len(doc.Artifacts)),
	}
	for _, a := range doc.Artifacts {
		if k := Key(a.Purl); k != "" && a.Author != "" {
			s.Suppliers[k] = a.Author
		}
	}
	return s, nil
}

// Key is a purl without qualifiers and subpath: SARIF and SBOM purls of one package agree on it.
func Key(purl string) string {
	u, err := packageurl.FromString(purl)
	if err != nil {
		return ""
	}
	u.Qualifiers, u.Subpath = nil, ""
	return strings.ToLower(u.ToString())
}

// Enrich sets the supplier of every finding whose package the SBOM lists.
func (s *SBOM) Enrich(findings []*imagev1.Finding) {
	if s == nil {
		return
	}
	for _, f := range findings {
		if f.GetPackage() == nil {
			continue
		}
		if sup, ok := s.Suppliers[Key(f.GetPackage().GetPurl())]; ok {
			f.Package.Supplier = sup
		}
	}
}
