package server_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/timestamppb"

	orchestratorv1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/orchestrator/v1"
	"github.com/scoutbridge/scoutbridge/pkg/chassis"
	"github.com/scoutbridge/scoutbridge/pkg/config"
	"github.com/scoutbridge/scoutbridge/pkg/grpcclient"
	"github.com/scoutbridge/scoutbridge/pkg/retry"
	"github.com/scoutbridge/scoutbridge/pkg/testutil"
	"github.com/scoutbridge/scoutbridge/services/orchestrator/internal/peers"
	"github.com/scoutbridge/scoutbridge/services/orchestrator/internal/peertest"
	"github.com/scoutbridge/scoutbridge/services/orchestrator/internal/run"
	"github.com/scoutbridge/scoutbridge/services/orchestrator/internal/server"
	"github.com/scoutbridge/scoutbridge/services/orchestrator/internal/store"
)

const token = "s3cret-orchestrator-token"

// newAPI serves the OrchestratorService over bufconn, with peers on loopback.
func newAPI(t *testing.T, tok string) (orchestratorv1.OrchestratorServiceClient, *peertest.Peers, *testutil.SyncBuffer) {
	t.Helper()
	p := peertest.Start(t)
	st, err := store.Open(t.Context(), t.TempDir()+"/o.db")
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpcclient.New(p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	logs := &testutil.SyncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	o, err := run.New(ctx, st, peers.NewDiscovery(cc), peers.NewScanner(cc), peers.NewIngest(cc), nil,
		run.Options{MaxAttempts: 2, Backoff: retry.Backoff{Initial: time.Millisecond}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := chassis.NewGRPCServer(log)
	orchestratorv1.RegisterOrchestratorServiceServer(srv, server.New(o, config.NewSecret(tok), log))
	lis := bufconn.Listen(1 << 20)
	go func() { _ = srv.Serve(lis) }()
	conn, err := grpc.NewClient("passthrough:///bufnet", grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		srv.Stop()
		cancel()
		o.Wait()
		cc.Close()
		st.Close()
	})
	return orchestratorv1.NewOrchestratorServiceClient(conn), p, logs
}

func bearer(ctx context.Context, tok string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
}

func waitDone(t *testing.T, c orchestratorv1.OrchestratorServiceClient, id string) *orchestratorv1.GetRunResponse {
	t.Helper()
	var resp *orchestratorv1.GetRunResponse
	testutil.Eventually(t, 20*time.Second, func() bool {
		var err error
		resp, err = c.GetRun(context.Background(), &orchestratorv1.GetRunRequest{RunId: id})
		return err == nil && resp.GetRun().GetFinishedAt() != nil
	}, "run %s did not finish", id)
	return resp
}

func TestControlCallsNeedTheTokenAndReadsStayOpen(t *testing.T) {
	c, _, logs := newAPI(t, token)
	cases := map[string]struct {
		ctx  context.Context
		want codes.Code
	}{
		"no authorization metadata":  {t.Context(), codes.Unauthenticated},
		"a wrong token":              {bearer(t.Context(), "guess"), codes.Unauthenticated},
		"the token without Bearer":   {metadata.AppendToOutgoingContext(t.Context(), "authorization", token), codes.Unauthenticated},
		"a token one character long": {bearer(t.Context(), token+"x"), codes.Unauthenticated},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := c.StartRun(tc.ctx, &orchestratorv1.StartRunRequest{DryRun: true})
			if status.Code(err) != tc.want {
				t.Errorf("StartRun: %v, want %s", err, tc.want)
			}
			if strings.Contains(status.Convert(err).Message(), token) {
				t.Error("the error message contains the token")
			}
			_, err = c.CancelRun(tc.ctx, &orchestratorv1.CancelRunRequest{RunId: "run-x"})
			if status.Code(err) != tc.want {
				t.Errorf("CancelRun: %v, want %s", err, tc.want)
			}
		})
	}
	if _, err := c.ListRuns(t.Context(), &orchestratorv1.ListRunsRequest{}); err != nil {
		t.Errorf("ListRuns without a token: %v", err)
	}
	resp, err := c.StartRun(bearer(t.Context(), token), &orchestratorv1.StartRunRequest{DryRun: true})
	if err != nil {
		t.Fatalf("StartRun with the token: %v", err)
	}
	waitDone(t, c, resp.GetRun().GetRunId())
	if strings.Contains(logs.String(), token) {
		t.Error("the log contains the token")
	}
}

