package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"
)

var _ raft.FSM = (*Store)(nil)

// Apply applies one committed Raft log entry and returns the encoded
// result (see DecodeResult). Entries at or below the index already
// persisted in bbolt are skipped: they were applied before a restart.
func (s *Store) Apply(l *raft.Log) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l.Index <= s.applied {
		return encodeResult(result{Version: s.Current().Version})
	}
	var cmd Command
	if err := json.Unmarshal(l.Data, &cmd); err != nil {
		return s.reject(l.Index, result{Code: codeBadCommand, Message: err.Error()})
	}
	switch cmd.Type {
	case CmdPutConfig:
		return s.applyPutConfig(l.Index, cmd)
	default:
		return s.reject(l.Index, result{Code: codeUnknown, Message: fmt.Sprintf("%q", cmd.Type)})
	}
}

// reject records that index was applied without changing the config.
func (s *Store) reject(index uint64, r result) []byte {
	s.applied = index
	r.Version = s.Current().Version
	return encodeResult(r)
}

func (s *Store) applyPutConfig(index uint64, cmd Command) []byte {
	cur := s.Current()
	if cmd.IfVersion != nil && *cmd.IfVersion != cur.Version {
		return s.reject(index, result{Code: codeVersionMismatch,
			Message: fmt.Sprintf("expected version %d, current is %d", *cmd.IfVersion, cur.Version)})
	}
	if cmd.Config == nil {
		return s.reject(index, result{Code: codeInvalid, Fields: []FieldError{{Message: "config is required"}}})
	}
	if err := cmd.Config.Validate(); err != nil {
		ve := err.(*ValidationError)
		return s.reject(index, result{Code: codeInvalid, Message: err.Error(), Fields: ve.Errors})
	}
	next := *cmd.Config
	next.Version = cur.Version + 1
	entry := newHistoryEntry(cur, &next, cmd)
	if err := s.persist(index, entry); err != nil {
		// The log entry stays committed; a restart re-applies it.
		s.log.Error("persist applied config", "index", index, "err", err)
	}
	s.applied = index
	s.publish(&next)
	return encodeResult(result{Version: next.Version})
}

// persist writes the new current config, its history entry and the
// applied index in one bbolt transaction, trimming old history.
func (s *Store) persist(index uint64, e Version) error {
	cfgJSON, err := json.Marshal(e.Config)
	if err != nil {
		return fmt.Errorf("encode config: %w", err)
	}
	entryJSON, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode history entry: %w", err)
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if err := meta.Put(keyCurrent, cfgJSON); err != nil {
			return err
		}
		if err := meta.Put(keyIndex, u64(index)); err != nil {
			return err
		}
		hist := tx.Bucket(bucketHistory)
		if err := hist.Put(u64(e.Version), entryJSON); err != nil {
			return err
		}
		return trimHistory(hist, s.limit)
	})
}

func trimHistory(hist *bolt.Bucket, limit int) error {
	// Count with a cursor: Bucket.Stats reads committed pages only and
	// misses the entry this transaction just put. Collect the keys before
	// deleting: Cursor.Delete then Next skips entries in a bucket this
	// transaction has modified.
	var keys [][]byte
	c := hist.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for i := 0; i < len(keys)-limit; i++ {
		if err := hist.Delete(keys[i]); err != nil {
			return err
		}
	}
	return nil
}

// snapshotData is the FSM state as written to a Raft snapshot.
type snapshotData struct {
	Index   uint64    `json:"index"`
	Current *Config   `json:"current"`
	History []Version `json:"history"`
}

// Snapshot captures the current state for Raft log compaction.
func (s *Store) Snapshot() (raft.FSMSnapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	hist, err := s.History()
	if err != nil {
		return nil, err
	}
	return &fsmSnapshot{data: snapshotData{Index: s.applied, Current: s.Current(), History: hist}}, nil
}

// Restore replaces the state with a snapshot's, unless the local bbolt
// file already reflects a later index (a restart restores the last
// snapshot, which the persisted state already contains).
func (s *Store) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var snap snapshotData
	if err := json.NewDecoder(rc).Decode(&snap); err != nil {
		return fmt.Errorf("decode snapshot: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if snap.Index <= s.applied {
		s.log.Info("snapshot older than local state; keeping local", "snapshot_index", snap.Index, "applied", s.applied)
		return nil
	}
	if snap.Current == nil {
		snap.Current = &Config{}
	}
	if err := s.replace(snap); err != nil {
		return err
	}
	s.applied = snap.Index
	s.publish(snap.Current)
	return nil
}

func (s *Store) replace(snap snapshotData) error {
	cfgJSON, err := json.Marshal(snap.Current)
	if err != nil {
		return fmt.Errorf("encode config: %w", err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucketHistory); err != nil {
			return err
		}
		hist, err := tx.CreateBucket(bucketHistory)
		if err != nil {
			return err
		}
		for _, e := range snap.History {
			b, err := json.Marshal(e)
			if err != nil {
				return err
			}
			if err := hist.Put(u64(e.Version), b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if err := meta.Put(keyCurrent, cfgJSON); err != nil {
			return err
		}
		return meta.Put(keyIndex, u64(snap.Index))
	})
	if err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	return nil
}

type fsmSnapshot struct{ data snapshotData }

func (f *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := json.NewEncoder(sink).Encode(f.data); err != nil {
		sink.Cancel()
		return fmt.Errorf("write snapshot: %w", err)
	}
	return sink.Close()
}

func (f *fsmSnapshot) Release() {}
