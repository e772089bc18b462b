package sbom

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
	"github.com/scoutbridge/scoutbridge/pkg/testutil"
)

const sample = `{"source":{"type":"image","image":{"name":"acme/api","digest":"sha256:aa","tags":[],
 "distro":{"os_name":"alpine","os_version":"3.21"},"platform":{"os":"linux","architecture":"arm64","variant":"v8"}}},
 "attestations":[],
 "artifacts":[
  {"type":"apk","namespace":"alpine","name":"busybox","version":"1.37.0-r12","purl":"pkg:apk/alpine/busybox@1.37.0-r12?os_name=alpine&os_version=3.21","author":"Sören Tempel <soeren+alpine@soeren-tempel.net>"},
  {"type":"npm","name":"cliui","version":"8.0.2","purl":"pkg:npm/%40isaacs/cliui@8.0.2","author":"Ben Coe"}],
 "descriptor":{"name":"docker-scout","version":"1.17.1","sbom_version":"11"}}
What's next: nothing`

func TestParseSummaryAndSuppliers(t *testing.T) {
	s, err := Parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Summary; got.GetOsName() != "alpine" || got.GetOsVersion() != "3.21" || got.GetPackageCount() != 2 || got.GetPlatform() != "linux/arm64/v8" {
		t.Fatalf("summary %v", got)
	}
	findings := []*imagev1.Finding{
		{Package: &imagev1.Package{Purl: "pkg:apk/alpine/busybox@1.37.0-r12?arch=x86_64&distro=alpine-3.21.3"}},
		{Package: &imagev1.Package{Purl: "pkg:npm/%40isaacs/cliui@8.0.2"}},
		{Package: &imagev1.Package{Purl: "pkg:npm/unknown@1.0.0"}},
	}
	s.Enrich(findings)
	for i, want := range []string{"Sören Tempel <soeren+alpine@soeren-tempel.net>", "Ben Coe", ""} {
		if got := findings[i].GetPackage().GetSupplier(); got != want {
			t.Errorf("finding %d supplier %q, want %q (qualifiers must not matter)", i, got, want)
		}
	}
}

func TestParseRejectsWhatIsNotAnSBOM(t *testing.T) {
	for _, in := range []string{"", "garbage", `{"truncated": `, `{}`} {
		if _, err := Parse([]byte(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%q) = %v, want ErrMalformed", in, err)
		}
	}
}

func TestRealSamples(t *testing.T) {
	dir := filepath.Join(testutil.RepoRoot(t), "..", "shared", "fixtures", "scout")
	files, _ := filepath.Glob(filepath.Join(dir, "sbom-json_*.json"))
	if len(files) == 0 {
		t.Skip("real Scout SBOM samples not present")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s, err := Parse(b)
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(f), err)
		}
		if s.Summary.GetOsName() == "" || s.Summary.GetPackageCount() == 0 || s.Summary.GetPlatform() == "" {
			t.Errorf("%s: summary %v", filepath.Base(f), s.Summary)
		}
	}
}
