package journal

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
)

// DefaultDir is linkdesk's state directory, where journals live:
//
//   - Linux and other Unix systems: $XDG_STATE_HOME/linkdesk when
//     XDG_STATE_HOME is an absolute path, else ~/.local/state/linkdesk
//     (the XDG Base Directory default);
//   - macOS: ~/Library/Application Support/linkdesk (os.UserConfigDir;
//     macOS has no separate state directory);
//   - Windows: %LocalAppData%\linkdesk (local, not roaming: a journal
//     describes this machine's attempts).
func DefaultDir() (string, error) {
	switch runtime.GOOS {
	case "darwin", "ios":
		d, err := os.UserConfigDir()
		if err != nil {
			return "", errors.New("journal: no state directory: " + err.Error())
		}
		return filepath.Join(d, "linkdesk"), nil
	case "windows":
		if d := os.Getenv("LocalAppData"); d != "" {
			return filepath.Join(d, "linkdesk"), nil
		}
		return "", errors.New("journal: no state directory: %LocalAppData% is not set")
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "linkdesk"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", errors.New("journal: no state directory: " + err.Error() + "; set XDG_STATE_HOME")
	}
	return filepath.Join(home, ".local", "state", "linkdesk"), nil
}
