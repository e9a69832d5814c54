// Package credcmd implements `linkdesk credentials set|status|delete`, which
// manages the Cybrid API client credentials kept in the OS keychain (package
// keychain). Only sandbox and production use them: the built-in simulator
// has its own.
//
// Storing and deleting credentials are recorded in the audit log of the
// state directory (package audit), as the window records them.
//
// The client secret never comes from the command line (argv is visible to
// other processes and lands in shell history): `set` prompts for it without
// echo at a terminal, or reads it from stdin. Nothing this command prints
// contains the secret or its length.
package credcmd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"

	"golang.org/x/term"

	"linkdesk/app/audit"
	"linkdesk/app/config"
	"linkdesk/app/keychain"
)

// Exit codes of Run.
const (
	ExitOK    = 0 // done; for status: credentials are stored
	ExitFail  = 1 // nothing stored (status, delete), bad input on stdin, or a keychain error
	ExitUsage = 2 // unknown command, bad flag or argument
)

// maxStdin bounds what `set` reads from a non-terminal stdin: two lines of at
// most keychain.MaxFieldLen characters fit many times over.
const maxStdin = 16 << 10

// Run executes `linkdesk credentials <set|status|delete> [--env ENV]`.
//
// args excludes "credentials". defaultEnv is the environment used without
// --env (the configured LINKDESK_ENVIRONMENT; "" means sim), except by
// status, which without --env reports every environment. set refuses sim
// (the simulator never uses stored credentials). store is where
// credentials live (keychain.New in the app). stdin is read by set only: when
// it is a terminal, set prompts on stderr for the client id (echoed) and the
// client secret (not echoed, via golang.org/x/term); otherwise it reads two
// lines, the client id then the secret. Run returns the exit code: ExitOK,
// ExitFail or ExitUsage.
//
// While the secret prompt is up, an interrupt (Ctrl-C) restores the
// terminal's echo and exits the process with status 130.
func Run(args []string, defaultEnv string, store keychain.Store, stdin *os.File, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage(defaultEnv))
		return ExitUsage
	}
	cmd, rest := args[0], args[1:]
	if isHelp(cmd) || cmd == "help" {
		fmt.Fprint(stdout, usage(defaultEnv))
		return ExitOK
	}
	if cmd != "set" && cmd != "status" && cmd != "delete" {
		name := "that command"
		if safeWord.MatchString(cmd) {
			name = fmt.Sprintf("%q", cmd)
		}
		fmt.Fprintf(stderr, "linkdesk credentials: unknown command %s: use set, status or delete\n\n%s", name, usage(defaultEnv))
		return ExitUsage
	}

	env, flagged, code, ok := parseFlags(cmd, rest, defaultEnv, stdout, stderr)
	if !ok {
		return code
	}
	switch {
	case cmd == "set" && env == string(config.Sim):
		fmt.Fprint(stderr, simRefusal(flagged))
		return ExitUsage
	case cmd == "set":
		return set(env, store, stdin, stdout, stderr)
	case cmd == "status" && !flagged:
		return statusAll(env, store, stdout, stderr)
	case cmd == "status":
		return status(env, store, stdout, stderr)
	default:
		return remove(env, store, stdout, stderr)
	}
}

// simRefusal explains that the simulator takes no credentials.
func simRefusal(flagged bool) string {
	why := ""
	if !flagged {
		why = fmt.Sprintf(" (the configured environment, from %s, is sim)", config.VarEnvironment)
	}
	return fmt.Sprintf(`linkdesk credentials set: nothing was stored: the built-in simulator needs no credentials%s;
it always uses its own. Store Cybrid's credentials for sandbox or production:

  linkdesk credentials set --env sandbox
`, why)
}

// safeWord matches arguments short and plain enough to quote back; anything
// else might be a pasted secret and is not repeated.
var safeWord = regexp.MustCompile(`^-{0,2}[A-Za-z][A-Za-z-]{0,23}$`)

func isHelp(a string) bool { return a == "-h" || a == "-help" || a == "--help" }

