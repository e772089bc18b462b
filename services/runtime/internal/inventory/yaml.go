package inventory

import (
	"fmt"
	"strings"
)

// parseSimpleYAML reads the block-style YAML subset that kubectl writes for kubeconfig files: nested
// mappings, sequences (also at the parent key's indentation), plain and quoted scalars, comments.
// Flow collections, anchors and multi-line scalars are not supported (a JSON kubeconfig always works).
func parseSimpleYAML(src string) (any, error) {
	var lines []yamlLine
	for n, raw := range strings.Split(src, "\n") {
		raw = strings.TrimRight(raw, " \t\r")
		trimmed := strings.TrimLeft(raw, " ")
		if trimmed == "" || strings.HasPrefix(trimmed, "#") || trimmed == "---" {
			continue
		}
		if strings.HasPrefix(trimmed, "\t") {
			return nil, fmt.Errorf("line %d: tab indentation", n+1)
		}
		lines = append(lines, yamlLine{indent: len(raw) - len(trimmed), text: trimmed, n: n + 1})
	}
	p := &yamlParser{lines: lines}
	if len(lines) == 0 {
		return map[string]any{}, nil
	}
	v, err := p.block(lines[0].indent)
	if err != nil {
		return nil, err
	}
	if p.i < len(p.lines) {
		return nil, fmt.Errorf("line %d: unexpected indentation", p.lines[p.i].n)
	}
	return v, nil
}

type yamlLine struct {
	indent int
	text   string
	n      int
}

type yamlParser struct {
	lines []yamlLine
	i     int
}

func (p *yamlParser) block(indent int) (any, error) {
	if strings.HasPrefix(p.lines[p.i].text, "- ") || p.lines[p.i].text == "-" {
		return p.seq(indent)
	}
	return p.mapping(indent)
}

func (p *yamlParser) seq(indent int) (any, error) {
	var out []any
	for p.i < len(p.lines) {
		l := p.lines[p.i]
		if l.indent != indent || !(strings.HasPrefix(l.text, "- ") || l.text == "-") {
			break
		}
		rest := strings.TrimSpace(strings.TrimPrefix(l.text, "-"))
		switch {
		case rest == "":
			p.i++
			if p.i < len(p.lines) && p.lines[p.i].indent > indent {
				v, err := p.block(p.lines[p.i].indent)
				if err != nil {
					return nil, err
				}
				out = append(out, v)
			} else {
				out = append(out, nil)
			}
		case isMappingEntry(rest):
			// "- key: value": a mapping whose keys sit at the column after "- ".
			p.lines[p.i] = yamlLine{indent: indent + len(l.text) - len(rest), text: rest, n: l.n}
			v, err := p.mapping(p.lines[p.i].indent)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		default:
			out = append(out, scalar(rest))
			p.i++
		}
	}
	return out, nil
}

func (p *yamlParser) mapping(indent int) (any, error) {
	out := map[string]any{}
	for p.i < len(p.lines) {
		l := p.lines[p.i]
		if l.indent < indent {
			break
		}
		if l.indent > indent {
			return nil, fmt.Errorf("line %d: unexpected indentation", l.n)
		}
		if !isMappingEntry(l.text) {
			if strings.HasPrefix(l.text, "- ") {
				break
			}
			return nil, fmt.Errorf("line %d: expected key: value", l.n)
		}
		key, val := splitEntry(l.text)
		p.i++
		if val != "" {
			out[key] = scalar(val)
			continue
		}
		if p.i < len(p.lines) {
			next := p.lines[p.i]
			if next.indent > indent || (next.indent == indent && strings.HasPrefix(next.text, "- ")) {
				v, err := p.block(next.indent)
				if err != nil {
					return nil, err
				}
				out[key] = v
				continue
			}
		}
		out[key] = nil
	}
	return out, nil
}

func isMappingEntry(s string) bool {
	if strings.HasPrefix(s, `"`) || strings.HasPrefix(s, "'") {
		q := s[:1]
		end := strings.Index(s[1:], q)
		return end >= 0 && strings.HasPrefix(s[end+2:], ":")
	}
	i := strings.Index(s, ":")
	return i > 0 && (i == len(s)-1 || s[i+1] == ' ')
}

func splitEntry(s string) (string, string) {
	if strings.HasPrefix(s, `"`) || strings.HasPrefix(s, "'") {
		end := strings.Index(s[1:], s[:1]) + 1
		return s[1:end], strings.TrimSpace(s[end+2:])
	}
	i := strings.Index(s, ":")
	return s[:i], strings.TrimSpace(s[i+1:])
}

func scalar(s string) any {
	if len(s) >= 2 && (s[0] == '"' && s[len(s)-1] == '"' || s[0] == '\'' && s[len(s)-1] == '\'') {
		return s[1 : len(s)-1]
	}
	if i := strings.Index(s, " #"); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	switch s {
	case "null", "~":
		return nil
	case "{}":
		return map[string]any{}
	case "[]":
		return []any{}
	}
	return s
}
