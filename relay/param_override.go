package relay

import (
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// applyParamOverride merges a channel's param_override (a JSON object)
// into the upstream body: each top-level member replaces the body's, so an
// operator can pin temperature, add a provider-specific flag, or remove a
// field by setting it to null... which providers read as "unset" anyway.
func applyParamOverride(body, override []byte) ([]byte, error) {
	var err error
	gjson.ParseBytes(override).ForEach(func(k, v gjson.Result) bool {
		body, err = sjson.SetRawBytes(body, escapeKey(k.String()), []byte(v.Raw))
		return err == nil
	})
	return body, err
}

// escapeKey makes a member name literal for sjson, whose paths treat
// '.', '*', '?' and '|' as syntax.
func escapeKey(k string) string {
	out := make([]byte, 0, len(k))
	for i := 0; i < len(k); i++ {
		switch k[i] {
		case '.', '*', '?', '|', '#', '@', '\\', ':', '!', '=', '<', '>', '%':
			out = append(out, '\\')
		}
		out = append(out, k[i])
	}
	return string(out)
}
