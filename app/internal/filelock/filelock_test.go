package filelock_test

import (
	"errors"
	"path/filepath"
	"runtime"
	"testing"

	"linkdesk/app/internal/filelock"
)

func TestASecondHolderIsRefusedUntilTheFirstLetsGo(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" && runtime.GOOS != "windows" {
		t.Skip("no file lock on " + runtime.GOOS)
	}
	p := filepath.Join(t.TempDir(), "x.lock")
	unlock, err := filelock.Lock(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := filelock.Lock(p); !errors.Is(err, filelock.ErrHeld) {
		t.Fatalf("a second lock while the first is held: %v, want ErrHeld", err)
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	unlock() // twice is harmless
	again, err := filelock.Lock(p)
	if err != nil {
		t.Fatalf("the lock after it was released: %v", err)
	}
	again()
}
