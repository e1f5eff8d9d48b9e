package common

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
)

// LoadOrCreateSecret returns the secret stored at path, creating a random
// one (mode 0600) on first start, so sessions and channel keys survive a
// restart without the operator having to set SESSION_SECRET.
func LoadOrCreateSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if s := strings.TrimSpace(string(b)); s != "" {
			return s, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	s := RandomString(48)
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return "", err
	}
	return s, nil
}
