package wire

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
)

// Fragment is one decoded SKF payload (RFC 7383 2.5).
type Fragment struct {
	Number, Total uint16
	// NextPayload is the type of the first inner payload; only fragment 1
	// carries it, the others hold PayloadNone.
	NextPayload PayloadType
	// Data is this fragment's share of the inner payload chain, decrypted
	// and without padding. It aliases the decoded buffer.
	Data []byte
}

const skfExtraLen = 4 // Fragment Number and Total Fragments

func (m *Message) openSKF(b []byte, pos int, c SKCipher) error {
	if len(b)-pos >= GenericHeaderLen+skfExtraLen {
		num := binary.BigEndian.Uint16(b[pos+4:])
		total := binary.BigEndian.Uint16(b[pos+6:])
		if num == 0 || total == 0 || num > total {
			return errAt(ErrInvalidSyntax, "SKF payload", pos, "fragment "+strconv.Itoa(int(num))+" of "+strconv.Itoa(int(total)))
		}
	}
	data, first, err := openBody(b, pos, skfExtraLen, c, "SKF")
	if err != nil {
		return err
	}
	m.Encrypted = true
	m.Fragment = &Fragment{
		Number:      binary.BigEndian.Uint16(b[pos+4:]),
		Total:       binary.BigEndian.Uint16(b[pos+6:]),
		NextPayload: first,
		Data:        data,
	}
	return nil
}

// EncodeFragments encodes m, whose payloads must all be protected (RFC 7383
// 2.5: fragmented messages carry nothing in clear), as SKF fragments of at
// most maxLen bytes each (the IKE message, without IP/UDP headers and the
// non-ESP marker). If the whole message fits in one SK message of maxLen it
// is still returned as one fragment; callers choose whether to fragment.
func EncodeFragments(m *Message, c SKCipher, maxLen int) ([][]byte, error) {
	if len(m.Payloads) != 0 || !m.Encrypted {
		return nil, errAt(ErrInvalidSyntax, "encode fragments", 0, "message must be encrypted with no cleartext payloads")
	}
	if c == nil {
		return nil, errAt(ErrNoCipher, "encode fragments", 0, "")
	}
	// Encode the inner chain once; byte 0 collects the first payload type.
	chain := make([]byte, 1, 512)
	chain, _, err := appendChain(chain, m.Protected, 0)
	if err != nil {
		return nil, err
	}
	first := PayloadType(chain[0])
	chain = chain[1:]

	bs := c.BlockSize()
	if bs < 1 {
		bs = 1
	}
	room := maxLen - HeaderLen - GenericHeaderLen - skfExtraLen - c.IVLen() - c.ICVLen()
	room -= room % bs // plaintext + padding + pad length fill whole blocks
	chunk := room - 1 // leave the pad-length byte
	if chunk < 1 {
		return nil, errAt(ErrTooLarge, "encode fragments", 0, "maximum length "+strconv.Itoa(maxLen)+" leaves no room for data")
	}
	total := (len(chain) + chunk - 1) / chunk
	if total == 0 {
		total = 1
	}
	if total > 0xffff {
		return nil, errAt(ErrTooLarge, "encode fragments", 0, strconv.Itoa(total)+" fragments")
	}
	out := make([][]byte, 0, total)
	for i := 0; i < total; i++ {
		part := chain[min(i*chunk, len(chain)):min((i+1)*chunk, len(chain))]
		next := PayloadNone
		if i == 0 {
			next = first
		}
		frag, err := encodeFragment(&m.Header, next, uint16(i+1), uint16(total), part, c)
		if err != nil {
			return nil, fmt.Errorf("fragment %d of %d: %w", i+1, total, err)
		}
		out = append(out, frag)
	}
	return out, nil
}

