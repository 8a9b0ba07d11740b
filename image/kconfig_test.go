package main

import (
	"strings"
	"testing"

	"alixsec.dev/board"
)

func TestParseFragment(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		want    int
		wantErr string
	}{
		{"options and comments", "# a comment\nCONFIG_A=y\n\n# CONFIG_B is not set\nCONFIG_C=\"x y\"\n", 3, ""},
		{"typo", "CONFIG_A=y\nCONIFG_B=y\n", 0, "line 2"},
		{"empty value", "CONFIG_A=\n", 0, "malformed"},
		{"bad name", "CONFIG_A-B=y\n", 0, "malformed"},
		{"duplicate", "CONFIG_A=y\nCONFIG_A=n\n", 0, "already set on line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseFragment(tt.text)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.want {
				t.Fatalf("got %d options, want %d", len(got), tt.want)
			}
		})
	}
}

func TestCheckSurvived(t *testing.T) {
	wants, err := parseFragment("CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_S=\"v\"\n")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, dotConfig, wantErr string
	}{
		{"all survived", "CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_S=\"v\"\n", ""},
		{"dropped", "# CONFIG_A is not set\nCONFIG_S=\"v\"\n", "CONFIG_A=y wanted, is not set"},
		{"turned on", "CONFIG_A=y\nCONFIG_B=y\nCONFIG_S=\"v\"\n", "CONFIG_B wanted off, is y"},
		{"changed", "CONFIG_A=m\nCONFIG_S=\"v\"\n", "CONFIG_A=y wanted, is m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkSurvived(wants, tt.dotConfig)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestBoardFragmentsParse keeps every shipped fragment well-formed.
func TestBoardFragmentsParse(t *testing.T) {
	text, err := board.KernelConfig()
	if err != nil {
		t.Fatal(err)
	}
	wants, err := parseFragment(text)
	if err != nil {
		t.Fatalf("shipped fragments: %v", err)
	}
	must := map[string]string{"CONFIG_COMPAT_32BIT_TIME": "y", "CONFIG_M586MMX": "y", "CONFIG_INET_ESP": "y"}
	for _, w := range wants {
		if v, ok := must[w.option]; ok && v == w.value {
			delete(must, w.option)
		}
	}
	if len(must) > 0 {
		t.Fatalf("fragments lack %v", must)
	}
}
