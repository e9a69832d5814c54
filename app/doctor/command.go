package doctor

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"golang.org/x/term"

	"linkdesk/app/config"
)

// Exit codes of Main.
const (
	ExitOK    = 0 // every check passed (skipped checks do not count)
	ExitFail  = 1 // at least one check failed
	ExitUsage = 2 // bad flag or argument
)

// Main is `linkdesk doctor [--env ENV] [--timeout 10s]`: it runs every check
// for ENV (default: LINKDESK_ENVIRONMENT, else sim) and prints the report on
// stdout — ✓/✗ marks (with colour unless NO_COLOR is set) when stdout is a
// terminal, ok/FAIL otherwise. args excludes "doctor". o carries the
// dependencies (the app passes Options{Store: keychain.New(…)}); --env and
// --timeout override o.Env and o.Timeout. It returns ExitOK, ExitFail or
// ExitUsage. An interrupt (Ctrl-C) ends the running check at once.
func Main(args []string, stdout, stderr io.Writer, o Options) int {
	fs := flag.NewFlagSet("linkdesk doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := fs.String("env", "", "environment to check: sim, sandbox or production (default: "+config.VarEnvironment+", else sim)")
	def := o.Timeout
	if def <= 0 {
		def = DefaultTimeout
	}
	timeout := fs.Duration("timeout", def, "how long each check may take")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: linkdesk doctor [--env sim|sandbox|production] [--timeout 10s]")
		fmt.Fprintln(stderr, "Checks the configuration, the keychain, the credentials, a token and its scopes, the bank API, the redirect URI and (for an https one) the way back from the system browser; exits 1 when a check fails.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "linkdesk doctor takes no arguments, only --env and --timeout; see linkdesk doctor --help")
		return ExitUsage
	}
	if *env != "" && !config.Environment(*env).Valid() {
		fmt.Fprintf(stderr, "linkdesk doctor: --env %q is not allowed: use sim, sandbox or production\n", *env)
		return ExitUsage
	}
	if *timeout < 100*time.Millisecond {
		fmt.Fprintln(stderr, "linkdesk doctor: --timeout must be at least 100ms, e.g. 10s")
		return ExitUsage
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *env != "" {
		o.Env = *env
	}
	o.Timeout = *timeout
	rep := Run(ctx, o)
	if err := rep.Write(stdout, StyleFor(stdout)); err != nil {
		fmt.Fprintln(stderr, "linkdesk doctor:", err)
		return ExitFail
	}
	if !rep.OK() {
		return ExitFail
	}
	return ExitOK
}

// StyleFor returns symbols (and colour unless NO_COLOR is set) when w is a
// terminal, plain ASCII otherwise.
func StyleFor(w io.Writer) Style {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return Style{}
	}
	_, noColor := os.LookupEnv("NO_COLOR")
	return Style{Symbols: true, Color: !noColor && os.Getenv("TERM") != "dumb"}
}
