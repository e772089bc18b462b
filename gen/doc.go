// Package gen holds the Go code generated from proto/ by `make generate` (buf). Do not edit the
// generated files; change the .proto files and regenerate.
package gen
