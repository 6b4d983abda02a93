package cluster

import (
	"bytes"
	"context"
	"io"
	"log"
	"log/slog"

	"github.com/hashicorp/go-hclog"
)

// levelWriter turns the "[LEVEL] message" lines that memberlist and
// hashicorp/raft's hclog write into slog records.
type levelWriter struct {
	log *slog.Logger
	min slog.Level
}

var _ io.Writer = levelWriter{}

func (w levelWriter) Write(p []byte) (int, error) {
	line := bytes.TrimSpace(p)
	level := slog.LevelInfo
	for tag, l := range map[string]slog.Level{"[DEBUG]": slog.LevelDebug, "[TRACE]": slog.LevelDebug - 4,
		"[WARN]": slog.LevelWarn, "[ERR]": slog.LevelError, "[ERROR]": slog.LevelError} {
		if i := bytes.Index(line, []byte(tag)); i >= 0 {
			level = l
			line = bytes.TrimSpace(line[i+len(tag):])
			break
		}
	}
	if level >= w.min {
		w.log.Log(context.Background(), level, string(line))
	}
	return len(p), nil
}

func newStdLogger(l *slog.Logger) *log.Logger {
	return log.New(levelWriter{log: l, min: slog.LevelInfo}, "", 0)
}

func newHCLogger(l *slog.Logger, name string) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:            name,
		Level:           hclog.Info,
		Output:          levelWriter{log: l, min: slog.LevelInfo},
		DisableTime:     true,
		IncludeLocation: false,
	})
}
