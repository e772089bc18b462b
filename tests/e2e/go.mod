module github.com/scoutbridge/scoutbridge/tests/e2e

go 1.26.0

require (
	github.com/scoutbridge/scoutbridge/gen v0.0.0
	github.com/scoutbridge/scoutbridge/pkg v0.0.0
)

replace (
	github.com/scoutbridge/scoutbridge/gen => ../../gen
	github.com/scoutbridge/scoutbridge/pkg => ../../pkg
)

require (
	go.opentelemetry.io/proto/otlp v1.11.0
	google.golang.org/grpc v1.85.0
	google.golang.org/protobuf v1.36.12
)

require (
	github.com/grpc-ecosystem/grpc-gateway/v2 v2.30.0 // indirect
	golang.org/x/net v0.60.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.42.0 // indirect
	google.golang.org/genproto/googleapis/api v0.0.0-20260928230214-8a89bd6388cc // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260928230214-8a89bd6388cc // indirect
)
