package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"alixsec.dev/configsvc/settext"
)

// preseedName is the file configsvc imports on first boot (init passes
// -preseed /cfg/preseed.set).
const preseedName = "preseed.set"

// preseedDir prepares the config partition's initial content from an
// alixca bundle (a tar holding config.set and the PEM files it was made
// from). Only config.set goes onto the card: it already carries every
// certificate, CRL and, when the CA tool made it, the host key. The set
// lines are validated here so a bad bundle stops the build, not the board.
func preseedDir(bundle, workDir string) (string, error) {
	f, err := os.Open(bundle)
	if err != nil {
		return "", fmt.Errorf("preseed: %w", err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	var set []byte
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("preseed %s: not a readable tar: %w", bundle, err)
		}
		if filepath.Base(h.Name) != "config.set" || h.Typeflag != tar.TypeReg {
			continue
		}
		if h.Size > 1<<20 {
			return "", fmt.Errorf("preseed %s: config.set is %d bytes, more than 1 MiB", bundle, h.Size)
		}
		if set, err = io.ReadAll(tr); err != nil {
			return "", fmt.Errorf("preseed %s: %w", bundle, err)
		}
	}
	if set == nil {
		return "", fmt.Errorf("preseed %s: no config.set in the bundle (make it with `alixca bundle HOST`)", bundle)
	}
	if _, err := settext.Load(bytes.NewReader(set)); err != nil {
		return "", fmt.Errorf("preseed %s: config.set: %w", bundle, err)
	}
	dir, err := os.MkdirTemp(workDir, "preseed-")
	if err != nil {
		return "", fmt.Errorf("preseed: %w", err)
	}
	// 0600: the set lines may hold the host's private key.
	if err := os.WriteFile(filepath.Join(dir, preseedName), set, 0o600); err != nil {
		return "", fmt.Errorf("preseed: %w", err)
	}
	return dir, nil
}
