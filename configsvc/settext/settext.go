// Package settext reads and writes a whole configuration as `set` lines in
// the CLI's own syntax, for example
//
//	set system hostname gw1
//	set interfaces eth0 address 10.99.0.1/24
//	set ipsec peer gw2 address 10.99.0.2
//
// Format is stable (schema order, sorted keys, canonical values, one line
// per value, PEM as one quoted line) so exported configs diff well in git,
// and Parse(Format(c)) equals c.
package settext

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"alixsec.dev/configsvc/model"
)

// MaxLineBytes bounds one line; PEM CRLs are the longest values.
const MaxLineBytes = 1 << 20

// LineError is a parse error with the 1-based line number it happened on.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// Parse reads set lines into a new Config. Blank lines and lines starting
// with # are skipped. Every value is checked as `set` checks it; the
// cross-section rules of model.Config.Validate are not applied (use Load
// for that). All bad lines are reported, each as a *LineError.
func Parse(r io.Reader) (*model.Config, error) {
	c := &model.Config{}
	lr := lineReader{r: bufio.NewReader(r)}
	var errs []error
	for n := 1; ; n++ {
		line, tooLong, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("reading set lines: %w", err))
			break
		}
		if tooLong {
			err = fmt.Errorf("too long (max %d bytes)", MaxLineBytes)
		} else {
			err = applyLine(c, line)
		}
		if err != nil {
			errs = append(errs, &LineError{Line: n, Err: err})
			if len(errs) >= 20 {
				errs = append(errs, fmt.Errorf("too many errors, giving up"))
				break
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// lineReader splits its input into lines of at most MaxLineBytes without
// holding a longer one in memory: the rest of a long line is skipped.
type lineReader struct{ r *bufio.Reader }

// next returns the next line without its line end, or tooLong (and no
// text) for a line over MaxLineBytes; io.EOF after the last line.
func (l *lineReader) next() (line string, tooLong bool, err error) {
	var buf []byte
	for {
		frag, isPrefix, err := l.r.ReadLine()
		if err != nil {
			if err == io.EOF && (buf != nil || tooLong) {
				return string(buf), tooLong, nil
			}
			return "", false, err
		}
		if !tooLong {
			if len(buf)+len(frag) > MaxLineBytes {
				tooLong, buf = true, nil
			} else {
				buf = append(buf, frag...)
			}
		}
		if !isPrefix {
			if tooLong {
				return "", true, nil
			}
			return string(buf), false, nil
		}
	}
}

func applyLine(c *model.Config, line string) error {
	words, err := model.SplitWords(line)
	if err != nil {
		return err
	}
	if len(words) == 0 {
		return nil
	}
	if words[0] != "set" {
		return fmt.Errorf("unknown command %q: only set lines are allowed", words[0])
	}
	return c.Set(words[1:])
}

// ParseString is Parse on a string.
func ParseString(s string) (*model.Config, error) { return Parse(strings.NewReader(s)) }

// Load parses set lines and validates the result as a commit would; this
// is what a service loading a preseeded file should call.
func Load(r io.Reader) (*model.Config, error) {
	c, err := Parse(r)
	if err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return c, nil
}

// Format writes c as set lines, one per value, each ending in a newline.
func Format(c *model.Config) []byte {
	var b bytes.Buffer
	for _, l := range c.Lines() {
		b.WriteString("set ")
		b.WriteString(model.JoinWords(l))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// FormatLines returns c's set lines (without newlines) whose words start
// with prefix, e.g. prefix ["interfaces"] for the interfaces section.
func FormatLines(c *model.Config, prefix []string) []string {
	var out []string
lines:
	for _, l := range c.Lines() {
		if len(l) < len(prefix) {
			continue
		}
		for i, w := range prefix {
			if l[i] != w {
				continue lines
			}
		}
		out = append(out, "set "+model.JoinWords(l))
	}
	return out
}
