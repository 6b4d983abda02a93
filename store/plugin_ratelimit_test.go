package store

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestParseRateLimitConfig(t *testing.T) {
	cases := []struct {
		raw    string
		window time.Duration
		errs   []string // expected "path: message" prefixes
	}{
		{`{"limit":10,"window":"second"}`, time.Second, nil},
		{`{"limit":10,"window":"minute","key":["consumer","header:X-Api-Key"]}`, time.Minute, nil},
		{`{"limit":10,"window":"hour","key":["route","service","ip"]}`, time.Hour, nil},
		{`{"limit":10,"window":"250ms"}`, 250 * time.Millisecond, nil},
		{`{"limit":0,"window":"minute"}`, 0, []string{"limit: must be greater"}},
		{`{"limit":5}`, 0, []string{"window: is required"}},
		{`{"limit":5,"window":"fortnight"}`, 0, []string{"window: must be second"}},
		{`{"limit":5,"window":"48h"}`, 0, []string{"window: must be second"}},
		{`{"limit":5,"window":"second","key":["cookie","header:"]}`, 0, []string{"key[0]: must be", "key[1]: must be"}},
		{`{"limit":5,"window":"second","per":"ip"}`, 0, []string{"invalid rate-limit config: json: unknown field"}},
	}
	for _, c := range cases {
		t.Run(c.raw, func(t *testing.T) {
			cfg, errs := ParseRateLimitConfig(json.RawMessage(c.raw))
			if len(errs) != len(c.errs) {
				t.Fatalf("errors = %v, want %d", errs, len(c.errs))
			}
			for i, want := range c.errs {
				if !strings.HasPrefix(errs[i].String(), want) {
					t.Fatalf("error %d = %q, want prefix %q", i, errs[i], want)
				}
			}
			if len(errs) == 0 {
				if w, _ := cfg.WindowDuration(); w != c.window {
					t.Fatalf("window = %s, want %s", w, c.window)
				}
			}
		})
	}
}

func TestRateLimitConfigErrorsCarryDocumentPath(t *testing.T) {
	cfg := validConfig("rl")
	cfg.Plugins = []Plugin{{Name: PluginRateLimit, Config: json.RawMessage(`{"limit":-1,"window":"minute"}`)}}
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "plugins[0].config.limit: must be greater than 0") {
		t.Fatalf("Validate = %v", err)
	}
}
