package wire

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
)

func hexOf(b []byte) string { return hex.EncodeToString(b) }

func sha1Hex(hexInput string) string {
	b, err := hex.DecodeString(hexInput)
	if err != nil {
		panic(err)
	}
	s := sha1.Sum(b)
	return hex.EncodeToString(s[:])
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func dump(m *Message) string {
	b, _ := json.Marshal(m)
	return string(b)
}
