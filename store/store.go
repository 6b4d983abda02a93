package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// DefaultHistoryLimit is how many config versions the store keeps when
// Options.HistoryLimit is zero.
const DefaultHistoryLimit = 100

var (
	bucketMeta    = []byte("meta")
	bucketHistory = []byte("history")
	keyCurrent    = []byte("current")
	keyIndex      = []byte("applied_index")
)

// Options configures a Store.
type Options struct {
	// Path is the bbolt file holding the applied config.
	Path string
	// HistoryLimit is how many versions to keep (DefaultHistoryLimit if 0).
	HistoryLimit int
	// Logger receives the store's logs (slog.Default if nil).
	Logger *slog.Logger
}

// Version is one kept entry of the config history.
type Version struct {
	Version uint64    `json:"version"`
	Time    time.Time `json:"time"`
	Author  string    `json:"author,omitempty"`
	// Summary describes what changed from the previous version, for
	// example "1 added, 1 changed: +route orders, ~service users".
	Summary string `json:"summary,omitempty"`
	// Changes lists the changed entities (at most MaxHistoryChanges).
	Changes []ChangeRef `json:"changes,omitempty"`
	// RollbackOf is the version this one restored, if it was a rollback.
	RollbackOf uint64  `json:"rollback_of,omitempty"`
	Config     *Config `json:"config"`
}

// Store holds the applied config, persists it in bbolt and notifies
// watchers. It implements raft.FSM (see fsm.go).
type Store struct {
	db      *bolt.DB
	log     *slog.Logger
	limit   int
	current atomic.Pointer[Config]

	mu       sync.Mutex // serialises apply, restore and watcher registration
	applied  uint64     // highest Raft index reflected in db
	watchers []func(*Config)
}

// Open opens (creating if needed) the store's bbolt file and loads the
// last applied config, so a restarted node can serve it at once.
func Open(opts Options) (*Store, error) {
	db, err := bolt.Open(opts.Path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", opts.Path, err)
	}
	s := &Store{db: db, log: opts.Logger, limit: opts.HistoryLimit}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.limit <= 0 {
		s.limit = DefaultHistoryLimit
	}
	if err := s.load(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) load() error {
	cfg := &Config{}
	err := s.db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists(bucketHistory); err != nil {
			return err
		}
		if b := meta.Get(keyIndex); len(b) == 8 {
			s.applied = binary.BigEndian.Uint64(b)
		}
		if b := meta.Get(keyCurrent); b != nil {
			return json.Unmarshal(b, cfg)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("load store: %w", err)
	}
	s.current.Store(cfg)
	return nil
}

// Current returns the applied config; version 0 (empty) before any write.
// The result is shared and must not be modified.
func (s *Store) Current() *Config { return s.current.Load() }

// AppliedIndex returns the highest Raft log index the store reflects.
func (s *Store) AppliedIndex() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.applied
}

// Watch registers fn to be called with every newly applied config, in
// order, on the goroutine that applies it. fn must be quick and must not
// call back into the store's write path.
func (s *Store) Watch(fn func(*Config)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.watchers = append(s.watchers, fn)
}

// History returns the kept versions, oldest first.
func (s *Store) History() ([]Version, error) {
	var out []Version
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketHistory).ForEach(func(_, v []byte) error {
			var e Version
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			out = append(out, e)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	return out, nil
}

// Close closes the bbolt file.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// publish makes cfg current and tells the watchers. Callers hold s.mu.
func (s *Store) publish(cfg *Config) {
	s.current.Store(cfg)
	for _, fn := range s.watchers {
		fn(cfg)
	}
}

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}
