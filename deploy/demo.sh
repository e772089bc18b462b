#!/usr/bin/env bash
# `make demo`: the whole chain on this machine through docker compose, with the stand-ins for Docker Hub
# (fakehub, seeded with an `acme` organization), Docker Scout (fakescout, a real Docker CLI plugin run by
# the real docker binary inside the scanner container) and Dynatrace (fakedynatrace: ingest API and
# entities API). It triggers a run with grpcurl, follows it with WatchRun, and prints what happened.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/bin:$PATH"
for tool in grpcurl jq curl docker-compose; do
  command -v "$tool" >/dev/null || { echo "make demo needs $tool (grpcurl comes from 'make tools'; jq and curl from your package manager)"; exit 1; }
done

project=scoutbridge-demo
compose() { docker-compose -f deploy/compose.yaml --project-directory deploy -p "$project" --profile demo "$@"; }
rpc() { local addr=$1 method=$2; shift 2; grpcurl -plaintext -max-time 30 "$@" "$addr" "$method"; }
hr() { printf '\n\033[1m== %s ==\033[0m\n' "$*"; }

# The scanner container gets a Docker config whose cli-plugins holds the Scout stand-in.
cfg="$PWD/deploy/.build/demo-docker-config"
rm -rf "$cfg" && mkdir -p "$cfg/cli-plugins"
cp bin/docker-scout "$cfg/cli-plugins/docker-scout"
chmod 755 "$cfg" "$cfg/cli-plugins" "$cfg/cli-plugins/docker-scout"
# 300 ms per Scout command; api gets a few more findings; legacy is never pushed in the window.
cat >"$cfg/fakescout.json" <<'JSON'
{"default": {"latency_ms": 300, "findings": 12, "behavior": "ok"},
 "images": {"acme/api": {"latency_ms": 300, "findings": 20, "behavior": "ok"}}}
JSON
chmod 644 "$cfg/fakescout.json"

export SCOUTBRIDGE_DOCKER_CONFIG="$cfg"
export SCOUTBRIDGE_DOCKER_BIN="$(command -v docker)"
export DISCOVERY_NAMESPACES=acme
export DOCKERHUB_API_URL=http://fakehub:8081
export DT_API_TOKEN=dt0c01.DEMODEMODEMODEMODEMODEMO.DEMODEMODEMODEMODEMODEMODEMODEMODEMODEMODEMODEMODEMODEMODEMODEMODEMO
export DT_INGEST_URL=http://fakedynatrace:8083/platform/ingest/v1/security.events
export DT_API_URL=http://fakedynatrace:8083
export DT_ENTITIES_TOKEN=dt0c01.ENTITIESENTITIESENTITIE.ENTITIESENTITIESENTITIESENTITIESENTITIESENTITIESENTITIESENTITIESENTI
export RUN_INTERVAL=0   # on demand: this script starts the run
export RUNTIME_POLL_INTERVAL=2s RUNTIME_SYNC_INTERVAL=1s
export SCAN_CONCURRENCY=4

hr "starting the suite (docker compose, project $project)"
compose down -v --remove-orphans >/dev/null 2>&1 || true
compose up -d
for port in 7070 7071 7072 7073 7074; do
  for _ in $(seq 1 60); do
    rpc "localhost:$port" grpc.health.v1.Health/Check >/dev/null 2>&1 && break
    sleep 1
  done
  rpc "localhost:$port" grpc.health.v1.Health/Check >/dev/null || { echo "service on :$port is not healthy"; compose ps; compose logs --tail 30; exit 1; }
done
echo "all five services are SERVING"

