// Command fakescout is a stand-in for Docker Scout: a real Docker CLI plugin (install it as
// $DOCKER_CONFIG/cli-plugins/docker-scout) that answers `docker scout version`, `docker scout cves
// --format sarif` and `docker scout sbom --format json` with deterministic output shaped like the real
// Scout's, and that can be told to fail the ways the real one fails (see README.md and fakescout.json).
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// version is the Scout version the stand-in claims to be.
const version = "v1.18.2"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "docker-cli-plugin-metadata" {
		_ = json.NewEncoder(stdout).Encode(map[string]string{
			"SchemaVersion":    "0.1.0",
			"Vendor":           "scoutbridge (stand-in)",
			"Version":          version,
			"ShortDescription": "Docker Scout (scoutbridge stand-in)",
		})
		return 0
	}
	// The Docker CLI runs the plugin as `docker-scout scout <command> ...`.
	if len(args) > 0 && args[0] == "scout" {
		args = args[1:]
	}
	cfg := loadConfig()
	logInvocation(args)
	if len(args) == 0 {
		fmt.Fprintln(stdout, "Usage:  docker scout [OPTIONS] COMMAND")
		return 0
	}
	switch args[0] {
	case "version":
		fmt.Fprintf(stdout, "\n      ⢀⢀⢀             ⣀⣀⡤⣔⢖⣖⢽⢝\n   ⡠⡢⡣⡣⡣⡣⡣⡣⡢⡀    ⢀⣠⢴⡲⣫⡺⣜⢞⢮⡳⡵⡹⡅\n\n version: %s (go1.24.4 - linux/amd64)\n git commit: 0123456789abcdef0123456789abcdef01234567\n", version)
		return 0
	case "hang-child":
		// A grandchild of the scanner that only a process-group kill reaches.
		time.Sleep(time.Hour)
		return 0
	case "cves", "sbom":
		return scan(args[0], args[1:], cfg, stdout, stderr)
	default:
		return usageError(stderr, fmt.Sprintf("unknown command %q for \"docker scout\"", args[0]), "docker scout --help")
	}
}

// usageError prints the real Scout's usage error and exits 125.
func usageError(stderr io.Writer, msg, help string) int {
	fmt.Fprintf(stderr, "\x1b[31mERROR  \x1b[0m Status: %s\nSee '%s'., Code: 125 \n", msg, help)
	return 125
}

// errorLine prints the real Scout's error line (with its ANSI colour) and returns exit code 1.
func errorLine(stderr io.Writer, msg string) int {
	fmt.Fprintf(stderr, "\x1b[31mERROR  \x1b[0m Status: %s, Code: 1 \n", msg)
	return 1
}

// options are the flags of `cves` and `sbom` the stand-in understands.
type options struct {
	format, output, platform string
	image                    string // as given, e.g. registry://acme/api@sha256:...
	repo, digest             string
}

// valueFlags are the flags that take a value; every other flag is unknown (exit 125), as in Scout.
var valueFlags = map[string]bool{"format": true, "output": true, "o": true, "platform": true, "org": true, "only-severity": true}

// boolFlags take no value.
var boolFlags = map[string]bool{"only-fixed": true, "only-unfixed": true, "ignore-base": true, "epss": true}

func parseOptions(cmd string, args []string) (options, string) {
	var o options
	var positional []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			positional = append(positional, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch {
		case boolFlags[name]:
			continue
		case valueFlags[name]:
			if !hasValue {
				if i+1 >= len(args) {
					return o, fmt.Sprintf("flag needs an argument: %s", a)
				}
				i++
				value = args[i]
			}
		default:
			return o, fmt.Sprintf("unknown flag: %s", a)
		}
		switch name {
		case "format":
			o.format = value
		case "output", "o":
			o.output = value
		case "platform":
			o.platform = value
		}
	}
	if len(positional) != 1 {
		return o, fmt.Sprintf("\"docker scout %s\" requires exactly 1 argument", cmd)
	}
	o.image = positional[0]
	ref := o.image
	for _, p := range []string{"registry://", "image://", "local://"} {
		ref = strings.TrimPrefix(ref, p)
	}
	o.repo, o.digest, _ = strings.Cut(ref, "@")
	o.repo = strings.TrimPrefix(strings.TrimPrefix(o.repo, "index.docker.io/"), "docker.io/")
	if o.platform == "" {
		o.platform = "linux/amd64"
	}
	return o, ""
}