func encodeFragment(h *Header, next PayloadType, num, total uint16, part []byte, c SKCipher) ([]byte, error) {
	b := make([]byte, 0, HeaderLen+GenericHeaderLen+skfExtraLen+c.IVLen()+len(part)+c.BlockSize()+c.ICVLen())
	b = appendHeader(b, h)
	b[16] = byte(PayloadSKF)
	skf := len(b)
	b = append(b, byte(next), 0, 0, 0)
	b = binary.BigEndian.AppendUint16(b, num)
	b = binary.BigEndian.AppendUint16(b, total)
	bodyStart := len(b)
	b = appendZeros(b, c.IVLen())
	b = append(b, part...)
	b = appendPadding(b, len(part), c.BlockSize())
	b = appendZeros(b, c.ICVLen())
	binary.BigEndian.PutUint16(b[skf+2:], uint16(len(b)-skf))
	binary.BigEndian.PutUint32(b[24:], uint32(len(b)))
	if err := c.Seal(b, bodyStart); err != nil {
		return nil, err
	}
	return b, nil
}

// Reassembler collects the fragments of one message (RFC 7383 2.6). Keep one
// per IKE SA and direction (requests and responses apart). The zero value
// is ready, with the default limits.
//
// Every fragment passed its own integrity check, yet two with the same
// number may differ (a sender that re-encoded its message, or one that
// means harm, sent first): the first one is not trusted blindly. Up to
// MaxConflicts differing candidates per message are kept, and once every
// number has one, the combinations are tried until one joins into a
// message that decodes. If none does, Add says ErrFragmentsPending and
// keeps collecting: a fragment still to come may complete it. Only when
// the sender retransmitted every fragment unchanged since (nothing new can
// come) is the message malformed for good: Add returns a ProtectedError.
type Reassembler struct {
	// MaxFragments and MaxBytes bound what a peer can make us hold; zero
	// means DefaultMaxFragments and DefaultMaxBytes.
	MaxFragments int
	MaxBytes     int

	active    bool
	done      bool   // a message was completed ...
	doneID    uint32 // ... with this ID; its fragments and older ones are ignored
	messageID uint32
	total     uint16
	have      int // fragment numbers with at least one candidate
	size      int
	conflicts int               // candidates beyond the first of their number
	parts     [][]fragCandidate // by fragment number - 1, in arrival order
	// After a failed join: which numbers were retransmitted unchanged since.
	failed  error
	resends []bool
}

// fragCandidate is one received version of a fragment.
type fragCandidate struct {
	data  []byte
	first PayloadType // NextPayload, meaningful for fragment 1 only
}

// Limits used when a Reassembler leaves them zero.
const (
	DefaultMaxFragments = 64
	DefaultMaxBytes     = 64 * 1024
	// MaxConflicts bounds the differing duplicates kept per message, and
	// so the joins tried (at most 2^MaxConflicts).
	MaxConflicts = 3
)

