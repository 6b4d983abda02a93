package cache

import (
	"sort"
	"sync"
	"time"
)

// Registry keeps the Store of every cache plugin instance across config
// versions, by plugin id, so that a config change does not empty the
// caches. Each instance has its own Store and memory cap. Create one per
// process and share it between config versions (plugins.Builder holds
// it) and with the admin API, which purges through it. It is safe for
// concurrent use.
type Registry struct {
	now func() time.Time // the clock of every policy; tests replace it

	mu     sync.Mutex
	stores map[string]*shared
}

// shared is one instance's Store with the policies that use it.
type shared struct {
	store *Store
	spec  string // the key parts the store's keys were built with
	refs  int    // policies built and not yet closed
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry {
	return &Registry{now: time.Now, stores: map[string]*shared{}}
}

// acquire returns the Store of plugin id, creating it or setting its cap
// to limit. A change of the key parts (spec) starts a new Store: keys of
// the old one could collide with the new ones. Each acquire is matched
// by a release.
func (r *Registry) acquire(id, spec string, limit int64) *Store {
	r.mu.Lock()
	defer r.mu.Unlock()
	sh := r.stores[id]
	if sh == nil || sh.spec != spec {
		sh = &shared{store: NewStore(limit), spec: spec}
		r.stores[id] = sh
	} else {
		sh.store.SetLimit(limit)
	}
	sh.refs++
	return sh.store
}

// release forgets a policy of plugin id that used s; the Store is
// dropped when no policy uses it any more (the plugin left the config).
func (r *Registry) release(id string, s *Store) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sh := r.stores[id]
	if sh == nil || sh.store != s {
		return // replaced by a Store with other key parts
	}
	if sh.refs--; sh.refs <= 0 {
		delete(r.stores, id)
	}
}

// Store returns the Store of plugin id (store.PluginID), or nil.
func (r *Registry) Store(id string) *Store {
	r.mu.Lock()
	defer r.mu.Unlock()
	if sh := r.stores[id]; sh != nil {
		return sh.store
	}
	return nil
}

// IDs returns the plugin ids that have a Store, sorted.
func (r *Registry) IDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]string, 0, len(r.stores))
	for id := range r.stores {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// all returns every Store.
func (r *Registry) all() []*Store {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Store, 0, len(r.stores))
	for _, sh := range r.stores {
		out = append(out, sh.store)
	}
	return out
}
