// Package bootpart reads and writes the CF card's FAT16 boot partition
// without mounting it: the firmware slot files (/a/vmlinuz, /a/initrd,
// /b/...) are overwritten in place and syslinux's auxiliary data vector
// (the ADV, which holds boot-once and the saved default) is rewritten in
// ldlinux.sys's last two sectors.
//
// Nothing here changes a FAT, a directory entry or a file size: the image
// builder makes every slot file at its full size, so an upgrade writes only
// file data. A power cut can then damage at most the slot being written
// (which is not booted until it is complete) or one of the two ADV copies
// (syslinux falls back to the other), never the file system.
package bootpart

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Disk is the boot partition: a block device, or an image file with an
// offset in tests.
type Disk interface {
	io.ReaderAt
	io.WriterAt
	Sync() error
}

// extent is a run of bytes of a file at an offset in the partition.
type extent struct {
	off, len int64
}

// file is a regular file's size and where its bytes are.
type file struct {
	size    int64
	extents []extent
}

// fat16 is the parsed BIOS parameter block and first FAT.
type fat16 struct {
	dev          Disk
	clusterBytes int64
	rootOff      int64
	rootBytes    int64
	dataOff      int64
	table        []byte // the first FAT
}

func le16(b []byte) int64 { return int64(binary.LittleEndian.Uint16(b)) }

func openFAT16(dev Disk) (*fat16, error) {
	bs := make([]byte, 512)
	if _, err := dev.ReadAt(bs, 0); err != nil {
		return nil, fmt.Errorf("read boot sector: %w", err)
	}
	if bs[510] != 0x55 || bs[511] != 0xAA || string(bs[54:59]) != "FAT16" {
		return nil, errors.New("not a FAT16 file system")
	}
	bps, spc, rsvd, nfats := le16(bs[11:]), int64(bs[13]), le16(bs[14:]), int64(bs[16])
	rootEnt, fatSz := le16(bs[17:]), le16(bs[22:])
	if bps < 512 || spc == 0 || nfats == 0 || fatSz == 0 {
		return nil, errors.New("FAT16 boot sector has impossible geometry")
	}
	f := &fat16{dev: dev, clusterBytes: bps * spc, rootOff: (rsvd + nfats*fatSz) * bps, rootBytes: rootEnt * 32}
	f.dataOff = f.rootOff + (f.rootBytes+bps-1)/bps*bps
	f.table = make([]byte, fatSz*bps)
	if _, err := dev.ReadAt(f.table, rsvd*bps); err != nil {
		return nil, fmt.Errorf("read FAT: %w", err)
	}
	return f, nil
}

// chain returns the extents of the cluster chain from first.
func (f *fat16) chain(first int64) ([]extent, error) {
	var out []extent
	n := first
	for steps := 0; ; steps++ {
		if n < 2 || 2*n+2 > int64(len(f.table)) || steps > len(f.table)/2 {
			return nil, fmt.Errorf("broken cluster chain at cluster %d", n)
		}
		off := f.dataOff + (n-2)*f.clusterBytes
		if k := len(out) - 1; k >= 0 && out[k].off+out[k].len == off {
			out[k].len += f.clusterBytes
		} else {
			out = append(out, extent{off, f.clusterBytes})
		}
		n = le16(f.table[2*n:])
		if n >= 0xFFF8 {
			return out, nil
		}
	}
}

// dirEntry is one 8.3 entry of a directory.
type dirEntry struct {
	name  string // "VMLINUZ", "LDLINUX.SYS"
	dir   bool
	first int64
	size  int64
}

func (f *fat16) readDir(extents []extent) ([]dirEntry, error) {
	var out []dirEntry
	for _, e := range extents {
		buf := make([]byte, e.len)
		if _, err := f.dev.ReadAt(buf, e.off); err != nil {
			return nil, fmt.Errorf("read directory: %w", err)
		}
		for i := 0; i+32 <= len(buf); i += 32 {
			ent := buf[i : i+32]
			switch {
			case ent[0] == 0:
				return out, nil
			case ent[0] == 0xE5, ent[11] == 0x0F, ent[11]&0x08 != 0:
				continue // deleted, long-name part, volume label
			}
			name := strings.TrimRight(string(ent[0:8]), " ")
			if ext := strings.TrimRight(string(ent[8:11]), " "); ext != "" {
				name += "." + ext
			}
			out = append(out, dirEntry{name: name, dir: ent[11]&0x10 != 0, first: le16(ent[26:]), size: int64(binary.LittleEndian.Uint32(ent[28:]))})
		}
	}
	return out, nil
}