// Add takes a decoded message holding a fragment. It returns the complete
// message (header of the last fragment, Protected decoded from the joined
// data) once all fragments are in and join into one that decodes, and
// nil before. Identical duplicates are ignored, differing ones kept as
// candidates (see Reassembler); a fragment of a newer message ID, or of
// the same ID with a larger Total (the sender re-fragmented with a smaller
// size, RFC 7383 2.6), restarts collection; one with a smaller Total or an
// older message ID is ignored, and so are fragments of the last completed
// message ID and older ones.
func (r *Reassembler) Add(m *Message) (*Message, error) {
	f := m.Fragment
	if f == nil {
		return nil, errAt(ErrInvalidSyntax, "reassemble", 0, "message holds no fragment")
	}
	if f.Number == 0 || f.Total == 0 || f.Number > f.Total {
		return nil, errAt(ErrInvalidSyntax, "reassemble", 0, "fragment "+strconv.Itoa(int(f.Number))+" of "+strconv.Itoa(int(f.Total)))
	}
	maxFrags, maxBytes := r.MaxFragments, r.MaxBytes
	if maxFrags <= 0 {
		maxFrags = DefaultMaxFragments
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	if int(f.Total) > maxFrags {
		return nil, errAt(ErrTooLarge, "reassemble", 0, strconv.Itoa(int(f.Total))+" fragments, limit "+strconv.Itoa(maxFrags))
	}
	if r.done && m.MessageID <= r.doneID {
		// A retransmission of a message already handed out (or older): the
		// caller's message-ID window decides whether to resend a response.
		return nil, nil
	}
	switch {
	case !r.active, m.MessageID > r.messageID, m.MessageID == r.messageID && f.Total > r.total:
		r.reset(m.MessageID, f.Total)
	case m.MessageID < r.messageID, f.Total < r.total:
		return nil, nil
	}
	idx := int(f.Number) - 1
	first := f.NextPayload
	if idx != 0 {
		first = PayloadNone
	}
	for _, c := range r.parts[idx] {
		if c.first == first && bytes.Equal(c.data, f.Data) {
			return r.unchanged(idx, m.MessageID)
		}
	}
	if len(r.parts[idx]) > 0 {
		if r.conflicts >= MaxConflicts {
			return nil, nil
		}
		r.conflicts++
	}
	if r.size+len(f.Data) > maxBytes {
		r.active = false
		return nil, errAt(ErrTooLarge, "reassemble", 0, "over "+strconv.Itoa(maxBytes)+" bytes")
	}
	part := make([]byte, len(f.Data), len(f.Data)+1) // non-nil even when empty
	copy(part, f.Data)
	if len(r.parts[idx]) == 0 {
		r.have++
	}
	r.parts[idx] = append(r.parts[idx], fragCandidate{part, first})
	r.size += len(part)
	if r.have < int(r.total) {
		return nil, nil
	}
	inner, err := r.join()
	if err != nil {
		r.failed = err
		r.resends = make([]bool, r.total)
		return nil, fmt.Errorf("reassembled message %d: %w: %w", m.MessageID, ErrFragmentsPending, err)
	}
	r.finish(m.MessageID)
	out := &Message{Header: m.Header, Encrypted: true, Protected: inner}
	out.NextPayload = PayloadSK
	return out, nil
}

// unchanged handles an identical duplicate of fragment idx: after a failed
// join, once every fragment came again unchanged, the message is final.
func (r *Reassembler) unchanged(idx int, id uint32) (*Message, error) {
	if r.failed == nil {
		return nil, nil
	}
	r.resends[idx] = true
	for _, ok := range r.resends {
		if !ok {
			return nil, nil
		}
	}
	err := r.failed
	r.finish(id)
	return nil, &ProtectedError{fmt.Errorf("reassembled message %d: %w", id, err)}
}

// join tries the combinations of candidates, the first arrivals first,
// and decodes the first that forms a valid payload chain.
func (r *Reassembler) join() ([]Payload, error) {
	pick := make([]int, len(r.parts))
	var firstErr error
	for {
		size := 0
		for i, p := range r.parts {
			size += len(p[pick[i]].data)
		}
		joined := make([]byte, 0, size)
		for i, p := range r.parts {
			joined = append(joined, p[pick[i]].data...)
		}
		inner, _, _, err := decodeChain(joined, 0, r.parts[0][pick[0]].first, false)
		if err == nil {
			return inner, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		// Next combination: a mixed-radix counter over the candidates.
		i := 0
		for ; i < len(pick); i++ {
			if pick[i]++; pick[i] < len(r.parts[i]) {
				break
			}
			pick[i] = 0
		}
		if i == len(pick) {
			return nil, firstErr
		}
	}
}

// finish ends collection of message id: its fragments are ignored from now on.
func (r *Reassembler) finish(id uint32) {
	r.active = false
	r.parts, r.resends, r.failed = nil, nil, nil
	r.done, r.doneID = true, id
}

func (r *Reassembler) reset(id uint32, total uint16) {
	r.active = true
	r.messageID = id
	r.total = total
	r.have, r.size, r.conflicts = 0, 0, 0
	r.parts = make([][]fragCandidate, total)
	r.failed, r.resends = nil, nil
}
