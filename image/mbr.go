package main

import (
	"encoding/binary"
	"fmt"
)

const sectorSize = 512

// partition is one MBR primary partition, in 512-byte sectors.
type partition struct {
	active bool
	typ    byte // 0x06 FAT16, 0x83 Linux
	start  uint32
	size   uint32
}

// Partition types used on the CF card.
const (
	partTypeFAT16 = 0x06
	partTypeLinux = 0x83
)

// buildMBR returns the first sector of the disk: the boot code (up to 440
// bytes, from syslinux's mbr.bin), a zero disk signature and the partition
// table. CHS fields are filled with the "use LBA" value 0xFEFFFF, which
// every BIOS of these boards accepts.
func buildMBR(bootCode []byte, parts []partition) ([]byte, error) {
	if len(bootCode) > 440 {
		return nil, fmt.Errorf("MBR boot code is %d bytes, at most 440 fit", len(bootCode))
	}
	if len(parts) > 4 {
		return nil, fmt.Errorf("%d partitions, an MBR holds 4", len(parts))
	}
	mbr := make([]byte, sectorSize)
	copy(mbr, bootCode)
	var prevEnd uint32 = 1
	for i, p := range parts {
		if p.start < prevEnd || p.size == 0 {
			return nil, fmt.Errorf("partition %d (start %d, size %d) overlaps or is empty", i+1, p.start, p.size)
		}
		prevEnd = p.start + p.size
		e := mbr[446+16*i : 446+16*(i+1)]
		if p.active {
			e[0] = 0x80
		}
		copy(e[1:4], []byte{0xFE, 0xFF, 0xFF})
		e[4] = p.typ
		copy(e[5:8], []byte{0xFE, 0xFF, 0xFF})
		binary.LittleEndian.PutUint32(e[8:12], p.start)
		binary.LittleEndian.PutUint32(e[12:16], p.size)
	}
	mbr[510], mbr[511] = 0x55, 0xAA
	return mbr, nil
}

// parseMBR reads the partition table back; tests and the flash tool use it.
func parseMBR(mbr []byte) ([]partition, error) {
	if len(mbr) < sectorSize || mbr[510] != 0x55 || mbr[511] != 0xAA {
		return nil, fmt.Errorf("no MBR signature")
	}
	var parts []partition
	for i := 0; i < 4; i++ {
		e := mbr[446+16*i : 446+16*(i+1)]
		if e[4] == 0 {
			continue
		}
		parts = append(parts, partition{
			active: e[0] == 0x80,
			typ:    e[4],
			start:  binary.LittleEndian.Uint32(e[8:12]),
			size:   binary.LittleEndian.Uint32(e[12:16]),
		})
	}
	return parts, nil
}
