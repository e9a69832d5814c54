// Package simapart is the tests' sandbox pointed at a simulator run apart,
// as `linkdesk sim` tells an operator to: the simulator, the configuration
// it prints (sim.SandboxEnv) and a keychain that holds its credentials as
// the sandbox's.
package simapart

import (
	"testing"

	"linkdesk/app/config"
	"linkdesk/app/keychain"
	"linkdesk/app/sim"
	"linkdesk/app/target"
)

// Apart is a running simulator and a sandbox configured for it.
type Apart struct {
	Sim    *sim.Sim
	Config *config.Config
	// Store holds the simulator's credentials as the sandbox's.
	Store keychain.Store
}

// Start runs a simulator with o until t ends and configures a sandbox for
// it; set adds configuration variables or replaces the simulator's (an
// empty value unsets one).
func Start(t testing.TB, o sim.Options, set config.Vars) *Apart {
	t.Helper()
	s, err := sim.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	env := s.SandboxEnv()
	for k, v := range set {
		env[k] = v
	}
	cfg, err := config.LoadFrom(env.Lookup)
	if err != nil {
		t.Fatal(err)
	}
	store := keychain.NewMemory()
	if err := store.Set(string(config.Sandbox), keychain.Credentials{ClientID: s.ClientID, ClientSecret: s.ClientSecret}); err != nil {
		t.Fatal(err)
	}
	return &Apart{Sim: s, Config: cfg, Store: store}
}

// Target resolves the sandbox's target, as linkdesk does at start.
func (a *Apart) Target(t testing.TB) *target.Target {
	t.Helper()
	tg, err := target.Resolve(a.Config, a.Store, target.NewSimulator(sim.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	return tg
}
