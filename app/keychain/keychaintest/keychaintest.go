// Package keychaintest lets tests use the real OS keychain (on Linux, a
// Secret Service such as gnome-keyring) and skip cleanly when there is none.
//
// Run tests that need it inside a throwaway session:
//
//	app/keychain/testdata/with-secret-service.sh go test ./app/...
//
// With LINKDESK_REQUIRE_KEYRING=1 (CI), a missing keychain fails the test
// instead of skipping it.
package keychaintest

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zalando/go-keyring"

	"linkdesk/app/internal/testneeds"
	"linkdesk/app/keychain"
)

// ProbeTimeout bounds the probe that decides whether a keychain answers.
const ProbeTimeout = 3 * time.Second

var (
	probeOnce sync.Once
	probeErr  error
	counter   atomic.Int64
)

// Reachable asks the OS keychain for a probe item (which need not exist) and
// returns nil when it answers within ProbeTimeout, else why not. The answer
// is computed once per process.
func Reachable() error {
	probeOnce.Do(func() {
		_, err := keychain.New(ProbeTimeout).Get(fmt.Sprintf("probe-%d", os.Getpid()))
		var corrupt *keychain.CorruptError
		if err != nil && !errors.Is(err, keychain.ErrNotFound) && !errors.As(err, &corrupt) {
			probeErr = err
		}
	})
	return probeErr
}

// Require returns the OS keychain Store (keychain.New with the default
// timeout) when it is reachable. Otherwise it skips the test, saying why and
// how to run it, or fails it when LINKDESK_REQUIRE_KEYRING=1.
func Require(t testing.TB) keychain.Store {
	t.Helper()
	if err := Reachable(); err != nil {
		msg := fmt.Sprintf("no OS keychain reachable, so this test needs a Secret Service: run it under app/keychain/testdata/with-secret-service.sh (%v)", err)
		testneeds.Missing(t, testneeds.Keyring, "%s", msg)
	}
	return keychain.New(keychain.DefaultTimeout)
}

// Env returns an environment name unique to this test run (so a real user
// keyring is touched only at that item) and deletes its item when the test
// ends. Call it after Require.
func Env(t testing.TB) string {
	t.Helper()
	env := fmt.Sprintf("test-%d-%d-%d", os.Getpid(), time.Now().UnixNano()%1e9, counter.Add(1))
	t.Cleanup(func() {
		if Reachable() != nil {
			return // never call go-keyring without a bus: it would autolaunch one
		}
		// Directly through go-keyring: the cleanup must work even if the
		// test left a value keychain.Store cannot read.
		if err := keyring.Delete(keychain.Service, env); err != nil && !errors.Is(err, keyring.ErrNotFound) {
			t.Errorf("cleanup: deleting keychain item %s/%s: %v", keychain.Service, env, err)
		}
	})
	return env
}