// parseFlags reads [--env ENV] and rejects everything else; flagged says
// whether --env was given. ok is false when Run should return code.
func parseFlags(cmd string, args []string, defaultEnv string, stdout, stderr io.Writer) (env string, flagged bool, code int, ok bool) {
	env = defaultEnv
	if env == "" {
		env = string(config.Sim)
	}
	envFlagged := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case isHelp(a):
			fmt.Fprint(stdout, usage(defaultEnv))
			return "", false, ExitOK, false
		case a == "--env" || a == "-env":
			if i+1 >= len(args) {
				fmt.Fprintf(stderr, "linkdesk credentials %s: --env needs a value: sim, sandbox or production\n", cmd)
				return "", false, ExitUsage, false
			}
			i++
			env, envFlagged = args[i], true
		case strings.HasPrefix(a, "--env=") || strings.HasPrefix(a, "-env="):
			_, env, _ = strings.Cut(a, "=")
			envFlagged = true
		case strings.HasPrefix(a, "-") && a != "-":
			name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if looksLikeCredentialFlag(name) || cmd == "set" {
				fmt.Fprint(stderr, argvRefusal(cmd, env))
				return "", false, ExitUsage, false
			}
			shown := "that flag"
			if safeWord.MatchString(a) {
				shown = a
			}
			fmt.Fprintf(stderr, "linkdesk credentials %s: unknown flag %s: the only flag is --env sim|sandbox|production\n", cmd, shown)
			return "", false, ExitUsage, false
		default:
			if cmd == "set" {
				fmt.Fprint(stderr, argvRefusal(cmd, env))
			} else {
				fmt.Fprintf(stderr, "linkdesk credentials %s takes no arguments, only --env sim|sandbox|production\n", cmd)
			}
			return "", false, ExitUsage, false
		}
	}
	if !config.Environment(env).Valid() {
		from := "--env"
		if !envFlagged {
			from = "the configured environment (" + config.VarEnvironment + ")"
		}
		fmt.Fprintf(stderr, "linkdesk credentials %s: %s %q is not allowed: use sim, sandbox or production\n", cmd, from, env)
		return "", false, ExitUsage, false
	}
	return env, envFlagged, 0, true
}

