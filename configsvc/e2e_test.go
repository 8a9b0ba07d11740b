package main

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildCommands builds configsvc and cli for the host into dir.
func buildCommands(t *testing.T, dir string) (configsvc, cli string) {
	t.Helper()
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		t.Skipf("no go tool to build the commands: %v", err)
	}
	configsvc, cli = filepath.Join(dir, "configsvc"), filepath.Join(dir, "cli")
	for out, pkg := range map[string]string{configsvc: ".", cli: "./cli"} {
		cmd := exec.Command(gobin, "build", "-o", out, pkg)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, b)
		}
	}
	return configsvc, cli
}

// startConfigsvc runs the configsvc binary and waits for its socket.
func startConfigsvc(t *testing.T, bin, db, sock string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "-db", db, "-socket", sock, "-default-board", "qemu")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			break
		}
		if i > 100 {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("configsvc did not come up:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd
}

func stopConfigsvc(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("configsvc exit after SIGTERM: %v", err)
	}
}

// session feeds lines to the cli through a pipe and returns its output.
func session(t *testing.T, cli, sock string, lines ...string) string {
	t.Helper()
	cmd := exec.Command(cli, "-socket", sock, "-wait", "5s",
		"-ikesvc-socket", filepath.Join(filepath.Dir(sock), "ike.sock"), "-log-socket", filepath.Join(filepath.Dir(sock), "log.sock"))
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cli: %v\n%s", err, out)
	}
	return string(out)
}

// TestEndToEnd is the console scenario of the QEMU test, on the host:
// configure, set hostname and address, commit, exit; after a restart of
// configsvc (a reboot) the prompt and show configuration reflect it;
// rollback 1 + commit restores the previous state.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries")
	}
	dir, err := os.MkdirTemp("", "e2e")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	configsvc, cli := buildCommands(t, dir)
	db, sock := filepath.Join(dir, "config.db"), filepath.Join(dir, "configsvc.sock")

	svc := startConfigsvc(t, configsvc, db, sock)
	out := session(t, cli, sock,
		"configure",
		"set system hostname bartest",
		"set interfaces eth0 address 10.99.0.5/24",
		"commit",
		"exit",
		"show ipsec sa")
	for _, want := range []string{"alixsec> [edit] candidate from revision 1\n", "alixsec# alixsec# alixsec# committed revision 2\n", "bartest# bartest> ikesvc is not running\nbartest> \n"} {
		if !strings.Contains(out, want) {
			t.Errorf("first session lacks %q:\n%s", want, out)
		}
	}

	stopConfigsvc(t, svc) // "reboot"
	svc = startConfigsvc(t, configsvc, db, sock)
	out = session(t, cli, sock, "show configuration")
	if !strings.HasPrefix(out, "bartest> # running revision 2") ||
		!strings.Contains(out, "set system hostname bartest\n") ||
		!strings.Contains(out, "set interfaces eth0 address 10.99.0.5/24\n") {
		t.Errorf("after restart:\n%s", out)
	}

	out = session(t, cli, sock, "configure", "rollback 1", "commit", "exit", "show configuration interfaces")
	if !strings.Contains(out, "committed revision 3") || !regexp.MustCompile(`alixsec> # running revision 3[^\n]*\nset interfaces eth0 address 10.99.0.1/24\nalixsec> \n$`).MatchString(out) {
		t.Errorf("rollback session:\n%s", out)
	}
	stopConfigsvc(t, svc)

	// Corrupt the file: configsvc must refuse to start and leave it alone.
	b, _ := os.ReadFile(db)
	bad := b[:len(b)/2]
	os.WriteFile(db, bad, 0o600)
	cmd := exec.Command(configsvc, "-db", db, "-socket", sock, "-default-board", "qemu")
	msg, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(msg), "is corrupt or truncated (left untouched") {
		t.Errorf("configsvc on a corrupt DB: %v\n%s", err, msg)
	}
	if now, _ := os.ReadFile(db); !bytes.Equal(now, bad) {
		t.Error("configsvc changed the corrupt DB")
	}
}
