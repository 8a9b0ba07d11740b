package shell

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// runConsole runs one piped console login with input lines and returns
// what it printed and its error.
func runConsole(f *fixture, lines ...string) (string, error) {
	var out bytes.Buffer
	err := Run(f.env, strings.NewReader(strings.Join(lines, "\n")+"\n"), &out, false)
	return out.String(), err
}

func (f *fixture) runningHash(t *testing.T) string {
	t.Helper()
	snap, err := f.env.Client.Running(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return snap.Config.System.Console.PasswordHash
}

func TestSetConsolePassword(t *testing.T) {
	tests := []struct {
		name    string
		line    string   // the set command
		answers []string // typed at the two prompts
		want    string   // the one line printed after the prompts ("" on success)
	}{
		{"success", "set system console password", []string{"Corr3ct-horse", "Corr3ct-horse"}, ""},
		{"eight characters", "set system console password", []string{"8chars!!", "8chars!!"}, ""},
		{"eight characters of 14 bytes", "set system console password", []string{"пароль12", "пароль12"}, ""},
		{"72 bytes", "set system console password", []string{strings.Repeat("x", 72), strings.Repeat("x", 72)}, ""},
		{"mismatch", "set system console password", []string{"Corr3ct-horse", "Corr3ct-horsE"}, "% passwords do not match; password not changed\n"},
		{"too short", "set system console password", []string{"7chars!", "7chars!"}, "% password too short: at least 8 characters; password not changed\n"},
		{"too long", "set system console password", []string{strings.Repeat("y", 73), strings.Repeat("y", 73)},
			"% password too long: bcrypt uses at most 72 bytes, this one has 73; password not changed\n"},
		{"empty", "set system console password", []string{"", ""},
			"% empty password refused (`delete system console password` removes the password); password not changed\n"},
		{"control character", "set system console password", []string{"tab\there-pass", "tab\there-pass"},
			"% password contains control characters; password not changed\n"},
		{"escape", "set system console password", []string{"esc\x1b[Apass", "esc\x1b[Apass"},
			"% password contains control characters; password not changed\n"},
		{"not UTF-8", "set system console password", []string{"latin\xe9-pass", "latin\xe9-pass"},
			"% password is not valid UTF-8 text; password not changed\n"},
		{"value on the command line", "set system console password Cmdline-pass", nil,
			"% system console password takes no value: type `set system console password` and answer the prompts\n"},
		{"input ends", "set system console password", []string{"Half-typed-pass"}, "% password entry ended; password not changed\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			lines := append(append([]string{"configure", tt.line}, tt.answers...), "compare")
			if len(tt.answers) == 1 {
				lines = lines[:len(lines)-1] // input ends at the second prompt
			}
			out, err := runConsole(f, lines...)
			if err != nil {
				t.Fatalf("Run: %v\n%s", err, out)
			}
			prompts := "alixsec# New password: Retype new password: "
			if tt.answers == nil {
				prompts = "alixsec# "
			}
			_, after, ok := strings.Cut(out, "[edit] candidate from revision 1\n"+prompts)
			if !ok {
				t.Fatalf("no prompts %q in\n%q", prompts, out)
			}
			if !strings.HasPrefix(after, tt.want+"alixsec# ") {
				t.Errorf("after the prompts printed\n%q\nwant\n%q", after, tt.want+"alixsec# ")
			}
			secret := strings.Fields(tt.line + " " + strings.Join(tt.answers, " "))[4:]
			for _, s := range secret {
				if len(s) >= 6 && strings.Contains(out, s) {
					t.Errorf("console output shows the password %q:\n%s", s, out)
				}
			}
			changed := strings.Contains(out, "+ set system console password-hash $2a$10$")
			if changed != (tt.want == "") {
				t.Errorf("candidate changed = %v, want %v:\n%s", changed, tt.want == "", out)
			}
		})
	}
}

