package interop

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// IKEFilter captures IKE and everything NAT-T puts on UDP 4500 (IKE after
// the float and ESP-in-UDP).
const IKEFilter = "udp port 500 or udp port 4500"

// Capture is a running dumpcap on one node's veth.
type Capture struct {
	File string // classic pcap
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	log  strings.Builder // dumpcap's stderr
}

// StartCapture starts dumpcap (wireshark-common, tshark's capture engine)
// on node's LinkName with the capture filter, writing a pcap to file, and
// returns once dumpcap says it is capturing (at most 30 s).
func StartCapture(ctx context.Context, node *Node, filter, file string) (*Capture, error) {
	c := &Capture{File: file, done: make(chan struct{})}
	c.cmd = exec.Command("ip", "netns", "exec", node.NS,
		"dumpcap", "-q", "-P", "-i", LinkName, "-f", filter, "-w", file)
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := c.cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("capture on %s: %w", node.NS, err)
	}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start dumpcap on %s: %w", node.NS, err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		signalled := false
		for sc.Scan() {
			c.log.WriteString(sc.Text() + "\n")
			if !signalled && strings.Contains(sc.Text(), "Capturing on") {
				close(ready)
				signalled = true
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	select {
	case <-ready:
		return c, nil
	case <-c.done:
		return nil, fmt.Errorf("dumpcap on %s exited: %v: %s", node.NS, c.err, c.log.String())
	case <-ctx.Done():
		_ = c.Stop()
		return nil, fmt.Errorf("dumpcap on %s did not start capturing within 30 s", node.NS)
	}
}

// settleTime lets packets that crossed the link just before Stop reach the
// file: dumpcap reads with a 250 ms buffer timeout and drops what is still
// in the kernel's buffer when SIGINT arrives (seen with the last ESP packet).
const settleTime = 500 * time.Millisecond

// Stop ends the capture (SIGINT, so dumpcap closes the file properly) and
// waits for it, at most 10 s.
func (c *Capture) Stop() error {
	select {
	case <-c.done:
		return nil
	default:
	}
	time.Sleep(settleTime)
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.done:
		return nil
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
		return errors.New("dumpcap ignored SIGINT for 10 s, killed")
	}
}

// Decoded is tshark's full decode (-V) of a capture.
type Decoded struct {
	Text string
}

// Decode runs `tshark -r FILE -V` and returns its output.
func Decode(ctx context.Context, file string) (*Decoded, error) {
	out, err := run(ctx, "tshark", "-n", "-r", file, "-V")
	if err != nil {
		return nil, fmt.Errorf("decode capture: %w", err)
	}
	return &Decoded{Text: out}, nil
}

// Problems returns the lines of the decode that mark a malformed packet or
// an expert-info error: what a correct IKE implementation never causes.
func (d *Decoded) Problems() []string {
	var bad []string
	for _, l := range strings.Split(d.Text, "\n") {
		if strings.Contains(l, "Malformed") || strings.Contains(l, "Expert Info (Error") {
			bad = append(bad, strings.TrimSpace(l))
		}
	}
	return bad
}

// Count returns how many lines of the decode contain s (e.g. "Exchange
// type: IKE_AUTH (35)").
func (d *Decoded) Count(s string) int {
	return strings.Count(d.Text, s)
}
