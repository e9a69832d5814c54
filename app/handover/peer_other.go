//go:build !linux

package handover

import (
	"errors"
	"io/fs"
	"net"
	"runtime"
)

// UNTESTED outside Linux: the hand-over needs the peer's credentials
// (LOCAL_PEERCRED on macOS, a named pipe's client token on Windows), which
// are not written yet. Until then a second linkdesk says so, and the hosted
// return page's loopback route (LINKDESK_OAUTH_RETURN_PORT) is the way back.

func supported() error {
	return errors.New("the linkdesk:// hand-over is not implemented on " + runtime.GOOS + " yet: the hosted return page's loopback route takes the bank's answer instead")
}

func peerUID(c *net.UnixConn) (int, error) { return -1, supported() }

func fileOwner(fi fs.FileInfo) (int, bool) { return -1, false }
