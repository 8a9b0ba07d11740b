package store

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"alixsec.dev/configsvc/model"
)

// CommitCost is what one commit wrote, as counted by the kernel for this
// process (/proc/self/io): bytes handed to write calls and their number.
type CommitCost struct {
	Bytes      uint64
	WriteCalls uint64
	FileGrowth int64 // change of the database file's size
}

func (c CommitCost) String() string {
	return fmt.Sprintf("%d bytes in %d write calls, file grew %d bytes", c.Bytes, c.WriteCalls, c.FileGrowth)
}

// MeasureCommit creates a database in dir holding cfg, commits cfg with
// one changed value warmup+1 times and returns the cost of the last commit.
// Nothing else in the process should write while it runs.
func MeasureCommit(dir string, cfg *model.Config, warmup int) (CommitCost, error) {
	path := filepath.Join(dir, "measure.db")
	s, err := Create(path, cfg, "measure", Options{})
	if err != nil {
		return CommitCost{}, err
	}
	defer s.Close()
	var cost CommitCost
	for i := 0; i <= warmup; i++ {
		c := cfg.Clone()
		if err := c.Set([]string{"system", "description", fmt.Sprintf("commit %d", i)}); err != nil {
			return cost, err
		}
		r, err := s.Running()
		if err != nil {
			return cost, err
		}
		fi0, err := os.Stat(path)
		if err != nil {
			return cost, err
		}
		b0, w0, err := procIO()
		if err != nil {
			return cost, err
		}
		if _, err := s.Commit(r.Number, c, "measure"); err != nil {
			return cost, err
		}
		b1, w1, err := procIO()
		if err != nil {
			return cost, err
		}
		fi1, err := os.Stat(path)
		if err != nil {
			return cost, err
		}
		cost = CommitCost{Bytes: b1 - b0, WriteCalls: w1 - w0, FileGrowth: fi1.Size() - fi0.Size()}
	}
	return cost, nil
}

// procIO returns wchar and syscw from /proc/self/io.
func procIO() (wchar, syscw uint64, err error) {
	f, err := os.Open("/proc/self/io")
	if err != nil {
		return 0, 0, fmt.Errorf("measuring writes: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ": ")
		n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		switch k {
		case "wchar":
			wchar = n
		case "syscw":
			syscw = n
		}
	}
	return wchar, syscw, sc.Err()
}
