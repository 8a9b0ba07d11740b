// Command console boots a CF image in QEMU, waits for the CLI, types the
// given command lines one after another and prints the whole console
// session: a quick way to see what an admin would see.
//
//	go run ./scripts/console -image out/qemu.img "show log" "show system"
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"alixsec.dev/scripts/qemu"
)

func main() {
	image := flag.String("image", "out/qemu.img", "CF image to boot (booted with -snapshot: the image is not changed)")
	timeout := flag.Duration("timeout", 120*time.Second, "wait for each prompt at most this long")
	write := flag.Bool("write", false, "boot the image itself, not a snapshot: changes persist")
	delay := flag.Duration("delay", 0, "pause before each command line")
	flag.Parse()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	vm, err := qemu.Start(ctx, qemu.Config{Image: *image, Snapshot: !*write, NoReboot: true,
		Extra: []string{"-netdev", "user,id=lan,restrict=on", "-device", "e1000,netdev=lan"}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer vm.Stop()
	_, err = vm.Expect(qemu.CLIPrompt, *timeout)
	for _, line := range flag.Args() {
		if err != nil {
			break
		}
		time.Sleep(*delay)
		_, err = vm.Command(line, *timeout)
	}
	fmt.Print(vm.Log())
	if err != nil {
		fmt.Fprintf(os.Stderr, "\nconsole: %v\n", err)
		os.Exit(1)
	}
}
