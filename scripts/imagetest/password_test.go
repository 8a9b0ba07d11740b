package imagetest

import (
	"strings"
	"testing"

	"alixsec.dev/scripts/qemu"
)

// TestConsolePasswordOnTheSerialConsole sets the console password through
// the real serial console (x/term reading without echo), commits, logs out
// and logs in again: a wrong password is refused, the right one admitted,
// and the password never shows on the console.
func TestConsolePasswordOnTheSerialConsole(t *testing.T) {
	const password = "Geode-500MHz!"
	b := qemu.StartBoard(t, artifact(t, "qemu.img"), "qemu")
	if err := b.WaitBoot(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Run("configure"); err != nil {
		t.Fatal(err)
	}
	vm := b.VM
	steps := []struct{ typed, want string }{
		{"set system console password", "New password: "},
		{password, "Retype new password: "},
	}
	for _, s := range steps {
		if err := vm.Type(s.typed); err != nil {
			t.Fatal(err)
		}
		if err := vm.ExpectString(s.want, qemu.CommandTimeout); err != nil {
			t.Fatalf("after typing %q: %v", s.typed, err)
		}
	}
	// The last answer ends at the configuration prompt, like any set.
	if out, err := b.Run(password); err != nil {
		t.Fatalf("retyped password: %v\n%s", err, out)
	}
	if out, err := b.Run("commit console password"); err != nil || !strings.Contains(out, "committed revision") {
		t.Fatalf("commit: %v\n%s", err, out)
	}
	if out, err := b.Run("show system console"); err != nil || !strings.Contains(out, "password-hash") {
		t.Fatalf("show system console after the commit: %v\n%s", err, out)
	}
	if _, err := b.Run("exit"); err != nil {
		t.Fatal(err)
	}
	// Log out: init starts a new login, which now asks for the password.
	if err := vm.Type("exit"); err != nil {
		t.Fatal(err)
	}
	if err := vm.ExpectString("Password: ", qemu.CommandTimeout); err != nil {
		t.Fatalf("no password prompt after logging out: %v", err)
	}
	if err := vm.Type("not-the-password"); err != nil {
		t.Fatal(err)
	}
	if err := vm.ExpectString("% wrong password", qemu.CommandTimeout); err != nil {
		t.Fatalf("a wrong password was not refused: %v", err)
	}
	if err := vm.ExpectString("Password: ", qemu.CommandTimeout); err != nil {
		t.Fatalf("no second password prompt: %v", err)
	}
	if err := vm.Type(password); err != nil {
		t.Fatal(err)
	}
	if _, err := vm.Expect(qemu.CLIPrompt, qemu.CommandTimeout); err != nil {
		t.Fatalf("the right password did not open the CLI: %v", err)
	}
	if strings.Contains(vm.Log(), password) {
		t.Errorf("the password appeared on the console:\n%s", qemu.Tail(vm.Log(), 40))
	}
}
