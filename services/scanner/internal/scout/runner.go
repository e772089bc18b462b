package scout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Runner runs `docker scout` commands.
type Runner struct {
	bin      string
	env      []string // the child's environment, without TMPDIR and TRACEPARENT
	tempRoot string
	redactor *redactor
	tracer   trace.Tracer
}

// Options configure a Runner.
type Options struct {
	// DockerBin is the docker binary (a name looked up on PATH, or a path).
	DockerBin string
	// Environ is the service's environment (os.Environ()); only PATH, HOME, DOCKER_CONFIG,
	// DOCKER_SCOUT_*, the proxy variables and SSL_CERT_FILE/DIR reach the child (see childEnv).
	Environ []string
	// TempRoot holds the per-scan directories (default DefaultTempRoot()).
	TempRoot string
}

// NewRunner builds a Runner.
func NewRunner(o Options) *Runner {
	if o.TempRoot == "" {
		o.TempRoot = DefaultTempRoot()
	}
	env := childEnv(o.Environ)
	return &Runner{bin: o.DockerBin, env: env, tempRoot: o.TempRoot, redactor: newRedactor(env),
		tracer: otel.Tracer("scoutbridge/scanner")}
}

// TempRoot is the directory that holds the per-scan directories.
func (r *Runner) TempRoot() string { return r.tempRoot }

// childEnv keeps what Scout needs from the service's environment, and nothing else: the Docker CLI's
// own settings, and the site's network settings (proxy, CA bundle), without which Scout cannot reach
// Docker's backend from behind a corporate proxy.
func childEnv(environ []string) []string {
	var env []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if childEnvNames[name] || strings.HasPrefix(name, "DOCKER_SCOUT_") {
			env = append(env, kv)
		}
	}
	return env
}

var childEnvNames = map[string]bool{
	"PATH": true, "HOME": true, "DOCKER_CONFIG": true,
	"HTTPS_PROXY": true, "https_proxy": true, "HTTP_PROXY": true, "http_proxy": true, "NO_PROXY": true, "no_proxy": true,
	"SSL_CERT_FILE": true, "SSL_CERT_DIR": true,
}

// Output is what a successful scan produced.
type Output struct {
	SARIF []byte
	SBOM  []byte
	// SBOMError says why SBOM is nil when the SARIF was fine (the SBOM is best effort).
	SBOMError error
}

// Scan runs `docker scout cves --format sarif` and `docker scout sbom --format json` for one image
// (ref is "repository@digest", already validated) on one platform. Both write to files in a fresh
// directory that is also the child's TMPDIR, removed before Scan returns whatever happened. The SBOM
// is best effort: when only it fails, SBOM is nil.
func (r *Runner) Scan(ctx context.Context, ref, platform string) (*Output, error) {
	dir, err := os.MkdirTemp(r.tempRoot, "scoutbridge-scan-")
	if err != nil {
		return nil, &Error{Class: ClassInternal, Command: "cves", ExitCode: -1, Message: "create the scan directory: " + err.Error()}
	}
	defer os.RemoveAll(dir)
	image := "registry://" + ref
	sarifPath := filepath.Join(dir, "cves.sarif.json")
	stdout, err := r.run(ctx, dir, "cves", "--format", "sarif", "--output", sarifPath, "--platform", platform, image)
	if err != nil {
		return nil, err
	}
	out := &Output{}
	out.SARIF, err = os.ReadFile(sarifPath)
	if err != nil {
		// An older Scout that ignored --output printed the report on stdout.
		out.SARIF = stdout
	}
	sbomPath := filepath.Join(dir, "sbom.json")
	if _, err := r.run(ctx, dir, "sbom", "--format", "json", "--output", sbomPath, "--platform", platform, image); err != nil {
		var se *Error
		if errors.As(err, &se) && (se.Class == ClassTimeout || se.Class == ClassCanceled) {
			return nil, err
		}
		out.SBOMError = err
		return out, nil
	}
	out.SBOM, out.SBOMError = os.ReadFile(sbomPath)
	return out, nil
}

