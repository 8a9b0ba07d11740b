package ab

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"alixsec.dev/firmware/bootpart"
	"alixsec.dev/firmware/bootpart/bootparttest"
	"alixsec.dev/firmware/updfile"
)

// board is a simulated board: a boot partition image, a config
// directory, and a bootloader that follows syslinux's rules (boot-once
// first, cleared before the kernel runs; else the saved default).
type board struct {
	t       *testing.T
	img     string
	cfg     string
	slot    string
	version string
	key     updfile.SecretKey
	trusted []updfile.PublicKey
}

func newBoard(t *testing.T) *board {
	pub, sec, err := updfile.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	b := &board{t: t, img: bootparttest.Image(t), cfg: t.TempDir(), key: sec, trusted: []updfile.PublicKey{pub}}
	b.powerOn("v1")
	return b
}

func (b *board) open() (*bootpart.Boot, func()) {
	f, err := os.OpenFile(b.img, os.O_RDWR, 0)
	if err != nil {
		b.t.Fatal(err)
	}
	boot, err := bootpart.Open(bootpart.Section{F: f})
	if err != nil {
		b.t.Fatal(err)
	}
	return boot, func() { f.Close() }
}

// powerOn runs the bootloader: it picks the slot, consuming a boot-once
// as ldlinux does. version is what that slot's firmware calls itself.
func (b *board) powerOn(version string) {
	boot, done := b.open()
	defer done()
	adv, err := boot.ReadADV()
	if err != nil {
		b.t.Fatal(err)
	}
	b.slot = adv.Default()
	if once := adv[bootpart.TagBootOnce]; once != "" {
		b.slot = once
		adv[bootpart.TagBootOnce] = ""
		if err := boot.WriteADV(adv); err != nil {
			b.t.Fatal(err)
		}
	}
	b.version = version
}

func (b *board) manager() (*Manager, func()) {
	boot, done := b.open()
	return &Manager{Boot: boot, StatePath: filepath.Join(b.cfg, "firmware.json"), Board: "alix", Slot: b.slot, Version: b.version,
		Now: func() time.Time { return time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC) }}, done
}

func (b *board) updateFile(board, version string, key updfile.SecretKey) []byte {
	var buf bytes.Buffer
	kernel := bytes.Repeat([]byte("kernel "+version), 1000)
	initrd := bytes.Repeat([]byte("initrd "+version), 3000)
	if err := updfile.Write(&buf, key, board, version, kernel, initrd); err != nil {
		b.t.Fatal(err)
	}
	return buf.Bytes()
}

func (b *board) upgrade(version string) {
	b.t.Helper()
	m, done := b.manager()
	defer done()
	var progress strings.Builder
	if _, err := m.Upgrade(context.Background(), bytes.NewReader(b.updateFile("alix", version, b.key)), b.trusted, &progress); err != nil {
		b.t.Fatalf("Upgrade: %v\n%s", err, progress.String())
	}
}

func (b *board) atBoot() *Trial {
	b.t.Helper()
	m, done := b.manager()
	defer done()
	tr, err := m.AtBoot()
	if err != nil {
		b.t.Fatalf("AtBoot: %v", err)
	}
	return tr
}

func (b *board) state() State {
	b.t.Helper()
	m, done := b.manager()
	defer done()
	st, err := m.Load()
	if err != nil {
		b.t.Fatal(err)
	}
	return st
}

