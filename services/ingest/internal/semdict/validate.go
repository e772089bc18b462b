package semdict

import (
	"fmt"
	"regexp"
)

// FieldError says which field of a report makes an event invalid. The server answers InvalidArgument
// with it; nothing of the report is stored.
type FieldError struct {
	// Field is the report field, e.g. "findings[3].package.name".
	Field string
	// Reason says what is wrong, naming the event field it would have filled.
	Reason string
}

func (e *FieldError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Reason) }

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}
