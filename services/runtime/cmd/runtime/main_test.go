package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	triagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/triage/v1"
	"github.com/scoutbridge/scoutbridge/pkg/testutil"
)

func TestBinaryServesAndKeepsSecretsOutOfItsLogs(t *testing.T) {
	bin := testutil.BuildBinary(t, "services/runtime/cmd/runtime")
	addr := testutil.FreeAddr(t)
	env := []string{
		"LISTEN_ADDR=" + addr,
		"RUNTIME_DB=" + filepath.Join(t.TempDir(), "runtime.db"),
		"INGEST_ADDR=" + testutil.FreeAddr(t), // nobody listens: following ingest fails and retries
		"RUNTIME_POLL_INTERVAL=200ms",
		"DT_API_URL=http://" + testutil.FreeAddr(t),
		"DT_ENTITIES_TOKEN=dt0c01.super-secret-entities-token",
		"NOTIFY_SLACK_WEBHOOK_URL=http://127.0.0.1:1/services/T0/B0/slack-secret-path",
		"NOTIFY_WEBHOOK_URL=http://127.0.0.1:1/hook",
		"NOTIFY_WEBHOOK_SECRET=hmac-secret-value",
		"LOG_LEVEL=debug",
	}
	p := testutil.StartProcess(t, bin, env)
	testutil.WaitServing(t, addr)
	c := triagev1.NewTriageServiceClient(testutil.Dial(t, addr))
	testutil.Eventually(t, 10*time.Second, func() bool {
		resp, err := c.ListRuntimeImages(t.Context(), &triagev1.ListRuntimeImagesRequest{})
		return err == nil && len(resp.Sources) == 1 && resp.Sources[0].Name == "dynatrace" && !resp.Sources[0].Healthy && resp.Sources[0].LastError != ""
	}, "the unreachable Dynatrace source is not reported unhealthy")
	if _, err := c.NotifyNewFindings(t.Context(), &triagev1.NotifyNewFindingsRequest{}); err == nil {
		t.Error("NotifyNewFindings succeeded with ingest unreachable")
	}
	if code := p.Stop(10 * time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	out := p.Output.String()
	for _, secret := range []string{"super-secret-entities-token", "slack-secret-path", "hmac-secret-value"} {
		if strings.Contains(out, secret) {
			t.Errorf("the log holds a secret (%s):\n%s", secret, out)
		}
	}
}

func TestBinaryRefusesBadSettings(t *testing.T) {
	bin := testutil.BuildBinary(t, "services/runtime/cmd/runtime")
	for setting, env := range map[string][]string{
		"DT_ENTITIES_TOKEN":                   {"DT_API_URL=http://x"},
		"RUNTIME_KUBERNETES_NAMESPACE_STAGES": {"RUNTIME_KUBERNETES_NAMESPACE_STAGES=prod"},
		"RUNTIME_MAX_AGE":                     {"RUNTIME_MAX_AGE=soon"},
	} {
		p := testutil.StartProcess(t, bin, append(env, "LISTEN_ADDR="+testutil.FreeAddr(t), "RUNTIME_DB="+filepath.Join(t.TempDir(), "db")))
		<-p.Done()
		if code := p.ExitCode(); code != 2 || !strings.Contains(p.Output.String(), setting) {
			t.Errorf("%s: exit %d, output %q: want 2 naming the setting", setting, code, p.Output.String())
		}
	}
}