// TestConsolePasswordLogin sets a password on the console, commits, and
// logs in anew: the new password works, a wrong one does not, and the
// password shows nowhere, not even in the revision history.
func TestConsolePasswordLogin(t *testing.T) {
	f := newFixture(t)
	const pw = "N3w-console-pw"
	out, err := runConsole(f, "configure", "set system console password", pw, pw, "commit new console password", "show system console", "exit", "show history", "show configuration")
	if err != nil || !strings.Contains(out, "committed revision 2\n") {
		t.Fatalf("Run: %v\n%s", err, out)
	}
	hash := f.runningHash(t)
	if cost, err := bcrypt.Cost([]byte(hash)); err != nil || cost != passwordHashCost {
		t.Errorf("stored hash %q: cost %d, %v; want cost %d", hash, cost, err, passwordHashCost)
	}
	if !strings.Contains(out, "set system console password-hash "+hash+"\n") {
		t.Errorf("show lacks the hash:\n%s", out)
	}
	tests := []struct {
		name    string
		input   []string
		wantErr bool
		want    string
	}{
		{"new password", []string{pw, "show version"}, false, "Password: alixsec> alixsec v1.2.3"},
		{"wrong password", []string{"Old-console-pw", "x", "y", "show version"}, true, "Password: % wrong password\nPassword: % wrong password\nPassword: % wrong password\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := runConsole(f, tt.input...)
			if (err != nil) != tt.wantErr || !strings.HasPrefix(got, tt.want) {
				t.Errorf("login = %v, printed %q; want prefix %q", err, got, tt.want)
			}
			out += got
		})
	}
	if strings.Contains(out, pw) {
		t.Errorf("console output shows the password:\n%s", out)
	}
	// delete removes the hash: no password at the next login.
	out, err = runConsole(f, pw, "configure", "delete system console password", "compare", "commit", "exit")
	if err != nil || !strings.Contains(out, "- set system console password-hash "+hash+"\n") || f.runningHash(t) != "" {
		t.Fatalf("delete: %v, hash now %q\n%s", err, f.runningHash(t), out)
	}
	if out, err := runConsole(f, "show version"); err != nil || !strings.HasPrefix(out, "alixsec> alixsec v1.2.3") {
		t.Errorf("login without password: %v, %q", err, out)
	}
}

func TestDeleteConsolePassword(t *testing.T) {
	f := newFixture(t)
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret-pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	f.exec("configure", "set system console password-hash "+string(hash), "commit", "exit")
	tests := []struct {
		line, want string
	}{
		{"delete system console password", "- set system console password-hash " + string(hash) + "\n"},
		{"delete system console password-hash", "- set system console password-hash " + string(hash) + "\n"},
		{"delete system console password now", "% delete system console password takes no value\n"},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			out := f.exec("configure", tt.line, "compare", "exit")
			if !strings.Contains(out, tt.want) {
				t.Errorf("printed\n%s\nwant a line %q", out, tt.want)
			}
		})
	}
}

func TestConsolePasswordCompletion(t *testing.T) {
	f := newFixture(t)
	f.exec("configure")
	for _, tt := range []struct{ line, want string }{
		{"set system console ?", "  password       " + setPasswordHelp + "\n  password-hash  "},
		{"delete system console ?", "  password       " + deletePasswordHelp + "\n  password-hash  "},
		{"set system console password ?", "  <Enter>  execute this command\n"},
		{"set system console passw?", "  password       " + setPasswordHelp + "\n"},
	} {
		if got := f.exec(tt.line); !strings.Contains(got, tt.want) {
			t.Errorf("%q printed\n%s\nwant\n%s", tt.line, got, tt.want)
		}
	}
	if got := f.exec("show system console ?"); strings.Contains(got, "password ") {
		t.Errorf("show offers the CLI-only word:\n%s", got)
	}
	for _, tt := range []struct {
		before, want string
		ok           bool
	}{
		{"set system console pa", "set system console password", true},
		{"set system console password", "", false}, // password or password-hash: lists both
		{"set system console password-", "set system console password-hash ", true},
		{"delete system console pa", "delete system console password", true},
	} {
		got, ok := f.sh.Complete(tt.before)
		if ok != tt.ok || got != tt.want {
			t.Errorf("Complete(%q) = %q, %v; want %q, %v", tt.before, got, ok, tt.want, tt.ok)
		}
	}
	f.out.Reset()
	f.sh.Complete("set system console password")
	if f.out.String() != "password  password-hash\n" {
		t.Errorf("Tab listed %q", f.out.String())
	}
}

