package bootpart

import (
	"bytes"
	"fmt"
	"os"
)

// Slots are the firmware slot labels: syslinux labels and directories.
var Slots = []string{"a", "b"}

// Other returns the slot that is not s.
func Other(s string) string {
	if s == "a" {
		return "b"
	}
	return "a"
}

// Boot is an opened boot partition.
type Boot struct {
	fat   *fat16
	slots map[string][2]file // label → kernel, initrd
	adv   [2]int64           // partition offsets of the two ADV copies
}

// Open parses the boot partition and finds the slot files and the ADV.
func Open(dev Disk) (*Boot, error) {
	f, err := openFAT16(dev)
	if err != nil {
		return nil, fmt.Errorf("boot partition: %w", err)
	}
	b := &Boot{fat: f, slots: map[string][2]file{}}
	for _, s := range Slots {
		k, err := f.lookup(s + "/vmlinuz")
		if err != nil {
			return nil, fmt.Errorf("boot partition: %w", err)
		}
		i, err := f.lookup(s + "/initrd")
		if err != nil {
			return nil, fmt.Errorf("boot partition: %w", err)
		}
		b.slots[s] = [2]file{k, i}
	}
	ld, err := f.lookup("ldlinux.sys")
	if err != nil {
		return nil, fmt.Errorf("boot partition: %w", err)
	}
	for i := range b.adv {
		off, err := fileOffset(ld, ld.size-2*advSize+int64(i)*advSize)
		if err != nil || off%advSize != 0 {
			return nil, fmt.Errorf("boot partition: ldlinux.sys: ADV sector %d not found", i)
		}
		b.adv[i] = off
	}
	return b, nil
}

// Capacity returns the sizes of a slot's kernel and initramfs files.
func (b *Boot) Capacity(slot string) (kernel, initrd int64) {
	s := b.slots[slot]
	return s[0].size, s[1].size
}

// WriteSlot overwrites slot's kernel and initramfs (zero-padded to the
// files' fixed sizes) and flushes them to the card.
func (b *Boot) WriteSlot(slot string, kernel, initrd []byte) error {
	s, ok := b.slots[slot]
	if !ok {
		return fmt.Errorf("no firmware slot %q", slot)
	}
	if err := b.fat.writeFile(s[0], kernel); err != nil {
		return fmt.Errorf("write slot %s kernel: %w", slot, err)
	}
	if err := b.fat.writeFile(s[1], initrd); err != nil {
		return fmt.Errorf("write slot %s initramfs: %w", slot, err)
	}
	if err := b.fat.dev.Sync(); err != nil {
		return fmt.Errorf("write slot %s: flush: %w", slot, err)
	}
	return nil
}

// ReadSlot returns slot's kernel and initramfs files with their padding.
func (b *Boot) ReadSlot(slot string) (kernel, initrd []byte, err error) {
	s, ok := b.slots[slot]
	if !ok {
		return nil, nil, fmt.Errorf("no firmware slot %q", slot)
	}
	if kernel, err = b.fat.readFile(s[0]); err != nil {
		return nil, nil, fmt.Errorf("read slot %s: %w", slot, err)
	}
	if initrd, err = b.fat.readFile(s[1]); err != nil {
		return nil, nil, fmt.Errorf("read slot %s: %w", slot, err)
	}
	return kernel, initrd, nil
}

// SlotHolds reports whether slot's files start with kernel and initrd
// and are zero after them.
func (b *Boot) SlotHolds(slot string, kernel, initrd []byte) (bool, error) {
	k, i, err := b.ReadSlot(slot)
	if err != nil {
		return false, err
	}
	return padded(k, kernel) && padded(i, initrd), nil
}

func padded(file, content []byte) bool {
	return len(file) >= len(content) && bytes.Equal(file[:len(content)], content) && len(bytes.Trim(file[len(content):], "\x00")) == 0
}

// ReadADV returns the first valid ADV copy, as syslinux does.
func (b *Boot) ReadADV() (ADV, error) {
	for _, off := range b.adv {
		buf := make([]byte, advSize)
		if _, err := b.fat.dev.ReadAt(buf, off); err != nil {
			return nil, fmt.Errorf("read syslinux ADV: %w", err)
		}
		if adv, err := decodeADV(buf); err == nil {
			return adv, nil
		}
	}
	return nil, fmt.Errorf("boot partition: %w", errNoADV)
}

// WriteADV writes adv to the first copy, flushes, then the second: a
// power cut leaves one valid copy, the old or the new.
func (b *Boot) WriteADV(adv ADV) error {
	buf, err := encodeADV(adv)
	if err != nil {
		return err
	}
	for i, off := range b.adv {
		if _, err := b.fat.dev.WriteAt(buf, off); err != nil {
			return fmt.Errorf("write syslinux ADV copy %d: %w", i, err)
		}
		if err := b.fat.dev.Sync(); err != nil {
			return fmt.Errorf("write syslinux ADV copy %d: flush: %w", i, err)
		}
	}
	return nil
}

// Default is the slot syslinux boots when no boot-once is set: the saved
// menu default, else slot a (syslinux.cfg's DEFAULT).
func (adv ADV) Default() string {
	if v := adv[TagMenuSave]; v == "b" {
		return "b"
	}
	return "a"
}

// Section is a Disk at an offset inside a file (the boot partition of a
// whole-disk image).
type Section struct {
	F   *os.File
	Off int64
}

func (s Section) ReadAt(p []byte, off int64) (int, error)  { return s.F.ReadAt(p, s.Off+off) }
func (s Section) WriteAt(p []byte, off int64) (int, error) { return s.F.WriteAt(p, s.Off+off) }
func (s Section) Sync() error                              { return s.F.Sync() }
