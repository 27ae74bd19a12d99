package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/app"
	"github.com/staircase/staircase/internal/messaging"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/stages/stage3/commandbus"
	"github.com/staircase/staircase/stages/stage3/errorlog"
	"github.com/staircase/staircase/stages/stage3/projection"
)

// dlqStdin and dlqInteractive are where `dlq replay --all` asks for
// confirmation, and whether someone is there to answer; variables so that
// tests can play the operator.
var (
	dlqStdin       io.Reader = os.Stdin
	dlqInteractive           = func() bool {
		st, err := os.Stdin.Stat()
		return err == nil && st.Mode()&os.ModeCharDevice != 0
	}
)

const dlqUsage = `usage: staircase dlq [flags] <list|show ID|replay (ID|--all)|discard ID>

Stage 3's error log (dead letters): the events the relay, the projector or a
rebuild parked (one they cannot read, or that failed its retries), the later
events of the same orders held behind them, and the commands the command bus
set aside (one that does not decode, or kept failing).

  list [--status parked|held|replayed|discarded]   the entries, oldest first
  show ID                                one entry with its envelope
  replay ID [--dry-run]                  apply again the parked and held events of entry ID's order;
                                         for a command, send it to the command bus again (needs --nats-url)
  replay --all [--dry-run] [--yes]       the same for every entry in the log; asks first
  discard ID                             give up on entry ID; an event's order is synced from the
                                         database of record and the events held behind it replayed

A dry run changes nothing and says what would happen.

flags:
`

// dlqCmd lists, shows and replays stage 3's error log, in the read
// database given by the usual flags.
func dlqCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg app.Config
	fs := flag.NewFlagSet("dlq", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, dlqUsage)
		fs.PrintDefaults()
	}
	commonFlags(fs, &cfg)
	status := fs.String("status", "", "list: only entries with this status: parked, held, replayed or discarded")
	dry := fs.Bool("dry-run", false, "replay: change nothing, say what would happen")
	all := fs.Bool("all", false, "replay: every order in the error log")
	yes := fs.Bool("yes", false, "replay --all: do not ask for confirmation (needed when stdin is not a terminal)")
	words, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(words) == 0 {
		fs.Usage()
		return errors.New("dlq needs list, show or replay")
	}
	verb, rest := words[0], words[1:]
	var id int64
	switch verb {
	case "list":
		if len(rest) > 0 {
			return fmt.Errorf("dlq list takes no arguments, not %q", strings.Join(rest, " "))
		}
	case "show", "replay", "discard":
		if verb == "replay" && *all {
			if len(rest) > 0 {
				return errors.New("dlq replay: give an entry ID or --all, not both")
			}
			break
		}
		if len(rest) != 1 && verb == "replay" {
			return errors.New("dlq replay needs one entry ID, or --all")
		}
		if len(rest) != 1 {
			return fmt.Errorf("dlq %s needs one entry ID", verb)
		}
		if id, err = strconv.ParseInt(rest[0], 10, 64); err != nil || id <= 0 {
			return fmt.Errorf("dlq %s: %q is not an entry ID (a whole number above 0)", verb, rest[0])
		}
	default:
		fs.Usage()
		return fmt.Errorf("dlq: unknown command %q", verb)
	}

	read, err := app.OpenRead(ctx, cfg)
	if err != nil {
		return err
	}
	defer read.Close()
	var write *bun.DB
	if verb == "discard" {
		if write, err = app.OpenWrite(ctx, cfg); err != nil {
			return err
		}
		defer write.Close()
	}
	var requeue errorlog.Requeuer
	if verb == "replay" && cfg.NATSURL != "" {
		nc, err := messaging.Connect(cfg.NATSURL)
		if err != nil {
			return fmt.Errorf("connect to NATS: %w", err)
		}
		defer nc.Close()
		pub, err := messaging.NewPublisher(nc, messaging.PublisherConfig{})
		if err != nil {
			return err
		}
		defer pub.Close()
		requeue = busRequeuer{pub: pub, topic: cfg.BusNamespace + messaging.CommandsTopic}
	}
	log := errorlog.New(read, write, requeue, nil)

	switch verb {
	case "list":
		entries, err := log.List(ctx, *status)
		if err != nil {
			return err
		}
		printEntries(stdout, entries)
		return nil
	case "show":
		e, err := log.Entry(ctx, id)
		if err != nil {
			return err
		}
		printEntry(stdout, e)
		return nil
	case "discard":
		report, err := log.Discard(ctx, id)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Discarded entry %d.\n", id)
		if len(report.Steps) > 0 {
			printReport(stdout, report)
		}
		return nil
	}
	if *all && !*dry {
		pending, err := pendingCount(ctx, log)
		if err != nil {
			return err
		}
		if pending == 0 {
			fmt.Fprintln(stdout, "The error log has nothing to replay.")
			return nil
		}
		if !*yes {
			if !dlqInteractive() {
				return fmt.Errorf("replay --all would replay %d entries: pass --yes to confirm when stdin is not a terminal", pending)
			}
			fmt.Fprintf(stdout, "Replay %d entries? [y/N] ", pending)
			answer, _ := bufio.NewReader(dlqStdin).ReadString('\n')
			if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
				fmt.Fprintln(stdout, "Nothing replayed.")
				return nil
			}
		}
	}
	report, err := log.Replay(ctx, id, *dry)
	if err != nil {
		return err
	}
	printReport(stdout, report)
	if !report.DryRun && report.Failed > 0 {
		return fmt.Errorf("%d events still fail; they stay parked", report.Failed)
	}
	return nil
}

