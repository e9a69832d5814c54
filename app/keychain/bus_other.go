//go:build darwin || windows

package keychain

// sessionBusReachable: macOS and Windows keychains need no D-Bus.
func sessionBusReachable() error { return nil }

// accessDenied: the macOS and Windows backends report no D-Bus errors.
func accessDenied(error) bool { return false }

// inspectUnlockFailure: only the Secret Service reports a failed unlock this
// way.
func inspectUnlockFailure(error) keyringState { return keyringState{} }
