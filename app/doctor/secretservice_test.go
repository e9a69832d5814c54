package doctor_test

import (
	"testing"
	"time"

	"linkdesk/app/doctor"
	"linkdesk/app/keychain"
	"linkdesk/app/keychain/keychaintest"
)

// renamed reads and writes the item of env (a throwaway test item) whatever
// environment is asked for, so that doctor's "sandbox" never touches a real
// user's sandbox credentials.
type renamed struct {
	keychain.Store
	env string
}

func (r renamed) Get(string) (keychain.Credentials, error) { return r.Store.Get(r.env) }

// Doctor reads the credentials through the real Secret Service and gets a
// token with them from the simulator.
func TestWithTheRealKeychain(t *testing.T) {
	real := keychaintest.Require(t)
	env := keychaintest.Env(t)
	s := newSetup(t, nil)
	s.store = renamed{real, env}

	code, out := s.run(t, 5*time.Second)
	wantLine(t, out, doctor.CheckKeychain, "ok", "the OS keychain answered in ")
	wantLine(t, out, doctor.CheckCredentials, "FAIL", "no API credentials are stored for sandbox")
	if code != doctor.ExitFail {
		t.Errorf("nothing stored: exit %d, want 1", code)
	}

	if err := real.Set(env, keychain.Credentials{ClientID: clientID, ClientSecret: canary}); err != nil {
		t.Fatal(err)
	}
	code, out = s.run(t, 5*time.Second)
	if code != doctor.ExitOK {
		t.Errorf("stored: exit %d, want 0", code)
	}
	wantLine(t, out, doctor.CheckCredentials, "ok", "client id "+clientID)
	wantLine(t, out, doctor.CheckToken, "ok")
	wantLine(t, out, doctor.CheckAPI, "ok")
}
