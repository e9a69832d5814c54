// Command linkdesk is a desktop app for linking Cybrid customers' external
// bank accounts through Plaid Link, with a built-in simulator of Cybrid and
// Plaid as its default environment.
//
//	linkdesk                      open the window (LINKDESK_* variables apply)
//	linkdesk sim [--addr …] [--scenario ID] [--cors-origin …]
//	                              run the simulator alone (linkdesk sim --help)
//	linkdesk credentials …        store, show or delete API credentials
//	linkdesk doctor [--env ENV]   check the set-up of an environment
//	linkdesk version              print the version
//	linkdesk --help               this help and every LINKDESK_* variable
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"linkdesk/app/config"
	"linkdesk/app/credcmd"
	"linkdesk/app/doctor"
	"linkdesk/app/handover"
	"linkdesk/app/keychain"
	"linkdesk/app/session"
	"linkdesk/app/sim"
	"linkdesk/app/ui"
)

// version is stamped at build time: -ldflags "-X main.version=…".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := ""
	if len(args) > 0 {
		cmd = args[0]
	}
	if strings.HasPrefix(cmd, handover.Scheme+":") {
		return handOver(cmd, stdout, stderr)
	}
	switch cmd {
	case "":
		return openWindow(stderr)
	case "-h", "--help", "help":
		usage(stdout)
		return 0
	case "version", "--version":
		fmt.Fprintln(stdout, "linkdesk", version)
		return 0
	case "sim":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return sim.Run(ctx, args[1:], stdout, stderr)
	case "doctor":
		return doctor.Main(args[1:], stdout, stderr, doctor.Options{Store: keychain.New(keychain.DefaultTimeout)})
	case "credentials":
		cfg, err := config.Load()
		if err != nil {
			fmt.Fprintln(stderr, "linkdesk: configuration:", err)
			return 2
		}
		return credcmd.Run(args[1:], string(cfg.Environment), keychain.New(keychain.DefaultTimeout), os.Stdin, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "linkdesk: unknown command %q\n\n", cmd)
		usage(stderr)
		return 2
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `linkdesk links Cybrid customers' external bank accounts through Plaid Link.

Usage:
  linkdesk                         open the window (environment from LINKDESK_ENVIRONMENT; default: the built-in simulator)
  linkdesk sim [--addr HOST:PORT] [--scenario ID] [--cors-origin …] …
                                   run the simulator (Cybrid API + Plaid Link) alone: --addr where it
                                   listens, --scenario the QA scenario it starts in (GET /sim/scenarios
                                   lists them); --cors-origin and every other option with its default:
                                   see `+"`linkdesk sim --help`"+`
  linkdesk doctor [--env ENV]      check configuration, keychain, credentials, token scopes, API and redirect URI
  linkdesk credentials set|status|delete [--env ENV]
                                   manage the API client id and secret in the OS keychain (sandbox and
                                   production; the simulator needs none); status without --env shows
                                   every environment
  linkdesk linkdesk://oauth-return?oauth_state_id=…
                                   hand a bank's OAuth answer to the running linkdesk (the OS runs this for
                                   the linkdesk:// scheme; the hosted return page forwards the answer that way)
  linkdesk version                 print the version
  linkdesk --help                  this help

Configuration (environment variables):
`)
	config.Usage(w)
}

// handOver is `linkdesk linkdesk://…`, as the OS runs it for the URL scheme
// (the hosted OAuth return page forwards the bank's answer that way): the
// URL goes to the linkdesk running for this user, which says whether it
// took it; this process then exits. The URL is not printed (it carries the
// bank's oauth_state_id).
func handOver(rawURL string, stdout, stderr io.Writer) int {
	if err := handover.Send(handover.Dir(), rawURL, 10*time.Second); err != nil {
		fmt.Fprintln(stderr, "linkdesk:", err)
		return 1
	}
	fmt.Fprintln(stdout, "linkdesk: the bank's answer went to the running linkdesk, where Plaid Link continues.")
	return 0
}

func openWindow(stderr io.Writer) int {
	cfg, err := config.Load()
	if err != nil {
		fmt.Fprintln(stderr, "linkdesk: configuration:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.SlogLevel()}))
	slog.SetDefault(log)
	if err := ui.CheckDisplay(); err != nil {
		fmt.Fprintln(stderr, "linkdesk:", err)
		return 1
	}
	s, err := session.Start(cfg, version, log, keychain.New(keychain.DefaultTimeout), session.Options{})
	if err != nil {
		fmt.Fprintln(stderr, "linkdesk:", err)
		return 1
	}
	defer s.Close()
	w, err := s.OpenWindow(os.Getenv("LINKDESK_DEVTOOLS") == "1")
	if err != nil {
		fmt.Fprintln(stderr, "linkdesk:", err)
		return 1
	}
	defer w.Close()
	w.Run()
	return 0
}
