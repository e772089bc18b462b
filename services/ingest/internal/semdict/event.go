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

type field struct {
	key string
	val any // string, float64, []string
}

func (e *Event) setString(key, v string) {
	if v != "" {
		e.fields = append(e.fields, field{key, v})
	}
}

func (e *Event) setFloat(key string, v float64) { e.fields = append(e.fields, field{key, v}) }

func (e *Event) setList(key string, v []string) {
	if len(v) > 0 {
		e.fields = append(e.fields, field{key, v})
	}
}

// Get returns a field's value (string, float64 or []string).
func (e *Event) Get(key string) (any, bool) {
	for _, f := range e.fields {
		if f.key == key {
			return f.val, true
		}
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
		switch v := f.val.(type) {
		case string:
			b = appendString(b, v)
		case float64:
			b = strconv.AppendFloat(b, v, 'f', -1, 64)
		case []string:
			b = append(b, '[')
			for j, s := range v {
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

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as encoding/json does.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
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
