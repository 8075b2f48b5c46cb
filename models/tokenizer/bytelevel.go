package tokenizer

// GPT-2's bytes_to_unicode: every byte gets a printable code point so that byte-level BPE
// vocabularies can be stored as text. Printable Latin-1 bytes map to themselves; the rest
// (control characters, space, 0x7F-0xA0, soft hyphen) are moved to U+0100 upwards in byte order.

var (
	byteToRune [256]rune
	runeToByte = map[rune]byte{}
)

func init() {
	n := rune(0)
	for b := 0; b < 256; b++ {
		if (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			byteToRune[b] = rune(b)
		} else {
			byteToRune[b] = 0x100 + n
			n++
		}
	}
	for b, r := range byteToRune {
		runeToByte[r] = byte(b)
	}
}

// byteLevelString maps raw bytes to their byte-level code points.
func byteLevelString(s string) string {
	buf := make([]rune, len(s))
	for i := 0; i < len(s); i++ {
		buf[i] = byteToRune[s[i]]
	}
	return string(buf)
}

// byteLevelBytes maps a byte-level vocabulary piece back to raw bytes. ok is false when the
// piece holds a code point outside the map (then the caller keeps the piece's own UTF-8).
func byteLevelBytes(piece string) (out []byte, ok bool) {
	out = make([]byte, 0, len(piece))
	for _, r := range piece {
		b, found := runeToByte[r]
		if !found {
			return nil, false
		}
		out = append(out, b)
	}
	return out, true
}
