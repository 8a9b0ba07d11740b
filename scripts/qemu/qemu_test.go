package qemu

import (
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestConsoleBufferExpectInOrder(t *testing.T) {
	c := newConsoleBuffer()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for _, s := range []string{"boot ", "alixsec v1 board=alix\r\n", "$ ", "uname -m\r\ni586\r\n$ "} {
			time.Sleep(5 * time.Millisecond)
			c.Write([]byte(s))
		}
	}()
	m, err := c.expect(regexp.MustCompile(`alixsec (\S+) board=(\w+)`), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if m[1] != "v1" || m[2] != "alix" {
		t.Fatalf("submatches %q", m)
	}
	if _, err := c.expect(regexp.MustCompile(`i586`), time.Second); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	// The read position moved past i586: it must not match again.
	if _, err := c.expect(regexp.MustCompile(`i586`), 20*time.Millisecond); err == nil {
		t.Fatal("matched the same text twice")
	}
}

func TestConsoleBufferClosed(t *testing.T) {
	c := newConsoleBuffer()
	c.Write([]byte("kernel panic"))
	c.close()
	_, err := c.expect(regexp.MustCompile("banner"), time.Second)
	if err == nil || !strings.Contains(err.Error(), "qemu exited") {
		t.Fatalf("err = %v, want qemu exited", err)
	}
}

func TestArgsNeverUseKernelFlag(t *testing.T) {
	args := strings.Join(Config{Image: "x.img", Snapshot: true}.args(), " ")
	for _, want := range []string{"-cpu pentium", "-m 64", "file=x.img,format=raw,if=ide", "-snapshot", "-nic none"} {
		if !strings.Contains(args, want) {
			t.Errorf("args %q lack %q", args, want)
		}
	}
	if strings.Contains(args, "-kernel") {
		t.Errorf("args %q boot with -kernel, not through the bootloader", args)
	}
}