func TestStartRunWhileOneRunsIsAFailedPreconditionNamingIt(t *testing.T) {
	c, p, logs := newAPI(t, "")
	defer func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	}()
	p.Discovery.SetImages(peertest.Image("acme/api", 1, time.Now().Add(-time.Hour)))
	p.Scanner.Hold()
	first, err := c.StartRun(t.Context(), &orchestratorv1.StartRunRequest{})
	if err != nil {
		t.Fatal(err)
	}
	id := first.GetRun().GetRunId()
	if first.GetRun().GetState() != orchestratorv1.RunState_RUN_STATE_RUNNING || first.GetRun().GetWindow() == nil {
		t.Errorf("started run: %v", first.GetRun())
	}
	_, err = c.StartRun(t.Context(), &orchestratorv1.StartRunRequest{})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Message(), id) {
		t.Fatalf("second StartRun: %v, want FailedPrecondition naming %s", err, id)
	}
	cancelled, err := c.CancelRun(t.Context(), &orchestratorv1.CancelRunRequest{RunId: id})
	if err != nil || cancelled.GetRun().GetState() != orchestratorv1.RunState_RUN_STATE_CANCELLED {
		t.Fatalf("CancelRun: %v %v", cancelled, err)
	}
	p.Scanner.Release()
}

func TestGetRunListRunsAndWatchRun(t *testing.T) {
	c, p, _ := newAPI(t, "")
	now := time.Now()
	p.Discovery.SetImages(peertest.Image("acme/api", 1, now.Add(-time.Hour)), peertest.Image("acme/web", 1, now.Add(-time.Hour)))
	var ids []string
	for i := range 3 {
		resp, err := c.StartRun(t.Context(), &orchestratorv1.StartRunRequest{PushedAfter: timestamppb.New(now.Add(-2 * time.Hour)), ForceRescan: i == 2})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, resp.GetRun().GetRunId())
		if i < 2 {
			waitDone(t, c, ids[i])
		}
	}
	stream, err := c.WatchRun(t.Context(), &orchestratorv1.WatchRunRequest{RunId: ids[2]})
	if err != nil {
		t.Fatal(err)
	}
	var types []orchestratorv1.RunEventType
	var last *orchestratorv1.WatchRunResponse
	for {
		ev, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, ev.GetType())
		last = ev
	}
	if types[0] != orchestratorv1.RunEventType_RUN_EVENT_TYPE_SNAPSHOT || last.GetType() != orchestratorv1.RunEventType_RUN_EVENT_TYPE_RUN_FINISHED {
		t.Errorf("events %v, want a snapshot first and run finished last", types)
	}
	if last.GetRun().GetCounts().GetImagesIngested() != 2 || last.GetRun().GetForceRescan() != true {
		t.Errorf("final run %v", last.GetRun())
	}

	got := waitDone(t, c, ids[1])
	if len(got.GetImages()) != 2 || got.GetImages()[0].GetState() != orchestratorv1.ImageState_IMAGE_STATE_SKIPPED ||
		got.GetRun().GetCounts().GetImagesSkipped() != 2 || got.GetImages()[0].GetRegistry() != "docker.io" {
		t.Errorf("second run: %v", got)
	}

	page1, err := c.ListRuns(t.Context(), &orchestratorv1.ListRunsRequest{PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	page2, err := c.ListRuns(t.Context(), &orchestratorv1.ListRunsRequest{PageSize: 2, PageToken: page1.GetNextPageToken()})
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, r := range append(page1.GetRuns(), page2.GetRuns()...) {
		listed = append(listed, r.GetRunId())
	}
	if strings.Join(listed, ",") != strings.Join([]string{ids[2], ids[1], ids[0]}, ",") || page2.GetNextPageToken() != "" {
		t.Errorf("listed %v (next %q), want newest first %v", listed, page2.GetNextPageToken(), ids)
	}

	for name, call := range map[string]func() error{
		"GetRun of an unknown run": func() error {
			_, err := c.GetRun(t.Context(), &orchestratorv1.GetRunRequest{RunId: "run-nope"})
			return err
		},
	} {
		if status.Code(call()) != codes.NotFound {
			t.Errorf("%s: want NotFound", name)
		}
	}
	if _, err := c.ListRuns(t.Context(), &orchestratorv1.ListRunsRequest{PageToken: "garbage"}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("bad page token: %v", err)
	}
	if _, err := c.StartRun(t.Context(), &orchestratorv1.StartRunRequest{PushedAfter: timestamppb.New(now), PushedBefore: timestamppb.New(now.Add(-time.Hour))}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("inverted window: %v", err)
	}
}
