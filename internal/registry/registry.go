// Package registry is the process registry: every `staircase serve`
// announces itself — its roles, stage, address, version and throughput —
// in a NATS key-value bucket, and renews the entry every heartbeat. The
// bucket's TTL removes the entry of a process that stops renewing it (a
// crash, a SIGKILL), so the list is the processes running now, give or
// take a few seconds. The Architecture page draws them per role.
package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/staircase/staircase/internal/stageview"
)

// Defaults: how often a process renews its entry, and how long an entry
// lives without renewal.
const (
	DefaultHeartbeat = time.Second
	DefaultTTL       = 5 * time.Second
)

// Bucket is the registry's bucket for a bus namespace (empty in
// production).
func Bucket(namespace string) string {
	return strings.ToUpper(namespace) + "staircase-processes"
}

// Config is where the registry lives.
type Config struct {
	// Bucket is the key-value bucket's name (letters, digits, '-', '_').
	Bucket string
	// Replicas is how many copies a NATS cluster keeps (1 if 0).
	Replicas int
	// TTL removes an entry not renewed for this long (DefaultTTL).
	TTL time.Duration
}

// Registry reads and writes the process entries.
type Registry struct {
	kv  jetstream.KeyValue
	ttl time.Duration
}

// Open creates the bucket, or binds to it, on nc.
func Open(ctx context.Context, nc *nats.Conn, cfg Config) (*Registry, error) {
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	// Memory storage: an entry is worth nothing after a restart of the
	// bus, and the processes write it again within a heartbeat.
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      cfg.Bucket,
		Description: "staircase processes: one entry per running process, renewed every heartbeat",
		TTL:         cfg.TTL,
		History:     1,
		Storage:     jetstream.MemoryStorage,
		Replicas:    max(cfg.Replicas, 1),
	})
	if err != nil {
		return nil, fmt.Errorf("process registry bucket %s: %w", cfg.Bucket, err)
	}
	return &Registry{kv: kv, ttl: cfg.TTL}, nil
}

// entry is a process as stored.
type entry struct {
	ID        string             `json:"id"`
	Roles     []string           `json:"roles"`
	Stage     int                `json:"stage"`
	Addr      string             `json:"addr"`
	Version   string             `json:"version"`
	Started   time.Time          `json:"started"`
	Heartbeat time.Time          `json:"heartbeat"`
	Rates     map[string]float64 `json:"rates,omitempty"`
}

// key is a valid key for a process ID: KV keys take letters, digits and
// "-_=./" only.
func key(id string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '=', r == '.':
			return r
		}
		return '_'
	}, id)
}

// Put writes a process's entry, stamped with the time now.
func (r *Registry) Put(ctx context.Context, p stageview.Process) error {
	p.Heartbeat = time.Now().UTC()
	raw, err := json.Marshal(entry(p))
	if err != nil {
		return err
	}
	_, err = r.kv.Put(ctx, key(p.ID), raw)
	return err
}

// Remove deletes a process's entry (a process that stops cleanly).
func (r *Registry) Remove(ctx context.Context, id string) error {
	return r.kv.Purge(ctx, key(id))
}

// Processes returns the processes whose entries are alive, by roles then ID.
// An entry older than the TTL that the bus has not dropped yet is left out.
func (r *Registry) Processes(ctx context.Context) ([]stageview.Process, error) {
	w, err := r.kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	var out []stageview.Process
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return nil, errors.New("process registry: the watch ended")
			}
			if e == nil { // every current entry has been sent
				slices.SortFunc(out, func(a, b stageview.Process) int {
					if c := strings.Compare(strings.Join(a.Roles, ","), strings.Join(b.Roles, ",")); c != 0 {
						return c
					}
					return strings.Compare(a.ID, b.ID)
				})
				return out, nil
			}
			var en entry
			if json.Unmarshal(e.Value(), &en) != nil || time.Since(en.Heartbeat) > r.ttl {
				continue
			}
			out = append(out, stageview.Process(en))
		}
	}
}

// Announce puts the entry that describe returns every heartbeat until ctx
// ends, then removes it. A failed put is logged and tried again at the
// next heartbeat: a process that cannot reach the bus simply disappears
// from the list until it can.
func (r *Registry) Announce(ctx context.Context, every time.Duration, describe func() stageview.Process, log *slog.Logger) {
	if every <= 0 {
		every = DefaultHeartbeat
	}
	if log == nil {
		log = slog.Default()
	}
	t := time.NewTicker(every)
	defer t.Stop()
	id := ""
	failing := false
	for {
		p := describe()
		id = p.ID
		pctx, cancel := context.WithTimeout(ctx, every)
		err := r.Put(pctx, p)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			log.Warn("process registry: cannot announce this process", "err", err)
			failing = true
		case err == nil && failing:
			log.Info("process registry: announcing this process again")
			failing = false
		}
		select {
		case <-ctx.Done():
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			_ = r.Remove(rctx, id)
			cancel()
			return
		case <-t.C:
		}
	}
}
