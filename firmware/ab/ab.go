// Package ab runs the A/B firmware upgrade on the board: it writes a
// verified update to the slot that is not running, asks syslinux to boot
// it once, and at the next boot tells init whether this boot is that
// trial, so init can mark the new slot good (it becomes syslinux's saved
// default) or give up on it. A trial that never reports back (kernel
// panic, init failure, hang ended by the watchdog) is noticed by the old
// firmware, which boots by itself because the boot-once was used up.
//
// The attempt's progress is a small JSON file on the config partition
// (ext4, journaled, replaced by rename): it is written only during an
// upgrade, never in steady state.
//
//	(none) --Upgrade--> writing --slot flushed, boot-once set--> trial
//	trial  --new init starts--> started --healthy--> good (default = new)
//	started --health check fails--> failed (default stays old, reboot)
//	trial|started, old slot booted --> failed (reason: what was reached)
//	writing, old slot booted --> failed (interrupted)
package ab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"alixsec.dev/firmware/bootpart"
	"alixsec.dev/firmware/updfile"
)

// Phase is where an upgrade attempt is.
type Phase string

// Phases of an attempt (see the package comment).
const (
	PhaseWriting Phase = "writing"
	PhaseTrial   Phase = "trial"
	PhaseStarted Phase = "started"
	PhaseGood    Phase = "good"
	PhaseFailed  Phase = "failed"
)

// Attempt is the last upgrade or rollback.
type Attempt struct {
	Kind        string    `json:"kind"` // "upgrade" or "rollback"
	From        string    `json:"from"` // slot that ran when it began
	To          string    `json:"to"`   // slot on trial
	FromVersion string    `json:"from_version"`
	Version     string    `json:"version"` // firmware version in To
	Phase       Phase     `json:"phase"`
	Reason      string    `json:"reason,omitempty"`
	Started     time.Time `json:"started"`
	Updated     time.Time `json:"updated"`
}

// State is the file's content. Unknown fields are ignored by older
// firmware (encoding/json), so a newer firmware may add some.
type State struct {
	Attempt *Attempt `json:"attempt,omitempty"`
	// Slots maps a slot to the version written there; "" means its write
	// did not complete. A slot not listed holds the factory firmware.
	Slots map[string]string `json:"slots,omitempty"`
}

// Manager is the board's view of its slots.
type Manager struct {
	Boot      *bootpart.Boot
	StatePath string // e.g. /cfg/firmware.json
	Board     string // this board's name
	Slot      string // the slot running now (alixsec.slot=)
	Version   string // the running firmware's version
	Now       func() time.Time
	device    string // the boot partition's /dev path, on a board
}

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// Load reads the state file; a missing file is the factory state.
func (m *Manager) Load() (State, error) {
	var st State
	data, err := os.ReadFile(m.StatePath)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("firmware state: %w", err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return State{}, fmt.Errorf("firmware state %s: %w", m.StatePath, err)
	}
	return st, nil
}

