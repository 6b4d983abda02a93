package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tollgate/tollgate/admin"
	"github.com/tollgate/tollgate/store"
)

// initialWrites applies, at most once across the cluster, the seed
// config (if the cluster has no config: compare-and-set on version 0) and
// the first admin token (if the cluster has no tokens: with the seed, or
// as its own compare-and-set write). It retries until both are settled.
func (a *Agent) initialWrites(ctx context.Context, seed *store.Config) {
	var tok *store.AdminToken
	if a.cfg.AdminToken != "" {
		tok = &store.AdminToken{Name: admin.BootstrapTokenName, Role: store.RoleAdmin, Hash: store.HashToken(a.cfg.AdminToken)}
	}
	for ctx.Err() == nil {
		cur := a.store.Current()
		cmd, what := initialCommand(cur, seed, "seed:"+filepath.Base(a.cfg.SeedConfig), tok)
		if cmd == nil {
			return
		}
		data, err := cmd.Encode()
		if err != nil {
			a.log.Error("encode initial write", "err", err)
			return
		}
		res, err := a.node.Apply(ctx, data)
		if err != nil {
			a.log.Debug(what+": waiting for a leader", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		v, err := store.DecodeResult(res)
		a.log.Info(what, "version", v, "err", err)
		if err != nil && !errors.Is(err, store.ErrVersionMismatch) {
			return
		}
	}
}

// initialCommand is the next initial write, or nil when none is needed.
func initialCommand(cur, seed *store.Config, seedAuthor string, tok *store.AdminToken) (*store.Command, string) {
	needSeed := seed != nil && cur.Version == 0
	needToken := tok != nil && len(cur.AdminTokens) == 0
	base := cur.Version
	cmd := &store.Command{Type: store.CmdPutConfig, IfVersion: &base, Time: time.Now().UTC()}
	switch {
	case needSeed:
		cmd.Config, cmd.Author = seed.Clone(), seedAuthor
		what := "seed config"
		if needToken {
			cmd.Config.AdminTokens = append(cmd.Config.AdminTokens, *tok)
			what = "seed config and first admin token"
		}
		return cmd, what
	case needToken:
		cmd.Config, cmd.Author = cur.Clone(), admin.BootstrapTokenName
		cmd.Config.AdminTokens = []store.AdminToken{*tok}
		return cmd, "first admin token"
	}
	return nil, ""
}

// seedConfig reads and validates the seed config file, if any.
func (a *Agent) seedConfig() (*store.Config, error) {
	path := a.cfg.SeedConfig
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read seed config: %w", err)
	}
	ct := "application/json"
	if ext := strings.ToLower(filepath.Ext(path)); ext == ".yaml" || ext == ".yml" {
		ct = "application/yaml"
	}
	cfg, err := store.Decode(data, ct)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		return nil, err
	}
	return cfg, nil
}
