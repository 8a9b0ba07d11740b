// Command fakeikesvc stands in for ikesvc in the harness's own tests: it
// has ikesvc's command line (-config FILE -kernel memory -control SOCKET,
// and `-control SOCKET show`) and answers show with the text of
// FILE.show, or "no SAs" when that file does not exist. It negotiates
// nothing.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	config := flag.String("config", "", "config file")
	kernel := flag.String("kernel", "memory", "kernel backend")
	control := flag.String("control", "", "control socket")
	flag.Parse()
	if flag.Arg(0) == "show" {
		if err := show(*control); err != nil {
			fmt.Fprintln(os.Stderr, "fakeikesvc:", err)
			os.Exit(1)
		}
		return
	}
	if err := serve(*config, *kernel, *control); err != nil {
		fmt.Fprintln(os.Stderr, "fakeikesvc:", err)
		os.Exit(1)
	}
}

func show(control string) error {
	c, err := net.Dial("unix", control)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := io.WriteString(c, "show\n"); err != nil {
		return err
	}
	_, err = io.Copy(os.Stdout, c)
	return err
}

func serve(config, kernel, control string) error {
	if _, err := os.Stat(config); err != nil || kernel != "memory" {
		return fmt.Errorf("want an existing -config and -kernel memory: %v", err)
	}
	l, err := net.Listen("unix", control)
	if err != nil {
		return err
	}
	defer os.Remove(control)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-sig; l.Close() }()
	for {
		c, err := l.Accept()
		if err != nil {
			return nil // closed by the signal
		}
		line, _ := bufio.NewReader(c).ReadString('\n')
		if line == "show\n" {
			text, err := os.ReadFile(config + ".show")
			if err != nil {
				text = []byte("no SAs\n")
			}
			c.Write(text)
		}
		c.Close()
	}
}
