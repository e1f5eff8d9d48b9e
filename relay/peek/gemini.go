package peek

import (
	"github.com/tidwall/gjson"
)

// PeekGemini reads a Gemini generateContent body, whose model and stream
// flag travel in the URL rather than the body: the caller passes them, and
// the body gives the output cap (generationConfig.maxOutputTokens) and the
// candidate count.
func PeekGemini(body []byte, model string, stream bool) (Fields, error) {
	if err := checkShape(body); err != nil {
		return Fields{}, err
	}
	if !gjson.ValidBytes(body) {
		return Fields{}, ErrInvalidJSON
	}
	root := gjson.Parse(bytesToString(body))
	if !root.IsObject() {
		return Fields{}, ErrInvalidJSON
	}
	if model == "" {
		return Fields{}, ErrMissingModel
	}
	f := Fields{Model: model, Stream: stream, N: 1}
	cfg := root.Get("generationConfig")
	if !cfg.Exists() {
		cfg = root.Get("generation_config")
	}
	var err error
	if v := firstOf(cfg, "maxOutputTokens", "max_output_tokens"); v.Exists() && v.Type != gjson.Null {
		if f.MaxTokens, err = intField("generationConfig.maxOutputTokens", v, 0); err != nil {
			return Fields{}, err
		}
	}
	if v := firstOf(cfg, "candidateCount", "candidate_count"); v.Exists() && v.Type != gjson.Null {
		if f.N, err = intField("generationConfig.candidateCount", v, 1); err != nil {
			return Fields{}, err
		}
	}
	return f, nil
}

// firstOf returns the first of names present in r (the Gemini REST API
// accepts camelCase and snake_case alike).
func firstOf(r gjson.Result, names ...string) gjson.Result {
	for _, n := range names {
		if v := r.Get(n); v.Exists() {
			return v
		}
	}
	return gjson.Result{}
}
