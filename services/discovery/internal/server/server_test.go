package server_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	discoveryv1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/discovery/v1"
	"github.com/scoutbridge/scoutbridge/pkg/chassis"
	"github.com/scoutbridge/scoutbridge/pkg/config"
	"github.com/scoutbridge/scoutbridge/pkg/retry"
	"github.com/scoutbridge/scoutbridge/pkg/telemetry"
	"github.com/scoutbridge/scoutbridge/pkg/testutil"
	"github.com/scoutbridge/scoutbridge/services/discovery/internal/discover"
	"github.com/scoutbridge/scoutbridge/services/discovery/internal/hub"
	"github.com/scoutbridge/scoutbridge/services/discovery/internal/server"
	fakehub "github.com/scoutbridge/scoutbridge/tools/fakehub/hub"
)

const token = "dckr_pat_never-print-me"

type env struct {
	fake   *fakehub.Hub
	client discoveryv1.DiscoveryServiceClient
	logs   *testutil.SyncBuffer
}

// start serves DiscoveryService on a real TCP listener in front of the stand-in.
func start(t *testing.T, creds config.Secret, pushes ...fakehub.Push) *env {
	t.Helper()
	fake := fakehub.New(fakehub.Options{Username: "bob", Token: token})
	if err := fake.Push(pushes...); err != nil {
		t.Fatal(err)
	}
	web := httptest.NewServer(fake)
	t.Cleanup(web.Close)
	logs := &testutil.SyncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	c := hub.New(hub.Config{BaseURL: web.URL, Username: "bob", Token: creds, Logger: log,
		Backoff: retry.Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond}, MaxAttempts: 3})
	srv, _ := chassis.NewGRPCServer(log)
	discoveryv1.RegisterDiscoveryServiceServer(srv, server.New(&discover.Discoverer{Hub: c, Logger: log}, log))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return &env{fake: fake, logs: logs, client: discoveryv1.NewDiscoveryServiceClient(testutil.Dial(t, lis.Addr().String()))}
}

func collect(t *testing.T, e *env, req *discoveryv1.DiscoverImagesRequest) ([]*discoveryv1.DiscoverImagesResponse, error) {
	t.Helper()
	stream, err := e.client.DiscoverImages(t.Context(), req)
	if err != nil {
		return nil, err
	}
	var out []*discoveryv1.DiscoverImagesResponse
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, resp)
	}
}

var now = time.Now().UTC().Truncate(time.Second)