func (b *board) status() string {
	b.t.Helper()
	m, done := b.manager()
	defer done()
	lines, err := m.Status()
	if err != nil {
		b.t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

func TestUpgradeMarkedGoodBecomesDefault(t *testing.T) {
	b := newBoard(t)
	if b.atBoot() != nil || b.slot != "a" {
		t.Fatalf("factory boot: slot %s", b.slot)
	}
	b.upgrade("v2")
	if st := b.state(); st.Attempt.Phase != PhaseTrial || st.Attempt.To != "b" {
		t.Fatalf("after Upgrade: %+v", st.Attempt)
	}
	b.powerOn("v2")
	if b.slot != "b" {
		t.Fatalf("trial boot ran slot %s", b.slot)
	}
	tr := b.atBoot()
	if tr == nil || tr.Attempt.Version != "v2" {
		t.Fatalf("AtBoot on the trial = %+v", tr)
	}
	m, done := b.manager()
	if err := m.MarkGood(); err != nil {
		t.Fatal(err)
	}
	done()
	for i := 0; i < 2; i++ {
		b.powerOn("v2")
		if b.slot != "b" || b.atBoot() != nil {
			t.Fatalf("boot %d after mark good: slot %s", i, b.slot)
		}
	}
	if s := b.status(); !strings.Contains(s, "slot b running v2, boot default slot b") || !strings.Contains(s, "v1 to v2 (slot a to b) good") || !strings.Contains(s, "other slot: a holds v1") {
		t.Fatalf("status:\n%s", s)
	}
	// The next upgrade goes to slot a.
	b.upgrade("v3")
	b.powerOn("v3")
	if b.slot != "a" || b.atBoot() == nil {
		t.Fatalf("second upgrade booted slot %s", b.slot)
	}
}

// TestTrialFailures: whatever stops the trial firmware, the next boot runs
// the old slot and the attempt says why.
func TestTrialFailures(t *testing.T) {
	tests := []struct {
		name   string
		trial  func(b *board) // what the trial boot does before it dies
		reason string
	}{
		{"kernel panic before init", func(b *board) {}, "never reached init"},
		{"init hangs or exits", func(b *board) { b.atBoot() }, "started init but did not come up healthy"},
		{"health check fails", func(b *board) {
			b.atBoot()
			m, done := b.manager()
			defer done()
			if err := m.MarkFailed("ikesvc not running after 5m0s"); err != nil {
				t.Fatal(err)
			}
		}, "failed its health check: ikesvc not running"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBoard(t)
			b.upgrade("v2")
			b.powerOn("v2")
			if b.slot != "b" {
				t.Fatalf("trial ran slot %s", b.slot)
			}
			tc.trial(b)
			b.powerOn("v1") // panic=, watchdog or reboot
			if b.slot != "a" {
				t.Fatalf("after the failed trial slot %s booted", b.slot)
			}
			if tr := b.atBoot(); tr != nil {
				t.Fatalf("old slot thinks it is on trial: %+v", tr)
			}
			st := b.state()
			if st.Attempt.Phase != PhaseFailed || !strings.Contains(st.Attempt.Reason, tc.reason) {
				t.Fatalf("attempt = %+v, want failed with %q", st.Attempt, tc.reason)
			}
			if s := b.status(); !strings.Contains(s, "failed") || !strings.Contains(s, "boot default slot a") {
				t.Fatalf("status:\n%s", s)
			}
			b.powerOn("v1")
			if b.slot != "a" {
				t.Fatal("the failed slot booted again")
			}
			// A new upgrade is allowed after a failure.
			b.upgrade("v3")
		})
	}
}

// TestRefusedBeforeAnyWrite: bad files change neither slot, the ADV nor
// the state file.
func TestRefusedBeforeAnyWrite(t *testing.T) {
	b := newBoard(t)
	_, otherKey, _ := updfile.GenerateKey()
	good := b.updateFile("alix", "v2", b.key)
	tampered := append([]byte{}, good...)
	tampered[len(tampered)-100] ^= 0x20
	tests := []struct {
		name string
		file []byte
		want error
	}{
		{"tampered", tampered, updfile.ErrBadPayload},
		{"signed by another key", b.updateFile("alix", "v2", otherKey), updfile.ErrUntrusted},
		{"another board", b.updateFile("wrap", "v2", b.key), updfile.ErrWrongBoard},
		{"truncated", good[:len(good)/2], updfile.ErrTruncated},
	}
	before, err := os.ReadFile(b.img)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, done := b.manager()
			defer done()
			_, err := m.Upgrade(context.Background(), bytes.NewReader(tc.file), b.trusted, io.Discard)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), "nothing written") {
				t.Fatalf("Upgrade = %v, want %v", err, tc.want)
			}
			after, _ := os.ReadFile(b.img)
			if !bytes.Equal(before, after) {
				t.Fatal("the boot partition changed")
			}
			if _, err := os.Stat(m.StatePath); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("state file written: %v", err)
			}
		})
	}
}

