// Package scout runs Docker Scout through the Docker CLI (`docker scout ...`) as a child process and
// says what went wrong when it fails. The child gets an explicit environment (PATH, HOME, DOCKER_CONFIG,
// DOCKER_SCOUT_*, its own TMPDIR and the trace context), runs in its own process group so a timeout or
// a cancelled call kills Scout and everything it started, and its temporary directory is removed on
// every path. Every failure is classified in one place (classify.go) from the exit code and stderr.
package scout