func looksLikeCredentialFlag(name string) bool {
	n := strings.ToLower(name)
	for _, w := range []string{"secret", "password", "passwd", "token", "key", "id", "client"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// argvRefusal explains why credentials are not taken from arguments and how
// to pass them. It never repeats the arguments.
func argvRefusal(cmd, env string) string {
	if cmd != "set" {
		return fmt.Sprintf("linkdesk credentials %s takes no credentials and no arguments, only --env sim|sandbox|production\n", cmd)
	}
	return fmt.Sprintf(`linkdesk credentials set: the client id and secret are not accepted as arguments or flags
(other processes can read a command line, and shells keep it in history). Nothing was stored.
Run it at a terminal to be prompted (the secret is not echoed), or pipe two lines, the client id then the secret:

  printf '%%s\n%%s\n' "$ID" "$SECRET" | linkdesk credentials set --env %s
`, env)
}

func pipeHint(env string) string {
	return fmt.Sprintf("pipe two lines, the client id then the secret:\n\n  printf '%%s\\n%%s\\n' \"$ID\" \"$SECRET\" | linkdesk credentials set --env %s\n", env)
}

func set(env string, store keychain.Store, stdin *os.File, stdout, stderr io.Writer) int {
	var c keychain.Credentials
	var err error
	if stdin != nil && term.IsTerminal(int(stdin.Fd())) {
		c, err = prompt(env, stdin, stderr)
	} else {
		c, err = readLines(env, stdin)
	}
	if err != nil {
		fmt.Fprintf(stderr, "linkdesk credentials set: %v", err)
		if !strings.HasSuffix(err.Error(), "\n") {
			fmt.Fprintln(stderr)
		}
		return ExitFail
	}
	if err := c.Validate(); err != nil {
		fmt.Fprintf(stderr, "linkdesk credentials set: nothing was stored: %s\n", strings.ReplaceAll(err.Error(), "\n", "; "))
		return ExitFail
	}
	if err := store.Set(env, c); err != nil {
		fmt.Fprintf(stderr, "linkdesk credentials set: nothing was stored: %v\n", err)
		record(stderr, audit.Record{Environment: env, Action: audit.ActionCredentialsStore, Outcome: audit.OutcomeFailure,
			Detail: fmt.Sprintf("`linkdesk credentials set` could not store API credentials (client id %s) in the OS keychain: %v", c.ClientID, err)}, c.ClientSecret)
		return ExitFail
	}
	fmt.Fprintf(stdout, "Stored the credentials for %s in the OS keychain (client id %s).\n", env, c.ClientID)
	record(stderr, audit.Record{Environment: env, Action: audit.ActionCredentialsStore, Outcome: audit.OutcomeSuccess,
		Detail: fmt.Sprintf("Stored API credentials (client id %s) in the OS keychain with `linkdesk credentials set`", c.ClientID)}, c.ClientSecret)
	return ExitOK
}

// record appends r to the audit log of the default state directory; a
// failure is a warning (the keychain change itself stands).
func record(stderr io.Writer, r audit.Record, secrets ...string) {
	l, err := audit.Open(audit.Options{})
	if err == nil {
		defer l.Close()
		err = l.Append(r, secrets...)
	}
	if err != nil {
		fmt.Fprintf(stderr, "linkdesk credentials: warning: this change is not in the audit log: %v\n", err)
	}
}

// readLines reads the client id and the secret as two lines from a
// non-terminal stdin. CRLF line ends and trailing empty lines are accepted.
func readLines(env string, stdin *os.File) (keychain.Credentials, error) {
	if stdin == nil {
		return keychain.Credentials{}, fmt.Errorf("no stdin to read the credentials from: %s", pipeHint(env))
	}
	b, err := io.ReadAll(io.LimitReader(stdin, maxStdin+1))
	if err != nil {
		return keychain.Credentials{}, fmt.Errorf("reading stdin: %v", err)
	}
	if len(b) > maxStdin {
		return keychain.Credentials{}, fmt.Errorf("stdin holds more than %d bytes, not two lines; nothing was stored: %s", maxStdin, pipeHint(env))
	}
	lines := strings.Split(string(b), "\n")
	for i := range lines {
		lines[i] = strings.TrimSuffix(lines[i], "\r")
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	switch {
	case len(lines) == 0:
		return keychain.Credentials{}, fmt.Errorf("stdin is empty; nothing was stored: %s", pipeHint(env))
	case len(lines) == 1:
		return keychain.Credentials{}, fmt.Errorf("stdin has one line, the secret must follow the client id on a second line; nothing was stored: %s", pipeHint(env))
	case len(lines) > 2:
		return keychain.Credentials{}, fmt.Errorf("stdin has %d lines, want exactly two; nothing was stored: %s", len(lines), pipeHint(env))
	}
	return keychain.Credentials{ClientID: lines[0], ClientSecret: lines[1]}, nil
}

// prompt asks at the terminal for the client id (echoed) and the secret (not
// echoed). Prompts go to stderr so stdout stays for results.
func prompt(env string, tty *os.File, stderr io.Writer) (keychain.Credentials, error) {
	fmt.Fprintf(stderr, "Cybrid API credentials for %s (stored in the OS keychain)\nClient ID: ", env)
	id, err := readLine(tty)
	if err != nil {
		return keychain.Credentials{}, fmt.Errorf("reading the client id: %v", err)
	}
	if id == "" {
		return keychain.Credentials{}, errors.New("no client id entered; nothing was stored")
	}
	fmt.Fprint(stderr, "Client secret (not shown): ")
	secret, err := readPassword(int(tty.Fd()), stderr)
	fmt.Fprintln(stderr)
	if err != nil {
		return keychain.Credentials{}, fmt.Errorf("reading the client secret: %v", err)
	}
	if len(secret) == 0 {
		return keychain.Credentials{}, errors.New("no client secret entered; nothing was stored")
	}
	return keychain.Credentials{ClientID: id, ClientSecret: string(secret)}, nil
}

// readLine reads one line byte by byte, so nothing after it is consumed
// before the terminal's echo is turned off for the secret.
func readLine(f *os.File) (string, error) {
	var b []byte
	one := make([]byte, 1)
	for len(b) <= maxStdin {
		n, err := f.Read(one)
		if n == 1 {
			if one[0] == '\n' {
				break
			}
			b = append(b, one[0])
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
	}
	return strings.TrimSuffix(string(b), "\r"), nil
}

// readPassword is term.ReadPassword plus: on SIGINT/SIGTERM, restore echo
// before the process dies.
func readPassword(fd int, stderr io.Writer) ([]byte, error) {
	state, err := term.GetState(fd)
	if err != nil {
		return nil, err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	defer func() {
		signal.Stop(sig)
		close(done)
	}()
	go func() {
		select {
		case <-sig:
			term.Restore(fd, state)
			fmt.Fprintln(stderr, "\nlinkdesk credentials set: interrupted; nothing was stored")
			os.Exit(130)
		case <-done:
		}
	}()
	return term.ReadPassword(fd)
}

func status(env string, store keychain.Store, stdout, stderr io.Writer) int {
	if env == string(config.Sim) {
		fmt.Fprintf(stdout, "environment: sim\n%s\n", simNeedsNone)
		return ExitOK
	}
	c, err := store.Get(env)
	switch {
	case errors.Is(err, keychain.ErrNotFound):
		fmt.Fprintf(stdout, "no credentials stored for %s: run `linkdesk credentials set --env %s`\n", env, env)
		return ExitFail
	case err != nil:
		fmt.Fprintf(stderr, "linkdesk credentials status: %v\n", err)
		return ExitFail
	}
	fmt.Fprintf(stdout, "environment: %s\nclient id: %s\nclient secret: stored\n", env, c.ClientID)
	return ExitOK
}

const simNeedsNone = "the built-in simulator needs no credentials: it always uses its own"

// statusAll reports every environment, marking the configured one
// (configured). It returns ExitFail when a keychain lookup fails (and stops
// there) or the configured environment needs credentials and has none.
func statusAll(configured string, store keychain.Store, stdout, stderr io.Writer) int {
	code := ExitOK
	for _, e := range config.Environments {
		env := string(e)
		name := env
		if env == configured {
			name += " (configured: " + config.VarEnvironment + ")"
		}
		if e == config.Sim {
			fmt.Fprintf(stdout, "%s: %s\n", name, simNeedsNone)
			continue
		}
		c, err := store.Get(env)
		switch {
		case errors.Is(err, keychain.ErrNotFound):
			fmt.Fprintf(stdout, "%s: no credentials stored: run `linkdesk credentials set --env %s`\n", name, env)
			if env == configured {
				code = ExitFail
			}
		case err != nil:
			fmt.Fprintf(stderr, "linkdesk credentials status: %v (while reading %s's entry)\n", err, env)
			return ExitFail
		default:
			fmt.Fprintf(stdout, "%s: client id %s, client secret stored\n", name, c.ClientID)
		}
	}
	return code
}

func remove(env string, store keychain.Store, stdout, stderr io.Writer) int {
	err := store.Delete(env)
	switch {
	case errors.Is(err, keychain.ErrNotFound):
		fmt.Fprintf(stderr, "no credentials stored for %s: nothing to delete\n", env)
		return ExitFail
	case err != nil:
		fmt.Fprintf(stderr, "linkdesk credentials delete: %v\n", err)
		record(stderr, audit.Record{Environment: env, Action: audit.ActionCredentialsDelete, Outcome: audit.OutcomeFailure,
			Detail: fmt.Sprintf("`linkdesk credentials delete` could not delete the API credentials from the OS keychain: %v", err)})
		return ExitFail
	}
	fmt.Fprintf(stdout, "Deleted the credentials for %s from the OS keychain.\n", env)
	record(stderr, audit.Record{Environment: env, Action: audit.ActionCredentialsDelete, Outcome: audit.OutcomeSuccess,
		Detail: "Deleted the API credentials from the OS keychain with `linkdesk credentials delete`"})
	return ExitOK
}

func usage(defaultEnv string) string {
	if defaultEnv == "" {
		defaultEnv = string(config.Sim)
	}
	return fmt.Sprintf(`Usage: linkdesk credentials <set|status|delete> [--env sandbox|production]

Manages the Cybrid API client credentials (client id and client secret) that
linkdesk keeps in the OS keychain, one entry per environment. Only sandbox and
production use them: the built-in simulator (sim) always uses its own.

Commands:
  set     store the credentials of an environment, replacing any stored ones.
          At a terminal it prompts for them (the secret is not shown).
          Otherwise it reads two lines from stdin, the client id then the secret:
            printf '%%s\n%%s\n' "$ID" "$SECRET" | linkdesk credentials set --env sandbox
          The secret is never accepted as an argument or flag.
  status  without --env: every environment, with what is stored (exit status 1
          when the configured environment has nothing stored);
          with --env: that environment's client id and whether a secret is
          stored (exit status 1 when nothing is stored)
  delete  remove the stored credentials (exit status 1 when nothing is stored)

set and delete are recorded in the audit log (who, when, which environment;
never the secret) in linkdesk's state folder.

Flags:
  --env ENV  sandbox or production (sim is accepted by status and delete);
             default %s, from %s
`, defaultEnv, config.VarEnvironment)
}
