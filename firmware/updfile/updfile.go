package updfile

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// The file, in order:
//
//	alixsec-update 1\n
//	{"board":"alix","version":"v1.2","kernel":{"size":N,"sha256":"..."},"initrd":{...}}\n
//	<base64 of "Ed", key number, ed25519 signature of the header line>\n
//	<kernel bytes><initramfs bytes>
//
// The signature covers the header's exact bytes (without its newline); the
// header pins each payload's size and digest, so the signature covers
// them too. Text lines keep the file inspectable with head(1).
const (
	magic          = "alixsec-update 1"
	maxHeaderBytes = 4096
)

// Part describes one payload.
type Part struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Header is the signed description of an update.
type Header struct {
	Board   string `json:"board"`
	Version string `json:"version"`
	Kernel  Part   `json:"kernel"`
	Initrd  Part   `json:"initrd"`
}

// Update is a verified update file held in memory.
type Update struct {
	Header
	SignedBy KeyNum
	Kernel   []byte
	Initrd   []byte
}

func partOf(b []byte) Part {
	sum := sha256.Sum256(b)
	return Part{Size: int64(len(b)), SHA256: hex.EncodeToString(sum[:])}
}

// Write writes a signed update file for board and version.
func Write(w io.Writer, key SecretKey, board, version string, kernel, initrd []byte) error {
	if board == "" || version == "" {
		return errors.New("update file: board and version must be set")
	}
	h := Header{Board: board, Version: version, Kernel: partOf(kernel), Initrd: partOf(initrd)}
	line, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("update file: %w", err)
	}
	sig := append(append(append([]byte{}, algEd...), key.Num[:]...), ed25519.Sign(key.Key, line)...)
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "%s\n%s\n%s\n", magic, line, base64.StdEncoding.EncodeToString(sig))
	bw.Write(kernel)
	bw.Write(initrd)
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("update file: %w", err)
	}
	return nil
}

// Limits are what the board accepts.
type Limits struct {
	Board     string // the running board's name
	MaxKernel int64  // slot capacity for the kernel
	MaxInitrd int64  // slot capacity for the initramfs
}

// Errors a caller may tell apart.
var (
	ErrNotUpdate   = errors.New("not an alixsec update file")
	ErrUntrusted   = errors.New("signed by a key this board does not trust")
	ErrBadSig      = errors.New("signature does not verify (file altered or damaged)")
	ErrWrongBoard  = errors.New("built for another board")
	ErrTooLarge    = errors.New("larger than the firmware slot")
	ErrBadPayload  = errors.New("payload does not match the signed header (file altered or damaged)")
	ErrTrailing    = errors.New("unexpected data after the payload")
	ErrTruncated   = errors.New("file ends early (transfer cut short)")
	errHeaderLimit = fmt.Errorf("header longer than %d bytes", maxHeaderBytes)
)

// Read reads and verifies a whole update file: the signature against
// trusted, the board and sizes against lim, and both payloads against the
// signed digests. Nothing is returned until everything checked out, so a
// caller writes only verified bytes. The payloads are held in RAM (a few
// MiB), which the 64 MB boards afford.
func Read(r io.Reader, trusted []PublicKey, lim Limits) (*Update, error) {
	br := bufio.NewReaderSize(r, 64*1024)
	first, err := readLine(br)
	if err != nil || first != magic {
		return nil, ErrNotUpdate
	}
	headerLine, err := readLine(br)
	if err != nil {
		return nil, fmt.Errorf("update header: %w", err)
	}
	sigLine, err := readLine(br)
	if err != nil {
		return nil, fmt.Errorf("update signature: %w", err)
	}
	sig, err := base64.StdEncoding.DecodeString(sigLine)
	if err != nil || len(sig) != 2+8+ed25519.SignatureSize || !bytes.Equal(sig[:2], algEd) {
		return nil, fmt.Errorf("update signature: %w", ErrNotUpdate)
	}
	var num KeyNum
	copy(num[:], sig[2:10])
	var key *PublicKey
	for i := range trusted {
		if trusted[i].Num == num {
			key = &trusted[i]
			break
		}
	}
	if key == nil {
		return nil, fmt.Errorf("key %s: %w", num, ErrUntrusted)
	}
	if !ed25519.Verify(key.Key, []byte(headerLine), sig[10:]) {
		return nil, ErrBadSig
	}
	var h Header
	dec := json.NewDecoder(strings.NewReader(headerLine))
	if err := dec.Decode(&h); err != nil {
		return nil, fmt.Errorf("update header: %w", err)
	}
	if h.Board != lim.Board {
		return nil, fmt.Errorf("board %q, this is %q: %w", h.Board, lim.Board, ErrWrongBoard)
	}
	if h.Kernel.Size <= 0 || h.Kernel.Size > lim.MaxKernel {
		return nil, fmt.Errorf("kernel %d bytes, slot holds %d: %w", h.Kernel.Size, lim.MaxKernel, ErrTooLarge)
	}
	if h.Initrd.Size <= 0 || h.Initrd.Size > lim.MaxInitrd {
		return nil, fmt.Errorf("initramfs %d bytes, slot holds %d: %w", h.Initrd.Size, lim.MaxInitrd, ErrTooLarge)
	}
	u := &Update{Header: h, SignedBy: num}
	if u.Kernel, err = readPart(br, "kernel", h.Kernel); err != nil {
		return nil, err
	}
	if u.Initrd, err = readPart(br, "initramfs", h.Initrd); err != nil {
		return nil, err
	}
	if n, _ := io.CopyN(io.Discard, br, 1); n != 0 {
		return nil, ErrTrailing
	}
	return u, nil
}

func readPart(r io.Reader, what string, p Part) ([]byte, error) {
	buf := make([]byte, p.Size)
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: %w", what, ErrTruncated)
		}
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if got := partOf(buf); got.SHA256 != p.SHA256 {
		return nil, fmt.Errorf("%s: %w", what, ErrBadPayload)
	}
	return buf, nil
}

// readLine reads one \n-terminated line of at most maxHeaderBytes.
func readLine(br *bufio.Reader) (string, error) {
	var sb strings.Builder
	for {
		chunk, err := br.ReadSlice('\n')
		sb.Write(chunk)
		if sb.Len() > maxHeaderBytes {
			return "", errHeaderLimit
		}
		if err == nil {
			return strings.TrimSuffix(sb.String(), "\n"), nil
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) {
			return "", ErrTruncated
		}
		return "", err
	}
}