// Version runs `docker scout version` and returns the version ("v1.18.2").
func (r *Runner) Version(ctx context.Context) (string, error) {
	dir, err := os.MkdirTemp(r.tempRoot, "scoutbridge-version-")
	if err != nil {
		return "", &Error{Class: ClassInternal, Command: "version", ExitCode: -1, Message: err.Error()}
	}
	defer os.RemoveAll(dir)
	out, err := r.run(ctx, dir, "version")
	if err != nil {
		return "", err
	}
	for line := range strings.SplitSeq(StripANSI(string(out)), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "version:"); ok {
			v = strings.TrimSpace(v)
			v, _, _ = strings.Cut(v, " ")
			return v, nil
		}
	}
	return "", &Error{Class: ClassInternal, Command: "version", ExitCode: 0, Message: "`docker scout version` printed no version line"}
}

// run executes `docker scout <command> args...` in its own process group with TMPDIR=dir and returns
// stdout. A span records exit code, duration and output size.
func (r *Runner) run(ctx context.Context, dir, command string, args ...string) ([]byte, error) {
	for _, a := range args {
		if strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") {
			return nil, &Error{Class: ClassInternal, Command: command, ExitCode: -1, Message: "refusing a short option argument"}
		}
	}
	ctx, span := r.tracer.Start(ctx, "docker scout "+command, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("scout.command", command), attribute.String("process.executable.name", filepath.Base(r.bin))))
	defer span.End()
	start := time.Now()

	cmd := exec.Command(r.bin, append([]string{"scout", command}, args...)...)
	cmd.Env = append(append([]string{}, r.env...), "TMPDIR="+dir)
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	if tp := carrier.Get("traceparent"); tp != "" {
		cmd.Env = append(cmd.Env, "TRACEPARENT="+tp)
		if ts := carrier.Get("tracestate"); ts != "" {
			cmd.Env = append(cmd.Env, "TRACESTATE="+ts)
		}
	}
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second // a grandchild holding the pipes cannot block us forever

	fail := func(e *Error) ([]byte, error) {
		span.SetAttributes(attribute.Int("process.exit.code", e.ExitCode), attribute.String("scout.failure", e.Class.String()),
			attribute.Int64("scout.duration_ms", time.Since(start).Milliseconds()))
		span.SetStatus(codes.Error, e.Class.String())
		return nil, e
	}
	if err := cmd.Start(); err != nil {
		return fail(&Error{Class: ClassPluginMissing, Command: command, ExitCode: -1,
			Message: fmt.Sprintf("cannot run the Docker CLI (DOCKER_BIN=%s): %v; install Docker and %s", r.bin, unwrapExec(err), InstallHint)})
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	var werr error
	select {
	case werr = <-waited:
	case <-ctx.Done():
		// Kill Scout and everything it started (the CLI, the plugin, its helpers).
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-waited
		class, why := ClassCanceled, "the call was cancelled; Docker Scout was stopped"
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			class, why = ClassTimeout, fmt.Sprintf("Docker Scout did not finish within %s and was killed", time.Since(start).Round(time.Millisecond))
		}
		return fail(&Error{Class: class, Command: command, ExitCode: -1, Message: why, Stderr: excerpt(stderr.String(), r.redactor)})
	}
	// Whatever the outcome, nothing of the group may outlive the run.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	code := cmd.ProcessState.ExitCode()
	span.SetAttributes(attribute.Int("process.exit.code", code), attribute.Int64("scout.duration_ms", time.Since(start).Milliseconds()),
		attribute.Int("scout.stdout.bytes", stdout.Len()))
	if werr != nil && code == 0 {
		code = -1
	}
	if code != 0 {
		clean := StripANSI(stderr.String())
		class, msg := classify(code, clean)
		return fail(&Error{Class: class, Command: command, ExitCode: code, Message: r.redactor.redact(msg), Stderr: excerpt(clean, r.redactor)})
	}
	if out := outputFile(args); out != "" {
		if st, err := os.Stat(out); err == nil {
			span.SetAttributes(attribute.Int64("scout.output.bytes", st.Size()))
		}
	}
	return stdout.Bytes(), nil
}

func outputFile(args []string) string {
	for i, a := range args {
		if a == "--output" && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

func unwrapExec(err error) error {
	var ee *exec.Error
	if errors.As(err, &ee) {
		return ee.Err
	}
	return err
}
