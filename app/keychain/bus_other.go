//go:build darwin || windows

package keychain

// sessionBusReachable: macOS and Windows keychains need no D-Bus.
func sessionBusReachable() error { return nil }
