package svclog

import (
	"bytes"
	"regexp"
	"testing"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want *regexp.Regexp
	}{
		{"under init", map[string]string{EnvVar: "1"}, regexp.MustCompile(`^running\n$`)},
		{"by hand", nil, regexp.MustCompile(`^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d ikesvc: running\n$`)},
		{"other value", map[string]string{EnvVar: "yes"}, regexp.MustCompile(`^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d ikesvc: running\n$`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			New(&b, "ikesvc", func(k string) string { return tt.env[k] }).Printf("running")
			if !tt.want.MatchString(b.String()) {
				t.Errorf("logged %q, want %v", b.String(), tt.want)
			}
		})
	}
}
