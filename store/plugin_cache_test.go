package store

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestParseCacheConfig(t *testing.T) {
	cases := []struct {
		raw  string
		errs []string // expected "path: message" prefixes, in order
	}{
		{`{}`, nil},
		{`null`, nil},
		{`{"ttl":"30s","max_ttl":"10m","max_entry_bytes":1024,"memory_bytes":4096,"key":["consumer","header:X-Tenant"]}`, nil},
		{`{"ttl":30000}`, nil}, // milliseconds
		{`{"ttl":"-1s"}`, []string{"ttl: must not be negative"}},
		{`{"ttl":"1h","max_ttl":"1m"}`, []string{"ttl: must not exceed max_ttl"}},
		{`{"ttl":"soon"}`, []string{"ttl: invalid value"}},
		{`{"max_ttl":"-5s"}`, []string{"max_ttl: must not be negative"}},
		{`{"memory_bytes":-1}`, []string{"memory_bytes: must not be negative"}},
		{`{"memory_bytes":"lots"}`, []string{"memory_bytes: invalid value"}},
		{`{"max_entry_bytes":-1}`, []string{"max_entry_bytes: must not be negative"}},
		{`{"max_entry_bytes":2048,"memory_bytes":1024}`, []string{"max_entry_bytes: must not exceed memory_bytes"}},
		{`{"key":["ip"]}`, []string{"key[0]: must be consumer or header:<Name>"}},
		{`{"key":["query"]}`, []string{"key[0]: the query string is always part of the key"}},
		{`{"key":["header:"]}`, []string{"key[0]: invalid header name"}},
		{`{"key":["header:X Y"]}`, []string{"key[0]: invalid header name"}},
		{`{"key":["consumer","consumer"]}`, []string{"key[1]: duplicate key part"}},
		{`{"key":"consumer"}`, []string{"key: invalid value"}},
		{`{"tll":"30s","size":1}`, []string{"size: unknown field", "tll: unknown field"}},
		{`[1]`, []string{"invalid cache config: must be an object"}},
	}
	for _, c := range cases {
		t.Run(c.raw, func(t *testing.T) {
			_, errs := ParseCacheConfig(json.RawMessage(c.raw))
			if len(errs) != len(c.errs) {
				t.Fatalf("errors = %v, want %d", errs, len(c.errs))
			}
			for i, want := range c.errs {
				if !strings.HasPrefix(errs[i].String(), want) {
					t.Fatalf("error %d = %q, want prefix %q", i, errs[i], want)
				}
			}
		})
	}
}

func TestCacheConfigValuesAndDefaults(t *testing.T) {
	cfg, errs := ParseCacheConfig(json.RawMessage(`{"ttl":"30s","max_ttl":"10m","key":["consumer"]}`))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if cfg.TTL.Std() != 30*time.Second || cfg.MaxTTL.Std() != 10*time.Minute || len(cfg.Key) != 1 {
		t.Fatalf("cfg = %+v", cfg)
	}
	if cfg.EffectiveMemoryBytes() != DefaultCacheMemoryBytes || cfg.EffectiveMaxEntryBytes() != DefaultCacheMaxEntryBytes {
		t.Fatalf("defaults: memory %d, entry %d", cfg.EffectiveMemoryBytes(), cfg.EffectiveMaxEntryBytes())
	}
	small := CacheConfig{MemoryBytes: 1000}
	if small.EffectiveMaxEntryBytes() != 1000 {
		t.Fatalf("the default entry cap is not bounded by the memory cap: %d", small.EffectiveMaxEntryBytes())
	}
}

func TestCacheConfigErrorsCarryDocumentPath(t *testing.T) {
	cfg := validConfig("c")
	cfg.Plugins = []Plugin{{Name: PluginCache, Config: json.RawMessage(`{"ttl":"1s","colour":"blue"}`)}}
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "plugins[0].config.colour: unknown field") {
		t.Fatalf("Validate = %v", err)
	}
	cfg.Plugins[0].Config = json.RawMessage(`{"ttl":"1s","key":["consumer"]}`)
	if err := cfg.Validate(); err != nil {
		t.Fatalf("valid cache plugin rejected: %v", err)
	}
}
