package guid_test

import (
	"strings"
	"testing"

	"linkdesk/app/guid"
)

func TestValid(t *testing.T) {
	for s, want := range map[string]bool{
		"0123456789abcdef0123456789abcdef":  true,
		"0123456789ABCDEF0123456789abcdef":  false,
		"0123456789abcdef0123456789abcde":   false,
		"0123456789abcdef0123456789abcdef0": false,
		"0123456789abcdeg0123456789abcdef":  false,
		"":                                  false,
	} {
		if guid.Valid(s) != want {
			t.Errorf("Valid(%q) = %v", s, !want)
		}
	}
}

func TestCheckQuotesAtMost40Characters(t *testing.T) {
	err := guid.Check("customer GUID", strings.Repeat("é", 500))
	if err == nil || len(err.Error()) > 200 || !strings.Contains(err.Error(), "customer GUID") || !strings.Contains(err.Error(), "32 lowercase hexadecimal") {
		t.Fatalf("Check = %v", err)
	}
}
