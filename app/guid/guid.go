// Package guid is the shape of a Cybrid GUID — 32 lowercase hexadecimal
// characters — checked in one place for every package that takes one from
// outside (the page, the configuration, the simulator's hooks).
package guid

import (
	"fmt"
	"strconv"
)

// Valid reports whether s is a Cybrid GUID.
func Valid(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Check returns nil when v is a GUID, else an error that names what v is
// (e.g. "customer GUID"), quotes at most 40 characters of it and says what
// a GUID looks like.
func Check(what, v string) error {
	if Valid(v) {
		return nil
	}
	return fmt.Errorf("%s %s is not a Cybrid GUID: it is 32 lowercase hexadecimal characters", what, Quote(v))
}

// Quote is v quoted for an error message and cut to 40 characters, so that
// an error stays one short line whatever was sent.
func Quote(v string) string {
	if r := []rune(v); len(r) > 40 {
		return strconv.Quote(string(r[:40])) + "…"
	}
	return strconv.Quote(v)
}
