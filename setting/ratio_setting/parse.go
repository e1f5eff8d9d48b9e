package ratio_setting

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// ParseRatioMap parses an option value such as {"gpt-4o": 1.25}: a JSON object whose values are non-negative
// finite numbers. Anything else is refused with a message naming the offending key, because a wrong price that
// is silently accepted bills every request until someone notices.
//
// The object is walked token by token rather than unmarshalled so that duplicate keys (where encoding/json would
// quietly keep the last) and quoted numbers are refused too.
func ParseRatioMap(value string) (map[string]float64, error) {
	dec := json.NewDecoder(strings.NewReader(value))
	dec.UseNumber()
	tok, err := dec.Token()
	if err == io.EOF {
		return nil, errors.New(`empty value: want a JSON object such as {"gpt-4o": 1.25}`)
	}
	if err != nil {
		return nil, fmt.Errorf("invalid JSON: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf(`want a JSON object such as {"gpt-4o": 1.25}, got %s`, describe(tok))
	}
	m := make(map[string]float64)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("invalid JSON: %v", err)
		}
		key, _ := tok.(string) // inside an object the decoder only yields string keys
		if err := checkKey(key, m); err != nil {
			return nil, err
		}
		tok, err = dec.Token()
		if err != nil {
			return nil, fmt.Errorf("key %q: invalid JSON: %v", key, err)
		}
		v, err := parseNumber(tok)
		if err != nil {
			return nil, fmt.Errorf("key %q: %v", key, err)
		}
		m[key] = v
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, fmt.Errorf("invalid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("invalid JSON: unexpected data after the object")
	}
	return m, nil
}

func checkKey(key string, seen map[string]float64) error {
	switch {
	case key == "":
		return errors.New("empty key")
	case strings.TrimSpace(key) != key:
		// " gpt-4o" would never match a request's model name, so it is a typo, not a price.
		return fmt.Errorf("key %q has leading or trailing spaces", key)
	}
	if _, dup := seen[key]; dup {
		return fmt.Errorf("key %q appears twice", key)
	}
	return nil
}

func parseNumber(tok json.Token) (float64, error) {
	num, ok := tok.(json.Number)
	if !ok {
		return 0, fmt.Errorf("want a number, got %s", describe(tok))
	}
	v, err := strconv.ParseFloat(string(num), 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, fmt.Errorf("%s is not a finite number", num)
	}
	if v < 0 {
		return 0, fmt.Errorf("must not be negative, got %s", num)
	}
	return v + 0, nil // + 0 turns -0 into 0 so it is rendered back as 0
}

// describe names the JSON type of a token for error messages.
func describe(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		if t == '[' {
			return "an array"
		}
		return "an object"
	case string:
		return fmt.Sprintf("the string %q", t)
	case bool:
		return "a boolean"
	case nil:
		return "null"
	default:
		return fmt.Sprintf("%v", t)
	}
}

// EncodeRatioMap renders a map as the JSON object string stored in the options table and shown by
// GET /api/option/. Keys come out sorted, so the same map always gives the same text.
func EncodeRatioMap(m map[string]float64) string {
	if m == nil {
		return "{}"
	}
	b, err := json.Marshal(m)
	if err != nil {
		// Only NaN or ±Inf can fail, and every map here was checked by ParseRatioMap or is a compiled-in default.
		panic("ratio_setting: non-finite value in a validated map: " + err.Error())
	}
	return string(b)
}

// set validates value and, only if it is valid, publishes a snapshot with the parsed map put in place.
func set(value string, put func(*Snapshot, map[string]float64)) error {
	m, err := ParseRatioMap(value)
	if err != nil {
		return err
	}
	publish(func(s *Snapshot) { put(s, m) })
	return nil
}

// SetModelRatio replaces the model ratios with the JSON object value; on error nothing changes.
func SetModelRatio(value string) error {
	return set(value, func(s *Snapshot, m map[string]float64) { s.ModelRatio = m })
}

// SetCompletionRatio replaces the completion ratios with the JSON object value; on error nothing changes.
func SetCompletionRatio(value string) error {
	return set(value, func(s *Snapshot, m map[string]float64) { s.CompletionRatio = m })
}

// SetCacheRatio replaces the cache ratios with the JSON object value; on error nothing changes.
func SetCacheRatio(value string) error {
	return set(value, func(s *Snapshot, m map[string]float64) { s.CacheRatio = m })
}

// SetCreateCacheRatio replaces the cache-write ratios with the JSON object value; on error nothing changes.
func SetCreateCacheRatio(value string) error {
	return set(value, func(s *Snapshot, m map[string]float64) { s.CreateCacheRatio = m })
}

// SetGroupRatio replaces the group ratios with the JSON object value; on error nothing changes.
func SetGroupRatio(value string) error {
	return set(value, func(s *Snapshot, m map[string]float64) { s.GroupRatio = m })
}

// SetModelPrice replaces the fixed per-call prices with the JSON object value; on error nothing changes.
func SetModelPrice(value string) error {
	return set(value, func(s *Snapshot, m map[string]float64) { s.ModelPrice = m })
}

// ModelRatioJSON renders the current model ratios as a JSON object string.
func ModelRatioJSON() string { return EncodeRatioMap(Current().ModelRatio) }

// CompletionRatioJSON renders the current completion ratios as a JSON object string.
func CompletionRatioJSON() string { return EncodeRatioMap(Current().CompletionRatio) }

// CacheRatioJSON renders the current cache ratios as a JSON object string.
func CacheRatioJSON() string { return EncodeRatioMap(Current().CacheRatio) }

// CreateCacheRatioJSON renders the current cache-write ratios as a JSON object string.
func CreateCacheRatioJSON() string { return EncodeRatioMap(Current().CreateCacheRatio) }

// GroupRatioJSON renders the current group ratios as a JSON object string.
func GroupRatioJSON() string { return EncodeRatioMap(Current().GroupRatio) }

// ModelPriceJSON renders the current fixed prices as a JSON object string.
func ModelPriceJSON() string { return EncodeRatioMap(Current().ModelPrice) }
