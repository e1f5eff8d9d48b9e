package format

import (
	"bytes"
	"encoding/json"
)

// Marshal is json.Marshal without HTML escaping, which every dialect's
// encoders share: "<" in a prompt or an answer must reach the other side
// as "<", not "\u003c" (the bytes are read as JSON, never as HTML, and
// stay the size the sender wrote).
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// IsNull reports an absent (empty) or JSON null member.
func IsNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}
