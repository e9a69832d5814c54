package pageapi_test

import (
	"encoding/json"
	"errors"
	"log/slog"
	"testing"

	"linkdesk/app/audit"
	"linkdesk/app/config"
	"linkdesk/app/environment"
	"linkdesk/app/institutions"
	"linkdesk/app/internal/flowrig"
	"linkdesk/app/internal/simlink"
	"linkdesk/app/keychain"
	"linkdesk/app/linkflow"
	"linkdesk/app/pageapi"
	"linkdesk/app/problem"
	"linkdesk/app/sim"
	"linkdesk/app/target"
)

// simEnv starts a real environment on the built-in simulator (loopback
// HTTP), with workflows and accounts that complete at once, and its audit
// log and bank names in a temporary state directory.
func simEnv(tb testing.TB) *environment.Env {
	tb.Helper()
	return simEnvIn(tb, tb.TempDir())
}

// simEnvIn is simEnv with the state directory dir.
func simEnvIn(tb testing.TB, dir string) *environment.Env {
	tb.Helper()
	sims := target.NewSimulator(sim.Options{WorkflowDelay: -1, AccountDelay: -1})
	tb.Cleanup(sims.Close)
	tg, err := target.Resolve(simConfig(tb), keychain.NewMemory(), sims)
	if err != nil {
		tb.Fatal(err)
	}
	al, err := audit.Open(audit.Options{Dir: dir})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(al.Close)
	names, err := institutions.Open(dir, nil)
	if err != nil {
		tb.Fatal(err)
	}
	e, err := environment.Start(tg, environment.Hooks{Version: "test", Log: slog.New(slog.DiscardHandler), StateDir: dir,
		Audit: al, Institutions: names})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(e.Close)
	return e
}

// simConfig is the configuration of the sim environment.
func simConfig(tb testing.TB) *config.Config {
	tb.Helper()
	cfg, err := config.LoadFrom(func(k string) (string, bool) {
		if k == config.VarEnvironment {
			return "sim", true
		}
		return "", false
	})
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

// envBackend serves the page's calls on one environment; the session's own
// calls (switching, storing credentials) are the session's, tested there.
type envBackend struct{ env *environment.Env }

func (b envBackend) Env() (*environment.Env, error) {
	if b.env == nil {
		return nil, &target.NoCredentialsError{Env: "sandbox"}
	}
	return b.env, nil
}

func (b envBackend) Info() pageapi.SessionInfo {
	if b.env == nil {
		return pageapi.InfoWaiting(config.Sandbox, "test", problem.NoCredentials("sandbox"))
	}
	return pageapi.InfoOf(b.env, "test")
}

var errSessionOnly = errors.New("only the session switches environments")

func (envBackend) SwitchEnvironment(config.Environment) (pageapi.SessionInfo, error) {
	return pageapi.SessionInfo{}, errSessionOnly
}

func (envBackend) StoreCredentials(config.Environment, keychain.Credentials) (pageapi.SessionInfo, error) {
	return pageapi.SessionInfo{}, errSessionOnly
}

func (envBackend) RetryEnvironment() (pageapi.SessionInfo, error) {
	return pageapi.SessionInfo{}, errSessionOnly
}

func (envBackend) PageReady() {}
func (envBackend) ResetSimulator() (pageapi.SessionInfo, error) {
	return pageapi.SessionInfo{}, errors.New("not in this test")
}

// AuditLog is the environment's audit log (none without an environment).
func (b envBackend) AuditLog() *audit.Log {
	if b.env == nil {
		return nil
	}
	return b.env.Audit.Log()
}

// linkWalk links an account for customer as the page does (startLink, then
// throughLink) and returns the ended attempt and the Plaid tokens it went
// through.
func linkWalk(t *testing.T, api *pageapi.API, env *environment.Env, customer string) (at linkflow.Attempt, publicToken, linkToken string) {
	t.Helper()
	v, err := serve(t, api, "startLink", `{"customer_guid":"`+customer+`"}`)
	if err != nil {
		t.Fatal(err)
	}
	return throughLink(t, api, env, v.(linkflow.Attempt).ID)
}

// throughLink takes the started attempt id through Link as the page does:
// it waits for Link to open, goes through the simulated Link's JSON API
// (simlink), forwards onSuccess with its number, and returns the attempt
// once it has ended, with the Plaid tokens it went through.
func throughLink(t *testing.T, api *pageapi.API, env *environment.Env, id string) (at linkflow.Attempt, publicToken, linkToken string) {
	t.Helper()
	open := waitAttempt(t, env, id, "link_open", func(a linkflow.Attempt) bool { return a.State == linkflow.LinkOpen })
	pub, meta := simlink.Link(t, env.Target.Sim.PlaidURL, open.LinkToken)
	m, _ := json.Marshal(meta)
	p, _ := json.Marshal(map[string]any{"attempt_id": id, "seq": 1, "public_token": pub, "metadata": json.RawMessage(m)})
	if _, err := serve(t, api, "plaid.onSuccess", string(p)); err != nil {
		t.Fatal(err)
	}
	return waitAttempt(t, env, id, "ended", func(a linkflow.Attempt) bool { return a.State.Final() }), pub, open.LinkToken
}

// waitAttempt waits until the environment's attempt id satisfies ok, which
// what names (see flowrig.Await).
func waitAttempt(t *testing.T, env *environment.Env, id, what string, ok func(linkflow.Attempt) bool) linkflow.Attempt {
	t.Helper()
	return flowrig.Await(t, env.Flow, id, what, ok)
}
