package e2e

import (
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// exportedSpan is what the tests need of a span received over OTLP.
type exportedSpan struct {
	Service  string
	Name     string
	TraceID  string
	SpanID   string
	ParentID string
	Attrs    map[string]string
}

// collector is an OTLP/HTTP trace receiver: the services export to it exactly as they would to a real
// OpenTelemetry Collector (OTEL_EXPORTER_OTLP_ENDPOINT, protocol http/protobuf).
type collector struct {
	URL   string
	mu    sync.Mutex
	spans []exportedSpan
}

func startCollector(t testing.TB) *collector {
	c := &collector{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/traces" {
			w.WriteHeader(http.StatusOK) // metrics and logs are accepted and ignored
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.add(&req)
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(mustMarshal(&coltracepb.ExportTraceServiceResponse{}))
	}))
	t.Cleanup(srv.Close)
	c.URL = srv.URL
	return c
}

func (c *collector) add(req *coltracepb.ExportTraceServiceRequest) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		service := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				service = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				attrs := map[string]string{}
				for _, kv := range s.GetAttributes() {
					attrs[kv.GetKey()] = kv.GetValue().String()
				}
				c.spans = append(c.spans, exportedSpan{
					Service: service, Name: s.GetName(), Attrs: attrs,
					TraceID: hex.EncodeToString(s.GetTraceId()), SpanID: hex.EncodeToString(s.GetSpanId()),
					ParentID: hex.EncodeToString(s.GetParentSpanId()),
				})
			}
		}
	}
}

// Spans returns a copy of every span received so far.
func (c *collector) Spans() []exportedSpan {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]exportedSpan(nil), c.spans...)
}

func mustMarshal(m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}
