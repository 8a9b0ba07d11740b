package shell

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"alixsec.dev/configsvc/model"
)

// `set system console password` is a CLI word, not a config leaf: the
// shell prompts for the password and stores only its bcrypt hash in the
// leaf `system console password-hash`. The password itself is never sent
// to configsvc, never echoed and never enters the command history.

// consolePasswordPath is the pseudo-path the CLI accepts after set and
// delete; consolePasswordHashPath is the leaf it stands for.
var (
	consolePasswordPath     = []string{"system", "console", "password"}
	consolePasswordHashPath = []string{"system", "console", "password-hash"}
)

const (
	// minPasswordChars is the shortest console password accepted, in
	// characters.
	minPasswordChars = 8
	// maxPasswordBytes is bcrypt's limit: it reads only the first 72
	// bytes, and x/crypto refuses longer input rather than truncate.
	maxPasswordBytes = 72
	// passwordHashCost is the bcrypt cost of hashes made on the board:
	// 2·2^10 Blowfish key expansions (about a million block encryptions,
	// some 3.5e8 instructions). Measured with `go test -bench
	// BenchmarkPasswordHash ./configsvc/shell` on the amd64 build host
	// (an AMD Turin-class virtual CPU): 60 ms per hash. A 386 build cannot
	// run there, so the Geode figure is an estimate, not a measurement:
	// Blowfish is 32-bit table lookups, so a 386 build needs about as many
	// instructions, which at 0.5–1 instructions per cycle (DESIGN.md) is
	// roughly 0.7–1.5 s on the 500 MHz Geode LX and twice that on the
	// 266 MHz WRAP. It is paid
	// once when the password is set and once per login, where it also
	// slows guessing on the console.
	passwordHashCost = 10
)

const (
	setPasswordHelp    = "set the console password (prompts; stores a bcrypt hash)"
	deletePasswordHelp = "remove the console password (deletes password-hash)"
)

// isConsolePassword reports whether args start with the pseudo-path.
func isConsolePassword(args []string) bool {
	return len(args) >= len(consolePasswordPath) && slices.Equal(args[:len(consolePasswordPath)], consolePasswordPath)
}

// setConsolePassword prompts twice for a new password without echo,
// checks it and sets its bcrypt hash in the candidate. extra is what
// followed the path on the command line: a password typed there is
// refused (and dropped from the command history), never echoed.
func (sh *Shell) setConsolePassword(extra []string) error {
	if len(extra) > 0 {
		if f, ok := sh.in.(historyForgetter); ok {
			f.forgetNewest()
		}
		return errors.New("system console password takes no value: type `set system console password` and answer the prompts")
	}
	if sh.in == nil {
		return errors.New("no console to read a password from")
	}
	pw, err := sh.in.readNewPassword("New password: ")
	if err != nil {
		return passwordReadError(err)
	}
	again, err := sh.in.readNewPassword("Retype new password: ")
	if err != nil {
		return passwordReadError(err)
	}
	// Both answers are read before checking, so that a refused first
	// answer never leaves the second to be run as a command (and echoed
	// in an error message).
	if err := checkPassword(pw); err != nil {
		return fmt.Errorf("%w; password not changed", err)
	}
	if pw != again {
		return errors.New("passwords do not match; password not changed")
	}
	b := []byte(pw)
	hash, err := bcrypt.GenerateFromPassword(b, passwordHashCost)
	clear(b)
	if err != nil {
		return fmt.Errorf("hashing the password: %w", err)
	}
	ctx, cancel := sh.ctx()
	defer cancel()
	return sh.sess.Set(ctx, append(slices.Clone(consolePasswordHashPath), string(hash)))
}

// errPasswordAborted is returned when the admin presses Ctrl-C or Ctrl-D
// at a new-password prompt on the terminal.
var errPasswordAborted = errors.New("aborted; password not changed")

func passwordReadError(err error) error {
	switch err {
	case errPasswordAborted:
		return err
	case io.EOF:
		return errors.New("password entry ended; password not changed")
	}
	return fmt.Errorf("reading the password: %w", err)
}

// checkPassword says in one line what is wrong with pw, never quoting it.
func checkPassword(pw string) error {
	switch {
	case pw == "":
		return errors.New("empty password refused (`delete system console password` removes the password)")
	case !utf8.ValidString(pw):
		return errors.New("password is not valid UTF-8 text")
	case strings.ContainsFunc(pw, unicode.IsControl):
		return errors.New("password contains control characters")
	case utf8.RuneCountInString(pw) < minPasswordChars:
		return fmt.Errorf("password too short: at least %d characters", minPasswordChars)
	case len(pw) > maxPasswordBytes:
		return fmt.Errorf("password too long: bcrypt uses at most %d bytes, this one has %d", maxPasswordBytes, len(pw))
	}
	return nil
}

// deleteConsolePassword removes the stored hash: no password at login.
func (sh *Shell) deleteConsolePassword(extra []string) error {
	if len(extra) > 0 {
		return errors.New("delete system console password takes no value")
	}
	ctx, cancel := sh.ctx()
	defer cancel()
	return sh.sess.Delete(ctx, slices.Clone(consolePasswordHashPath))
}

// withPasswordChoice adds the pseudo-word to the completion choices of
// set or delete: `password` after `system console`, and nothing but Enter
// after `system console password`.
func withPasswordChoice(cs []model.Choice, args []string, partial, help string) []model.Choice {
	parent := consolePasswordPath[:len(consolePasswordPath)-1]
	switch {
	case slices.Equal(args, parent):
		if !strings.HasPrefix("password", partial) {
			return cs
		}
		c := model.Choice{Word: consolePasswordPath[len(parent)], Help: help}
		i := slices.IndexFunc(cs, func(c model.Choice) bool { return c.Word == "password-hash" })
		if i < 0 {
			i = len(cs)
		}
		return slices.Insert(cs, i, c)
	case slices.Equal(args, consolePasswordPath) && partial == "":
		return []model.Choice{model.EndChoice}
	}
	return cs
}
