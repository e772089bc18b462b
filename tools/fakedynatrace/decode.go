package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// ingestRequired lists the fields an event must carry, by event.type ("" = every event).
var ingestRequired = map[string][]string{
	"":                      {"event.type", "event.provider", "object.id"},
	"VULNERABILITY_FINDING": {"finding.id", "vulnerability.id", "component.name"},
	"VULNERABILITY_SCAN":    {"scan.id"},
}

// requiredBit numbers every field named in ingestRequired, so one event's fields fit in a bit mask.
var requiredBit = func() map[string]uint {
	m := map[string]uint{}
	for _, keys := range ingestRequired {
		for _, k := range keys {
			if _, ok := m[k]; !ok {
				m[k] = uint(len(m))
			}
		}
	}
	return m
}()

// maxDepth bounds nesting, so a hostile body cannot exhaust the stack.
const maxDepth = 1000

// ingestDecode checks a body in one pass: one event object or a non-empty array of them, valid JSON,
// every event with its required fields (present, not "" and not null). It appends each event's compact
// JSON and a newline to lines and returns them with the number of events. Decoding every body once,
// without building maps, keeps the stand-in from being what a load test measures.
func ingestDecode(body, lines []byte) ([]byte, int, error) {
	d := decoder{b: body}
	d.space()
	switch d.peek() {
	case '{':
		var err error
		if lines, err = d.event(lines); err != nil {
			return nil, 0, fmt.Errorf("event 0: %w", err)
		}
		d.n = 1
	case '[':
		d.i++
		d.space()
		if d.peek() == ']' {
			return nil, 0, fmt.Errorf("empty array")
		}
		for {
			var err error
			if lines, err = d.event(lines); err != nil {
				return nil, 0, fmt.Errorf("event %d: %w", d.n, err)
			}
			d.n++
			d.space()
			c := d.peek()
			d.i++
			if c == ']' {
				break
			}
			if c != ',' {
				return nil, 0, fmt.Errorf("body is not a valid array of events: %s", d.unexpected(d.i-1))
			}
			d.space()
		}
	case 0:
		return nil, 0, fmt.Errorf("empty body")
	default:
		return nil, 0, fmt.Errorf("body is neither an event object nor an array of events")
	}
	d.space()
	if d.i < len(d.b) {
		return nil, 0, fmt.Errorf("body is not valid JSON: %s", d.unexpected(d.i))
	}
	return lines, d.n, nil
}

// decoder walks one body; i is the next byte to read.
type decoder struct {
	b    []byte
	i, n int
	ws   bool // whitespace was skipped inside the current event
}

func (d *decoder) peek() byte {
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

func (d *decoder) peekAt(k int) byte {
	if d.i+k < len(d.b) {
		return d.b[d.i+k]
	}
	return 0
}

func (d *decoder) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
			d.ws = true
		default:
			return
		}
	}
}

func (d *decoder) unexpected(at int) string {
	if at >= len(d.b) {
		return "unexpected end of input"
	}
	return fmt.Sprintf("unexpected %q at offset %d", d.b[at], at)
}

// event reads one top-level event object, checks its required fields and appends its compact form.
func (d *decoder) event(lines []byte) ([]byte, error) {
	start := d.i
	d.ws = false
	if d.peek() != '{' {
		return nil, fmt.Errorf("not a JSON object")
	}
	d.i++
	var have uint // bits of requiredBit: present and neither "" nor null
	typ := ""
	d.space()
	if d.peek() == '}' {
		d.i++
	} else {
		for {
			d.space()
			ks, ke, err := d.str()
			if err != nil {
				return nil, fmt.Errorf("not a JSON object: %w", err)
			}
			key := d.text(ks, ke)
			d.space()
			if d.peek() != ':' {
				return nil, fmt.Errorf("not a JSON object: %s", d.unexpected(d.i))
			}
			d.i++
			d.space()
			vs := d.i
			if err := d.value(1); err != nil {
				return nil, fmt.Errorf("not a JSON object: %w", err)
			}
			if bit, ok := requiredBit[key]; ok {
				v := d.b[vs:d.i]
				if string(v) == `""` || string(v) == "null" {
					have &^= 1 << bit
				} else {
					have |= 1 << bit
				}
				if key == "event.type" {
					typ = ""
					if v[0] == '"' {
						typ = d.text(vs, d.i)
					}
				}
			}
			d.space()
			c := d.peek()
			d.i++
			if c == '}' {
				break
			}
			if c != ',' {
				return nil, fmt.Errorf("not a JSON object: %s", d.unexpected(d.i-1))
			}
		}
	}
	for _, group := range [2]string{"", typ} {
		for _, k := range ingestRequired[group] {
			if have&(1<<requiredBit[k]) == 0 {
				return nil, fmt.Errorf("missing required field %s", k)
			}
		}
	}
	if !d.ws {
		lines = append(lines, d.b[start:d.i]...)
	} else {
		buf := bytes.NewBuffer(lines)
		if err := json.Compact(buf, d.b[start:d.i]); err != nil {
			return nil, err
		}
		lines = buf.Bytes()
	}
	return append(lines, '\n'), nil
}

