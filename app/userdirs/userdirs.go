// Package userdirs is linkdesk's one rule for where it keeps things on the
// user's disk: the state folder (crash journals, the audit log, bank names,
// exports when there is no download folder) and the export folder (timeline
// and audit exports), and how an export file is written there without
// overwriting another.
package userdirs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// State is linkdesk's per-user state folder. It is not created.
//
//   - Linux and other Unix systems: $XDG_STATE_HOME/linkdesk when
//     XDG_STATE_HOME is an absolute path, else ~/.local/state/linkdesk
//     (the XDG Base Directory default);
//   - macOS: ~/Library/Application Support/linkdesk (os.UserConfigDir;
//     macOS has no separate state folder);
//   - Windows: %LocalAppData%\linkdesk (local, not roaming: the journals
//     describe this machine's attempts).
func State() (string, error) {
	switch runtime.GOOS {
	case "darwin", "ios":
		d, err := os.UserConfigDir()
		if err != nil {
			return "", errors.New("no state folder: " + err.Error())
		}
		return filepath.Join(d, "linkdesk"), nil
	case "windows":
		if d := os.Getenv("LocalAppData"); d != "" {
			return filepath.Join(d, "linkdesk"), nil
		}
		return "", errors.New("no state folder: %LocalAppData% is not set")
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "linkdesk"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", errors.New("no state folder: " + err.Error() + "; set XDG_STATE_HOME")
	}
	return filepath.Join(home, ".local", "state", "linkdesk"), nil
}

// Exports is the folder exports go to by default, the user's download
// folder: on Linux and the BSDs $XDG_DOWNLOAD_DIR when set to an existing
// folder, else `xdg-user-dir DOWNLOAD` when it names a folder other than
// the home folder itself (which is what xdg-user-dir answers when no
// download folder is configured), else ~/Downloads when it exists, else
// State()/exports (created, mode 0700).
func Exports() (string, error) {
	home, _ := os.UserHomeDir()
	if runtime.GOOS != "windows" && runtime.GOOS != "darwin" {
		if d := os.Getenv("XDG_DOWNLOAD_DIR"); filepath.IsAbs(d) && isDir(d) {
			return filepath.Clean(d), nil
		}
		if d := xdgDownloadDir(); d != "" && d != filepath.Clean(home) && isDir(d) {
			return d, nil
		}
	}
	if home != "" {
		if d := filepath.Join(home, "Downloads"); isDir(d) {
			return d, nil
		}
	}
	st, err := State()
	if err != nil {
		return "", fmt.Errorf("no folder for exports: no Downloads folder and %w", err)
	}
	d := filepath.Join(st, "exports")
	if err := os.MkdirAll(d, 0o700); err != nil {
		return "", fmt.Errorf("cannot create the export folder %s: %w", d, err)
	}
	return d, nil
}

func xdgDownloadDir() string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "xdg-user-dir", "DOWNLOAD").Output()
	if err != nil {
		return ""
	}
	d := strings.TrimSpace(string(out))
	if !filepath.IsAbs(d) {
		return ""
	}
	return filepath.Clean(d)
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// WriteNew writes data to dir/base.ext, or base-2.ext, base-3.ext … when
// that name is taken (an export never overwrites another), with mode 0600,
// and returns the path written. A file it could not finish is removed.
func WriteNew(dir, base, ext string, data []byte) (string, error) {
	for n := 1; n < 1000; n++ {
		name := base + "." + ext
		if n > 1 {
			name = fmt.Sprintf("%s-%d.%s", base, n, ext)
		}
		p := filepath.Join(dir, name)
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("cannot create the export file in %s: %w. Check that the folder exists and is writable", dir, err)
		}
		_, werr := f.Write(data)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			os.Remove(p)
			return "", fmt.Errorf("writing the export %s failed: %w", p, werr)
		}
		// The umask can only remove bits; make 0600 explicit anyway (a
		// no-op on Windows, where the folder's ACL applies).
		os.Chmod(p, 0o600)
		return p, nil
	}
	return "", fmt.Errorf("too many exports named %s.* in %s: move some away", base, dir)
}
