package app

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/staircase/staircase/bff"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore"
	"github.com/staircase/staircase/stages/stage3"
)

// Role is a part of Staircase that a process runs. A process runs every
// role by default; scaled out, each role runs in processes of its own,
// sharing PostgreSQL and a NATS server (or cluster).
type Role string

// The roles.
const (
	// RoleWeb serves the pages, the JSON APIs and the live streams; its
	// queries read the read database; its commands are applied in the
	// request (sync) or queued on the command bus (async).
	RoleWeb Role = "web"
	// RoleCommands applies the commands queued on the command bus.
	RoleCommands Role = "commands"
	// RoleRelay publishes the change log to the event bus; one relay is
	// active at a time (a PostgreSQL advisory lock), the others wait.
	RoleRelay Role = "relay"
	// RoleProjector applies the events to the read database; the
	// projectors share one durable consumer, which hands each event to one.
	RoleProjector Role = "projector"
)

// AllRoles are the roles in the order they are listed.
var AllRoles = []Role{RoleWeb, RoleCommands, RoleRelay, RoleProjector}

// ParseRoles reads a comma-separated list of roles ("all" or empty: every
// role).
func ParseRoles(spec string) ([]Role, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" || spec == "all" {
		return nil, nil
	}
	var out []Role
	for _, item := range strings.Split(spec, ",") {
		r := Role(strings.TrimSpace(item))
		switch {
		case !slices.Contains(AllRoles, r):
			return nil, fmt.Errorf("unknown role %q: the roles are web, commands, relay and projector (or all)", item)
		case slices.Contains(out, r):
			return nil, fmt.Errorf("role %s is listed twice", r)
		}
		out = append(out, r)
	}
	if len(out) == len(AllRoles) {
		return nil, nil
	}
	return out, nil
}

// has tells whether the process runs r.
func (c Config) has(r Role) bool { return len(c.Roles) == 0 || slices.Contains(c.Roles, r) }

// split tells whether the process runs some of the roles only, the others
// running elsewhere.
func (c Config) split() bool { return len(c.Roles) > 0 && len(c.Roles) < len(AllRoles) }

// roleNames are the process's roles, for the registry and the logs.
func (c Config) roleNames() []string {
	var out []string
	for _, r := range AllRoles {
		if c.has(r) {
			out = append(out, string(r))
		}
	}
	return out
}

// noWriteDB tells whether the process opens no write database: a web
// process queueing commands on the bus needs none.
func (c Config) noWriteDB() bool {
	return c.split() && !c.has(RoleCommands) && !c.has(RoleRelay) && !c.has(RoleProjector) && c.CommandBus == stage3.CommandBusAsync
}

// validateRoles refuses a role set that cannot work.
func (c Config) validateRoles() error {
	if !c.split() {
		if c.StreamReplicas > 1 && c.NATSURL == "" {
			return fmt.Errorf("--stream-replicas %d needs a NATS cluster (--nats-url): the embedded NATS is one node", c.StreamReplicas)
		}
		return nil
	}
	roles := strings.Join(c.roleNames(), ",")
	var errs []error
	if c.Stage != 3 {
		errs = append(errs, fmt.Errorf("--roles %s: only stage 3 splits into roles (its write side, relay, projector and read side are apart); run stage %d with every role", roles, c.Stage))
	}
	if c.NATSURL == "" {
		errs = append(errs, fmt.Errorf("--roles %s: the processes meet on the bus, and the embedded NATS is this process's alone: set --nats-url", roles))
	}
	// SQLite files belong to one process (the data dir is locked), so the
	// processes of a split share PostgreSQL.
	needWrite := c.has(RoleCommands) || c.has(RoleRelay) || c.has(RoleProjector) || (c.has(RoleWeb) && c.CommandBus != stage3.CommandBusAsync)
	if needWrite && !sqlstore.IsPostgres(c.WriteDB) {
		why := "the roles commands, relay and projector use the database of record"
		if c.has(RoleWeb) && !c.has(RoleCommands) && !c.has(RoleRelay) && !c.has(RoleProjector) {
			why = "web with --command-bus=sync applies commands in the request (with --command-bus=async a web process needs no write database)"
		}
		errs = append(errs, fmt.Errorf("--roles %s needs --write-db postgres://…: %s, shared by the processes; SQLite files are one process's", roles, why))
	}
	if c.WriteDB != "" && !sqlstore.IsPostgres(c.WriteDB) && c.noWriteDB() {
		errs = append(errs, fmt.Errorf("--roles %s: --write-db must be a postgres:// URL shared with the other processes, or empty", roles))
	}
	if !sqlstore.IsPostgres(c.ReadDB) {
		errs = append(errs, fmt.Errorf("--roles %s needs --read-db postgres://…: the projectors write it and the web processes read it; SQLite files are one process's", roles))
	}
	return errors.Join(errs...)
}