// save replaces the state file atomically and durably.
func (m *Manager) save(st State) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := m.StatePath + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("firmware state: %w", err)
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("firmware state: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("firmware state: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("firmware state: %w", err)
	}
	if err := os.Rename(tmp, m.StatePath); err != nil {
		return fmt.Errorf("firmware state: %w", err)
	}
	if d, err := os.Open(filepath.Dir(m.StatePath)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func (m *Manager) setPhase(st *State, p Phase, reason string) error {
	st.Attempt.Phase, st.Attempt.Reason, st.Attempt.Updated = p, reason, m.now()
	return m.save(*st)
}

// ErrBusy means an attempt is on trial; it must finish first.
var ErrBusy = errors.New("an upgrade is on trial; wait for it to finish")

// Upgrade reads an update file from r, verifies it against trusted (all
// of it, in RAM, before anything is written), writes it to the inactive
// slot, flushes it and sets the boot-once to that slot. The caller
// reboots. progress gets one line per step.
func (m *Manager) Upgrade(ctx context.Context, r io.Reader, trusted []updfile.PublicKey, progress io.Writer) (*updfile.Update, error) {
	target := bootpart.Other(m.Slot)
	maxK, maxI := m.Boot.Capacity(target)
	u, err := updfile.Read(r, trusted, updfile.Limits{Board: m.Board, MaxKernel: maxK, MaxInitrd: maxI})
	if err != nil {
		return nil, fmt.Errorf("update refused, nothing written: %w", err)
	}
	fmt.Fprintf(progress, "verified %s for board %s (signed by key %s, kernel %d bytes, initramfs %d bytes)\n",
		u.Version, u.Board, u.SignedBy, len(u.Kernel), len(u.Initrd))
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("update cancelled, nothing written: %w", err)
	}
	st, err := m.Load()
	if err != nil {
		return nil, err
	}
	if a := st.Attempt; a != nil && (a.Phase == PhaseTrial || a.Phase == PhaseStarted) && a.To == m.Slot {
		return nil, ErrBusy
	}
	adv, err := m.Boot.ReadADV()
	if err != nil {
		return nil, err
	}
	if adv.Default() != m.Slot {
		// The running slot is not the default (a manual boot of the other
		// label): writing "the other slot" would overwrite the default.
		return nil, fmt.Errorf("the running slot %s is not the boot default %s; reboot into the default first", m.Slot, adv.Default())
	}
	if st.Slots == nil {
		st.Slots = map[string]string{}
	}
	st.Attempt = &Attempt{Kind: "upgrade", From: m.Slot, To: target, FromVersion: m.Version, Version: u.Version, Phase: PhaseWriting, Started: m.now(), Updated: m.now()}
	st.Slots[target] = "" // incomplete until the write is flushed
	st.Slots[m.Slot] = m.Version
	if err := m.save(st); err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "writing slot %s\n", target)
	if err := m.Boot.WriteSlot(target, u.Kernel, u.Initrd); err != nil {
		m.setPhase(&st, PhaseFailed, fmt.Sprintf("writing slot %s failed: %v", target, err))
		return nil, err
	}
	st.Slots[target] = u.Version
	if err := m.armTrial(&st, adv); err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "slot %s holds %s; the next boot tries it once\n", target, u.Version)
	return u, nil
}

// armTrial records the trial, then sets the boot-once: if the power fails
// between the two, the old slot boots and reports the attempt failed.
func (m *Manager) armTrial(st *State, adv bootpart.ADV) error {
	if err := m.setPhase(st, PhaseTrial, ""); err != nil {
		return err
	}
	adv[bootpart.TagBootOnce] = st.Attempt.To
	if err := m.Boot.WriteADV(adv); err != nil {
		m.setPhase(st, PhaseFailed, fmt.Sprintf("setting the boot-once failed: %v", err))
		return err
	}
	return nil
}

// Rollback boots the other slot: once, on trial, like an upgrade, so a
// broken old firmware cannot strand the board.
func (m *Manager) Rollback() (string, error) {
	target := bootpart.Other(m.Slot)
	st, err := m.Load()
	if err != nil {
		return "", err
	}
	if v, ok := st.Slots[target]; ok && v == "" {
		return "", fmt.Errorf("slot %s holds an incompletely written firmware", target)
	}
	if a := st.Attempt; a != nil && (a.Phase == PhaseTrial || a.Phase == PhaseStarted) && a.To == m.Slot {
		return "", ErrBusy
	}
	adv, err := m.Boot.ReadADV()
	if err != nil {
		return "", err
	}
	if st.Slots == nil {
		st.Slots = map[string]string{}
	}
	version := st.Slots[target]
	if version == "" {
		version = "the factory firmware"
	}
	st.Slots[m.Slot] = m.Version
	st.Attempt = &Attempt{Kind: "rollback", From: m.Slot, To: target, FromVersion: m.Version, Version: version, Started: m.now()}
	if err := m.armTrial(&st, adv); err != nil {
		return "", err
	}
	return target, nil
}

// Trial is what AtBoot found.
type Trial struct {
	Attempt Attempt // copy of the attempt on trial
}

