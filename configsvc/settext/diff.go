package settext

import (
	"strings"

	"alixsec.dev/configsvc/model"
)

// maxLCSCells bounds the work of the line diff; larger inputs fall back to
// a plain set difference.
const maxLCSCells = 4 << 20

// Diff returns the set lines that change from old to new, in their
// configuration order: "- set ..." for removed lines and "+ set ..." for
// added ones. Equal configs give an empty result.
func Diff(old, new *model.Config) []string {
	return DiffLines(FormatLines(old, nil), FormatLines(new, nil))
}

// DiffLines is Diff on already formatted lines.
func DiffLines(a, b []string) []string {
	if len(a)*len(b) > maxLCSCells {
		return setDiff(a, b)
	}
	// lcs[i][j] is the LCS length of a[i:] and b[j:].
	lcs := make([][]int32, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int32, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []string
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			i++
			j++
		case i < len(a) && (j == len(b) || lcs[i+1][j] >= lcs[i][j+1]):
			out = append(out, "- "+a[i])
			i++
		default:
			out = append(out, "+ "+b[j])
			j++
		}
	}
	return out
}

func setDiff(a, b []string) []string {
	inA := make(map[string]bool, len(a))
	for _, l := range a {
		inA[l] = true
	}
	inB := make(map[string]bool, len(b))
	for _, l := range b {
		inB[l] = true
	}
	var out []string
	for _, l := range a {
		if !inB[l] {
			out = append(out, "- "+l)
		}
	}
	for _, l := range b {
		if !inA[l] {
			out = append(out, "+ "+l)
		}
	}
	return out
}

// DiffText joins a diff into printable text, or says there is none.
func DiffText(d []string) string {
	if len(d) == 0 {
		return "no changes\n"
	}
	return strings.Join(d, "\n") + "\n"
}
