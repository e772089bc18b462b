// Command runtime is the scoutbridge runtime-context service (scoutbridge.triage.v1.TriageService):
// it keeps an inventory of running containers (Docker Engine, Kubernetes, Dynatrace entities), follows
// the findings ingest stored, answers which new critical vulnerabilities sit in images running in
// production with the alert-reduction funnel, and notifies webhooks once per new row.
package main

import (
	"context"
	"fmt"
	"time"

	ingestv1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/ingest/v1"
	triagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/triage/v1"
	"github.com/scoutbridge/scoutbridge/pkg/chassis"
	"github.com/scoutbridge/scoutbridge/pkg/config"
	"github.com/scoutbridge/scoutbridge/pkg/grpcclient"
	"github.com/scoutbridge/scoutbridge/pkg/retry"
	"github.com/scoutbridge/scoutbridge/services/runtime/internal/inventory"
	"github.com/scoutbridge/scoutbridge/services/runtime/internal/notify"
	"github.com/scoutbridge/scoutbridge/services/runtime/internal/readmodel"
	"github.com/scoutbridge/scoutbridge/services/runtime/internal/server"
)

type settings struct {
	db           string
	ingestAddr   string
	syncInterval time.Duration
	maxAge       time.Duration
	pollInterval time.Duration

	docker     bool
	dockerHost string

	kubernetes   bool
	kubeconfig   string
	namespaces   []string
	nsStages     []string
	nsStageMap   map[string]string
	stageNames   inventory.StageNames
	dtURL        string
	dtToken      config.Secret
	slackURL     config.Secret
	webhookURL   string
	webhookKey   config.Secret
	notifyTimout time.Duration
}

func main() {
	var c settings
	chassis.Main(chassis.Program{
		Name:          "runtime",
		DefaultListen: ":7074",
		Config: func(s *config.Set) {
			s.String(&c.db, "RUNTIME_DB", "data/runtime.db", "SQLite database of the read model and the notification outbox")
			s.String(&c.ingestAddr, "INGEST_ADDR", "localhost:7073", "ingest service to follow findings from (empty: none)")
			s.Duration(&c.syncInterval, "RUNTIME_SYNC_INTERVAL", 10*time.Second, "how often to pull new findings from ingest")
			s.Duration(&c.maxAge, "RUNTIME_MAX_AGE", 3*time.Hour, "a container counts as running while it was seen running within this")
			s.Duration(&c.pollInterval, "RUNTIME_POLL_INTERVAL", time.Minute, "how often to poll the inventory sources")
			s.Bool(&c.docker, "RUNTIME_DOCKER", false, "poll the Docker Engine API at DOCKER_HOST")
			s.String(&c.dockerHost, "DOCKER_HOST", "", "Docker Engine address (default unix:///var/run/docker.sock)")
			s.Bool(&c.kubernetes, "RUNTIME_KUBERNETES", false, "poll the Kubernetes API (KUBECONFIG, or the in-cluster service account)")
			s.String(&c.kubeconfig, "KUBECONFIG", "", "kubeconfig file (empty: in-cluster)")
			s.List(&c.namespaces, "RUNTIME_KUBERNETES_NAMESPACES", nil, "namespaces to list pods in (empty: all)")
			s.List(&c.nsStages, "RUNTIME_KUBERNETES_NAMESPACE_STAGES", nil, "namespace=stage pairs, the stage of pods that name none")
			s.String(&c.stageNames.StageEnv, "RUNTIME_STAGE_ENV", inventory.DefaultStageNames.StageEnv, "container environment variable holding the release stage")
			s.String(&c.stageNames.StageLabel, "RUNTIME_STAGE_LABEL", inventory.DefaultStageNames.StageLabel, "container or pod label holding the release stage")
			s.String(&c.stageNames.ProductEnv, "RUNTIME_PRODUCT_ENV", inventory.DefaultStageNames.ProductEnv, "container environment variable holding the release product")
			s.String(&c.stageNames.ProductLabel, "RUNTIME_PRODUCT_LABEL", inventory.DefaultStageNames.ProductLabel, "container or pod label holding the release product")
			s.String(&c.dtURL, "DT_API_URL", "", "Dynatrace environment URL for the entities source, e.g. https://abc123.live.dynatrace.com (empty: off)")
			s.Secret(&c.dtToken, "DT_ENTITIES_TOKEN", "Dynatrace API token with entities.read")
			s.Secret(&c.slackURL, "NOTIFY_SLACK_WEBHOOK_URL", "Slack incoming webhook URL")
			s.String(&c.webhookURL, "NOTIFY_WEBHOOK_URL", "", "generic JSON webhook URL (empty: off)")
			s.Secret(&c.webhookKey, "NOTIFY_WEBHOOK_SECRET", "HMAC-SHA256 key signing the generic webhook's body")
			s.Duration(&c.notifyTimout, "NOTIFY_TIMEOUT", 4*time.Second, "how long one webhook delivery may take")
			s.Check(func() error {
				if c.maxAge <= 0 {
					return config.Invalid("RUNTIME_MAX_AGE", "must be positive")
				}
				if c.pollInterval <= 0 {
					return config.Invalid("RUNTIME_POLL_INTERVAL", "must be positive")
				}
				if c.syncInterval <= 0 {
					return config.Invalid("RUNTIME_SYNC_INTERVAL", "must be positive")
				}
				if c.dtURL != "" && !c.dtToken.IsSet() {
					return config.Invalid("DT_ENTITIES_TOKEN", "is required when DT_API_URL is set")
				}
				m, err := inventory.ParseStageMap(c.nsStages)
				if err != nil {
					return config.Invalid("RUNTIME_KUBERNETES_NAMESPACE_STAGES", "%v", err)
				}
				c.nsStageMap = m
				return nil
			})
		},
		Setup: func(ctx context.Context, app *chassis.App) error { return setup(ctx, app, c) },
	})
}