// TestPasswordNotInTerminalHistory types on the raw terminal: the
// password answers and a password typed on the command line never come
// back with Up.
func TestPasswordNotInTerminalHistory(t *testing.T) {
	f := newFixture(t)
	const pw, cmdline = "Tty-secret-77", "Cmdline-secret-88"
	up := "\x1b[A"
	keys := "configure\r" +
		"set system console password\r" + pw + "\r" + pw + "\r" +
		"set system console password " + cmdline + "\r" +
		up + up + up + up + "\x15" + // recall all history, then clear the line
		"commit\r" + "exit\r"
	var out bytes.Buffer
	if err := Run(f.env, strings.NewReader(keys), &out, true); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if strings.Contains(got, pw) {
		t.Errorf("terminal shows the password:\n%q", got)
	}
	if n := strings.Count(got, cmdline); n != 1 { // echoed once while typed, never recalled
		t.Errorf("terminal shows the command-line password %d times, want 1:\n%q", n, got)
	}
	if !strings.Contains(got, "committed revision 2") || f.runningHash(t) == "" {
		t.Errorf("password not committed:\n%q", got)
	}

	r := newTTYReader(strings.NewReader("show version\r"+pw+"\r"), &bytes.Buffer{})
	r.readLine("> ")
	r.readPassword("Password: ")
	if r.history.Len() != 1 || r.history.At(0) != "show version" {
		t.Errorf("history after a password read = %q", r.history.entries)
	}
}

// TestNewPasswordAbortOnTerminal: Ctrl-C or Ctrl-D at a new-password
// prompt abandon the change and keep the login (Ctrl-D elsewhere logs out).
func TestNewPasswordAbortOnTerminal(t *testing.T) {
	const typed = "Half-typed-99"
	tests := []struct {
		name    string
		answers []string // one chunk per console read, as typed
	}{
		{"Ctrl-C at the first prompt", []string{typed, "\x03"}},
		{"Ctrl-D at the first prompt", []string{"\x04"}},
		{"Ctrl-C at the retype prompt", []string{typed + "\r", "Half", "\x03"}},
		{"Ctrl-D at the retype prompt", []string{typed + "\r", "\x04"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			chunks := append([]string{"configure\r", "set system console password\r"}, tt.answers...)
			keys := &chunkReader{chunks: append(chunks, "compare\r", "exit\r", "show version\r")}
			var out bytes.Buffer
			if err := Run(f.env, keys, &out, true); err != nil {
				t.Fatal(err)
			}
			got := out.String()
			for _, want := range []string{"% aborted; password not changed\r\n", "no changes\r\n", "alixsec v1.2.3"} {
				if !strings.Contains(got, want) {
					t.Errorf("terminal output lacks %q:\n%q", want, got)
				}
			}
			if strings.Contains(got, "Half") {
				t.Errorf("terminal shows the typed password:\n%q", got)
			}
		})
	}
}

// BenchmarkPasswordHash is the cost of one bcrypt hash at the cost the
// board uses (see passwordHashCost).
func BenchmarkPasswordHash(b *testing.B) {
	for b.Loop() {
		if _, err := bcrypt.GenerateFromPassword([]byte("Corr3ct-horse"), passwordHashCost); err != nil {
			b.Fatal(err)
		}
	}
}
