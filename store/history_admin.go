package store

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// MaxHistoryChanges caps the entity references kept per history entry;
// the summary still counts every change.
const MaxHistoryChanges = 100

// newHistoryEntry builds the history entry recorded when next replaces
// cur. It depends only on the two documents and the command, so every node
// records the same entry.
func newHistoryEntry(cur, next *Config, cmd Command) Version {
	d := DiffConfigs(cur, next)
	summary := d.Summary()
	if cmd.RollbackOf != 0 {
		summary = fmt.Sprintf("rollback to version %d: %s", cmd.RollbackOf, summary)
	}
	return Version{
		Version: next.Version, Time: cmd.Time, Author: cmd.Author,
		Summary: summary, Changes: d.Refs(MaxHistoryChanges), RollbackOf: cmd.RollbackOf,
		Config: next,
	}
}

// VersionAt returns the kept history entry of version v, or an error
// wrapping ErrVersionNotKept.
func (s *Store) VersionAt(v uint64) (*Version, error) {
	var e *Version
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketHistory).Get(u64(v))
		if b == nil {
			return nil
		}
		e = &Version{}
		return json.Unmarshal(b, e)
	})
	if err != nil {
		return nil, fmt.Errorf("read version %d: %w", v, err)
	}
	if e == nil {
		return nil, fmt.Errorf("version %d: %w", v, ErrVersionNotKept)
	}
	return e, nil
}

// HistorySummaries returns the kept versions, newest first, without their
// documents (Config is nil).
func (s *Store) HistorySummaries() ([]Version, error) {
	var out []Version
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketHistory).Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			var e Version
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			e.Config = nil
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	return out, nil
}
