// Package redact is linkdesk's one rule for what never leaves the process in
// text meant for people: logs, the timeline, exports. Anything recorded
// from a page, an API answer or an error goes through a Scrubber first.
package redact

import (
	"encoding/json"
	"fmt"
	"html"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

// What linkdesk never writes into a log, a timeline or an export:
//
//   - JWTs (Cybrid access tokens), and anything after "Bearer ";
//   - Plaid public, access and processor tokens
//     ("public-sandbox-…", "access-production-…");
//   - Plaid link tokens ("link-sandbox-…", "link-production-…"). A link token
//     is not a credential, but for its four-hour life it opens Plaid Link for
//     that customer, so a report attached to a ticket must not carry it; its
//     environment prefix is kept ("link-sandbox-[redacted]") because that
//     much helps whoever reads the ticket;
//   - values under keys that name a secret (public_token, access_token,
//     link_token, client_secret, password, authorization, …);
//   - the exact values in Options.Secrets (the API client secret).
//
// Values are replaced where they are recorded (so the page never receives
// them either), and every export is checked once more, as bytes, right before
// it is written (Check): an export that still holds such a value is refused.

const (
	redactedToken  = "[redacted token]"
	redactedSecret = "[redacted secret]"
	redactedValue  = "[redacted]"
)

// MinSecretLen keeps very short configured secrets from mangling ordinary
// words: shorter ones are not replaced by exact match (the patterns still
// apply).
const MinSecretLen = 6

type tokenPattern struct {
	what string
	re   *regexp.Regexp
	// repl is the replacement; $1 refers to the first group.
	repl string
}

var tokenPatterns = []tokenPattern{
	{"an access token (JWT)", regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`), redactedToken},
	{"a Plaid token", regexp.MustCompile(`(?i)\b(?:public|access|processor)-(?:sandbox|development|production)-[A-Za-z0-9][A-Za-z0-9-]*`), "[redacted Plaid token]"},
	{"a Plaid link token", regexp.MustCompile(`(?i)\blink-(?:sandbox|development|production)-[A-Za-z0-9][A-Za-z0-9-]*`), "[redacted link token]"},
	{"a bearer credential", regexp.MustCompile(`(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}`), "${1}[redacted]"},
}

// secretKeys are data keys whose values are never kept, whatever they look
// like (compared lowercased, with '-' read as '_').
var secretKeys = map[string]bool{
	"public_token": true, "access_token": true, "link_token": true, "processor_token": true,
	"plaid_public_token": true, "plaid_link_token": true, "refresh_token": true, "id_token": true,
	"token": true, "client_secret": true, "secret": true, "password": true, "passwd": true,
	"authorization": true, "api_key": true, "apikey": true,
}

// secretKeyPatterns find, in text, the values under keys that name a secret
// (secretKeys): a JSON member ("access_token": "…", also cut short at the
// end of an excerpt) and a form or query field (client_secret=…). Text
// quoted from a server's answer or a request body is scrubbed like a
// decoded value would be.
var secretKeyPatterns = func() []*regexp.Regexp {
	keys := make([]string, 0, len(secretKeys))
	for k := range secretKeys {
		keys = append(keys, strings.ReplaceAll(regexp.QuoteMeta(k), "_", "[_-]"))
	}
	sort.Strings(keys)
	alt := strings.Join(keys, "|")
	return []*regexp.Regexp{
		regexp.MustCompile(`(?i)("(?:` + alt + `)"\s*:\s*")(?:[^"\\]|\\.)+`),
		regexp.MustCompile(`(?i)(\b(?:` + alt + `)=)[^&\s"']+`),
	}
}()

// IsSecretKey reports whether a data key names a secret, whose value is
// never kept.
func IsSecretKey(k string) bool {
	return secretKeys[strings.ReplaceAll(strings.ToLower(k), "-", "_")]
}

// Scrubber replaces secrets and token-shaped values. The zero value and nil
// apply the patterns and key rules only.
type Scrubber struct {
	secrets []string
}

// New returns a Scrubber that also replaces the exact values in secrets
// (those of at least 6 bytes).
func New(secrets []string) *Scrubber {
	s := &Scrubber{}
	for _, v := range secrets {
		if len(v) >= MinSecretLen {
			s.secrets = append(s.secrets, v)
		}
	}
	return s
}

// String returns s with every secret and token-shaped value replaced.
func (s *Scrubber) String(v string) string {
	for _, sec := range s.list() {
		if strings.Contains(v, sec) {
			v = strings.ReplaceAll(v, sec, redactedSecret)
		}
	}
	for _, p := range tokenPatterns {
		v = p.re.ReplaceAllString(v, p.repl)
	}
	for _, re := range secretKeyPatterns {
		v = re.ReplaceAllString(v, "${1}"+redactedValue)
	}
	return v
}

// Limits on what one entry keeps of page-supplied data (Plaid metadata).
const (
	maxStringLen = 2000
	maxMapKeys   = 64
	maxDepth     = 6
)

// Value returns a scrubbed deep copy of a JSON-like value (the shapes
// encoding/json produces and the flow's event data), cut to the limits above.
// Values of other types are rendered with %v and scrubbed as text.
func (s *Scrubber) Value(v any) any { return s.value(v, 0) }

func (s *Scrubber) list() []string {
	if s == nil {
		return nil
	}
	return s.secrets
}

func (s *Scrubber) value(v any, depth int) any {
	if depth > maxDepth {
		return "[nested too deep]"
	}
	switch x := v.(type) {
	case nil, bool, int, int64, float64, uint, uint64, int32, float32:
		return x
	case string:
		return Cut(s.String(x))
	case fmt.Stringer:
		return Cut(s.String(x.String()))
	case map[string]any:
		out := make(map[string]any, len(x))
		n := 0
		for k, val := range x {
			if n >= maxMapKeys {
				out["…"] = fmt.Sprintf("%d more keys not kept", len(x)-maxMapKeys)
				break
			}
			n++
			k = Cut(s.String(k))
			if IsSecretKey(k) {
				if val != nil && val != "" {
					out[k] = redactedValue
				} else {
					out[k] = val
				}
				continue
			}
			out[k] = s.value(val, depth+1)
		}
		return out
	case []any:
		n := len(x)
		if n > maxMapKeys {
			n = maxMapKeys
		}
		out := make([]any, 0, n+1)
		for _, e := range x[:n] {
			out = append(out, s.value(e, depth+1))
		}
		if len(x) > n {
			out = append(out, fmt.Sprintf("%d more items not kept", len(x)-n))
		}
		return out
	case []string:
		out := make([]any, 0, len(x))
		for _, e := range x {
			out = append(out, s.value(e, depth+1))
		}
		return s.value(out, depth)
	case error:
		return Cut(s.String(x.Error()))
	default:
		return Cut(s.String(fmt.Sprintf("%v", x)))
	}
}

// Map is Value for a data map; nil stays nil.
func (s *Scrubber) Map(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	return s.value(m, 0).(map[string]any)
}

// Cut shortens v to the length one recorded string may have.
func Cut(v string) string {
	if len(v) <= maxStringLen {
		return v
	}
	i := maxStringLen
	for i > 0 && !utf8.RuneStart(v[i]) {
		i--
	}
	return v[:i] + "…"
}

// ErrSecretInExport is returned (wrapped) when an export still holds a value
// shaped like a secret; nothing is written then.
type ErrSecretInExport struct {
	// What names the kind of value found, e.g. "a Plaid link token".
	What string
	// Offset is where it starts in the rendered export.
	Offset int
}

func (e *ErrSecretInExport) Error() string {
	return fmt.Sprintf("the export was not written: it contains %s (at byte %d), which must never leave linkdesk. This is a bug in linkdesk; report it without attaching any export", e.What, e.Offset)
}

// Check is the final pass over a rendered export: it returns an
// *ErrSecretInExport for the first secret or token-shaped value in b.
func (s *Scrubber) Check(b []byte) error {
	text := string(b)
	for _, sec := range s.list() {
		// As written, as a JSON string and as HTML text.
		j, _ := json.Marshal(sec)
		for _, form := range []string{sec, string(j[1 : len(j)-1]), html.EscapeString(sec)} {
			if i := strings.Index(text, form); i >= 0 {
				return &ErrSecretInExport{What: "the API client secret", Offset: i}
			}
		}
	}
	for _, p := range tokenPatterns {
		// The redacted forms ("[redacted link token]", "Bearer [redacted]")
		// do not match.
		if loc := p.re.FindStringIndex(text); loc != nil {
			return &ErrSecretInExport{What: p.what, Offset: loc[0]}
		}
	}
	return nil
}