// lookup finds a file by its path of 8.3 names, e.g. "a/vmlinuz".
func (f *fat16) lookup(path string) (file, error) {
	dir := []extent{{f.rootOff, f.rootBytes}}
	parts := strings.Split(path, "/")
	for i, p := range parts {
		entries, err := f.readDir(dir)
		if err != nil {
			return file{}, err
		}
		var found *dirEntry
		for j := range entries {
			if strings.EqualFold(entries[j].name, p) {
				found = &entries[j]
				break
			}
		}
		if found == nil {
			return file{}, fmt.Errorf("/%s: not found on the boot partition", path)
		}
		ext, err := f.chain(found.first)
		if err != nil {
			return file{}, fmt.Errorf("/%s: %w", path, err)
		}
		if i < len(parts)-1 {
			if !found.dir {
				return file{}, fmt.Errorf("/%s: %s is not a directory", path, p)
			}
			dir = ext
			continue
		}
		if found.dir {
			return file{}, fmt.Errorf("/%s is a directory", path)
		}
		if sumLen(ext) < found.size {
			return file{}, fmt.Errorf("/%s: cluster chain shorter than the file", path)
		}
		return file{size: found.size, extents: trim(ext, found.size)}, nil
	}
	return file{}, fmt.Errorf("/%s: empty path", path)
}

func sumLen(ext []extent) int64 {
	var n int64
	for _, e := range ext {
		n += e.len
	}
	return n
}

// trim cuts extents to size bytes.
func trim(ext []extent, size int64) []extent {
	var out []extent
	for _, e := range ext {
		if size <= 0 {
			break
		}
		e.len = min(e.len, size)
		size -= e.len
		out = append(out, e)
	}
	return out
}

// writeFile overwrites a file's bytes in place with data, zero-filled to
// the file's size (padding that is zero on the card already is left
// alone). It writes in pieces of at most writeChunk bytes
// straight from data, so a 64 MB board holds no second copy of the
// firmware.
func (f *fat16) writeFile(fl file, data []byte) error {
	if int64(len(data)) > fl.size {
		return fmt.Errorf("%d bytes do not fit a %d-byte file", len(data), fl.size)
	}
	zeros := make([]byte, writeChunk)
	var pos int64
	for _, e := range fl.extents {
		for done := int64(0); done < e.len; {
			n := min(writeChunk, e.len-done)
			var piece []byte
			switch {
			case pos >= int64(len(data)):
				// Padding: skip what is zero already (reading the card
				// costs no wear), so an upgrade writes about the larger
				// of the old and new firmware, not the whole slot.
				old := make([]byte, n)
				if _, err := f.dev.ReadAt(old, e.off+done); err == nil && isZero(old) {
					done += n
					pos += n
					continue
				}
				piece = zeros[:n]
			case pos+n <= int64(len(data)):
				piece = data[pos : pos+n]
			default: // the last bytes of data, then zeros
				piece = append(append(make([]byte, 0, n), data[pos:]...), zeros[:n-(int64(len(data))-pos)]...)
			}
			if _, err := f.dev.WriteAt(piece, e.off+done); err != nil {
				return err
			}
			done += n
			pos += n
		}
	}
	return nil
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// writeChunk is the largest single write.
const writeChunk = 64 << 10

// readFile reads a file's whole content.
func (f *fat16) readFile(fl file) ([]byte, error) {
	out := make([]byte, 0, fl.size)
	for _, e := range fl.extents {
		chunk := make([]byte, e.len)
		if _, err := f.dev.ReadAt(chunk, e.off); err != nil {
			return nil, err
		}
		out = append(out, chunk...)
	}
	return out, nil
}

// fileOffset is the partition offset of byte pos of fl.
func fileOffset(fl file, pos int64) (int64, error) {
	for _, e := range fl.extents {
		if pos < e.len {
			return e.off + pos, nil
		}
		pos -= e.len
	}
	return 0, errors.New("offset beyond the file")
}