// busRequeuer sends a command entry to the command bus again from the CLI.
type busRequeuer struct {
	pub   message.Publisher
	topic string
}

func (r busRequeuer) Requeue(ctx context.Context, commandID uuid.UUID, orderID order.ID, typ string, envelope []byte) error {
	return commandbus.Requeue(ctx, r.pub, r.topic, commandID, orderID, typ, envelope)
}

func pendingCount(ctx context.Context, log *errorlog.Log) (int, error) {
	entries, err := log.List(ctx, "")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		if e.Status == projection.StatusParked || e.Status == projection.StatusHeld {
			n++
		}
	}
	return n, nil
}

func idLabel(e projection.ErrorEntry) string {
	if e.Kind == projection.KindCommand {
		return "Command"
	}
	return "Event"
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }

// printEntries prints the entries as a table, one line each.
func printEntries(w io.Writer, entries []projection.ErrorEntry) {
	if len(entries) == 0 {
		fmt.Fprintln(w, "The error log is empty.")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tORDER\tVERSION\tTYPE\tATTEMPTS\tLAST FAILED (UTC)\tERROR")
	for _, e := range entries {
		version, typ := "v"+strconv.Itoa(e.OrderVersion), e.Type
		if e.Kind == projection.KindCommand {
			version, typ = "-", e.Type+" command"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", e.ID, e.Status, e.OrderID, version, typ, e.Attempts,
			stamp(e.LastFailedAt), oneLine(e.Error, 80))
	}
	tw.Flush()
}

// printEntry prints one entry and its envelope, indented if it is JSON.
func printEntry(w io.Writer, e projection.ErrorEntry) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, kv := range [][2]string{
		{"Entry", strconv.FormatInt(e.ID, 10)}, {"Kind", e.Kind}, {"Status", e.Status}, {idLabel(e), e.EventID.String()},
		{"Order", e.OrderID.String()}, {"Version", "v" + strconv.Itoa(e.OrderVersion)}, {"Type", e.Type},
		{"Attempts", strconv.Itoa(e.Attempts)}, {"First failed", stamp(e.FirstFailedAt) + " UTC"},
		{"Last failed", stamp(e.LastFailedAt) + " UTC"}, {"Error", e.Error},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", kv[0], kv[1])
	}
	if err := errorlog.Readable(e); err != nil && e.Kind == projection.KindEvent {
		fmt.Fprintf(tw, "Unreadable:\t%v\n", err)
	}
	tw.Flush()
	fmt.Fprintln(w, "Envelope:")
	var b bytes.Buffer
	if json.Indent(&b, []byte(e.Envelope), "", "  ") == nil {
		fmt.Fprintln(w, b.String())
	} else {
		fmt.Fprintln(w, e.Envelope)
	}
}

// printReport prints a replay's steps and a summary line.
func printReport(w io.Writer, r projection.ReplayReport) {
	if len(r.Steps) == 0 {
		fmt.Fprintln(w, "Nothing to replay.")
		return
	}
	for _, s := range r.Steps {
		fmt.Fprintf(w, "#%d  order %s  %s\n", s.EntryID, s.OrderID, s.Text)
	}
	what := "replayed"
	if r.DryRun {
		what = "dry run, nothing changed"
	}
	fmt.Fprintf(w, "%s: %d applied, %d skipped, %d failed, %d held\n", what, r.Applied, r.Skipped, r.Failed, r.Waiting)
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n-1] + "…"
	}
	return s
}