// text is the string whose JSON (quotes included) is b[s:e]; escapes are rare in keys and types.
func (d *decoder) text(s, e int) string {
	raw := d.b[s:e]
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1])
	}
	v, err := strconv.Unquote(string(raw))
	if err != nil {
		var out string
		_ = json.Unmarshal(raw, &out)
		return out
	}
	return v
}

// value skips one JSON value, checking its syntax.
func (d *decoder) value(depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("nested too deeply")
	}
	switch c := d.peek(); {
	case c == '"':
		_, _, err := d.str()
		return err
	case c == '{' || c == '[':
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		d.i++
		d.space()
		if d.peek() == end {
			d.i++
			return nil
		}
		for {
			d.space()
			if c == '{' {
				if _, _, err := d.str(); err != nil {
					return err
				}
				d.space()
				if d.peek() != ':' {
					return fmt.Errorf("%s", d.unexpected(d.i))
				}
				d.i++
				d.space()
			}
			if err := d.value(depth + 1); err != nil {
				return err
			}
			d.space()
			next := d.peek()
			d.i++
			if next == end {
				return nil
			}
			if next != ',' {
				return fmt.Errorf("%s", d.unexpected(d.i-1))
			}
		}
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	default:
		for _, lit := range [3]string{"true", "false", "null"} {
			if bytes.HasPrefix(d.b[d.i:], []byte(lit)) {
				d.i += len(lit)
				return nil
			}
		}
		return fmt.Errorf("%s", d.unexpected(d.i))
	}
}

// str reads a JSON string and returns its span, quotes included.
func (d *decoder) str() (int, int, error) {
	s := d.i
	if d.peek() != '"' {
		return 0, 0, fmt.Errorf("%s (want a string)", d.unexpected(d.i))
	}
	d.i++
	for {
		// Skip the plain bytes in one tight loop: most of a body is string content.
		for d.i < len(d.b) && plain[d.b[d.i]] {
			d.i++
		}
		if d.i >= len(d.b) {
			return 0, 0, fmt.Errorf("unterminated string at offset %d", s)
		}
		switch d.b[d.i] {
		case '"':
			d.i++
			return s, d.i, nil
		case '\\':
			switch d.peekAt(1) {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				d.i += 2
			case 'u':
				if d.i+6 > len(d.b) || !isHex4(d.b[d.i+2:d.i+6]) {
					return 0, 0, fmt.Errorf("invalid \\u escape at offset %d", d.i)
				}
				d.i += 6
			default:
				return 0, 0, fmt.Errorf("invalid escape at offset %d", d.i)
			}
		default:
			return 0, 0, fmt.Errorf("control character in a string at offset %d", d.i)
		}
	}
}

// plain marks the bytes a JSON string holds as they are: not '"', '\\' or a control character.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func isHex4(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// number reads a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *decoder) number() error {
	s := d.i
	if d.peek() == '-' {
		d.i++
	}
	switch c := d.peek(); {
	case c == '0':
		d.i++
	case c >= '1' && c <= '9':
		d.digits()
	default:
		return fmt.Errorf("invalid number at offset %d", s)
	}
	if d.peek() == '.' {
		d.i++
		if !d.digits() {
			return fmt.Errorf("invalid number at offset %d", s)
		}
	}
	if c := d.peek(); c == 'e' || c == 'E' {
		d.i++
		if c := d.peek(); c == '+' || c == '-' {
			d.i++
		}
		if !d.digits() {
			return fmt.Errorf("invalid number at offset %d", s)
		}
	}
	return nil
}

func (d *decoder) digits() bool {
	s := d.i
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
	}
	return d.i > s
}