hr "runtime context: fake Dynatrace says acme/api and acme/billing run in production, acme/web in staging"
images=$(rpc localhost:7071 scoutbridge.discovery.v1.DiscoveryService/DiscoverImages -d '{"namespaces": ["acme"]}' | jq -s '[.[] | .image | select(.)]')
echo "$images" | jq -r '.[] | "  discovered \(.repository)@\(.digest[0:19])…  tags \(.tags | join(","))"'
entities=$(echo "$images" | jq '
  def stage: if (.repository == "acme/api" or .repository == "acme/billing") then "production"
             elif .repository == "acme/web" then "staging" else empty end;
  [ .[] | select(stage) | {stage: stage, repo: .repository, digest: .digest, n: (.digest[7:19])} ]
  | {entities: ([ .[] | {entityId: ("CONTAINER_GROUP_INSTANCE-" + .n), type: "CONTAINER_GROUP_INSTANCE",
                         displayName: (.repo | split("/")[1]),
                         properties: {containerImageDigest: .digest, containerStatus: "state=running",
                                      containerImageName: ("docker.io/" + .repo), workloadName: (.repo | split("/")[1])}} ]
              + [ .[] | {entityId: ("PROCESS_GROUP_INSTANCE-" + .n), type: "PROCESS_GROUP_INSTANCE",
                         displayName: (.repo | split("/")[1]),
                         properties: {releasesStage: .stage, releasesProduct: "acme"},
                         fromRelationships: {isPgiOfCgi: [{id: ("CONTAINER_GROUP_INSTANCE-" + .n), type: "CONTAINER_GROUP_INSTANCE"}]}} ])}')
curl -fsS -X PUT --data-binary "$entities" localhost:8083/_fake/entities >/dev/null
echo "$entities" | jq -r '.entities[] | select(.type == "PROCESS_GROUP_INSTANCE") | "  \(.displayName): \(.properties.releasesStage)"'

hr "StartRun (grpcurl)"
run_id=$(rpc localhost:7070 scoutbridge.orchestrator.v1.OrchestratorService/StartRun -d '{}' | jq -r .run.runId)
echo "run $run_id started"

hr "WatchRun: progress as it happens"
rpc localhost:7070 scoutbridge.orchestrator.v1.OrchestratorService/WatchRun -max-time 600 -d "{\"run_id\": \"$run_id\"}" \
  | jq -r --unbuffered '
      (.image // {}) as $i
      | "  \(.type | sub("RUN_EVENT_TYPE_"; "") | ascii_downcase | .[0:14] + (" " * (14 - (.[0:14] | length))))"
        + (if $i.repository then " \($i.repository)@\($i.digest[7:19]) \($i.reason // "")" else " \(.message // "")" end)'

hr "the run"
rpc localhost:7070 scoutbridge.orchestrator.v1.OrchestratorService/GetRun -d "{\"run_id\": \"$run_id\"}" \
  | jq -r '.run | "  state \(.state)   window \(.window.start) .. \(.window.end)   took \(.duration)",
                  "  images: discovered \(.counts.imagesDiscovered // 0), scanned \(.counts.imagesScanned // 0), skipped \(.counts.imagesSkipped // 0), failed \(.counts.imagesFailed // 0), ingested \(.counts.imagesIngested // 0)",
                  "  findings: critical \(.counts.findingsCritical // 0), high \(.counts.findingsHigh // 0), medium \(.counts.findingsMedium // 0), low \(.counts.findingsLow // 0), none \(.counts.findingsNone // 0)   events stored \(.counts.eventsStored // 0)"'

hr "top critical findings (ingest ListFindings)"
rpc localhost:7073 scoutbridge.ingest.v1.IngestService/ListFindings -d '{"risk_level": "RISK_LEVEL_CRITICAL", "page_size": 5}' \
  | jq -r '.findings[]? | "  \(.vulnerabilityId)  \(.riskScore)  \(.packageName) \(.packageVersion)  in \(.repository):\(.tags | join(","))"'

hr "where the events went"
sleep 2 # let the outbox sender finish its last batch
rpc localhost:7073 scoutbridge.ingest.v1.IngestService/GetIngestStats | jq -r '
  "  stored in the embedded store: \(.eventsStored // 0) events (\(.findingsStored // 0) findings, \(.scansStored // 0) scans)",
  (.sinks[]? | "  sink \(.name): sent \(.sent // 0), queued \(.queued // 0), dead-lettered \(.deadLettered // 0), state \(.state)")'
echo "  fake Dynatrace received: $(curl -fsS localhost:8083/_fake/stats)"

hr "alert reduction (runtime GetAlertReduction)"
for _ in $(seq 1 30); do   # the runtime service follows ingest and polls the inventory
  rows=$(rpc localhost:7074 scoutbridge.triage.v1.TriageService/ListPrioritizedFindings | jq '.totalCount // 0 | tonumber')
  [ "$rows" -gt 0 ] && break; sleep 1
done
rpc localhost:7074 scoutbridge.triage.v1.TriageService/GetAlertReduction | jq -r '
  (.stages[] | "  \(.name + (" " * (11 - (.name | length))))  \(.vulnerabilities // 0) vulnerabilities, \(.findings // 0) findings, \(.imageDigests // 0) images"),
  "  digests: \(.registryDigests // 0) in the registry, \(.runtimeDigests // 0) running, \(.productionDigests // 0) in production"'

hr "new critical vulnerabilities in running production containers (ListPrioritizedFindings)"
rpc localhost:7074 scoutbridge.triage.v1.TriageService/ListPrioritizedFindings -d '{"page_size": 10}' | jq -r '
  .findings[]? | "  \(.vulnerabilityId)  \(.repository)  \(.packageName) \(.packageVersion)  images: \(.affectedImagesCount)  containers: \([.images[].containers[]?.name] | join(","))"'

hr "done"
echo "The suite keeps running: try the grpcurl examples in the README against localhost:7070-7074."
echo "Stop it with: docker-compose -f deploy/compose.yaml --project-directory deploy -p $project --profile demo down -v"
