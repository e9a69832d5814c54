package timeline

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// OpenFolder shows the folder dir in the system's file manager: xdg-open on
// Linux and the BSDs, open on macOS, explorer on Windows. dir must be an
// absolute path to an existing folder; it is passed as one argument, never
// through a shell. It returns once the opener has started.
func OpenFolder(dir string) error {
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("cannot open %q: not an absolute folder path", dir)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("cannot open the folder %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("cannot open %s: it is not a folder", dir)
	}
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", "--", dir)
	case "windows":
		cmd = exec.Command("explorer", dir)
	default:
		cmd = exec.Command("xdg-open", dir)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, nil, nil
	if err := cmd.Start(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return fmt.Errorf("no program to open folders was found (%s): open %s in your file manager yourself", cmd.Path, dir)
		}
		return fmt.Errorf("opening the folder %s failed: %w", dir, err)
	}
	// explorer exits 1 even when it worked; xdg-open's status says little
	// more. Reap it without waiting for it.
	go cmd.Wait()
	return nil
}
