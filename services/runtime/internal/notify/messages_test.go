package notify

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/scoutbridge/scoutbridge/pkg/config"
)

func TestSlackMessageKeepsItsLinksWhateverTheTitleSays(t *testing.T) {
	r := rows(1)[0]
	r.Title = "heap overflow in <b>parse</b> & friends for versions < 3.1"
	r.FixedVersions = []string{">= 3.1"}
	body, err := NewSlack(config.NewSecret("http://x"), time.Second).Body(r)
	must(t, err)
	var m struct{ Text string }
	must(t, json.Unmarshal(body, &m))
	for _, want := range []string{
		"<https://scout.docker.com/v/CVE-2026-A|CVE-2026-A>",
		"<https://hub.docker.com/r/acme/api|docker.io/acme/api>",
		"heap overflow in &lt;b&gt;parse&lt;/b&gt; &amp; friends for versions &lt; 3.1",
		"*Fixed in:* &gt;= 3.1",
	} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("slack text lacks %q:\n%s", want, m.Text)
		}
	}
	// Only the message's own links open with "<": nothing from the finding can start one.
	if n := strings.Count(m.Text, "<"); n != 2 {
		t.Errorf("%d \"<\" in the text, want the 2 links:\n%s", n, m.Text)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
