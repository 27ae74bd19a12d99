// Command staircase runs Staircase, the order app that climbs the four
// stages of CQRS: `staircase serve` starts it, `staircase migrate` manages
// its database schema.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/uptrace/bun/migrate"

	"github.com/staircase/staircase/bff"
	"github.com/staircase/staircase/internal/app"
	"github.com/staircase/staircase/internal/sqlstore"
	"github.com/staircase/staircase/migrations"
	"github.com/staircase/staircase/stages"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "staircase:", err)
		}
		os.Exit(2)
	}
}

const usage = `usage: staircase <command> [flags]

commands:
  serve     start the app (embedded SQLite by default)
  migrate   up | status: apply or list the database migrations
  dlq       list | show ID | replay (ID|--all) [--dry-run]: stage 3's error log
  rebuild   rebuild stage 3's read database from the database of record, with a progress bar
  seed      --orders N: add N made-up orders, with their events, to the database of record
  reset     --yes [--orders N]: delete every order (write and read databases, bus), then seed N
  bench     put load on a running Staircase and report what it measured

Run 'staircase <command> -h' for the flags of a command.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stderr)
	case "migrate":
		return migrateCmd(ctx, args[1:], stdout, stderr)
	case "dlq":
		return dlqCmd(ctx, args[1:], stdout, stderr)
	case "rebuild":
		return rebuildCmd(ctx, args[1:], stdout, stderr)
	case "seed":
		return seedCmd(ctx, args[1:], stdout, stderr)
	case "reset":
		return resetCmd(ctx, args[1:], stdout, stderr)
	case "bench":
		return benchCmd(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// env returns the environment variable or def.
func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

// readAPITokens parses --api-tokens: the list itself, or @FILE holding it
// with commas or newlines between tokens and # comments.
func readAPITokens(spec string) ([]bff.APIToken, error) {
	if name, ok := strings.CutPrefix(spec, "@"); ok {
		raw, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		var items []string
		for _, line := range strings.Split(string(raw), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				items = append(items, line)
			}
		}
		spec = strings.Join(items, ",")
	}
	return bff.ParseAPITokens(spec)
}

// commaList splits a comma-separated list, leaving out empty items.
func commaList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// parseInterspersed parses flags before, between and after the words, so
// that `migrate up --data-dir X` works as well as `migrate --data-dir X up`
// (the flag package alone stops at the first word and leaves the rest
// unread). After "--" everything is a word.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var words []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return words, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(words, rest...), nil
		}
		words = append(words, rest[0])
		args = rest[1:]
	}
}

// noWords refuses words where a command takes only flags.
func noWords(fs *flag.FlagSet, words []string) error {
	if len(words) > 0 {
		fs.Usage()
		return fmt.Errorf("%s takes no arguments, got %q", fs.Name(), words)
	}
	return nil
}

// commonFlags are the flags that say where the data is.
func commonFlags(fs *flag.FlagSet, cfg *app.Config) {
	fs.StringVar(&cfg.DataDir, "data-dir", env("STAIRCASE_DATA_DIR", "data"), "folder for the SQLite files and the embedded bus (env STAIRCASE_DATA_DIR)")
	fs.StringVar(&cfg.WriteDB, "write-db", env("STAIRCASE_WRITE_DB", ""), "write database URL: postgres://… for PostgreSQL; empty for SQLite in the data dir (env STAIRCASE_WRITE_DB)")
	fs.StringVar(&cfg.ReadDB, "read-db", env("STAIRCASE_READ_DB", ""), "read database URL for stage 3: postgres://… or empty for SQLite in the data dir (env STAIRCASE_READ_DB)")
}

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	var cfg app.Config
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Addr, "addr", env("STAIRCASE_ADDR", "127.0.0.1:8080"), "listen address (env STAIRCASE_ADDR)")
	stage, err := strconv.Atoi(env("STAIRCASE_STAGE", "0"))
	if err != nil {
		return fmt.Errorf("STAIRCASE_STAGE: %w", err)
	}
	fs.IntVar(&cfg.Stage, "stage", stage, "stage active at start-up: 0, 1, 2 or 3 (env STAIRCASE_STAGE)")
	fs.StringVar(&cfg.CommandBus, "command-bus", env("STAIRCASE_COMMAND_BUS", "sync"), "stage 3's command bus: sync (apply in the request) or async (queue, answer 202 Accepted) (env STAIRCASE_COMMAND_BUS)")
	fs.StringVar(&cfg.NATSURL, "nats-url", env("STAIRCASE_NATS_URL", ""), "external NATS JetStream server, e.g. nats://127.0.0.1:4222, with credentials as nats://user:password@host or nats://token@host; empty runs one in-process with its store in the data dir (env STAIRCASE_NATS_URL)")
	fs.StringVar(&cfg.NATSCreds, "nats-creds", env("STAIRCASE_NATS_CREDS", ""), "credentials file (JWT and NKey) for --nats-url (env STAIRCASE_NATS_CREDS)")
	fs.StringVar(&cfg.NATSListen, "nats-listen", env("STAIRCASE_NATS_LISTEN", ""), "let other processes reach the embedded NATS on this host:port, as user staircase with STAIRCASE_NATS_PASSWORD; empty opens no port (env STAIRCASE_NATS_LISTEN)")
	cfg.NATSPassword = os.Getenv("STAIRCASE_NATS_PASSWORD") // not a flag: it would show in ps
	// Several Staircases sharing one NATS server (tests, demos) keep their
	// streams apart with a prefix; a deployment leaves it empty.
	cfg.BusNamespace = env("STAIRCASE_BUS_NAMESPACE", "")
	fs.Func("allowed-hosts", "comma-separated host names and addresses the app answers to (the request's Host, any port; * for any); default: localhost, 127.0.0.1, [::1] and the host of --addr when it is a specific address (env STAIRCASE_ALLOWED_HOSTS)",
		func(v string) error { cfg.AllowedHosts = commaList(v); return nil })
	cfg.AllowedHosts = commaList(os.Getenv("STAIRCASE_ALLOWED_HOSTS"))
	fs.StringVar(&cfg.AdminToken, "admin-token", env("STAIRCASE_ADMIN_TOKEN", ""), "lock the admin actions (stage switch, rebuild, error log, /api/admin) behind this token: a bearer token on the API, a sign-in in the browser; empty leaves them to clients on this machine (env STAIRCASE_ADMIN_TOKEN, which ps does not show)")
	rate, err := strconv.Atoi(env("STAIRCASE_RATE_LIMIT", "0"))
	if err != nil {
		return fmt.Errorf("STAIRCASE_RATE_LIMIT: %w", err)
	}
	fs.IntVar(&cfg.RateLimit, "rate-limit", rate, "cap each client address's JSON API requests a second, answering 429 with Retry-After beyond; 0 sets no cap (env STAIRCASE_RATE_LIMIT)")
	workshop, err := strconv.ParseBool(env("STAIRCASE_WORKSHOP", "false"))
	if err != nil {
		return fmt.Errorf("STAIRCASE_WORKSHOP: %w", err)
	}
	fs.BoolVar(&cfg.Workshop, "workshop", workshop, "turn on stage 3's workshop controls (projector delay and pause, relay pause, write database down), all off until set, on the architecture page and at /api/admin/workshop (admin actions) (env STAIRCASE_WORKSHOP)")
	roles := fs.String("roles", env("STAIRCASE_ROLES", "all"), "what this process runs: all, or some of web (pages, APIs, live streams), commands (the command bus's handler), relay (change log to event bus, one active) and projector (event bus to read database), comma-separated; split roles run stage 3 on PostgreSQL and an external NATS (env STAIRCASE_ROLES)")
	replicas, err := strconv.Atoi(env("STAIRCASE_STREAM_REPLICAS", "1"))
	if err != nil {
		return fmt.Errorf("STAIRCASE_STREAM_REPLICAS: %w", err)
	}
	fs.IntVar(&cfg.StreamReplicas, "stream-replicas", replicas, "copies a NATS cluster keeps of each stream and bucket the app makes: 3 survives the loss of a node (env STAIRCASE_STREAM_REPLICAS)")
	apiTokens := fs.String("api-tokens", env("STAIRCASE_API_TOKENS", ""), "lock the JSON APIs behind bearer tokens: token:scope+scope,… with scopes orders:read, orders:write, admin; @FILE reads them from a file, one or more a line (env STAIRCASE_API_TOKENS)")
	commonFlags(fs, &cfg)
	words, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if err := noWords(fs, words); err != nil {
		return err
	}
	if cfg.APITokens, err = readAPITokens(*apiTokens); err != nil {
		return fmt.Errorf("--api-tokens: %w", err)
	}
	if cfg.Roles, err = app.ParseRoles(*roles); err != nil {
		return fmt.Errorf("--roles: %w", err)
	}
	if cfg.StreamReplicas < 1 {
		return fmt.Errorf("--stream-replicas must be 1 or more, not %d", cfg.StreamReplicas)
	}
	if cfg.CommandBus != "sync" && cfg.CommandBus != "async" {
		return fmt.Errorf("--command-bus must be sync or async, not %q", cfg.CommandBus)
	}
	cfg.Logger = slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg.Source = stages.Source() // the architecture page and the tour show it
	slog.SetDefault(cfg.Logger)
	a, err := app.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	return a.Run(ctx)
}

func migrateCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg app.Config
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: staircase migrate [flags] up|status")
		fs.PrintDefaults()
	}
	commonFlags(fs, &cfg)
	words, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(words) != 1 || (words[0] != "up" && words[0] != "status") {
		fs.Usage()
		return fmt.Errorf("migrate needs up or status, got %q", words)
	}
	verb := words[0]
	sides := []struct {
		side      migrations.Side
		url, path string
	}{
		{migrations.Write, cfg.WriteDB, cfg.WritePath()},
		{migrations.Read, cfg.ReadDB, cfg.ReadPath()},
	}
	for _, sd := range sides {
		if err := migrateSide(ctx, verb, sd.side, sd.url, sd.path, stdout); err != nil {
			return err
		}
	}
	return nil
}

// migrateSide applies or lists one database's migrations.
func migrateSide(ctx context.Context, verb string, side migrations.Side, url, path string, stdout io.Writer) error {
	db, err := sqlstore.Open(ctx, url, path)
	if err != nil {
		return fmt.Errorf("%s database: %w", side, err)
	}
	defer db.Close()
	if verb == "up" {
		if err := sqlstore.Migrate(ctx, db, side); err != nil {
			return err
		}
	}
	m, err := sqlstore.Migrator(ctx, db, side)
	if err != nil {
		return err
	}
	ms, err := m.MigrationsWithStatus(ctx)
	if err != nil {
		return err
	}
	printStatus(stdout, string(side), ms)
	return nil
}

func printStatus(w io.Writer, side string, ms migrate.MigrationSlice) {
	fmt.Fprintf(w, "%s database: %d migrations, %d applied, %d pending\n", side, len(ms), len(ms.Applied()), len(ms.Unapplied()))
	for _, m := range ms {
		state := "pending"
		if m.IsApplied() {
			state = "applied " + m.MigratedAt.UTC().Format("2006-01-02 15:04:05")
		}
		fmt.Fprintf(w, "  %s_%s  %s\n", m.Name, m.Comment, state)
	}
}
