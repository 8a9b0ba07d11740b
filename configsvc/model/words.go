package model

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// SplitWords splits one line of CLI or set-line text into words. Words are
// separated by blanks; "double quotes" allow blanks and the escapes \\ \"
// \n \r \t \xHH; 'single quotes' take everything literally. A word starting
// with an unquoted # begins a comment that runs to the end of the line.
func SplitWords(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '#' && !inWord:
			return words, nil
		case c == '\'':
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("column %d: unterminated single quote", i+1)
			}
			cur.WriteString(line[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case c == '"':
			j, err := unquoteInto(&cur, line, i+1)
			if err != nil {
				return nil, err
			}
			i = j
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// unquoteInto decodes a double-quoted string starting after the opening
// quote at line[start:] and returns the index of the closing quote.
func unquoteInto(b *strings.Builder, line string, start int) (int, error) {
	for i := start; i < len(line); i++ {
		c := line[i]
		if c == '"' {
			return i, nil
		}
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(line) {
			break
		}
		switch line[i] {
		case '\\', '"', '\'':
			b.WriteByte(line[i])
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'x':
			if i+2 >= len(line) || unhex(line[i+1]) < 0 || unhex(line[i+2]) < 0 {
				return 0, fmt.Errorf("column %d: \\x needs two hex digits", i+1)
			}
			b.WriteByte(byte(unhex(line[i+1])<<4 | unhex(line[i+2])))
			i += 2
		default:
			return 0, fmt.Errorf("column %d: unknown escape \\%c (use \\\\ \\\" \\n \\r \\t \\xHH)", i+1, line[i])
		}
	}
	return 0, fmt.Errorf("column %d: unterminated double quote", start)
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// Quote returns s as one word that SplitWords reads back as s: unchanged
// when it needs no quoting, otherwise in double quotes with escapes, so
// that multi-line PEM fits on one line.
func Quote(s string) string {
	if s != "" && s[0] != '#' {
		plain := true
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c <= ' ' || c >= 0x7f || c == '"' || c == '\'' || c == '\\' {
				plain = false
				break
			}
		}
		if plain {
			return s
		}
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\' || c == '"':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < ' ' || c == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size <= 1 {
				fmt.Fprintf(&b, `\x%02x`, c)
				break
			}
			b.WriteString(s[i : i+size])
			i += size
			continue
		default:
			b.WriteByte(c)
		}
		i++
	}
	b.WriteByte('"')
	return b.String()
}

// JoinWords quotes each word as needed and joins them with blanks.
func JoinWords(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = Quote(w)
	}
	return strings.Join(q, " ")
}
