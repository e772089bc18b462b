// Package semdict is the one place where a scoutbridge ScanReport becomes Dynatrace security events
// (Dynatrace's semantic dictionary: VULNERABILITY_SCAN and VULNERABILITY_FINDING). Events are flat JSON
// objects with dotted keys; this package builds them, gives them stable ids, normalizes risk with
// pkg/risk and refuses a report that would yield an event without a required field.
package semdict

import (
	"strconv"
	"unicode/utf8"
)

// Event is one flat security event: dotted keys in a fixed, readable order. Values are strings,
// float64 numbers or string arrays. It encodes itself to JSON without reflection, because every event
// of every scan goes through it on the hot path.
type Event struct {
	fields []field
}

// field is one key and its value, unboxed: an event has ~45 fields, and an interface value per field
// was an allocation per field.
type field struct {
	key  string
	str  string   // a string, or a number as JSON (kind number)
	list []string // kind list
	kind fieldKind
}

type fieldKind uint8

const (
	kindString fieldKind = iota
	kindNumber
	kindList
)

func (e *Event) setString(key, v string) {
	if v != "" {
		e.fields = append(e.fields, field{key: key, str: v})
	}
}

func (e *Event) setFloat(key string, v float64) {
	e.fields = append(e.fields, field{key: key, str: strconv.FormatFloat(v, 'f', -1, 64), kind: kindNumber})
}

func (e *Event) setList(key string, v []string) {
	if len(v) > 0 {
		e.fields = append(e.fields, field{key: key, list: v, kind: kindList})
	}
}

// Get returns a field's value (string, float64 or []string).
func (e *Event) Get(key string) (any, bool) {
	for _, f := range e.fields {
		if f.key != key {
			continue
		}
		switch f.kind {
		case kindNumber:
			v, _ := strconv.ParseFloat(f.str, 64) // FormatFloat(…, -1) round-trips
			return v, true
		case kindList:
			return f.list, true
		}
		return f.str, true
	}
	return nil, false
}

// String returns a string field, "" when absent.
func (e *Event) String(key string) string {
	v, _ := e.Get(key)
	s, _ := v.(string)
	return s
}

// Keys lists the event's keys in order.
func (e *Event) Keys() []string {
	keys := make([]string, len(e.fields))
	for i, f := range e.fields {
		keys[i] = f.key
	}
	return keys
}

// MarshalJSON encodes the event as one compact JSON object.
func (e *Event) MarshalJSON() ([]byte, error) { return e.AppendJSON(nil), nil }

// AppendJSON appends the event's compact JSON encoding to b.
func (e *Event) AppendJSON(b []byte) []byte {
	b = append(b, '{')
	for i, f := range e.fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, f.key)
		b = append(b, ':')
		switch f.kind {
		case kindString:
			b = appendString(b, f.str)
		case kindNumber:
			b = append(b, f.str...)
		case kindList:
			b = append(b, '[')
			for j, s := range f.list {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendString(b, s)
			}
			b = append(b, ']')
		}
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// plain[c] is true for the bytes that go into a JSON string as they are: printable ASCII but '"' and
// '\\'. Everything else takes the slow path (escapes, UTF-8 checks).
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as encoding/json does. Runs of
// plain bytes are copied in one append.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if plain[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
