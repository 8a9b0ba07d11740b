package bootpart

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The ADV as syslinux 4+ keeps it (doc/adv.txt, libinstaller/setadv.c):
// two identical 512-byte copies, each a head signature, a checksum, 500
// bytes of tag-length-value records ending in tag 0, and a tail signature.
// The checksum makes the sum of the 32-bit words from offset 4 to 507
// equal advMagic2. syslinux reads the first valid copy.
const (
	advSize   = 512
	advMagic1 = 0x5a2d2fa5
	advMagic2 = 0xa3041767
	advMagic3 = 0xdd28bf64

	// TagBootOnce is the label ldlinux boots once: it clears the tag (an
	// ADV write by the bootloader) before it loads the kernel, so a trial
	// firmware that panics or hangs is not booted again.
	TagBootOnce = 1
	// TagMenuSave is the label menu.c32 starts on with MENU SAVE: the
	// default slot.
	TagMenuSave = 2
)

// ADV is the decoded auxiliary data vector: tag → value. Tags this
// package does not know are kept as they are.
type ADV map[byte]string

var errNoADV = errors.New("no valid syslinux ADV copy")

func decodeADV(copyBytes []byte) (ADV, error) {
	le := binary.LittleEndian
	if len(copyBytes) != advSize || le.Uint32(copyBytes[0:]) != advMagic1 || le.Uint32(copyBytes[advSize-4:]) != advMagic3 {
		return nil, errNoADV
	}
	var sum uint32
	for i := 4; i < advSize-4; i += 4 {
		sum += le.Uint32(copyBytes[i:])
	}
	if sum != advMagic2 {
		return nil, errNoADV
	}
	adv := ADV{}
	data := copyBytes[8 : advSize-4]
	for len(data) >= 2 && data[0] != 0 {
		tag, n := data[0], int(data[1])
		if 2+n > len(data) {
			return nil, errors.New("syslinux ADV record runs past its end")
		}
		adv[tag] = string(data[2 : 2+n])
		data = data[2+n:]
	}
	return adv, nil
}

func encodeADV(adv ADV) ([]byte, error) {
	b := make([]byte, advSize)
	le := binary.LittleEndian
	le.PutUint32(b[0:], advMagic1)
	pos := 8
	// Known tags first, in tag order, for a stable encoding.
	for tag := 1; tag < 256; tag++ {
		v, ok := adv[byte(tag)]
		if !ok || v == "" {
			continue
		}
		if len(v) > 255 || pos+2+len(v) > advSize-4 {
			return nil, fmt.Errorf("syslinux ADV: no room for tag %d", tag)
		}
		b[pos], b[pos+1] = byte(tag), byte(len(v))
		copy(b[pos+2:], v)
		pos += 2 + len(v)
	}
	le.PutUint32(b[advSize-4:], advMagic3)
	var sum uint32
	for i := 8; i < advSize-4; i += 4 {
		sum += le.Uint32(b[i:])
	}
	le.PutUint32(b[4:], advMagic2-sum)
	return b, nil
}
