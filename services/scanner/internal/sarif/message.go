package sarif

import "strings"

// messageFacts are the per-package lines of a result's message.text:
//
//	Vulnerability   : CVE-2021-3807
//	Package         : pkg:npm/ansi-regex@4.1.0
//	Affected range  : >=4.0.0,<4.1.1
//	Fixed version   : 4.1.1
//	CVSS Score      : 7.5
//	CVSS Vector     : CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H
//	EPSS Score      : 0.002880
//	EPSS Percentile : 0.685150
type messageFacts struct {
	vulnerability, severity, pkg, affected, fixed, cvssScore, cvssVector, epssScore, epssPercentile string
}

// parseMessage reads the "label : value" lines; labels are matched without their padding, values are
// trimmed, unknown labels are ignored. The separator is the first " : ", since values (purls,
// vectors) contain colons themselves.
func parseMessage(s string) messageFacts {
	var f messageFacts
	for len(s) > 0 {
		line := s
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			line, s = s[:i], s[i+1:]
		} else {
			s = ""
		}
		label, value, ok := strings.Cut(line, " : ")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		switch strings.TrimSpace(label) {
		case "Vulnerability":
			f.vulnerability = value
		case "Severity":
			f.severity = value
		case "Package":
			f.pkg = value
		case "Affected range":
			f.affected = value
		case "Fixed version":
			f.fixed = value
		case "CVSS Score":
			f.cvssScore = value
		case "CVSS Vector":
			f.cvssVector = value
		case "EPSS Score":
			f.epssScore = value
		case "EPSS Percentile":
			f.epssPercentile = value
		}
	}
	return f
}
