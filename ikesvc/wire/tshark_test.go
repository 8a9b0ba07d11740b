package wire

import (
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// writePcap stores each message as an IPv4/UDP 500->500 packet in a pcap
// file with the raw-IP link type, for tshark.
func writePcap(path string, msgs [][]byte) error {
	b := binary.LittleEndian.AppendUint32(nil, 0xa1b2c3d4)
	b = binary.LittleEndian.AppendUint16(b, 2)
	b = binary.LittleEndian.AppendUint16(b, 4)
	b = append(b, make([]byte, 8)...)              // thiszone, sigfigs
	b = binary.LittleEndian.AppendUint32(b, 65535) // snaplen
	b = binary.LittleEndian.AppendUint32(b, 101)   // LINKTYPE_RAW
	for i, m := range msgs {
		pkt := make([]byte, 28, 28+len(m))
		pkt[0], pkt[8], pkt[9] = 0x45, 64, 17 // IPv4, TTL, UDP
		binary.BigEndian.PutUint16(pkt[2:], uint16(28+len(m)))
		copy(pkt[12:], []byte{192, 0, 2, 1, 192, 0, 2, 2})
		var sum uint32
		for j := 0; j < 20; j += 2 {
			sum += uint32(binary.BigEndian.Uint16(pkt[j:]))
		}
		for sum > 0xffff {
			sum = sum&0xffff + sum>>16
		}
		binary.BigEndian.PutUint16(pkt[10:], ^uint16(sum))
		binary.BigEndian.PutUint16(pkt[20:], 500)
		binary.BigEndian.PutUint16(pkt[22:], 500)
		binary.BigEndian.PutUint16(pkt[24:], uint16(8+len(m)))
		pkt = append(pkt, m...)
		b = binary.LittleEndian.AppendUint32(b, uint32(i))
		b = binary.LittleEndian.AppendUint32(b, 0)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(pkt)))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(pkt)))
		b = append(b, pkt...)
	}
	return os.WriteFile(path, b, 0o644)
}

// TestTsharkDecodesOurMessages: Wireshark's IKEv2 dissector reads every
// message we encode (cleartext, encrypted, fragments) without a malformed-
// packet or error report.
func TestTsharkDecodesOurMessages(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed")
	}
	c := testCipher{key: 9, blockSize: 16}
	names := make([]string, 0)
	for name := range sampleMessages() {
		names = append(names, name)
	}
	sort.Strings(names)
	var msgs [][]byte
	for _, name := range names {
		b, err := sampleMessages()[name].Encode(c)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, b)
	}
	frags, err := EncodeFragments(sampleMessages()["IKE_AUTH request"], c, 300)
	if err != nil {
		t.Fatal(err)
	}
	msgs = append(msgs, frags...)
	path := filepath.Join(t.TempDir(), "ours.pcap")
	if err := writePcap(path, msgs); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tshark, "-n", "-r", path, "-V", "-o", "isakmp.ikev2_decrypt:FALSE").CombinedOutput()
	if err != nil {
		// Older tsharks lack the preference; retry without it.
		out, err = exec.Command(tshark, "-n", "-r", path, "-V").CombinedOutput()
	}
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	text := string(out)
	if got := strings.Count(text, "Internet Security Association and Key Management Protocol"); got != len(msgs) {
		t.Errorf("tshark saw %d IKE messages, want %d", got, len(msgs))
	}
	for _, bad := range []string{"Malformed", "Expert Info (Error", "Expert Info (Warning"} {
		if i := strings.Index(text, bad); i >= 0 {
			start := max(0, i-800)
			t.Errorf("tshark reports %q:\n%s", bad, text[start:min(len(text), i+200)])
		}
	}
	if !strings.Contains(text, "Nonce") || !strings.Contains(text, "Traffic Selector") && !strings.Contains(text, "Encrypted and Authenticated") {
		t.Error("tshark output lacks the expected payload names")
	}
}
