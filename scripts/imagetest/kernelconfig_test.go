package imagetest

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

func readDotConfig(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && strings.HasPrefix(k, "CONFIG_") {
			cfg[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestKernelConfigRunsOnEveryGeode checks the shipped kernel's .config:
// Go's 386 clock needs 32-bit time syscalls, and no CPU option may imply
// CMOV, which the WRAP's SC1100 lacks.
func TestKernelConfigRunsOnEveryGeode(t *testing.T) {
	cfg := readDotConfig(t, artifact(t, "kernel.config"))
	required := map[string]string{
		"CONFIG_COMPAT_32BIT_TIME":      "y",
		"CONFIG_X86_32":                 "y",
		"CONFIG_M586MMX":                "y",
		"CONFIG_X86_MINIMUM_CPU_FAMILY": "5",
		"CONFIG_INET_ESP":               "y",
		"CONFIG_INET6_ESP":              "y",
		"CONFIG_XFRM_USER":              "y",
	}
	for opt, want := range required {
		if got := cfg[opt]; got != want {
			t.Errorf("%s = %q, want %q", opt, got, want)
		}
	}
	// Every processor choice that selects X86_CMOV in arch/x86/Kconfig.cpu,
	// and the symbol itself.
	cmov := []string{
		"CONFIG_X86_CMOV", "CONFIG_M686", "CONFIG_MPENTIUMII", "CONFIG_MPENTIUMIII",
		"CONFIG_MPENTIUMM", "CONFIG_MPENTIUM4", "CONFIG_MK7", "CONFIG_MK8", "CONFIG_MCRUSOE",
		"CONFIG_MEFFICEON", "CONFIG_MVIAC3_2", "CONFIG_MVIAC7", "CONFIG_MCORE2", "CONFIG_MATOM",
		"CONFIG_MGEODE_LX", "CONFIG_64BIT",
	}
	for _, opt := range cmov {
		if v, ok := cfg[opt]; ok && v != "n" {
			t.Errorf("%s=%s implies CMOV (or a 64-bit CPU): the WRAP's SC1100 cannot run this kernel", opt, v)
		}
	}
}
