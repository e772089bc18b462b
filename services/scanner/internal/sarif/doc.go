// Package sarif turns Docker Scout's SARIF report (`docker scout cves --format sarif`) into findings:
// one finding per result (a vulnerability in one package), whatever number of files the package was
// found in. The per-package truth is the result's message text; the rule's properties are the fallback,
// because a rule that lists several purls describes only one of them.
package sarif