func TestDiscoverImagesStreamsImagesAndNamespaceErrors(t *testing.T) {
	e := start(t, config.NewSecret(token),
		fakehub.Push{Namespace: "acme", Repository: "api", Tags: []string{"1.0", "latest"}, PushedAt: now.Add(-time.Hour), Platforms: []string{"linux/amd64", "linux/arm64"}, Attestations: true},
		fakehub.Push{Namespace: "acme", Repository: "web", Tags: []string{"2.0"}, PushedAt: now.Add(-48 * time.Hour)},
		fakehub.Push{Namespace: "private", Repository: "x", Tags: []string{"v1"}, PushedAt: now.Add(-time.Hour)},
	)
	e.fake.SetFaults(fakehub.Faults{Forbidden: map[string]bool{"private": true}})
	resps, err := collect(t, e, &discoveryv1.DiscoverImagesRequest{
		Namespaces: []string{"private", "acme"}, PushedAfter: timestamppb.New(now.Add(-24 * time.Hour)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resps) != 2 {
		t.Fatalf("%d entries, want a namespace error and one image: %v", len(resps), resps)
	}
	ne := resps[0].GetNamespaceError()
	if ne.GetNamespace() != "private" || ne.GetCode() != "PERMISSION_DENIED" || !strings.Contains(ne.GetMessage(), "private") {
		t.Errorf("namespace error %v", ne)
	}
	img := resps[1].GetImage()
	if img.GetRepository() != "acme/api" || img.GetRegistry() != "docker.io" || strings.Join(img.GetTags(), ",") != "1.0,latest" ||
		len(img.GetPlatforms()) != 2 || !img.GetPushedAt().AsTime().Equal(now.Add(-time.Hour)) {
		t.Errorf("image %v", img)
	}
}

func TestStatusCodes(t *testing.T) {
	tests := []struct {
		name    string
		creds   config.Secret
		req     *discoveryv1.DiscoverImagesRequest
		code    codes.Code
		message string
	}{
		{"window the wrong way round", config.NewSecret(token), &discoveryv1.DiscoverImagesRequest{
			Namespaces: []string{"acme"}, PushedAfter: timestamppb.New(now), PushedBefore: timestamppb.New(now.Add(-time.Hour))},
			codes.InvalidArgument, "pushed_after"},
		{"timestamp out of range", config.NewSecret(token), &discoveryv1.DiscoverImagesRequest{
			Namespaces: []string{"acme"}, PushedBefore: &timestamppb.Timestamp{Seconds: now.Unix(), Nanos: 2e9}},
			codes.InvalidArgument, "pushed_before"},
		{"malformed pattern", config.NewSecret(token), &discoveryv1.DiscoverImagesRequest{Namespaces: []string{"acme"}, TagPatterns: []string{"v["}},
			codes.InvalidArgument, `tag_patterns: "v["`},
		{"wrong token while listing organizations", config.NewSecret("wrong-" + token), &discoveryv1.DiscoverImagesRequest{},
			codes.Unauthenticated, "rejected the credentials"},
		{"anonymous without namespaces", config.Secret{}, &discoveryv1.DiscoverImagesRequest{},
			codes.FailedPrecondition, "DISCOVERY_NAMESPACES"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := start(t, tt.creds, fakehub.Push{Namespace: "acme", Repository: "api", Tags: []string{"v1"}})
			_, err := collect(t, e, tt.req)
			st := status.Convert(err)
			if st.Code() != tt.code || !strings.Contains(st.Message(), tt.message) {
				t.Errorf("got %v %q, want %v containing %q", st.Code(), st.Message(), tt.code, tt.message)
			}
			if strings.Contains(st.Message(), token) || strings.Contains(e.logs.String(), token) {
				t.Errorf("the token leaked into the status or the log")
			}
		})
	}
}

func TestCancellingTheRPCStopsHubCalls(t *testing.T) {
	var pushes []fakehub.Push
	for i := range 40 {
		pushes = append(pushes, fakehub.Push{Namespace: "acme", Repository: "repo-" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Tags: []string{"v1"}, PushedAt: now.Add(-time.Duration(i) * time.Minute)})
	}
	e := start(t, config.NewSecret(token), pushes...)
	e.fake.SetFaults(fakehub.Faults{Latency: fakehub.Duration(50 * time.Millisecond)})
	ctx, cancel := context.WithCancel(t.Context())
	stream, err := e.client.DiscoverImages(ctx, &discoveryv1.DiscoverImagesRequest{Namespaces: []string{"acme"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	cancel()
	time.Sleep(300 * time.Millisecond) // let calls in flight end
	before := e.fake.Calls().Total
	time.Sleep(500 * time.Millisecond)
	if after := e.fake.Calls().Total; after != before || after >= 40 {
		t.Errorf("hub calls went on after the RPC was cancelled: %d then %d (of 42 needed)", before, after)
	}
}

func TestHubCallsAreTracedUnderTheRPC(t *testing.T) {
	tp := telemetry.NewTestProvider()
	e := start(t, config.Secret{}, fakehub.Push{Namespace: "acme", Repository: "api", Tags: []string{"v1"}, PushedAt: now.Add(-time.Minute)})
	if _, err := collect(t, e, &discoveryv1.DiscoverImagesRequest{Namespaces: []string{"acme"}}); err != nil {
		t.Fatal(err)
	}
	var rpcID string
	spans := tp.Spans()
	// The server span ends just after the client saw the end of the stream.
	testutil.Eventually(t, 5*time.Second, func() bool {
		spans = tp.Spans()
		for _, s := range spans {
			if strings.HasSuffix(s.Name, "DiscoveryService/DiscoverImages") && s.SpanKind.String() == "server" {
				rpcID = s.SpanContext.SpanID().String()
			}
		}
		return rpcID != ""
	}, "no server span for DiscoverImages")
	var children int
	var names bytes.Buffer
	for _, s := range spans {
		names.WriteString(s.Name + "; ")
		if strings.HasPrefix(s.Name, "dockerhub GET") && s.Parent.SpanID().String() == rpcID {
			children++
		}
	}
	if rpcID == "" || children != 2 {
		t.Errorf("want 2 dockerhub GET spans (repositories, tags) under the RPC span; spans: %s", names.String())
	}
}