// AtBoot runs early in init. When this boot is an attempt's trial it
// records that the new init started and returns the trial; when the old
// slot booted while an attempt was pending, it records the failure.
func (m *Manager) AtBoot() (*Trial, error) {
	st, err := m.Load()
	if err != nil || st.Attempt == nil {
		return nil, err
	}
	a := st.Attempt
	switch {
	case (a.Phase == PhaseTrial || a.Phase == PhaseStarted) && m.Slot == a.To:
		if a.Phase == PhaseTrial {
			if err := m.setPhase(&st, PhaseStarted, ""); err != nil {
				return nil, err
			}
		}
		return &Trial{Attempt: *a}, nil
	case a.Phase == PhaseTrial && m.Slot == a.From:
		return nil, m.setPhase(&st, PhaseFailed, fmt.Sprintf("slot %s (%s) never reached init: the kernel panicked or hung, or the power failed before it booted; slot %s booted by itself", a.To, a.Version, a.From))
	case a.Phase == PhaseStarted && m.Slot == a.From:
		return nil, m.setPhase(&st, PhaseFailed, fmt.Sprintf("slot %s (%s) started init but did not come up healthy (init failed or hung and the watchdog or a panic reset the board); slot %s booted by itself", a.To, a.Version, a.From))
	case a.Phase == PhaseWriting && m.Slot == a.From:
		return nil, m.setPhase(&st, PhaseFailed, fmt.Sprintf("writing slot %s was interrupted (power cut or reboot); slot %s holds no usable firmware", a.To, a.To))
	}
	return nil, nil
}

// MarkGood makes the running trial slot the default, then records it.
func (m *Manager) MarkGood() error {
	st, err := m.Load()
	if err != nil {
		return err
	}
	if st.Attempt == nil || st.Attempt.To != m.Slot {
		return errors.New("no trial of this slot to mark good")
	}
	adv, err := m.Boot.ReadADV()
	if err != nil {
		return err
	}
	if adv.Default() != m.Slot || adv[bootpart.TagBootOnce] != "" {
		adv[bootpart.TagMenuSave] = m.Slot
		adv[bootpart.TagBootOnce] = ""
		if err := m.Boot.WriteADV(adv); err != nil {
			return err
		}
	}
	if st.Slots == nil {
		st.Slots = map[string]string{}
	}
	st.Slots[m.Slot] = m.Version
	return m.setPhase(&st, PhaseGood, "")
}

// MarkFailed gives up on the running trial: the old slot stays (or
// becomes again) the default and the reason is kept for show system. The
// caller reboots.
func (m *Manager) MarkFailed(reason string) error {
	st, err := m.Load()
	if err != nil {
		return err
	}
	if st.Attempt == nil || st.Attempt.To != m.Slot {
		return errors.New("no trial of this slot to mark failed")
	}
	adv, err := m.Boot.ReadADV()
	if err != nil {
		return err
	}
	if adv.Default() != st.Attempt.From || adv[bootpart.TagBootOnce] != "" {
		adv[bootpart.TagMenuSave] = st.Attempt.From
		adv[bootpart.TagBootOnce] = ""
		if err := m.Boot.WriteADV(adv); err != nil {
			return err
		}
	}
	return m.setPhase(&st, PhaseFailed, fmt.Sprintf("slot %s (%s) failed its health check: %s; slot %s boots again", m.Slot, st.Attempt.Version, reason, st.Attempt.From))
}

// Status is the firmware part of show system.
func (m *Manager) Status() ([]string, error) {
	st, err := m.Load()
	if err != nil {
		return nil, err
	}
	adv, err := m.Boot.ReadADV()
	if err != nil {
		return nil, err
	}
	lines := []string{fmt.Sprintf("firmware:  slot %s running %s, boot default slot %s", m.Slot, m.Version, adv.Default())}
	other := bootpart.Other(m.Slot)
	if v, ok := st.Slots[other]; ok && v == "" {
		lines = append(lines, fmt.Sprintf("other slot: %s holds an incompletely written firmware", other))
	} else if ok {
		lines = append(lines, fmt.Sprintf("other slot: %s holds %s", other, v))
	}
	if once := adv[bootpart.TagBootOnce]; once != "" {
		lines = append(lines, fmt.Sprintf("next boot: slot %s once, on trial", once))
	}
	if a := st.Attempt; a != nil {
		// No "->": the console harness (and a person's eye) takes "x> "
		// at a line's end for the CLI prompt.
		line := fmt.Sprintf("last %s: %s to %s (slot %s to %s) %s at %s", a.Kind, a.FromVersion, a.Version, a.From, a.To, a.Phase, a.Updated.UTC().Format("2006-01-02 15:04:05 UTC"))
		if a.Reason != "" {
			line += ": " + a.Reason
		}
		lines = append(lines, line)
	}
	return lines, nil
}
