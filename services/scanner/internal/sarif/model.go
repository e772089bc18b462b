package sarif

// The subset of SARIF 2.1.0 that Docker Scout writes and this package reads. Fields Scout writes but
// nobody here needs (help.markdown, ...) are not declared, so the decoder skips them.

type document struct {
	Version string `json:"version"`
	Runs    []run  `json:"runs"`
}

type run struct {
	Tool    tool     `json:"tool"`
	Results []result `json:"results"`
}

type tool struct {
	Driver driver `json:"driver"`
}

type driver struct {
	Name     string `json:"name"`
	FullName string `json:"fullName"`
	Version  string `json:"version"`
	Rules    []rule `json:"rules"`
}

type text struct {
	Text string `json:"text"`
}

type rule struct {
	ID               string         `json:"id"`
	ShortDescription text           `json:"shortDescription"`
	HelpURI          string         `json:"helpUri"`
	Help             text           `json:"help"`
	Properties       ruleProperties `json:"properties"`
}

type ruleProperties struct {
	CVSSv3           *float64 `json:"cvssV3"`
	CVSSv3Severity   string   `json:"cvssV3_severity"`
	CVSSv3Vector     string   `json:"cvssV3_vector"`
	SecuritySeverity string   `json:"security-severity"`
	AffectedVersion  string   `json:"affected_version"`
	FixedVersion     string   `json:"fixed_version"`
	Purls            []string `json:"purls"`
	Tags             []string `json:"tags"`
}

type result struct {
	RuleID    string     `json:"ruleId"`
	RuleIndex *int       `json:"ruleIndex"`
	Level     string     `json:"level"`
	Message   text       `json:"message"`
	Locations []location `json:"locations"`
}

type location struct {
	PhysicalLocation struct {
		ArtifactLocation struct {
			URI string `json:"uri"`
		} `json:"artifactLocation"`
	} `json:"physicalLocation"`
	// Scout 0.x put the purl and the file here.
	LogicalLocations []struct {
		FullyQualifiedName string `json:"fullyQualifiedName"`
	} `json:"logicalLocations"`
}
