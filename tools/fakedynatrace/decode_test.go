package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// oracleDecode is the stand-in's former, obviously faithful check built on encoding/json (three passes
// over each body). ingestDecode must agree with it on every body.
func oracleDecode(body []byte) ([]byte, int, error) {
	trimmed := bytes.TrimSpace(body)
	var events []json.RawMessage
	switch {
	case len(trimmed) == 0:
		return nil, 0, fmt.Errorf("empty body")
	case trimmed[0] == '{':
		if !json.Valid(trimmed) {
			return nil, 0, fmt.Errorf("invalid")
		}
		events = []json.RawMessage{trimmed}
	default:
		if err := json.Unmarshal(trimmed, &events); err != nil {
			return nil, 0, err
		}
		if len(events) == 0 {
			return nil, 0, fmt.Errorf("empty array")
		}
	}
	var out bytes.Buffer
	for i, raw := range events {
		var e map[string]json.RawMessage
		if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &e) != nil {
			return nil, 0, fmt.Errorf("event %d: not a JSON object", i)
		}
		var typ string
		_ = json.Unmarshal(e["event.type"], &typ)
		for _, key := range append(append([]string(nil), ingestRequired[""]...), ingestRequired[typ]...) {
			if v, ok := e[key]; !ok || string(v) == `""` || string(v) == "null" {
				return nil, 0, fmt.Errorf("event %d: missing required field %s", i, key)
			}
		}
		_ = json.Compact(&out, raw)
		out.WriteByte('\n')
	}
	return out.Bytes(), len(events), nil
}

const okScan = `{"event.type":"VULNERABILITY_SCAN","event.provider":"Docker Scout","object.id":"a/b@sha256:1","scan.id":"s"}`

var decodeCases = []string{
	okFinding,
	okScan,
	"[" + okFinding + "," + okScan + "]",
	" \n[ " + strings.ReplaceAll(okFinding, ",", " ,\n\t") + " ] \r\n",
	`{"event.type":"OTHER","event.provider":"p","object.id":"o","n":-1.5e+3,"z":0,"t":true,"f":false,"x":null,"a":[1,[{}],{"k":"v"}],"o":{}}`,
	`{"event.type":"VULNERABILITY_FINDING","event.provider":"p","object.id":"o","finding.id":"f","vulnerability.id":"v","component.name":"c\"q\\ \u00fc\n/","e":"\ud83d\ude00"}`,
	`{"event.type":"VULNERABILITY_\u0046INDING","event.provider":"p","object.id":"o"}`,                                    // escaped type: still a finding
	`{"event.type":"VULNERABILITY_FINDING","event.provider":"p","object.id":"o","finding.id":"f","vulnerability.id":"v"}`, // no component.name
	strings.Replace(okFinding, `"component.name":"zlib"`, `"component.name":null`, 1),
	strings.Replace(okFinding, `"component.name":"zlib"`, `"component.name":0`, 1),        // present: not "" or null
	strings.Replace(okFinding, `"finding.id":"f"`, `"finding.id":"f","finding.id":""`, 1), // the last duplicate wins
	`{"event.type":7,"event.provider":"p","object.id":"o"}`,
	`{"event.provider":"p","object.id":"o"}`,
	`[]`, `[ ]`, ``, `   `, `null`, `"x"`, `42`, `[1]`, `[null]`, `[[]]`, `{}`,
	`[` + okFinding + `,]`, `[` + okFinding, okFinding + `x`, okFinding + okFinding, `[` + okFinding + `]]`,
	`{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":-}`, `{"a":1e}`, `{"a":tru}`, `{"a":nul}`, `{"a" 1}`, `{a:1}`, `{"a":1,}`,
	`{"a":"\x"}`, `{"a":"\u12"}`, "{\"a\":\"tab\there\"}", `{"a":"unterminated}`, `{"a":[1,2}`, `{"a":{"b":1]}`,
	strings.Repeat("[", 2000) + strings.Repeat("]", 2000),
	`{"event.type":"VULNERABILITY_SCAN","event.provider":"p","object.id":"o","deep":` + strings.Repeat("[", 500) + strings.Repeat("]", 500) + `}`,
}

func TestDecodeAgreesWithEncodingJSON(t *testing.T) {
	for _, body := range decodeCases {
		checkAgainstOracle(t, []byte(body))
	}
}

func FuzzDecode(f *testing.F) {
	for _, body := range decodeCases {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkAgainstOracle(t, body) })
}

func checkAgainstOracle(t *testing.T, body []byte) {
	t.Helper()
	wantLines, wantN, wantErr := oracleDecode(body)
	lines, n, err := ingestDecode(body, nil)
	short := string(body[:min(len(body), 120)])
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("%q: error %v, want %v", short, err, wantErr)
	}
	if err != nil {
		if want := wantErr.Error(); strings.Contains(want, "missing required field") && err.Error() != want {
			t.Errorf("%q: error %q, want %q", short, err, want)
		}
		return
	}
	if n != wantN || !bytes.Equal(lines, wantLines) {
		t.Errorf("%q: recorded %d events\n%s\nwant %d\n%s", short, n, lines, wantN, wantLines)
	}
}