// powerCut is a Disk that dies (panics, as the power would) after
// budget bytes were written.
type powerCut struct {
	bootpart.Disk
	budget int
}

type cutNow struct{}

func (p *powerCut) WriteAt(b []byte, off int64) (int, error) {
	if len(b) > p.budget {
		p.Disk.WriteAt(b[:p.budget], off)
		panic(cutNow{})
	}
	p.budget -= len(b)
	return p.Disk.WriteAt(b, off)
}

func TestInterruptedWriteReported(t *testing.T) {
	b := newBoard(t)
	f, err := os.OpenFile(b.img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	boot, err := bootpart.Open(&powerCut{Disk: bootpart.Section{F: f}, budget: 20_000})
	if err != nil {
		t.Fatal(err)
	}
	m := &Manager{Boot: boot, StatePath: filepath.Join(b.cfg, "firmware.json"), Board: "alix", Slot: "a", Version: "v1"}
	func() {
		defer func() {
			if r := recover(); r != (cutNow{}) {
				t.Fatalf("no power cut: %v", r)
			}
		}()
		m.Upgrade(context.Background(), bytes.NewReader(b.updateFile("alix", "v2", b.key)), b.trusted, io.Discard)
	}()
	f.Close()
	b.powerOn("v1")
	if b.slot != "a" {
		t.Fatalf("slot %s booted after a cut while writing", b.slot)
	}
	b.atBoot()
	if a := b.state().Attempt; a.Phase != PhaseFailed || !strings.Contains(a.Reason, "interrupted") {
		t.Fatalf("attempt = %+v", a)
	}
	if s := b.status(); !strings.Contains(s, "b holds an incompletely written firmware") {
		t.Fatalf("status:\n%s", s)
	}
	m2, done := b.manager()
	defer done()
	if _, err := m2.Rollback(); err == nil {
		t.Fatal("rollback to a half-written slot was allowed")
	}
}

func TestRollbackIsATrial(t *testing.T) {
	b := newBoard(t)
	b.upgrade("v2")
	b.powerOn("v2")
	b.atBoot()
	m, done := b.manager()
	if err := m.MarkGood(); err != nil {
		t.Fatal(err)
	}
	target, err := m.Rollback()
	done()
	if err != nil || target != "a" {
		t.Fatalf("Rollback = %s, %v", target, err)
	}
	b.powerOn("v1")
	if b.slot != "a" {
		t.Fatalf("rollback booted slot %s", b.slot)
	}
	tr := b.atBoot()
	if tr == nil || tr.Attempt.Kind != "rollback" || tr.Attempt.Version != "v1" {
		t.Fatalf("rollback trial = %+v", tr)
	}
	// The rolled-back firmware dies: slot b (v2), still the default, runs.
	b.powerOn("v2")
	if b.slot != "b" {
		t.Fatalf("failed rollback: slot %s booted", b.slot)
	}
	b.atBoot()
	if a := b.state().Attempt; a.Phase != PhaseFailed {
		t.Fatalf("attempt = %+v", a)
	}
}

// TestUnknownStateFieldsIgnored: a newer firmware's state file (more
// fields) is read by an older one.
func TestUnknownStateFieldsIgnored(t *testing.T) {
	b := newBoard(t)
	m, done := b.manager()
	defer done()
	data := `{"attempt":{"kind":"upgrade","from":"a","to":"b","phase":"good","version":"v9","future":1},"slots":{"b":"v9"},"newer":{"x":true}}`
	if err := os.WriteFile(m.StatePath, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := m.Load()
	if err != nil || st.Attempt.Version != "v9" {
		t.Fatalf("Load = %+v, %v", st, err)
	}
}
