package sim

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// Run is `linkdesk sim [--addr 127.0.0.1:PORT] [--workflow-delay 1.5s]
// [--account-delay 1s] [--cors-origin ORIGIN]... [--verification-review]
// [--test-driver] [--log-level info] [--scenario ID] [--state FILE]`: it
// starts the
// simulator alone (its state in memory, or kept in FILE across runs: see
// Options.StateFile), prints its base URLs, the credentials to use, the origins
// browser clients may call it from, the seeded customers and the environment
// variables that point linkdesk at it, and serves until SIGINT/SIGTERM or
// until ctx is done.
//
// Exit codes: 0 after a clean stop, 2 for bad arguments (including an
// unusable --addr or --cors-origin, an unknown --scenario, or
// connection_expired with no account to expire), 1 when the simulator cannot
// start (e.g. the port is taken). Logs go to stderr.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("linkdesk sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", DefaultAddr, "loopback host:port to listen on (port 0 picks a free port)")
	wfDelay := fs.Duration("workflow-delay", 1500*time.Millisecond, "time a workflow takes to get its Plaid link token")
	acctDelay := fs.Duration("account-delay", time.Second, "time an external bank account spends in storing (and in deleting)")
	// Tests only: not listed in --help.
	driver := fs.Bool("test-driver", false, "")
	level := fs.String("log-level", "info", "log level on stderr: debug, info, warn or error")
	scenario := fs.String("scenario", ScenarioNormal, "QA scenario to start in (see GET /sim/scenarios), with its default options")
	var corsOrigins []string
	fs.Func("cors-origin", "an origin (e.g. https://app.example.com) whose web pages may call the simulated Cybrid API, besides loopback origins; repeat or comma-separate for several", func(v string) error {
		if _, err := newCORS([]string{v}, nil, nil); err != nil {
			return err
		}
		corsOrigins = append(corsOrigins, v)
		return nil
	})
	stateFile := fs.String("state", "", "keep the simulator's state (customers, accounts, workflows, verifications, Plaid items) in this file across runs; empty: in memory, lost at exit. POST /sim/reset starts it afresh")
	review := fs.Bool("verification-review", false, "ownership verifications without expected_behaviours wait for a manual review (POST /sim/identity_verifications/{guid}/review), as in Cybrid's sandbox")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: linkdesk sim [--addr 127.0.0.1:PORT] [--scenario ID] [--state FILE] [--workflow-delay 1.5s] [--account-delay 1s] [--cors-origin ORIGIN]... [--verification-review]")
		fmt.Fprintln(stderr, "Runs the simulated Cybrid API and Plaid Link on one loopback port until interrupted.")
		// Every flag but the tests' own (--test-driver).
		public := flag.NewFlagSet("sim", flag.ContinueOnError)
		public.SetOutput(stderr)
		fs.VisitAll(func(f *flag.Flag) {
			if f.Name != "test-driver" {
				public.Var(f.Value, f.Name, f.Usage)
			}
		})
		public.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "linkdesk sim: unexpected argument %q; see linkdesk sim --help\n", fs.Arg(0))
		return 2
	}
	if *wfDelay < 0 || *acctDelay < 0 {
		fmt.Fprintln(stderr, "linkdesk sim: --workflow-delay and --account-delay must not be negative (0 means no delay)")
		return 2
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(stderr, "linkdesk sim: --log-level %q: use debug, info, warn or error\n", *level)
		return 2
	}
	if _, ok := scenarioByID(*scenario); !ok {
		fmt.Fprintf(stderr, "linkdesk sim: --scenario %q: no such scenario; the scenarios are: %s\n", *scenario, scenarioIDs())
		return 2
	}
	if _, err := loopbackAddr(*addr); err != nil {
		fmt.Fprintf(stderr, "linkdesk sim: --addr: %v\n", err)
		return 2
	}
	// Zero on the command line means "no delay"; Options use zero for
	// "default" and negative for "none".
	toOpt := func(d time.Duration) time.Duration {
		if d == 0 {
			return -1
		}
		return d
	}
	s, err := Start(Options{
		Addr: *addr, WorkflowDelay: toOpt(*wfDelay), AccountDelay: toOpt(*acctDelay), TestDriver: *driver,
		CORSOrigins: corsOrigins, VerificationReview: *review, StateFile: *stateFile,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl})),
	})
	if err != nil {
		fmt.Fprintf(stderr, "linkdesk sim: %v\n", err)
		return 1
	}
	defer s.Close()
	if err := s.ApplyScenario(*scenario, nil); err != nil {
		fmt.Fprintf(stderr, "linkdesk sim: --scenario: %v\n", err)
		return 2
	}
	printBanner(stdout, s)

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	fmt.Fprintln(stdout, "linkdesk sim: stopping")
	if err := s.Close(); err != nil {
		fmt.Fprintf(stderr, "linkdesk sim: closing: %v\n", err)
		return 1
	}
	return 0
}

