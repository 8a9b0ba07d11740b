package bootpart

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"alixsec.dev/firmware/bootpart/bootparttest"
)

func testImage(t *testing.T) string { return bootparttest.Image(t) }

func run(t *testing.T, argv ...string) string { return bootparttest.Run(t, argv...) }

func openImage(t *testing.T, img string) (*Boot, *os.File) {
	t.Helper()
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	b, err := Open(Section{F: f})
	if err != nil {
		t.Fatal(err)
	}
	return b, f
}

// TestWriteSlotInPlace writes slot b and reads it back through mtools;
// fsck.vfat finds the file system unchanged and slot a untouched.
func TestWriteSlotInPlace(t *testing.T) {
	img := testImage(t)
	b, _ := openImage(t, img)
	if k, i := b.Capacity("b"); k != 300_000 || i != 700_001 {
		t.Fatalf("Capacity(b) = %d, %d", k, i)
	}
	kernel := bytes.Repeat([]byte("kernel-v2."), 20_000)
	initrd := bytes.Repeat([]byte("initrd-v2."), 65_000)
	if err := b.WriteSlot("b", kernel, initrd); err != nil {
		t.Fatal(err)
	}
	got := run(t, "mtype", "-i", img, "::/b/initrd")
	if !padded([]byte(got), initrd) || len(got) != 700_001 {
		t.Fatalf("mtools reads back %d bytes of /b/initrd, not the written content", len(got))
	}
	if ok, err := b.SlotHolds("b", kernel, initrd); !ok || err != nil {
		t.Fatalf("SlotHolds(b) = %v, %v", ok, err)
	}
	if ok, _ := b.SlotHolds("a", kernel, initrd); ok {
		t.Fatal("slot a changed")
	}
	if ka, _, _ := b.ReadSlot("a"); len(bytes.Trim(ka, "\x00")) != 0 {
		t.Fatal("slot a kernel is not its old (zero) content")
	}
	run(t, "fsck.vfat", "-n", img)
	if err := b.WriteSlot("b", make([]byte, 300_001), nil); err == nil {
		t.Fatal("a kernel larger than the slot file was written")
	}
	// The shorter rewrite zeroes what the longer one left.
	if err := b.WriteSlot("b", []byte("short"), []byte("short")); err != nil {
		t.Fatal(err)
	}
	if ok, _ := b.SlotHolds("b", []byte("short"), []byte("short")); !ok {
		t.Fatal("a shorter firmware left the old bytes behind it")
	}
}

// TestADVOnFreshInstall: the ADV syslinux's installer leaves (an empty,
// valid one: the mtools installer cannot set tags) decodes here; tags
// written here read back from either copy. That ldlinux reads and clears
// them is shown by the QEMU boot test.
func TestADVOnFreshInstall(t *testing.T) {
	img := testImage(t)
	b, f := openImage(t, img)
	adv, err := b.ReadADV()
	if err != nil {
		t.Fatalf("fresh syslinux install: %v", err)
	}
	if len(adv) != 0 || adv.Default() != "a" {
		t.Fatalf("fresh ADV = %q", adv)
	}
	if err := b.WriteADV(ADV{TagBootOnce: "b", TagMenuSave: "a"}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	b, f = openImage(t, img)
	got, err := b.ReadADV()
	if err != nil || got[TagBootOnce] != "b" || got.Default() != "a" {
		t.Fatalf("ADV after WriteADV = %q, %v", got, err)
	}
	// A torn first copy: the second one is used.
	buf := make([]byte, advSize)
	copy(buf, "torn")
	if _, err := f.WriteAt(buf, b.adv[0]); err != nil {
		t.Fatal(err)
	}
	if got, err := b.ReadADV(); err != nil || got[TagBootOnce] != "b" {
		t.Fatalf("ADV with copy 0 torn = %q, %v", got, err)
	}
	if _, err := f.WriteAt(buf, b.adv[1]); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ReadADV(); err == nil {
		t.Fatal("two torn copies read as an ADV")
	}
	run(t, "fsck.vfat", "-n", img)
}

func TestADVEncodeRoundTrip(t *testing.T) {
	for _, adv := range []ADV{{}, {TagBootOnce: "b"}, {TagMenuSave: "b", 9: "kept"}} {
		buf, err := encodeADV(adv)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeADV(buf)
		if err != nil || len(got) != len(adv) {
			t.Fatalf("round trip of %q = %q, %v", adv, got, err)
		}
		for k, v := range adv {
			if got[k] != v {
				t.Fatalf("round trip of %q = %q", adv, got)
			}
		}
		buf[100] ^= 1
		if _, err := decodeADV(buf); err == nil {
			t.Fatal("a damaged ADV copy passed its checksum")
		}
	}
	if _, err := encodeADV(ADV{3: strings.Repeat("x", 255), 4: strings.Repeat("y", 255)}); err == nil {
		t.Fatal("an overfull ADV was encoded")
	}
}