func setup(ctx context.Context, app *chassis.App, c settings) error {
	log := app.Logger
	var sources []inventory.Source
	if c.docker {
		d, err := inventory.NewDocker(c.dockerHost, c.stageNames)
		if err != nil {
			return config.Invalid("DOCKER_HOST", "%v", err)
		}
		sources = append(sources, d)
	}
	if c.kubernetes {
		conn, err := inventory.KubeConnect(c.kubeconfig)
		if err != nil {
			return fmt.Errorf("RUNTIME_KUBERNETES: %w", err)
		}
		sources = append(sources, inventory.NewKubernetes(conn, c.stageNames, c.namespaces, c.nsStageMap))
	}
	if c.dtURL != "" {
		sources = append(sources, inventory.NewDynatrace(c.dtURL, c.dtToken, c.maxAge))
	}
	if len(sources) == 0 {
		log.Warn("no inventory source is enabled (RUNTIME_DOCKER, RUNTIME_KUBERNETES, DT_API_URL): nothing counts as running")
	}
	inv := inventory.New(c.maxAge, sources...)

	store, err := readmodel.Open(ctx, c.db)
	if err != nil {
		return fmt.Errorf("RUNTIME_DB: %w", err)
	}
	app.OnShutdown(func(context.Context) { _ = store.Close() })

	var hooks []notify.Webhook
	if c.slackURL.IsSet() {
		hooks = append(hooks, notify.NewSlack(c.slackURL, c.notifyTimout))
	}
	if c.webhookURL != "" {
		hooks = append(hooks, notify.NewJSON(c.webhookURL, c.webhookKey, c.notifyTimout))
	}
	outbox, err := notify.NewOutbox(ctx, store.DB(), hooks, log, notify.Options{Timeout: c.notifyTimout})
	if err != nil {
		return err
	}

	var sync server.Syncer
	if c.ingestAddr != "" {
		conn, err := grpcclient.New(c.ingestAddr)
		if err != nil {
			return config.Invalid("INGEST_ADDR", "%v", err)
		}
		app.OnShutdown(func(context.Context) { _ = conn.Close() })
		client := ingestv1.NewIngestServiceClient(conn)
		sync = func(ctx context.Context) error { _, err := store.Sync(ctx, client); return err }
		app.Go(func(ctx context.Context) error { return store.Follow(ctx, client, c.syncInterval, log) })
	} else {
		log.Warn("INGEST_ADDR is empty: no findings will be followed")
	}

	triagev1.RegisterTriageServiceServer(app.GRPC, server.New(store, inv, outbox, sync, log))
	if len(hooks) > 0 {
		app.Go(outbox.Run)
	}
	if len(sources) > 0 {
		app.Go(func(ctx context.Context) error { return pollLoop(ctx, app, c, inv, store, outbox, sync) })
	}
	return nil
}

// pollLoop polls the inventory, then queues notifications for rows that became new and prioritized
// (a container that started in production makes its image's new findings count).
func pollLoop(ctx context.Context, app *chassis.App, c settings, inv *inventory.Inventory, store *readmodel.Store, outbox *notify.Outbox, sync server.Syncer) error {
	log := app.Logger
	for {
		if err := inv.Poll(ctx); err != nil && ctx.Err() == nil {
			log.WarnContext(ctx, "inventory poll failed for some sources", "error", err.Error())
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if outbox.Webhooks() > 0 {
			rows, queued, err := server.NotifyNew(ctx, store, inv, outbox, sync, time.Now())
			switch {
			case err != nil && ctx.Err() == nil:
				log.WarnContext(ctx, "queue notifications after the poll", "error", err.Error())
			case queued > 0:
				log.InfoContext(ctx, "notifications queued", "rows", rows, "queued", queued)
			}
		}
		if err := retry.Sleep(ctx, c.pollInterval); err != nil {
			return err
		}
	}
}