// workers are the stage 3 workers the process runs.
func (c Config) workers() []stage3.Worker {
	if !c.split() {
		return nil
	}
	out := []stage3.Worker{}
	for r, w := range map[Role]stage3.Worker{RoleCommands: stage3.WorkerCommands, RoleRelay: stage3.WorkerRelay, RoleProjector: stage3.WorkerProjector} {
		if c.has(r) {
			out = append(out, w)
		}
	}
	return out
}

// openWriteFor opens the write database as the process's roles need it: a
// web process queueing its commands on the bus never writes to it, and
// does not connect to it for its commands. Given --write-db, it connects
// when asked what became of a queued command (its status), for readiness
// or for the error log, without migrating (the write side's processes
// do). Without, those answer that the write database cannot be reached.
func openWriteFor(ctx context.Context, cfg Config) (*bun.DB, error) {
	if !cfg.noWriteDB() {
		return OpenWrite(ctx, cfg)
	}
	if cfg.WriteDB == "" {
		return bun.NewDB(sql.OpenDB(noDatabase{}), pgdialect.New()), nil
	}
	sqldb, err := sql.Open("pgx", cfg.WriteDB)
	if err != nil {
		return nil, fmt.Errorf("write database: %w", err)
	}
	sqldb.SetMaxOpenConns(4)
	return bun.NewDB(sqldb, pgdialect.New()), nil
}

// noDatabase is the write database of a web process given none: every use
// fails, saying why.
type noDatabase struct{}

var errNoWriteDB = errors.New("this process has no write database: it runs the web role with the async command bus (give it --write-db to read command statuses)")

func (noDatabase) Connect(context.Context) (driver.Conn, error) { return nil, errNoWriteDB }
func (noDatabase) Driver() driver.Driver                        { return noDriver{} }

type noDriver struct{}

func (noDriver) Open(string) (driver.Conn, error) { return nil, errNoWriteDB }

// splitStage is stage 3 in a process that runs some of its roles.
//
// Its read side changes in the processes that run the projector (events
// applied) or the command handler (commands rejected), while the live
// pages wait in the web processes: the changed orders travel between them
// on a NATS subject. And entering the stage at start-up — bringing the
// read database up to date — is the projectors' work.
type splitStage struct {
	*stage3.Stage
	cfg Config
	nc  *nats.Conn
}

// changesSubject carries the IDs of the orders whose read side changed.
func (s splitStage) changesSubject() string {
	return s.cfg.BusNamespace + "staircase.read-side-changed"
}

// NotifyChanges tells changed, in a web process, of the orders whose read
// side changed in any process; the changes made here are sent to them.
func (s splitStage) NotifyChanges(changed func(order.ID)) {
	subject := s.changesSubject()
	if s.cfg.has(RoleWeb) {
		if _, err := s.nc.Subscribe(subject, func(m *nats.Msg) {
			if id, err := order.ParseID(string(m.Data)); err == nil {
				changed(id)
			}
		}); err != nil {
			s.cfg.Logger.Warn("live pages will not be told of changes made by other processes", "err", err)
		}
	}
	s.Stage.NotifyChanges(func(id order.ID) {
		// At most once, like any notification: a page that misses one
		// still reads the read side when it reloads.
		_ = s.nc.Publish(subject, []byte(id.String()))
	})
}

// Enter leaves the read database to the projectors in a process that runs
// none.
func (s splitStage) Enter(ctx context.Context, progress func(done, total int64)) error {
	if !s.cfg.has(RoleProjector) {
		return nil
	}
	return s.Stage.Enter(ctx, progress)
}

// RebuildReadDatabase is refused in a split: a rebuild holds the
// projector back while it swaps the tables in, and the projectors run in
// other processes, which it cannot hold.
func (s splitStage) RebuildReadDatabase(context.Context, func(string, int)) error {
	return order.Errorf(order.ECONFLICT, "the read database cannot be rebuilt while its projectors run in other processes: "+
		"stop the projector processes, run `staircase rebuild` with the same --write-db and --read-db, and start them again")
}

// The ports of stage 3 that the split stage passes on.
var (
	_ bff.Enterer        = splitStage{}
	_ bff.Rebuilder      = splitStage{}
	_ bff.Readier        = splitStage{}
	_ bff.ChangeNotifier = splitStage{}
	_ bff.Reporter       = splitStage{}
	_ bff.ErrorLog       = splitStage{}
	_ bff.Workshop       = splitStage{}
)
