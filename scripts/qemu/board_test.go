package qemu

import "testing"

func TestEstablished(t *testing.T) {
	show := "gw: IKE SA ESTABLISHED 10.77.1.1[500] <-> 10.77.1.2[500], 12s\n" +
		"  rekey in 3h, AES_GCM_16_128/PRF_HMAC_SHA2_256/ECP_256\n" +
		"  CHILD_SA tunnel, ESP SPIs c1a2b3c4_i 0badcafe_o, 10.1.0.0/24 === 10.2.0.0/24\n" +
		"other: IKE SA CONNECTING 10.77.1.1[500] <-> 10.77.1.3[500]\n"
	tests := []struct {
		peer, mode string
		want       bool
	}{
		{"gw", "", true},
		{"gw", "tunnel", true},
		{"gw", "TUNNEL", true},
		{"gw", "transport", false},
		{"other", "", false},
		{"g", "", false},
	}
	for _, tt := range tests {
		if got := Established(tt.peer, tt.mode).MatchString(show); got != tt.want {
			t.Errorf("Established(%q, %q) matched %v, want %v", tt.peer, tt.mode, got, tt.want)
		}
	}
	if Established("gw", "").MatchString("gw: IKE SA ESTABLISHED 1.2.3.4[500] <-> 5.6.7.8[500]\n") {
		t.Error("an IKE SA without a CHILD_SA matched")
	}
}

func TestPEMBlockAndSetLines(t *testing.T) {
	out := "alixsec> pki request gw cn moon\r\n-----BEGIN CERTIFICATE REQUEST-----\r\nMIIB\r\n-----END CERTIFICATE REQUEST-----\r\nalixsec> "
	got, err := PEMBlock(out, "CERTIFICATE REQUEST")
	if want := "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"; err != nil || got != want {
		t.Errorf("PEMBlock = %q, %v; want %q", got, err, want)
	}
	if _, err := PEMBlock(out, "CERTIFICATE"); err == nil {
		t.Error("PEMBlock found a CERTIFICATE in a CSR")
	}
	lines := SetLines("# bundle\nset system host-name moon\n\nset ipsec ca root\ndelete x\n")
	if len(lines) != 2 || lines[0] != "set system host-name moon" || lines[1] != "set ipsec ca root" {
		t.Errorf("SetLines = %q", lines)
	}
}

func TestCrashLines(t *testing.T) {
	log := "alixsec> show log\r\n" +
		"2026-11-27T14:54:32Z configsvc: fatal error: missing stackmap\r\n" +
		"2026-11-27T14:54:32Z configsvc: runtime: frame callRet untyped locals 0xba25f00+0x14\r\n" +
		"2026-11-27T14:54:32Z configsvc: goroutine 7 gp=0xb806c68 m=3 mp=0xb840008 [running]:\r\n" +
		"2026-11-27T14:54:33Z init: configsvc: exited: exit status 2\r\n" +
		"2026-11-27T14:54:35Z init: console /dev/ttyS0: /bbin/cli exited: exit status 0\r\n" +
		"2026-11-27T14:54:35Z ikesvc: ike: peer gw: IKE SA ESTABLISHED\r\n"
	got := CrashLines(log, 10)
	want := "2026-11-27T14:54:32Z configsvc: fatal error: missing stackmap\n" +
		"2026-11-27T14:54:32Z configsvc: runtime: frame callRet untyped locals 0xba25f00+0x14\n" +
		"2026-11-27T14:54:33Z init: configsvc: exited: exit status 2"
	if got != want {
		t.Errorf("CrashLines =\n%s\nwant\n%s", got, want)
	}
	if got := CrashLines("alixsec> show ipsec sa\r\ngw: IKE SA ESTABLISHED\r\n", 10); got != "" {
		t.Errorf("CrashLines of a healthy log = %q", got)
	}
}
