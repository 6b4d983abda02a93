package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// CommandType names what a replicated command does.
type CommandType string

// The command types the FSM applies.
const (
	// CmdPutConfig replaces the whole config document.
	CmdPutConfig CommandType = "put_config"
)

// Command is the typed envelope replicated through the Raft log. Everything
// Apply needs travels inside it (time, author), so applying a command gives
// the same result on every node.
type Command struct {
	Type CommandType `json:"type"`
	// IfVersion, when set, makes the write compare-and-set: it applies only
	// if the current version equals *IfVersion.
	IfVersion *uint64   `json:"if_version,omitempty"`
	Config    *Config   `json:"config,omitempty"`
	Time      time.Time `json:"time"`
	Author    string    `json:"author,omitempty"`
	// RollbackOf marks a write that restores an older version's document;
	// it travels into the history entry.
	RollbackOf uint64 `json:"rollback_of,omitempty"`
}

// Encode serialises the command for the Raft log.
func (c Command) Encode() ([]byte, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode command: %w", err)
	}
	return b, nil
}

// Sentinel errors returned by applying commands.
var (
	// ErrVersionMismatch means a compare-and-set write named a version
	// that is no longer current.
	ErrVersionMismatch = errors.New("version mismatch")
	// ErrUnknownCommand means the log held a command this binary does not know.
	ErrUnknownCommand = errors.New("unknown command")
	// ErrBadCommand means a log entry could not be decoded.
	ErrBadCommand = errors.New("malformed command")
	// ErrVersionNotKept means a config version is not (or no longer) in
	// the kept history.
	ErrVersionNotKept = errors.New("version not in the kept history")
)

// result is what Apply returns, encoded, to the node that proposed the
// command; it crosses the network when a follower forwarded the write.
type result struct {
	Version uint64       `json:"version"`
	Code    string       `json:"code,omitempty"`
	Message string       `json:"message,omitempty"`
	Fields  []FieldError `json:"fields,omitempty"`
}

const (
	codeVersionMismatch = "version_mismatch"
	codeInvalid         = "invalid_config"
	codeUnknown         = "unknown_command"
	codeBadCommand      = "bad_command"
)

func encodeResult(r result) []byte {
	b, _ := json.Marshal(r) // a result always encodes
	return b
}

// DecodeResult turns the bytes returned by applying a command into the new
// config version, or into the error the FSM reported: ErrVersionMismatch,
// a *ValidationError, ErrUnknownCommand or ErrBadCommand.
func DecodeResult(b []byte) (uint64, error) {
	var r result
	if err := json.Unmarshal(b, &r); err != nil {
		return 0, fmt.Errorf("decode apply result: %w", err)
	}
	switch r.Code {
	case "":
		return r.Version, nil
	case codeVersionMismatch:
		return r.Version, fmt.Errorf("%w: %s", ErrVersionMismatch, r.Message)
	case codeInvalid:
		return r.Version, &ValidationError{Errors: r.Fields}
	case codeUnknown:
		return r.Version, fmt.Errorf("%w: %s", ErrUnknownCommand, r.Message)
	default:
		return r.Version, fmt.Errorf("%w: %s", ErrBadCommand, r.Message)
	}
}
