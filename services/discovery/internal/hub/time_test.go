package hub

import (
	"encoding/json"
	"testing"
	"time"
)

func TestTimestampsWithAnyPrecisionParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want time.Time
	}{
		{"no fraction", `"2024-03-20T20:08:27Z"`, time.Date(2024, 3, 20, 20, 8, 27, 0, time.UTC)},
		{"5 digits", `"2023-06-13T04:58:23.89489Z"`, time.Date(2023, 6, 13, 4, 58, 23, 894890000, time.UTC)},
		{"6 digits", `"2024-03-20T20:11:07.183053Z"`, time.Date(2024, 3, 20, 20, 11, 7, 183053000, time.UTC)},
		{"9 digits", `"2026-08-19T14:17:37.982368528Z"`, time.Date(2026, 8, 19, 14, 17, 37, 982368528, time.UTC)},
		{"1 digit with an offset", `"2026-01-01T01:00:00.5+01:00"`, time.Date(2026, 1, 1, 0, 0, 0, 500000000, time.UTC)},
		{"null", `null`, time.Time{}},
		{"empty", `""`, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got hubTime
			if err := json.Unmarshal([]byte(tt.in), &got); err != nil {
				t.Fatal(err)
			}
			if !time.Time(got).Equal(tt.want) {
				t.Errorf("got %s, want %s", time.Time(got), tt.want)
			}
		})
	}
	var bad hubTime
	if err := json.Unmarshal([]byte(`"yesterday"`), &bad); err == nil {
		t.Error("a malformed timestamp should fail to parse")
	}
}
