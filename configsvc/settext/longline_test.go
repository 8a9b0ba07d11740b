package settext

import (
	"strings"
	"testing"
)

// TestParseLineLengths: a line over MaxLineBytes is one line-numbered
// error (not bufio's), the lines after it are still read and checked, and
// a line of exactly MaxLineBytes is accepted as any other.
func TestParseLineLengths(t *testing.T) {
	long := "set system description " + strings.Repeat("x", 10<<20)
	atMax := "set system description " + strings.Repeat("y", 255)
	atMax += strings.Repeat(" ", MaxLineBytes-len(atMax))
	tests := []struct {
		name    string
		in      string
		wantErr string // "" for success
	}{
		{"10 MB line", "set system hostname a\n" + long + "\nset system hostname b\n", "line 2: too long (max 1048576 bytes)"},
		{"10 MB last line without newline", "set system hostname a\n" + long, "line 2: too long (max 1048576 bytes)"},
		{"errors after a long line keep their numbers", long + "\nset interfaces eth0 mtu 1\n",
			"line 1: too long (max 1048576 bytes)\nline 2: interfaces eth0 mtu 1: must be 576..9000"},
		{"line of exactly the maximum", atMax + "\nset system hostname b\n", ""},
		{"CRLF line ends", "set system hostname a\r\nset system hostname b\r\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseString(tt.in)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if c.System.Hostname != "b" {
					t.Errorf("hostname %q, want b (the line after)", c.System.Hostname)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("Parse error\n got %v\nwant %s", err, tt.wantErr)
			}
		})
	}
}
