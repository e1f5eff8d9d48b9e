package common

import (
	"log/slog"
	"os"
)

// SetupLogger installs a text slog handler on stderr as the default logger.
// Secrets never reach it: callers log ids and names, never keys.
func SetupLogger() {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
}