// stateLine says where the simulator keeps its state, for the banner.
func stateLine(s *Sim) string {
	p := s.Persistence()
	line := "in memory only (lost at exit; --state FILE keeps it)"
	if p.File != "" {
		line = "kept in " + p.File
		if p.Restored {
			line += " (restored)"
		}
		line += "; start afresh with POST " + s.BankURL + "/sim/reset {}"
	}
	if p.Note != "" {
		line += "\n                        " + p.Note
	}
	return line
}

func printBanner(w io.Writer, s *Sim) {
	fmt.Fprintf(w, "linkdesk simulator running\n\n")
	fmt.Fprintf(w, "  Cybrid bank API:      %s/api/\n", s.BankURL)
	fmt.Fprintf(w, "  Cybrid identity:      %s/oauth/token\n", s.IdentityURL)
	fmt.Fprintf(w, "  Plaid Link:           %s\n", s.ScriptURL())
	fmt.Fprintf(w, "  Scenario (QA):        GET/PUT %s/sim/scenario\n", s.BankURL)
	fmt.Fprintf(w, "  QA scenarios:         GET %s/sim/scenarios, PUT %s/sim/scenarios/active {\"id\": \"…\"} (active: %s)\n",
		s.BankURL, s.BankURL, s.ActiveScenario())
	fmt.Fprintf(w, "  Listening on:         %v\n", s.Addrs())
	fmt.Fprintf(w, "  State:                %s\n", stateLine(s))
	origins := "loopback origins (http(s)://localhost, 127.0.0.1, [::1], any port)"
	if len(s.CORSOrigins) > 0 {
		origins += " and " + strings.Join(s.CORSOrigins, ", ")
	}
	fmt.Fprintf(w, "  Browser clients:      the Cybrid API answers CORS for %s; add more with --cors-origin\n", origins)
	review := "pass by themselves (an automated check); --verification-review makes them wait for a review, as in Cybrid's sandbox"
	if s.Cybrid.Scenario().VerificationReview {
		review = "wait for a manual review unless expected_behaviours says otherwise: POST " + s.BankURL + "/sim/identity_verifications/{guid}/review {\"outcome\": \"passed\"}"
	}
	fmt.Fprintf(w, "  Ownership checks:     %s\n\n", review)
	fmt.Fprintf(w, "Credentials (the simulator's well-known test credentials, not secrets):\n")
	fmt.Fprintf(w, "  client id:     %s\n  client secret: %s\n", s.ClientID, s.ClientSecret)
	fmt.Fprintf(w, "  bank guid:     %s\n\n", s.Cybrid.BankGUID())
	fmt.Fprintf(w, "Point linkdesk at it as its sandbox (the first line replaces any sandbox credentials you keep):\n")
	fmt.Fprintf(w, "  printf '%%s\\n%%s\\n' %s %s | linkdesk credentials set --env sandbox\n", s.ClientID, s.ClientSecret)
	fmt.Fprintf(w, "  %s\n\n", s.SandboxCommand())
	fmt.Fprintf(w, "Customers (newest first):\n")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, c := range s.Cybrid.Customers() {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", c.GUID, c.Name, c.State)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nSandbox logins in Link: user_good / pass_good. Stop with Ctrl-C.\n")
}
